"""DiffAugment reference values: Zhao et al.'s PyTorch functions (mit-han-lab/data-efficient-gans,
DiffAugment_pytorch.py, as the Unleashing Transformers code copies it) with their random draws
(torch.rand, torch.randint) replaced by given values, so src/models/diffaugment.ts can be compared on
the same draws.

Run with /usr/bin/python3 (torch 1.13). Writes test/fixtures/vqgan/diffaugment.json, read by
test/models/diffaugment.test.ts. Images x are in [0, 1]; as unmask does, the augmentation runs on
2x - 1 (Zhao's [-1, 1] convention) and the result is mapped back with (y + 1) / 2. Computed in float64.
"""
import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "vqgan", "diffaugment.json")
torch.set_default_dtype(torch.float64)


def rand_brightness(x, r):
    return x + (r.view(-1, 1, 1, 1) - 0.5)


def rand_saturation(x, r):
    x_mean = x.mean(dim=1, keepdim=True)
    return (x - x_mean) * (r.view(-1, 1, 1, 1) * 2) + x_mean


def rand_contrast(x, r):
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (r.view(-1, 1, 1, 1) + 0.5) + x_mean


def rand_translation(x, translation_x, translation_y):
    translation_x = translation_x.view(-1, 1, 1)
    translation_y = translation_y.view(-1, 1, 1)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long),
        torch.arange(x.size(2), dtype=torch.long),
        torch.arange(x.size(3), dtype=torch.long),
        indexing="ij",
    )
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def rand_cutout(x, offset_x, offset_y, ratio=0.5):
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x = offset_x.view(-1, 1, 1)
    offset_y = offset_y.view(-1, 1, 1)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long),
        torch.arange(cutout_size[0], dtype=torch.long),
        torch.arange(cutout_size[1], dtype=torch.long),
        indexing="ij",
    )
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


def augment(x, policy, d):
    u = 2 * x - 1
    for p in policy.split(","):
        if p == "color":
            u = rand_contrast(rand_saturation(rand_brightness(u, d["brightness"]), d["saturation"]), d["contrast"])
        elif p == "translation":
            u = rand_translation(u, d["shiftH"], d["shiftW"])
        elif p == "cutout":
            u = rand_cutout(u, d["cutH"], d["cutW"])
    return (u + 1) / 2


def main():
    torch.manual_seed(2020)
    x = torch.tensor([float(f"{v:.3e}") for v in torch.rand(2 * 3 * 8 * 8).tolist()]).view(2, 3, 8, 8)
    # 8-px images: shifts in [-1, 1], cutout 4×4 with centres in [0, 8]; the draws reach the clamped edges.
    # Colour draws are dyadic, so their float32 feeds are exact.
    draws = {
        "brightness": torch.tensor([0.125, 0.875]),
        "saturation": torch.tensor([0.25, 0.875]),
        "contrast": torch.tensor([0.75, 0.0625]),
        "shiftH": torch.tensor([-1, 1]),
        "shiftW": torch.tensor([1, 0]),
        "cutH": torch.tensor([0, 5]),
        "cutW": torch.tensor([8, 3]),
    }
    cases = []
    for policy in ["color,translation,cutout", "translation,color", "cutout"]:
        y = augment(x, policy, draws)
        cases.append({"policy": policy, "y": [float(f"{v:.12g}") for v in y.flatten().tolist()]})
    out = {
        "x": {"shape": list(x.shape), "data": [float(f"{v:.4g}") for v in x.flatten().tolist()]},
        "draws": {k: v.tolist() for k, v in draws.items()},
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
