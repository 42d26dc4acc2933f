"""Golden values for the absorbing prior's objective and its trainers, from PyTorch 1.13 (run with /usr/bin/python3).

Written from the method (docs/method.md §2; Bond-Taylor et al. 2022) as the reference implementation computes it
(unleashing-transformers models/absorbing_diffusion.py `_train_loss`, models/autoregressive.py, and
train_sampler.py's Adam with linear warm-up and EMA), independently of unmask's code:

  * loss cases: a tiny transformer with fixed weights (objective_common.py) on a given batch of x₀, times t
    and masks (x_t = x₀ with the mask id K where masked): the per-sample CE summed over masked positions,
    the loss of each objective and every parameter's gradient. A new objective is one more entry in
    LOSSES and one more row in CASES.
  * the validation ELBO Σ_t E[CE_t / t] in bits per token, estimated with given times and masks.
  * 10-step trajectories of the prior's trainer (reweighted ELBO, Adam, warm-up, gradient clipping, EMA;
    and the ELBO objective on importance-sampled times with their probabilities) and of the autoregressive
    baseline's (next-token CE, same optimizer) from the same fixed weights, on given batches, times and masks: per step the loss, the batch ELBO (or NLL), the gradient norm and
    the learning rate; after 10 steps every parameter and its EMA, and which parameters have no gradient
    at all (null directions, such as the attention key bias, which the softmax ignores).

Every random draw is made here and written into the fixture, for the test to feed to unmask's code.
Computed in float64 from float32 weights. Writes test/fixtures/objectives/prior.json, read by
test/diffusion/elbo.test.ts and test/training/train-prior.test.ts.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from make_transformer_fixture import Transformer  # noqa: E402
from objective_common import checksums, floats, ints, load_fixed, null_directions  # noqa: E402

torch.set_default_dtype(torch.float64)
torch.manual_seed(20223)
OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "objectives", "prior.json")

K = 6  # codes; the mask token is K
LATENT = 3
N = T = LATENT * LATENT  # the reference's diffusion steps T equal the number of tokens N
MODEL = {"codebookSize": K, "latent": LATENT, "dim": 8, "layers": 1, "heads": 2}
BATCH = 4


def model(causal):
    return load_fixed(Transformer(K, N, MODEL["dim"], MODEL["layers"], MODEL["heads"], causal))


def masked_ce_sum(logits, x0, mask):
    """Σ over masked positions of −log p(x₀ | x_t), per sample: the reference's x_0_ignore with ignore_index −1."""
    target = x0.clone()
    target[~mask] = -1
    return F.cross_entropy(logits.permute(0, 2, 1), target, ignore_index=-1, reduction="none").sum(1)


# Per-sample loss from the masked CE sum, as absorbing_diffusion.py weights it ('normed' is unmask's 'mlm',
# 'new' its 'reweighted_elbo'); pt is the probability with which t was drawn.
LOSSES = {
    "elbo": lambda ce, t, pt, mask: ce / t / pt / (math.log(2) * N),
    "reweighted_elbo": lambda ce, t, pt, mask: (1 - t / T) * ce / (math.log(2) * N),
    "mlm": lambda ce, t, pt, mask: ce / mask.sum(1).clamp(min=1),
}

UNIFORM = [1 / T] * BATCH
# (case name, objective, p(t) of each sample's time)
CASES = [
    ("elbo", "elbo", UNIFORM),
    ("elbo with importance-sampled times", "elbo", [0.05, 0.2, 0.1, 0.15]),
    ("reweighted_elbo", "reweighted_elbo", UNIFORM),
    ("mlm", "mlm", UNIFORM),
]


def absorb(x0, mask):
    xt = x0.clone()
    xt[mask] = K
    return xt


def draw_masks(t):
    """Bernoulli(t/T) per position (the 'random' schedule), as q_sample draws them."""
    return torch.rand(len(t), N) < (t.double().unsqueeze(1) / T)


def bools(m):
    return {"shape": list(m.shape), "dtype": "bool", "data": [int(v) for v in m.flatten().tolist()]}


def named(m):
    return dict(m.named_parameters())


def loss_cases():
    m = model(False)
    x0 = torch.randint(0, K, (BATCH, N))
    t = torch.tensor([1, T, 3, 6])
    mask = draw_masks(t)
    mask[0] = False  # a grid with nothing masked: its CE sum is 0 and 'mlm' divides by max(1, 0)
    xt = absorb(x0, mask)
    logits = m(xt)
    ce = masked_ce_sum(logits, x0, mask)
    cases = []
    for name, objective, pt in CASES:
        loss = LOSSES[objective](ce, t.double(), torch.tensor(pt), mask).mean()
        grads = torch.autograd.grad(loss, list(named(m).values()), retain_graph=True)
        cases.append({"name": name, "loss": objective, "pt": pt, "value": loss.item(), "grads": {k: floats(g) for k, g in zip(named(m), grads)}})
    return m, {"x0": ints(x0), "xt": ints(xt), "mask": bools(mask), "t": t.tolist(), "ceSum": floats(ce.detach()), "cases": cases}


def validation_elbo(m, tokens):
    """(T/|times|)·mean over grids of Σ_times CE_t/t, in bits per token; jobs in grid-major order."""
    times = [2, 5, 8]
    masks, total = [], 0.0
    with torch.no_grad():
        for x0 in tokens:
            for t in times:
                mask = draw_masks(torch.tensor([t]))
                masks.append(mask[0])
                total += masked_ce_sum(m(absorb(x0[None], mask)), x0[None], mask).item() / t
    bits = (total / len(tokens)) * (T / len(times)) / (math.log(2) * N)
    return {"count": len(tokens), "times": times, "batch": 4, "masks": bools(torch.stack(masks)), "bitsPerToken": bits}


