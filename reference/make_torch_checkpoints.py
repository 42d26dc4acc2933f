"""Checkpoints as the reference implementation saves them, for `unmask import` (src/interop/).

The reference (samb-t/unleashing-transformers, MIT) saves `torch.save(model.state_dict())`:
  - its VQGAN wrapper: `ae` (VQAutoEncoder: encoder, quantize, generator with the `logsigma` head that
    its ELBO script fine-tunes), `disc` (PatchGAN with BatchNorm) and `perceptual` (LPIPS-VGG);
  - its AbsorbingDiffusion sampler: `_denoise_fn` (the transformer, with a `start_tok` used only when
    causal) and the buffers `Lt_history`, `Lt_count`, `loss_history` (length T + 1).
This script builds modules with those names (the VQGAN blocks from bench/pytorch_vqgan.py; the
transformer below, as in the reference's models/transformer.py) with random weights, saves them with
PyTorch 1.13 in both file formats (zip, and legacy with `_use_new_zipfile_serialization=False`) and
with float32 and float16 storages, and records what PyTorch computes from them, in float64:
  - the codes of an image (nearest codebook entry; every position's best distance beats the second
    best by a clear margin, so float32 cannot pick another code), the decoder's output before any
    clamping and the Gaussian NLL of the image given its codes under the logsigma head (nats); the
    images are a hash of their element index (hashed_images), so the tests recompute them;
  - the transformer's logits for token grids with some positions masked (id K), at some positions;
  - one step of fitting the log σ head as the reference does: the loss and the head's gradients.
Every weight is rounded to a float16 value first, so the float32 and float16 files hold the same values
and one set of outputs serves both. Some tensors are saved as views (a transposed weight; a norm's
weight and bias sharing one storage at an offset), as state dicts of real models can be.
LPIPS's weights are not available offline: `perceptual.*` holds stand-in tensors with LPIPS's key names
and shapes, which is all an importer sees of them (it lists and skips them).

Two configurations:
  - tiny: 16-px images, ch_mult (1, 1), one res block, attention at 8 px, 16 codes of width 8; a
    2-layer prior of width 32 over the 8×8 grid. All four file variants of each.
  - paper: the released models' structure (256 px, five levels, two res blocks per level, attention
    at 16 px, 1024 codes; a 24-layer prior over 16×16 tokens with 8 heads) at narrow widths so the
    files stay small: nf 32 and ch_mult (1, 1, 1, 1, 2) (the released (1, 1, 2, 2, 4) at nf 128 is
    66 M parameters; GroupNorm's 32 groups forbid fewer than 32 channels), codes of width 32, prior
    width 32. The VQGAN in zip format with float16 storages, the prior in legacy format with float32.
Plus files an importer must refuse, made from the tiny prior: a truncated zip, a pickle naming
os.system, a storage shorter than its tensor, and state dicts with a missing and an unexpected key.

Run with /usr/bin/python3 (PyTorch 1.13), then with a PyTorch 2 (the CPU wheel in /opt/wheels, in a venv
with --system-site-packages) for the one file PyTorch 2 writes; writes test/fixtures/torch/ (legacy files and the rezipped bad
ones differ in bytes from run to run — legacy storage keys are object ids, zip entries carry the time —
but never in values). reference/check_reference_export.py
imports its modules.
"""
import copy
import io
import json
import math
import os
import struct
import sys
import zipfile

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from pytorch_vqgan import Discriminator, Encoder, Generator, Quantizer  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "torch")
os.makedirs(OUT, exist_ok=True)


class ProbabilisticGenerator(Generator):
    """The reference generator: the decoder plus `logsigma` (conv3×3, ReLU, conv1×1) on the output of
    its last GroupNorm, fitted after training to give a per-pixel Gaussian for the ELBO."""

    def __init__(self, cout, nf, emb, ch_mult, res_blocks, resolution, attn_res):
        super().__init__(cout, nf, emb, ch_mult, res_blocks, resolution, attn_res)
        ch = nf * ch_mult[0]
        self.logsigma = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.ReLU(), nn.Conv2d(ch, cout, 1))

    def probabilistic(self, z):
        for b in self.blocks[:-1]:
            z = b(z)
        return self.blocks[-1](z), self.logsigma(z)


class VQAutoEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        args = (c["nf"], c["emb"], c["ch_mult"], c["res_blocks"], c["size"], c["attn"])
        self.encoder = Encoder(3, *args)
        self.quantize = Quantizer(c["k"], c["emb"], 0.25)
        self.generator = ProbabilisticGenerator(3, *args)


