"""Golden values for src/engine/optim.ts from PyTorch 1.13 (run with /usr/bin/python3, which has torch).

Dumps initial parameters, a fixed sequence of gradients, and the parameters after every step for
torch.optim.Adam and torch.optim.AdamW, Adam's moments after the last step, an Adam run whose lr
follows the reference's linear warm-up, and torch.nn.utils.clip_grad_norm_ results.
Writes test/fixtures/optim.json.
"""
import json
import os

import torch

torch.manual_seed(1234)

SHAPES = {"w": [3, 4], "b": [4], "e": [2, 3, 2]}
STEPS = 5


def tensors(scale=1.0):
    return {k: torch.randn(*s) * scale for k, s in SHAPES.items()}


init = tensors()
# Gradients of very different sizes, so that √v̂ and eps both matter: ordinary, tiny, large,
# a step with one exactly-zero tensor, ordinary again.
grad_scales = [1.0, 1e-6, 50.0, 1.0, 0.3]
grads = []
for i, s in enumerate(grad_scales):
    g = tensors(s)
    if i == 3:
        g["b"].zero_()
    grads.append(g)


def lst(t):
    return t.detach().flatten().tolist()


def run(make_opt, lrs=None):
    params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
    opt = make_opt(list(params.values()))
    after = []
    for step, g in enumerate(grads):
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = lrs[step]
        for k, p in params.items():
            p.grad = g[k].clone()
        opt.step()
        after.append({k: lst(p) for k, p in params.items()})
    state = {k: {"m": lst(opt.state[p]["exp_avg"]), "v": lst(opt.state[p]["exp_avg_sq"])} for k, p in params.items()}
    return after, state


def reference_warmup(base, step, warmup_iters):
    # unleashing-transformers: optim_warmup(H, step, optim) before each step while step <= warmup_iters
    return base * float(step) / warmup_iters if step <= warmup_iters else base


runs = {}
adam_after, adam_state = run(lambda ps: torch.optim.Adam(ps, lr=1e-3))
runs["adam"] = {"cfg": {"lr": 1e-3}, "after": adam_after, "state": adam_state}
adamw_after, adamw_state = run(lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01))
runs["adamw"] = {"cfg": {"lr": 1e-3, "weightDecay": 0.01}, "after": adamw_after, "state": adamw_state}
custom = {"lr": 3e-2, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6, "weightDecay": 0.1}
custom_after, custom_state = run(
    lambda ps: torch.optim.AdamW(ps, lr=custom["lr"], betas=(custom["beta1"], custom["beta2"]), eps=custom["eps"], weight_decay=custom["weightDecay"])
)
runs["adamw_custom"] = {"cfg": custom, "after": custom_after, "state": custom_state}
warmup = {"base": 2e-4, "warmupSteps": 3}
lrs = [reference_warmup(warmup["base"], s, warmup["warmupSteps"]) for s in range(STEPS)]
warm_after, warm_state = run(lambda ps: torch.optim.Adam(ps, lr=warmup["base"]), lrs)
runs["adam_warmup"] = {"cfg": {"lr": warmup["base"]}, "warmup": {**warmup, "lrs": lrs}, "after": warm_after, "state": warm_state}

clips = []
for max_norm, g in [(1.0, grads[0]), (100.0, grads[0]), (1.0, grads[2]), (5.0, grads[1])]:
    params = {k: torch.nn.Parameter(torch.zeros(*s)) for k, s in SHAPES.items()}
    for k, p in params.items():
        p.grad = g[k].clone()
    norm = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)
    clips.append({
        "maxNorm": max_norm,
        "grads": {k: lst(v) for k, v in g.items()},
        "norm": norm.item(),
        "clipped": {k: lst(p.grad) for k, p in params.items()},
    })

out = {
    "torch": torch.__version__,
    "shapes": SHAPES,
    "init": {k: lst(v) for k, v in init.items()},
    "grads": [{k: lst(v) for k, v in g.items()} for g in grads],
    "runs": runs,
    "clip": clips,
}
path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "optim.json")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as f:
    json.dump(out, f)
print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")
