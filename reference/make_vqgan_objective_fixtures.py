"""Golden values for the VQGAN's training objectives and trainer, from PyTorch 1.13 (run with /usr/bin/python3).

Written from the method as docs/method.md §1 states it (Esser et al. 2021's VQGAN as Bond-Taylor et al. 2022
train it) and the reference implementation computes it (unleashing-transformers models/vqgan.py
`train_iter`, `calculate_adaptive_weight`, `hinge_d_loss`; train_vqgan.py), independently of unmask's
code, on the PyTorch VQGAN of bench/pytorch_vqgan.py with fixed weights (objective_common.py), 8×8
greyscale images, batch 2:

  * autoencoder cases: L1 + codebook loss (β), the discriminator-feature perceptual term, the hinge
    generator term −mean D(x̂) with the adaptive weight λ = clamp(‖∇_last L_rec‖ / (‖∇_last L_gan‖ + 1e-4),
    0, disc_weight_max) taken with respect to the decoder's last conv weight (unclamped and clamped), and
    one with DiffAugment on D's input on given draws; the loss, its parts, the code indices and every
    parameter's gradient.
  * discriminator cases: the hinge loss 0.5·(mean relu(1 − D(x)) + mean relu(1 + D(x̂))), mean logits,
    BatchNorm batch statistics and every gradient, plain and with DiffAugment.
  * a 10-step trajectory of the trainer with the GAN on from step 0 (and one with it from step 4, where
    λ = 0 and D does not train before): Adam for both nets, EMA of the autoencoder's weights, BatchNorm running statistics from the discriminator step (momentum 0.1,
    unbiased variance), on given batches; per step every loss term, λ and the code perplexity; after the
    last step every weight, EMA and running statistic, and the null directions (with 32 channels GroupNorm's
    32 groups normalise each channel alone, so every bias that only shifts channels on their way into one
    has no gradient).

Gradients and weights of tensors above SUMMARY_ABOVE values are stored as their L2 norm, sum, dot
product with the tensor's fixed initial weights and four sampled values, which keeps the file small;
smaller tensors are stored whole. Computed in float64. Writes test/fixtures/objectives/vqgan.json, read by
test/models/vqgan-loss.test.ts and test/training/train-vqgan.test.ts.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from make_diffaugment_fixture import augment  # noqa: E402
from objective_common import checksums, fixed_tensor, floats, load_fixed, null_directions  # noqa: E402
from pytorch_vqgan import Discriminator, Encoder, Generator, Quantizer, ResBlock  # noqa: E402

torch.set_default_dtype(torch.float64)
torch.manual_seed(20224)
OUT = os.path.join(HERE, "..", "test", "fixtures", "objectives", "vqgan.json")

CONFIG = {
    "channels": 1, "imageSize": 8, "nf": 32, "chMult": [1, 1], "resBlocks": 1, "attnResolutions": [],
    "codebookSize": 8, "embDim": 4, "ndf": 4, "discLayers": 1, "beta": 0.25,
    "perceptual": "disc-features", "perceptualWeight": 0.5, "diffAugment": "", "discStartStep": 0,
    "discWeightMax": 1000.0, "emaDecay": 0.9, "deadCodeSteps": 0, "lr": 1e-3, "batch": 2,
}
SUMMARY_ABOVE = 16
MIN_CODE_MARGIN = 1e-4
STEPS = 10


class VQGAN(nn.Module):
    def __init__(self, c):
        super().__init__()
        shape = (c["nf"], c["embDim"], c["chMult"], c["resBlocks"], c["imageSize"], c["attnResolutions"])
        self.encoder = Encoder(c["channels"], *shape)
        self.quantize = Quantizer(c["codebookSize"], c["embDim"], c["beta"])
        self.generator = Generator(c["channels"], *shape)
        self.disc = Discriminator(c["channels"], c["ndf"], c["discLayers"])

    def used(self):
        """State-dict keys unmask declares: all but the conv_out of ResBlocks that keep their width (unused)."""
        unused = {f"{n}.conv_out." for n, mod in self.named_modules() if isinstance(mod, ResBlock) and mod.cin == mod.cout}
        return [k for k, v in self.state_dict().items() if v.is_floating_point() and not any(k.startswith(u) for u in unused)]


def disc_forward(disc, x):
    """Logits, and the activations after each LeakyReLU (the features of the perceptual term)."""
    feats = []
    for layer in disc.main:
        x = layer(x)
        if isinstance(layer, nn.LeakyReLU):
            feats.append(x)
    return x, feats


def code_margin(m, z):
    """Smallest gap between the nearest and second-nearest code, relative: the fixture must not hinge on a near tie."""
    flat = z.detach().permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    d = torch.cdist(flat, m.quantize.embedding.weight.detach()) ** 2
    two = d.topk(2, dim=1, largest=False).values
    return ((two[:, 1] - two[:, 0]) / (1 + two[:, 0])).min().item()


def ae_objective(m, x, c, adversarial, fake_draws=None):
    """loss = L1 + w_p·perceptual + λ·(−mean D(x̂)) + codebook loss (models/vqgan.py train_iter)."""
    z = m.encoder(x)
    assert code_margin(m, z) > MIN_CODE_MARGIN, "a near tie between codes: change the seed"
    zq, codebook, idx = m.quantize(z)
    xhat = m.generator(zq)
    rec = (x - xhat).abs().mean()
    out = {"rec": rec, "codebook": codebook}
    nll = rec
    if c["perceptual"] == "disc-features":
        real = disc_forward(m.disc, x)[1]
        fake = disc_forward(m.disc, xhat)[1]
        out["perceptual"] = sum((a.detach() - b).abs().mean() for a, b in zip(real, fake))
        nll = nll + c["perceptualWeight"] * out["perceptual"]
    loss = nll + codebook
    if adversarial:
        seen = augment(xhat, c["diffAugment"], fake_draws) if c["diffAugment"] else xhat
        gan = -disc_forward(m.disc, seen)[0].mean()
        last = m.generator.blocks[-1].weight
        g_rec = torch.autograd.grad(nll, last, retain_graph=True)[0]
        g_gan = torch.autograd.grad(gan, last, retain_graph=True)[0]
        out["ratio"] = g_rec.norm() / (g_gan.norm() + 1e-4)
        out["discWeight"] = torch.clamp(out["ratio"], 0.0, c["discWeightMax"]).detach()
        out["gan"] = gan
        loss = loss + out["discWeight"] * gan
    return loss, out, idx, xhat.detach()


def disc_objective(m, x, xhat, c, draws=None):
    """Hinge loss 0.5·(mean relu(1 − D(x)) + mean relu(1 + D(x̂))) (models/vqgan.py hinge_d_loss)."""
    if c["diffAugment"]:
        x, xhat = augment(x, c["diffAugment"], draws["real"]), augment(xhat, c["diffAugment"], draws["fake"])
    real = disc_forward(m.disc, x)[0]
    fake = disc_forward(m.disc, xhat)[0]
    loss = 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean())
    return loss, {"logitsReal": real.mean(), "logitsFake": fake.mean()}


def summary(name, t, shape):
    """The whole tensor when small; else ‖t‖, Σt, t·w₀ (w₀ the fixed initial weights) and the values at
    flat indices j·2654435761 mod size for j = 0..3, to 8 significant digits."""
    t = t.detach()
    if t.numel() <= SUMMARY_ABOVE:
        return floats(t)
    flat = t.flatten()
    w0 = torch.from_numpy(fixed_tensor(name, shape)).double().flatten()
    r = lambda v: float(f"{v:.8g}")  # noqa: E731
    return {"shape": list(t.shape), "norm": r(flat.norm().item()), "sum": r(flat.sum().item()), "dot": r((flat * w0).sum().item()),
            "values": [r(flat[(j * 2654435761) % flat.numel()].item()) for j in range(4)]}


def model():
    m = load_fixed(VQGAN(CONFIG))
    m.train()
    return m


def ae_params(m, names):
    params = dict(m.named_parameters())
    return {k: params[k] for k in names if not k.startswith("disc.") and k in params}


def ae_case(name, m, x, config, adversarial, fake_draws=None):
    loss, out, idx, _ = ae_objective(m, x, config, adversarial, fake_draws)
    params = ae_params(m, m.used())
    grads = torch.autograd.grad(loss, list(params.values()))
    sd = m.state_dict()
    return {
        "name": name, "config": config, "adversarial": adversarial, "fakeDraws": fake_draws and {k: v.tolist() for k, v in fake_draws.items()},
        "loss": loss.item(), **{k: v.item() for k, v in out.items() if k != "ratio"}, "indices": idx.tolist(),
        "grads": {k: summary(k, g, list(sd[k].shape)) for k, g in zip(params, grads)},
    }


def bn_batch_stats(m, x):
    """Per BatchNorm layer, the batch mean and unbiased variance of its input (what the running statistics take)."""
    stats = {}
    hooks = [mod.register_forward_hook(lambda mod, inp, _out, n=n: stats.__setitem__(f"disc.{n}", inp[0]))
             for n, mod in m.disc.named_modules() if isinstance(mod, nn.BatchNorm2d)]
    disc_forward(m.disc, x)
    for h in hooks:
        h.remove()
    return {n: {"mean": floats(v.mean((0, 2, 3))), "var": floats(v.var((0, 2, 3), unbiased=True))} for n, v in stats.items()}


def disc_case(name, m, x, xhat, config, draws=None):
    loss, out = disc_objective(m, x, xhat, config, draws)
    params = {k: p for k, p in m.named_parameters() if k.startswith("disc.")}
    grads = torch.autograd.grad(loss, list(params.values()))
    seen = (augment(x, config["diffAugment"], draws["real"]), augment(xhat, config["diffAugment"], draws["fake"])) if draws else (x, xhat)
    return {
        "name": name, "config": config, "draws": draws and {w: {k: v.tolist() for k, v in d.items()} for w, d in draws.items()},
        "xhat": floats(xhat, 9), "loss": loss.item(), **{k: v.item() for k, v in out.items()},
        "bnStats": [bn_batch_stats(m, s) for s in seen],
        "grads": {k: floats(g) for k, g in zip(params, grads)},
    }


def draws(seed):
    """DiffAugment's random parameters for two 8-px images, as Zhao's code draws them (shifts in [−1, 1], cutout centres in [0, 8])."""
    g = torch.Generator().manual_seed(seed)
    r = lambda: torch.randint(0, 16, (2,), generator=g) / 16  # noqa: E731 (dyadic: exact in float32)
    return {"brightness": r(), "saturation": r(), "contrast": r(), "shiftH": torch.randint(-1, 2, (2,), generator=g),
            "shiftW": torch.randint(-1, 2, (2,), generator=g), "cutH": torch.randint(0, 9, (2,), generator=g), "cutW": torch.randint(0, 9, (2,), generator=g)}


def images(count):
    """Smooth 8×8 test images in [0, 1]: a blob at a different place and width in each."""
    yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    out = []
    for i in range(count):
        cy, cx, w = 1.5 + (i * 3) % 5, 1.5 + (i * 2) % 5, 2 + i % 3
        out.append(torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / w))
    return torch.stack(out).unsqueeze(1).float().double()


def loss_cases(x):
    m = model()
    plain = {**CONFIG, "perceptual": "none"}
    ratio = ae_objective(m, x, CONFIG, True)[1]["ratio"].item()
    aug = "color,translation,cutout"
    cases = [
        ae_case("L1 + codebook", m, x, plain, False),
        ae_case("L1 + codebook + disc-feature perceptual + GAN, λ unclamped", m, x, CONFIG, True),
        ae_case("the same, λ clamped at disc_weight_max", m, x, {**CONFIG, "discWeightMax": round(ratio / 2, 4)}, True),
        ae_case("the same, D sees DiffAugment(x̂)", m, x, {**CONFIG, "diffAugment": aug}, True, draws(1)),
    ]
    assert cases[1]["discWeight"] < CONFIG["discWeightMax"] and cases[2]["discWeight"] == cases[2]["config"]["discWeightMax"]
    xhat = ae_objective(m, x, CONFIG, False)[3].float().double()  # fed to D as float32, as the trainer feeds it
    disc = [
        disc_case("hinge", m, x, xhat, CONFIG),
        disc_case("hinge, DiffAugment on both", m, x, xhat, {**CONFIG, "diffAugment": aug}, {"real": draws(2), "fake": draws(3)}),
    ]
    return m, {"autoencoder": cases, "discriminator": disc}


def set_bn_momentum(m, momentum):
    for mod in m.disc.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.momentum = momentum


def perplexity(idx, k):
    p = torch.bincount(idx, minlength=k).double() / idx.numel()
    p = p[p > 0]
    return math.exp(-(p * p.log()).sum().item())


def trajectory(data, c):
    """VqganTrainer.step's order: autoencoder step (Adam), discriminator step on the same x̂ (Adam, BatchNorm
    running statistics from its two calls), EMA of the autoencoder's weights. Before discStartStep λ = 0
    (the GAN term drops out) and D does not train."""
    m = model()
    names = m.used()
    ae = ae_params(m, names)
    disc = {k: p for k, p in m.named_parameters() if k.startswith("disc.")}
    opt_ae = torch.optim.Adam(ae.values(), lr=c["lr"], betas=(0.9, 0.999), eps=1e-8)
    opt_disc = torch.optim.Adam(disc.values(), lr=c["lr"], betas=(0.9, 0.999), eps=1e-8)
    ema = {k: p.detach().clone() for k, p in ae.items()}
    steps = []
    largest = {k: 0.0 for k in {**ae, **disc}}
    for step in range(STEPS):
        adversarial = step >= c["discStartStep"]
        indices = torch.randint(0, len(data), (c["batch"],))
        x = data[indices]
        set_bn_momentum(m, 0.0)  # D's calls in the autoencoder step leave its running statistics alone
        loss, out, idx, xhat = ae_objective(m, x, c, adversarial)
        opt_ae.zero_grad()
        loss.backward()
        for k, p in ae.items():
            largest[k] = max(largest[k], p.grad.norm().item())
        opt_ae.step()
        record = {"indices": indices.tolist(), **{k: v.item() for k, v in out.items() if k != "ratio"}, "perplexity": perplexity(idx, c["codebookSize"])}
        if adversarial:
            set_bn_momentum(m, 0.1)
            d_loss, _ = disc_objective(m, x, xhat, c)
            opt_disc.zero_grad()
            d_loss.backward()
            for k, p in disc.items():
                largest[k] = max(largest[k], p.grad.norm().item())
            opt_disc.step()
            record["discLoss"] = d_loss.item()
        with torch.no_grad():
            for k, p in ae.items():
                ema[k].mul_(c["emaDecay"]).add_(p, alpha=1 - c["emaDecay"])
        steps.append(record)
    sd = m.state_dict()
    buffers = [k for k in names if "running_" in k]
    null = null_directions(largest)
    # null directions whole: they are compared element by element, within a bound on Adam's steps
    stored = lambda k, t: floats(t) if k in null else summary(k, t, list(t.shape))  # noqa: E731
    return {
        "config": c,
        "steps": steps,
        "nullDirections": null,
        "params": {k: stored(k, sd[k]) for k in names if k not in buffers},
        "ema": {k: stored(k, v) for k, v in ema.items()},
        "buffers": {k: floats(sd[k]) for k in buffers},
    }


if __name__ == "__main__":
    data = images(6)
    m, cases = loss_cases(data[:2])
    fixture = {
        "torch": torch.__version__,
        "checksums": checksums(model(), m.used()),  # before any call of D moves its running statistics
        "images": floats(data, 9),
        **cases,
        "trajectory": trajectory(data, CONFIG),
    }
    # the GAN switched on at step 4: λ = 0 and D untouched before it (per-step losses only; weights not stored)
    late = trajectory(data, {**CONFIG, "discStartStep": 4})
    fixture["lateGanTrajectory"] = {"config": late["config"], "steps": late["steps"]}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    for case in fixture["autoencoder"]:
        print(case["name"], {k: round(case[k], 5) for k in ("loss", "rec", "codebook", "perceptual", "gan", "discWeight") if k in case})
    for case in fixture["discriminator"]:
        print(case["name"], round(case["loss"], 5))
    for name in ("trajectory", "lateGanTrajectory"):
        for k in ("rec", "codebook", "gan", "discWeight", "discLoss", "perplexity"):
            print(name, k, [round(s[k], 4) if k in s else None for s in fixture[name]["steps"]])
    print("wrote", OUT, os.path.getsize(OUT), "bytes")