class LpipsStandIn(nn.Module):
    """A few tensors with LPIPS-VGG's state-dict names and shapes: the scaling layer's buffers, the first
    VGG conv and the first linear head."""

    def __init__(self):
        super().__init__()
        self.scaling_layer = nn.Module()
        self.scaling_layer.register_buffer("shift", torch.randn(1, 3, 1, 1))
        self.scaling_layer.register_buffer("scale", torch.rand(1, 3, 1, 1))
        self.net = nn.Module()
        self.net.slice1 = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1))
        self.lin0 = nn.Module()
        self.lin0.model = nn.Sequential(nn.Dropout(), nn.Conv2d(64, 1, 1, bias=False))


class VQGAN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ae = VQAutoEncoder(c)
        self.disc = Discriminator(3, c["ndf"], c["disc_layers"])
        self.perceptual = LpipsStandIn()


class SelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.key, self.query, self.value, self.proj = (nn.Linear(d, d) for _ in range(4))
        self.n_head = heads

    def forward(self, x):
        b, t, c = x.size()
        split = lambda y: y.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        k, q, v = split(self.key(x)), split(self.query(x)), split(self.value(x))
        att = F.softmax((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1))), dim=-1)
        return self.proj((att @ v).transpose(1, 2).contiguous().view(b, t, c))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = SelfAttention(d, heads)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(0.0))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    def __init__(self, k, n, d, layers, heads):
        super().__init__()
        self.tok_emb = nn.Embedding(k + 1, d)
        self.pos_emb = nn.Parameter(torch.zeros(1, n, d))
        self.start_tok = nn.Parameter(torch.zeros(1, 1, d))
        self.blocks = nn.Sequential(*[Block(d, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, k, bias=False)

    def forward(self, idx):
        x = self.tok_emb(idx) + self.pos_emb[:, : idx.shape[1], :]
        return self.head(self.ln_f(self.blocks(x)))


class AbsorbingDiffusion(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = c["latent"] ** 2
        self._denoise_fn = Transformer(c["k"], n, c["d"], c["layers"], c["heads"])
        for name in ("Lt_history", "Lt_count", "loss_history"):
            self.register_buffer(name, torch.rand(n + 1))


def randomize(model):
    """Random values where PyTorch's init leaves constants (norm affines, biases, positional and start
    embeddings, BatchNorm statistics), then float16 rounding."""
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if not p.is_floating_point():
                p.fill_(7)
                continue
            if name.endswith("running_var") or name.endswith("Lt_count"):
                p.copy_(torch.rand_like(p) + 0.5)
            elif p.dim() <= 1 or "pos_emb" in name or "start_tok" in name or "running_mean" in name:
                base = 1.0 if name.endswith("weight") and p.dim() == 1 else 0.0
                p.copy_(base + 0.3 * torch.randn_like(p))
            p.copy_(p.half().float())
    return model


def make_views(model, transposed, shared):
    """Re-seat `transposed` as a non-contiguous view (same values) and the weight and bias of the norm
    `shared` in one storage, the bias at an offset."""
    with torch.no_grad():
        t = dict(model.named_parameters())[transposed]
        perm = list(range(t.dim()))
        perm[0], perm[1] = 1, 0
        t.data = t.data.permute(*perm).contiguous().permute(*perm)
        assert not t.data.is_contiguous()
        norm = dict(model.named_modules())[shared]
        both = torch.cat([norm.weight.data, norm.bias.data])
        c = norm.weight.numel()
        norm.weight.data, norm.bias.data = both[:c], both[c:]
        assert norm.bias.data.storage_offset() == c


def save_variants(model, stem, variants, views):
    for fmt, dtype in variants:
        m = copy.deepcopy(model).to(dtype)
        make_views(m, *views)
        path = os.path.join(OUT, f"{stem}.{fmt}-{'f32' if dtype == torch.float32 else 'f16'}.th")
        torch.save(m.state_dict(), path, _use_new_zipfile_serialization=fmt == "zip")
        print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")


def write_safetensors(path, tensors):
    """Expected outputs, in the safetensors layout (the package is not installed here)."""
    header, data = {}, b""
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype, raw = ("I64", t.to(torch.int64).numpy().astype("<i8").tobytes()) if not t.is_floating_point() else ("F32", t.to(torch.float32).numpy().astype("<f4").tobytes())
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    blob = json.dumps(header).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + data)
    print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")


def nearest_codes(z, codebook, margin=1e-3):
    """argmin_k ‖z − e_k‖² per position, and whether the runner-up is clearly farther everywhere."""
    flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    d = (flat ** 2).sum(1, keepdim=True) + (codebook ** 2).sum(1) - 2 * flat @ codebook.t()
    best = d.topk(2, dim=1, largest=False).values
    gap = (best[:, 1] - best[:, 0]) / best[:, 0].abs().clamp(min=1)
    return d.argmin(1).view(z.shape[0], z.shape[2], z.shape[3]), gap.min().item() > margin


def hashed_images(batch, size, seed):
    """Images in [0, 1) that TypeScript recomputes exactly: element i (row-major [B, 3, H, W]) is
    ((i + 1000003·seed) · 2654435761 mod 2³²) / 2³², rounded to float32."""
    i = torch.arange(batch * 3 * size * size, dtype=torch.int64) + 1000003 * seed
    return ((i * 2654435761) % 2**32).double().div(2**32).float().double().view(batch, 3, size, size)


def expected_outputs(vqgan, prior, c, batch, positions):
    """PyTorch's outputs in float64 for hashed images and masked token grids; logits at `positions`."""
    ae = copy.deepcopy(vqgan.ae).double()
    den = copy.deepcopy(prior._denoise_fn).double()
    g = torch.Generator().manual_seed(16)
    with torch.no_grad():
        for seed in range(20):
            x = hashed_images(batch, c["size"], seed)
            codes, clear = nearest_codes(ae.encoder(x), ae.quantize.embedding.weight)
            if clear:
                break
        assert clear, "no input with well-separated nearest codes"
        zq = ae.quantize.embedding.weight[codes].permute(0, 3, 1, 2)
        mu, logsigma = ae.generator.probabilistic(zq)
        nll = (0.5 * ((x - mu) / logsigma.exp()) ** 2 + logsigma + 0.5 * math.log(2 * math.pi)).sum((1, 2, 3))
        n = c["latent"] ** 2
        tokens = torch.randint(0, c["k"], (batch, n), generator=g)
        tokens[torch.rand(batch, n, generator=g) < 0.5] = c["k"]
        pos = torch.randperm(n, generator=g)[:positions].sort().values
        logits = den(tokens)[:, pos]
    print(f"  image seed {seed}; |mu| max {mu.abs().max().item():.3g}, |logits| max {logits.abs().max().item():.3g}")
    return {"image_seed": torch.tensor([seed]), "codes": codes, "mu": mu, "nll": nll, "tokens": tokens, "positions": pos, "logits": logits}


def logsigma_fixture(vqgan, c, batch):
    """One step of the reference's log σ fitting (experiments/calc_approximate_ELBO.py): the decoder
    frozen, loss = −log p(x | z) in bits per dimension, nll.mean(0).sum() / (ln 2 · C·H·W), and its
    gradient for the head's four tensors, in float64."""
    ae = copy.deepcopy(vqgan.ae).double()
    x = hashed_images(batch, c["size"], 0)
    with torch.no_grad():
        codes, _ = nearest_codes(ae.encoder(x), ae.quantize.embedding.weight)
        zq = ae.quantize.embedding.weight[codes].permute(0, 3, 1, 2)
    mu, logsigma = ae.generator.probabilistic(zq)
    nll = 0.5 * ((x - mu) / logsigma.exp()) ** 2 + logsigma + 0.5 * math.log(2 * math.pi)
    loss = nll.mean(0).sum() / (math.log(2) * x[0].numel())
    head = dict(ae.generator.logsigma.named_parameters())
    grads = torch.autograd.grad(loss, list(head.values()))
    out = {"loss": loss.detach().view(1)}
    out.update({f"grad.generator.logsigma.{k}": g for k, g in zip(head, grads)})
    return out


def build(c, seed):
    torch.manual_seed(seed)
    vqgan = VQGAN(c)
    randomize(vqgan)
    # Codes on the latents' scale, so that they lie among them rather than in a tiny ball at the origin.
    with torch.no_grad():
        z = vqgan.ae.encoder(torch.rand(4, 3, c["size"], c["size"]))
        vqgan.ae.quantize.embedding.weight.copy_((torch.randn_like(vqgan.ae.quantize.embedding.weight) * z.std()).half().float())
    prior = randomize(AbsorbingDiffusion(c))
    return vqgan, prior


TINY = dict(size=16, nf=32, ch_mult=(1, 1), res_blocks=1, attn=(8,), k=16, emb=8, ndf=8, disc_layers=2, latent=8, d=32, layers=2, heads=4)
PAPER = dict(size=256, nf=32, ch_mult=(1, 1, 1, 1, 2), res_blocks=2, attn=(16,), k=1024, emb=32, ndf=8, disc_layers=3, latent=16, d=32, layers=24, heads=8)
ALL = [("zip", torch.float32), ("zip", torch.float16), ("legacy", torch.float32), ("legacy", torch.float16)]
PRIOR_VIEWS = ("_denoise_fn.head.weight", "_denoise_fn.ln_f")

def write(name, data):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    print(f"wrote {os.path.normpath(path)} ({len(data)} bytes)")


def rezip(name, whole, replace):
    """A torch.save zip file with some records replaced (stored, as torch.save stores them)."""
    src = zipfile.ZipFile(io.BytesIO(whole))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace(info.filename, src.read(info.filename)))
    write(name, out.getvalue())


def saved(sd):
    buf = io.BytesIO()
    torch.save(sd, buf)
    return buf.getvalue()


def write_bad_files():
    """Files to refuse, each small: made from the tiny prior."""
    _, prior = build(TINY, seed=15)
    sd = prior.state_dict()
    whole = saved(sd)
    write("bad-truncated.th", whole[: len(whole) // 2])
    # A pickle that would run os.system("echo unmask") in torch.load.
    evil = b"\x80\x02cos\nsystem\nX\x0b\x00\x00\x00echo unmask\x85R."
    rezip("bad-global.th", whole, lambda n, b: evil if n.endswith("/data.pkl") else b)
    rezip("bad-short-storage.th", whole, lambda n, b: b[: len(b) // 2] if n.endswith("/data/0") else b)
    write("bad-missing-key.th", saved({k: v for k, v in sd.items() if k != "_denoise_fn.head.weight"}))
    write("bad-extra-key.th", saved(dict(sd, **{"_denoise_fn.blocks.1.mlp.4.weight": torch.ones(32, 32)})))


def write_reader_variants():
    """The tiny prior as other writers save it, for the reader's tests: bfloat16 storages and pickle
    protocol 4 from PyTorch 1.13, and float32 from PyTorch 2 (records under 'archive/'-style stems
    with byteorder, .format_version and serialization-id records) when run with PyTorch 2."""
    _, prior = build(TINY, seed=15)
    if int(torch.__version__.split(".")[0]) >= 2:
        torch.save(prior.state_dict(), os.path.join(OUT, "tiny-prior.torch2.th"))
        print(f"wrote tiny-prior.torch2.th with PyTorch {torch.__version__}")
        return
    torch.save(copy.deepcopy(prior).to(torch.bfloat16).state_dict(), os.path.join(OUT, "tiny-prior.zip-bf16.th"))
    torch.save(prior.state_dict(), os.path.join(OUT, "tiny-prior.protocol4.th"), pickle_protocol=4)
    print("wrote tiny-prior.zip-bf16.th, tiny-prior.protocol4.th")


def main():
    if int(torch.__version__.split(".")[0]) >= 2:
        write_reader_variants()
        return
    for name, c, vqgan_variants, prior_variants, batch, positions in [
        ("tiny", TINY, ALL, ALL, 2, 64),
        ("paper", PAPER, [("zip", torch.float16)], [("legacy", torch.float32)], 1, 32),
    ]:
        vqgan, prior = build(c, seed=15)
        print(f"{name}: VQGAN {sum(p.numel() for p in vqgan.parameters())} parameters, prior {sum(p.numel() for p in prior.parameters())}")
        last_norm = f"ae.generator.blocks.{len(vqgan.ae.generator.blocks) - 2}"
        save_variants(vqgan, f"{name}-vqgan", vqgan_variants, ("ae.encoder.blocks.0.weight", last_norm))
        save_variants(prior, f"{name}-prior", prior_variants, PRIOR_VIEWS)
        write_safetensors(os.path.join(OUT, f"{name}-expected.safetensors"), expected_outputs(vqgan, prior, c, batch, positions))
    write_safetensors(os.path.join(OUT, "tiny-logsigma.safetensors"), logsigma_fixture(build(TINY, seed=15)[0], TINY, 2))
    write_bad_files()
    write_reader_variants()


if __name__ == "__main__":
    main()
