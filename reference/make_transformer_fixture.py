"""Golden values for src/models/transformer.ts from PyTorch 1.13 (run with /usr/bin/python3).

A tiny copy of the reference prior (unleashing-transformers models/transformer.py, minGPT-style):
token embedding, learned positional embedding, pre-LN blocks (attention with separate key/query/value/
proj linears; MLP Linear → GELU → Linear), final LayerNorm, bias-free head; bidirectional, and the
autoregressive twin (causal mask, no mask token, learned start token). Dropout omitted (p = 0).
For each: the state dict (PyTorch's default initialisation, with pos_emb and start_tok made non-zero,
values rounded to 4 significant digits then float32), tokens, logits, and the mean cross-entropy
against random targets with its gradient for every parameter, computed in float64.
Writes test/fixtures/transformer.json, read by test/models/transformer.test.ts.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(20222)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "transformer.json")


class SelfAttention(nn.Module):
    def __init__(self, dim, heads, causal, n):
        super().__init__()
        self.key = nn.Linear(dim, dim)
        self.query = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.n_head = heads
        self.causal = causal
        self.register_buffer("mask", torch.tril(torch.ones(n, n)).view(1, 1, n, n), persistent=False)

    def forward(self, x):
        B, T, C = x.size()
        k = self.key(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = self.query(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = self.value(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        if self.causal:
            att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, dim, heads, causal, n):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.ln2 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, causal, n)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(0.0))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    def __init__(self, codebook_size, block_size, dim, layers, heads, causal):
        super().__init__()
        self.causal = causal
        self.tok_emb = nn.Embedding(codebook_size if causal else codebook_size + 1, dim)
        self.pos_emb = nn.Parameter(torch.zeros(1, block_size, dim))
        if causal:  # the reference declares start_tok in both models but uses it only here
            self.start_tok = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads, causal, block_size) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, codebook_size, bias=False)

    def forward(self, idx):
        x = self.tok_emb(idx)
        if self.causal:
            x = torch.cat((self.start_tok.repeat(x.size(0), 1, 1), x), dim=1)
        x = x + self.pos_emb[:, : x.shape[1], :]
        return self.head(self.ln_f(self.blocks(x)))


def short(t):
    return torch.tensor(np.float32([float(f"{v:.4g}") for v in t.flatten().tolist()]), dtype=torch.float64).view(t.shape)


def floats(t):
    # str(np.float32) is the shortest decimal that round-trips the float32 value, which keeps the file small
    return {"shape": list(t.shape), "dtype": "float32", "data": [float(str(v)) for v in t.detach().float().flatten().numpy()]}


def ints(t):
    return {"shape": list(t.shape), "dtype": "int64", "data": t.flatten().tolist()}


def case(causal):
    config = {"codebookSize": 11, "blockSize": 6, "dim": 8, "layers": 2, "heads": 2, "causal": causal}
    model = Transformer(11, 6, 8, 2, 2, causal)
    with torch.no_grad():
        model.pos_emb.copy_(0.1 * torch.randn_like(model.pos_emb))
        if causal:
            model.start_tok.copy_(0.1 * torch.randn_like(model.start_tok))
        for p in model.parameters():
            p.copy_(short(p))
    n = 5 if causal else 6
    tokens = torch.randint(0, 11 if causal else 12, (2, n))  # bidirectional tokens include the mask id 11
    logits = model(tokens)
    targets = torch.randint(0, 11, logits.shape[:2])
    loss = F.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1))
    loss.backward()
    return {
        "config": config,
        "params": {k: floats(v) for k, v in model.state_dict().items()},
        "tokens": ints(tokens),
        "targets": ints(targets),
        "logits": floats(logits),
        "loss": loss.item(),
        "grads": {k: floats(p.grad) for k, p in model.named_parameters()},
    }


if __name__ == "__main__":
    fixture = {"torch": torch.__version__, "cases": {"bidirectional": case(False), "causal": case(True)}}
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    print("wrote", OUT)
