"""The VQGAN decoder ("generator") of the paper's 256×256 models in PyTorch (random weights, 2 threads,
inference_mode), for comparison with `unmask bench decode`: codes [B, 16, 16] → codebook vectors →
generator → images [B, 3, 256, 256] clamped to [0, 1]. The architecture is bench/pytorch_vqgan.py's.

  python bench/pytorch_decode.py [--batch 1] [--runs 5] [--channels-last]

Prints one JSON line: ms per batch and per image (medians after two warm-up runs).
"""
import argparse, json, statistics, time
import torch
from pytorch_vqgan import Generator

# The reference 256-px settings: nf 128, ch_mult [1, 1, 2, 2, 4], 2 res blocks, attention at 16, emb 256, K 1024.
CONFIG = dict(nf=128, ch_mult=[1, 1, 2, 2, 4], res_blocks=2, resolution=256, attn_res=[16], emb=256, codebook=1024)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true", help="NHWC memory format (often faster with oneDNN)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = CONFIG
    gen = Generator(3, c["nf"], c["emb"], c["ch_mult"], c["res_blocks"], c["resolution"], c["attn_res"]).eval()
    codebook = torch.nn.Embedding(c["codebook"], c["emb"])
    latent = c["resolution"] // 2 ** (len(c["ch_mult"]) - 1)
    if a.channels_last:
        gen = gen.to(memory_format=torch.channels_last)
    codes = torch.randint(0, c["codebook"], (a.batch, latent, latent))

    def decode():
        z = codebook(codes).permute(0, 3, 1, 2)
        if a.channels_last:
            z = z.contiguous(memory_format=torch.channels_last)
        return gen(z).clamp(0, 1)

    with torch.inference_mode():
        for _ in range(2):
            decode()
        times = []
        for _ in range(a.runs):
            t = time.perf_counter()
            decode()
            times.append(time.perf_counter() - t)
    ms = statistics.median(times) * 1000
    print(json.dumps({"case": "decode_256", "torch": torch.__version__, "batch": a.batch, "channels_last": a.channels_last, "ms": ms, "ms_per_image": ms / a.batch, "runs": a.runs}))


if __name__ == "__main__":
    main()
