"""The absorbing-diffusion prior's forward pass and the paper's sampler in PyTorch (2 threads, random
weights), for comparison with `unmask bench sample`. Same architecture as src/models/transformer.ts
(pre-LN, separate q/k/v/proj, erf GELU, head without bias). Under PyTorch 2.x attention is the fused
`F.scaled_dot_product_attention`; PyTorch 1.13 has none, so there it is spelled out as minGPT does.

  python bench/pytorch_sample.py --layers 24 --dim 512 --heads 8 --tokens 256 --codebook 1024 --batch 4 --steps 50

Prints one JSON line: forward_ms (median of one full forward over the batch) and, unless --forward-only,
seconds_per_batch / seconds_per_image (median over --runs samplings of --steps steps).
"""
import argparse, json, math, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F

FUSED = hasattr(F, "scaled_dot_product_attention")


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.key, self.query, self.value, self.proj = (nn.Linear(d, d) for _ in range(4))
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        b, n, d = x.shape
        y = self.ln1(x)
        split = lambda t: t.view(b, n, self.h, d // self.h).transpose(1, 2)
        q, k, v = split(self.query(y)), split(self.key(y)), split(self.value(y))
        if FUSED:
            a = F.scaled_dot_product_attention(q, k, v)
        else:
            a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.h), dim=-1) @ v
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    def __init__(self, k, n, d, layers, heads):
        super().__init__()
        self.tok_emb = nn.Embedding(k + 1, d)
        self.pos_emb = nn.Parameter(torch.zeros(1, n, d))
        self.blocks = nn.Sequential(*[Block(d, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, k, bias=False)

    def forward(self, idx):
        return self.head(self.ln_f(self.blocks(self.tok_emb(idx) + self.pos_emb)))


def sample(m, x, steps, seed):
    """The paper's sampler: reveal each masked position with probability 1/t, logits for all positions."""
    torch.manual_seed(seed)
    xs = x.clone()
    unmasked = torch.zeros_like(xs, dtype=torch.bool)
    for t in range(steps, 0, -1):
        changes = torch.rand(xs.shape) < 1 / t
        changes = torch.logical_xor(changes, torch.logical_and(changes, unmasked))
        unmasked = torch.logical_or(unmasked, changes)
        probs = torch.softmax(m(xs) / 0.9, dim=-1)
        xs[changes] = torch.distributions.Categorical(probs=probs).sample()[changes]
    return xs


def main():
    ap = argparse.ArgumentParser()
    for name, default in [("layers", 8), ("dim", 256), ("heads", 8), ("tokens", 256), ("codebook", 512), ("batch", 16), ("steps", 50), ("runs", 1), ("threads", 2)]:
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--forward-only", action="store_true", help="time forward passes only")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = Transformer(a.codebook, a.tokens, a.dim, a.layers, a.heads).eval()
    x = torch.full((a.batch, a.tokens), a.codebook, dtype=torch.long)
    out = {"torch": torch.__version__, "fused_attention": FUSED}
    with torch.inference_mode():
        for _ in range(2):
            m(x)
        fwd = []
        for _ in range(5):
            t = time.perf_counter()
            m(x)
            fwd.append(time.perf_counter() - t)
        out["forward_ms"] = statistics.median(fwd) * 1000
        if not a.forward_only:
            times = []
            for r in range(a.runs):
                t = time.perf_counter()
                sample(m, x, a.steps, r)
                times.append(time.perf_counter() - t)
            out["seconds_per_batch"] = statistics.median(times)
            out["seconds_per_image"] = out["seconds_per_batch"] / a.batch
    print(json.dumps(out))


if __name__ == "__main__":
    main()
