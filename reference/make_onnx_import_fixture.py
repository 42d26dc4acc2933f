"""A small conv feature network exported with torch.onnx.export, and PyTorch's values for it, for the
ONNX importer (src/engine/onnx-import.ts) and the perceptual loss (src/models/perceptual.ts).

Run with /usr/bin/python3 (torch 1.13). Writes test/fixtures/onnx-import/featnet.onnx (~9 KB) and
featnet.json, read by test/engine/onnx-import.test.ts.

The network takes [B, 3, 16, 16] images in [0, 1] (batch axis dynamic) and returns three feature
maps: after conv → relu, after maxpool → batchnorm (eval) → conv → leakyrelu → sigmoid, and after
avgpool → flatten → linear. BatchNorm sits after the max-pool so that the exporter cannot fold it into a
conv. Its weights and running statistics are rounded to 4 significant digits, then to float32, so the
file and the JSON hold the same numbers.

Reference values, computed in float64 from those float32 weights:
- `forward`: each output for the input batch `x`.
- `distance`: the perceptual distance of src/models/perceptual.ts between `x` and `y`: for each output f,
  f / sqrt(sum_c f^2 + 1e-10) (unit length across channels), squared difference, mean over channels,
  positions and images; the mean of that over outputs. `grad` is its gradient with respect to `y`.
- `gray`: the same for 1-channel 20x20 images, which the loss repeats to 3 channels and resizes to 16x16
  bilinearly (half-pixel centres, no antialiasing: F.interpolate(..., align_corners=False)).
Outputs are written with 10 significant digits, inputs with the 4 they have.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(20220)
OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "onnx-import")
EPS = 1e-10


class FeatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool2 = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 8)

    def forward(self, x):
        f1 = F.relu(self.conv1(x))
        f2 = torch.sigmoid(F.leaky_relu(self.conv2(self.bn(self.pool1(f1))), 0.1))
        f3 = self.fc(torch.flatten(self.pool2(f2), 1))
        return f1, f2, f3


def round4(t):
    return torch.tensor([float(f"{v:.3e}") for v in t.flatten().tolist()], dtype=torch.float32).reshape(t.shape)


def tensor_json(t, digits=10):
    """Row-major values with `digits` significant digits (4 reproduces the rounded inputs exactly as float32)."""
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(f"{v:.{digits}g}") for v in t.flatten().tolist()]}


def distance(net, x, y):
    total = 0
    fx, fy = net(x), net(y)
    for a, b in zip(fx, fy):
        na = a / torch.sqrt((a * a).sum(1, keepdim=True) + EPS)
        nb = b / torch.sqrt((b * b).sum(1, keepdim=True) + EPS)
        total = total + ((na - nb) ** 2).mean()
    return total / len(fx)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    net = FeatNet()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(round4(p))
        net.bn.running_mean.copy_(round4(torch.randn(8) * 0.3))
        net.bn.running_var.copy_(round4(torch.rand(8) + 0.5))
        net.bn.weight.copy_(round4(torch.rand(8) + 0.5))
        net.bn.bias.copy_(round4(torch.randn(8) * 0.1))
    net.eval()
    torch.onnx.export(
        net,
        torch.zeros(1, 3, 16, 16),
        os.path.join(OUT_DIR, "featnet.onnx"),
        input_names=["image"],
        output_names=["relu1", "sigmoid2", "linear3"],
        dynamic_axes={"image": {0: "batch"}},
        opset_version=13,
    )

    net64 = net.double()
    x = round4(torch.rand(2, 3, 16, 16)).double()
    y = round4(torch.rand(2, 3, 16, 16)).double().requires_grad_(True)
    d = distance(net64, x, y)
    (g,) = torch.autograd.grad(d, y)

    gx = round4(torch.rand(2, 1, 20, 20)).double()
    gy = round4(torch.rand(2, 1, 20, 20)).double().requires_grad_(True)
    prep = lambda t: F.interpolate(t.repeat(1, 3, 1, 1), size=(16, 16), mode="bilinear", align_corners=False)
    gd = distance(net64, prep(gx), prep(gy))
    (gg,) = torch.autograd.grad(gd, gy)

    out = {
        "x": tensor_json(x, 4),
        "y": tensor_json(y, 4),
        "forward": {name: tensor_json(t) for name, t in zip(["relu1", "sigmoid2", "linear3"], net64(x))},
        "distance": float(d),
        "grad": tensor_json(g),
        "gray": {"x": tensor_json(gx, 4), "y": tensor_json(gy, 4), "distance": float(gd), "grad": tensor_json(gg)},
    }
    with open(os.path.join(OUT_DIR, "featnet.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("distance", float(d), "gray distance", float(gd))


if __name__ == "__main__":
    main()