def warmup_lr(base, step, warmup):
    """The reference's optim_warmup: base·step/warmup before each update, base from step = warmup on."""
    return base * step / warmup if warmup > 0 and step < warmup else base


def train(m, cfg, batches, step_loss):
    """Adam (torch defaults) with warm-up and global-norm clipping; EMA of weights after every update."""
    params = named(m)
    opt = torch.optim.Adam(params.values(), lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8)
    ema = {k: p.detach().clone() for k, p in params.items()}
    steps = []
    largest = {k: 0.0 for k in params}
    for step, batch in enumerate(batches):
        loss, stat = step_loss(m, batch)
        opt.zero_grad()
        loss.backward()
        for k, p in params.items():
            largest[k] = max(largest[k], p.grad.norm().item())
        norm = torch.nn.utils.clip_grad_norm_(params.values(), cfg["gradClip"]).item()
        lr = warmup_lr(cfg["lr"], step, cfg["warmup"])
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        with torch.no_grad():
            for k, p in params.items():
                ema[k].mul_(cfg["emaDecay"]).add_(p, alpha=1 - cfg["emaDecay"])
        steps.append({**batch["record"], "loss": loss.item(), "elbo": stat, "gradNorm": norm, "lr": lr})
    return {"steps": steps, "nullDirections": null_directions(largest),
            "params": {k: floats(p) for k, p in params.items()}, "ema": {k: floats(v) for k, v in ema.items()}}


TRAIN = {"batch": BATCH, "lr": 1e-2, "warmup": 3, "emaDecay": 0.9}
STEPS = 10


def prior_trajectory(data, loss, p_t=None):
    """Times uniform over 1..T, or drawn from p_t (a distribution over 1..T: an importance sampler's, fed to
    the trainer with each time's probability)."""
    cfg = {**MODEL, **TRAIN, "gradClip": 0.5, "loss": loss, "timeSampling": "uniform" if p_t is None else "importance"}
    batches = []
    for _ in range(STEPS):
        idx = torch.randint(0, len(data), (BATCH,))
        t = torch.randint(1, T + 1, (BATCH,)) if p_t is None else torch.multinomial(p_t, BATCH, replacement=True) + 1
        pt = torch.full((BATCH,), 1 / T) if p_t is None else p_t[t - 1]
        mask = draw_masks(t)
        record = {"indices": idx.tolist(), "t": t.tolist(), "mask": bools(mask), **({} if p_t is None else {"pt": pt.tolist()})}
        batches.append({"x0": data[idx], "t": t, "pt": pt, "mask": mask, "record": record})

    def step_loss(m, b):
        ce = masked_ce_sum(m(absorb(b["x0"], b["mask"])), b["x0"], b["mask"])
        t, pt = b["t"].double(), b["pt"]
        # the batch's ELBO estimate is the reference's vb_loss: CE/t/p(t)/(ln2·N), whatever the objective
        return LOSSES[cfg["loss"]](ce, t, pt, b["mask"]).mean(), LOSSES["elbo"](ce, t, pt, b["mask"]).mean().item()

    return {"config": cfg, **train(model(False), cfg, batches, step_loss)}


def autoregressive_trajectory(data):
    cfg = {**MODEL, **TRAIN, "gradClip": 1.0, "causal": True}
    batches = []
    for _ in range(STEPS):
        idx = torch.randint(0, len(data), (BATCH,))
        batches.append({"x0": data[idx], "record": {"indices": idx.tolist()}})

    def step_loss(m, b):
        # teacher forcing: start_tok then x₀[:, :N−1]; the logits at position i predict x₀[i]
        ce = F.cross_entropy(m(b["x0"][:, : N - 1]).permute(0, 2, 1), b["x0"], reduction="none")  # [B, N]
        return ce.mean(), (ce.sum(1) / (math.log(2) * N)).mean().item()

    return {"config": cfg, **train(model(True), cfg, batches, step_loss)}


if __name__ == "__main__":
    m, losses = loss_cases()
    data = torch.randint(0, K, (8, N))
    fixture = {
        "torch": torch.__version__,
        "model": MODEL,
        "checksums": {"bidirectional": checksums(m, named(m)), "causal": checksums(model(True), named(model(True)))},
        "data": ints(data),
        "losses": losses,
        "validationElbo": validation_elbo(m, data[:3]),
        "priorTrajectory": prior_trajectory(data, "reweighted_elbo"),
        "autoregressiveTrajectory": autoregressive_trajectory(data),
    }
    # the ELBO objective with importance-sampled times: the losses and statistics of each step (weights not stored)
    p_t = torch.arange(T, 0, -1.0) / sum(range(1, T + 1))
    importance = prior_trajectory(data, "elbo", p_t)
    fixture["importanceTrajectory"] = {k: v for k, v in importance.items() if k not in ("params", "ema", "nullDirections")}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    for name in ("priorTrajectory", "autoregressiveTrajectory", "importanceTrajectory"):
        print(name, [round(s["loss"], 4) for s in fixture[name]["steps"]], "grad norms", [round(s["gradNorm"], 3) for s in fixture[name]["steps"]])
    print("wrote", OUT, os.path.getsize(OUT), "bytes")
