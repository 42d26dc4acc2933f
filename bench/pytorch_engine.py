"""The PyTorch reference for `unmask bench engine` (src/bench/engine.ts): the same three cases, the
same shapes, medians of timed runs after warm-up, one JSON line per case.

    /usr/bin/python3 bench/pytorch_engine.py [--runs 10] [--warmup 2] [--threads 2]

Written for PyTorch 1.13 on CPU (no fused attention there, so attention is spelled out as minGPT does).
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONV = dict(batch=16, channels=64, size=32)
BLOCK = dict(batch=16, seq=256, dim=256, heads=8, classes=1024)


class SelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        split = lambda t: t.view(b, n, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // self.heads))
        y = F.softmax(att, dim=-1) @ v
        return self.proj(y.transpose(1, 2).contiguous().view(b, n, d))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.ln2 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class BlockAndHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block(BLOCK['dim'], BLOCK['heads'])
        self.head = nn.Linear(BLOCK['dim'], BLOCK['classes'], bias=False)

    def forward(self, x):
        return self.head(self.block(x))


def conv_fwd_bwd():
    n, c, s = CONV['batch'], CONV['channels'], CONV['size']
    x = torch.randn(n, c, s, s, requires_grad=True)
    r = torch.randn(n, c, s, s)
    conv = nn.Conv2d(c, c, 3, padding=1)

    def run():
        x.grad = None
        conv.zero_grad(set_to_none=True)
        (conv(x) * r).sum().backward()

    return run


def block_fwd_bwd():
    b, n = BLOCK['batch'], BLOCK['seq']
    model = BlockAndHead()
    x = torch.randn(b, n, BLOCK['dim'])
    targets = torch.randint(0, BLOCK['classes'], (b, n))
    mask = (torch.rand(b, n) < 0.5).float()

    def run():
        model.zero_grad(set_to_none=True)
        logits = model(x)
        ce = F.cross_entropy(logits.view(-1, BLOCK['classes']), targets.view(-1), reduction='none')
        ((ce * mask.view(-1)).sum() / mask.sum()).backward()

    return run


def block_fwd():
    model = BlockAndHead().eval()
    x = torch.randn(BLOCK['batch'], BLOCK['seq'], BLOCK['dim'])

    def run():
        with torch.inference_mode():
            model(x)

    return run


def median_ms(run, runs, warmup):
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--runs', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    runs = max(5, a.runs)
    for name, make in [('conv_fwd_bwd', conv_fwd_bwd), ('block_fwd_bwd', block_fwd_bwd), ('block_fwd', block_fwd)]:
        print(json.dumps({'case': name, 'ms': median_ms(make(), runs, a.warmup), 'runs': runs}, separators=(',', ':')), flush=True)


if __name__ == '__main__':
    main()
