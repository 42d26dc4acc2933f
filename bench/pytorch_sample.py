"""The absorbing-diffusion prior's forward pass and the paper's sampler in PyTorch 1.13 (2 threads), for
comparison with `unmask bench sample`. Same architecture as src/models/transformer.ts (pre-LN, separate
q/k/v/proj, erf GELU, head without bias); random weights.

  /usr/bin/python3 bench/pytorch_sample.py --layers 8 --dim 256 --heads 8 --tokens 256 --codebook 512 --batch 16 --steps 50
"""
import argparse, json, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F


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
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.h), dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, n, d))
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


def main():
    ap = argparse.ArgumentParser()
    for name, default in [("layers", 8), ("dim", 256), ("heads", 8), ("tokens", 256), ("codebook", 512), ("batch", 16), ("steps", 50)]:
        ap.add_argument(f"--{name}", type=int, default=default)
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    m = Transformer(a.codebook, a.tokens, a.dim, a.layers, a.heads).eval()
    x = torch.full((a.batch, a.tokens), a.codebook, dtype=torch.long)
    with torch.no_grad():
        for _ in range(2): m(x)
        fwd = []
        for _ in range(5):
            t = time.perf_counter(); m(x); fwd.append(time.perf_counter() - t)
        # the paper's sampler: reveal each masked position with probability 1/t, logits for all positions
        t0 = time.perf_counter()
        xs = x.clone()
        unmasked = torch.zeros_like(xs, dtype=torch.bool)
        for t in range(a.steps, 0, -1):
            changes = torch.rand(xs.shape) < 1 / t
            changes = torch.logical_xor(changes, torch.logical_and(changes, unmasked))
            unmasked = torch.logical_or(unmasked, changes)
            probs = torch.softmax(m(xs) / 0.9, dim=-1)
            xs[changes] = torch.distributions.Categorical(probs=probs).sample()[changes]
        total = time.perf_counter() - t0
    fwd.sort()
    print(json.dumps({"forward_ms": fwd[2] * 1000, "seconds_per_batch": total, "seconds_per_image": total / a.batch}))


if __name__ == "__main__":
    main()
