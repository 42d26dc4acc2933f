"""Golden values for src/nn from PyTorch 1.13 (run with /usr/bin/python3, which has torch).

For each layer: its parameters (named as PyTorch's state-dict keys), inputs, outputs, and the
gradients of loss = Σ output · R (R fixed random weights) with respect to the float inputs and every
trainable parameter. Parameters, inputs and R are float32 values; everything is computed in float64,
so the fixture holds the exact result (rounded to float32) rather than one float32 kernel's error.
Writes one JSON file per case to test/fixtures/nn/, read by test/nn/layers.test.ts. Tensors are
{shape, dtype, data} with data flattened row-major; floats are written in numpy's shortest form that
round-trips float32. Parameters, inputs and R are rounded to
4 significant digits (then to float32) before use, which keeps the files small.
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(20221)
torch.set_default_dtype(torch.float64)
OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "nn")


class SelfAttention(nn.Module):
    """The reference transformer's attention (unleashing-transformers models/transformer.py): separate
    key/query/value/proj linears, scale 1/√d_head, optional causal mask; dropout omitted (p = 0)."""

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
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)


class Downsample(nn.Module):
    """VQGAN Downsample (taming-transformers / unleashing-transformers vqgan.py)."""

    def __init__(self, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x):
        x = F.pad(x, (0, 1, 0, 1), mode="constant", value=0)
        return self.conv(x)


def short(t):
    return torch.tensor([float(f"{v:.4g}") for v in t.flatten().tolist()], dtype=torch.float32).double().view(t.shape)


def shortened(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(short(p))
    return module


def randomize_affine(module):
    """Norm layers start at weight 1, bias 0; random values make the fixture test the affine layout."""
    with torch.no_grad():
        module.weight.copy_(1 + 0.5 * torch.randn_like(module.weight))
        module.bias.copy_(0.5 * torch.randn_like(module.bias))
    return module


# Float arrays go into the JSON text as placeholders, replaced by their float32 shortest form on writing.
float_arrays = []


def tensor_json(t):
    t = t.detach()
    if t.dtype == torch.int64:
        return {"shape": list(t.shape), "dtype": "int64", "data": t.flatten().tolist()}
    float_arrays.append("[" + ",".join(str(v) for v in t.float().flatten().numpy()) + "]")
    return {"shape": list(t.shape), "dtype": "float32", "data": f"@float_array_{len(float_arrays) - 1}@"}


def write_json(path, obj):
    text = json.dumps(obj, separators=(",", ":"))
    for i, arr in enumerate(float_arrays):
        text = text.replace(f'"@float_array_{i}@"', arr, 1)
    float_arrays.clear()
    assert "@float_array_" not in text and "nan" not in text and "inf" not in text
    with open(path, "w") as f:
        f.write(text)


def case(name, config, module, inputs, forward, extra_outputs=None):
    """Runs `forward(**inputs)` → {output name: tensor}; loss = Σ_outputs Σ output · R_output over the
    outputs that `forward` returns (extra_outputs are recorded but carry no loss)."""
    if module is not None:
        shortened(module)
    state = {k: v.clone() for k, v in module.state_dict().items()} if module is not None else {}  # before any running-stat update
    outputs = forward(**inputs)
    weights = {k: short(torch.randn_like(v)) for k, v in outputs.items()}
    loss = sum((v * weights[k]).sum() for k, v in outputs.items())
    float_inputs = {k: v for k, v in inputs.items() if v.requires_grad}
    params = dict(module.named_parameters()) if module is not None else {}
    grads = torch.autograd.grad(loss, list(float_inputs.values()) + list(params.values()))
    fixture = {
        "torch": torch.__version__,
        "case": name,
        "config": config,
        "params": {k: tensor_json(v) for k, v in state.items() if not k.endswith("num_batches_tracked")},
        "trainable": list(params.keys()),
        "inputs": {k: tensor_json(v) for k, v in inputs.items()},
        "outputs": {k: tensor_json(v) for k, v in {**outputs, **(extra_outputs() if extra_outputs else {})}.items()},
        "lossWeights": {k: tensor_json(v) for k, v in weights.items()},
        "loss": loss.item(),
        "grads": {k: tensor_json(g) for k, g in zip(list(float_inputs.keys()) + list(params.keys()), grads)},
    }
    path = os.path.join(OUT_DIR, f"{name}.json")
    write_json(path, fixture)
    print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")


def leaf(*shape, scale=1.0, shift=0.0):
    """(N(0, 1) + shift) · scale; `scale` may broadcast, e.g. a spread of scales per channel. A shift in
    units of the scale keeps a nonzero mean without float32 cancellation where the scale is small."""
    return short((torch.randn(*shape) + shift) * scale).requires_grad_()


os.makedirs(OUT_DIR, exist_ok=True)

m = nn.Linear(5, 7)
case("linear", {"in": 5, "out": 7}, m, {"x": leaf(2, 3, 5)}, lambda x: {"y": m(x)})

m = nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1)
case("conv2d", {"in": 3, "out": 8, "k": 3, "stride": 1, "padding": 1}, m, {"x": leaf(2, 3, 6, 6)}, lambda x: {"y": m(x)})

down = Downsample(4)
case("conv2d_downsample", {"in": 4, "out": 4, "k": 3, "stride": 2, "padding": [0, 0, 1, 1]}, down, {"x": leaf(2, 4, 8, 8)},
     lambda x: {"y": down(x)})


def spread(n, shape):
    """Scales from 3e-3 to 3 along one axis: the small ones give variances near eps, so a wrong eps
    (or a biased/unbiased mix-up) shows, while the large ones test ordinary normalisation."""
    return torch.logspace(math.log10(3e-3), math.log10(3.0), n).view(*shape)


m = randomize_affine(nn.GroupNorm(num_groups=32, num_channels=64, eps=1e-6, affine=True))
group_scales = spread(32, (32, 1)).expand(32, 2).reshape(1, 64, 1, 1)
case("group_norm", {"channels": 64, "groups": 32, "eps": 1e-6}, m, {"x": leaf(2, 64, 3, 3, scale=group_scales, shift=0.5)},
     lambda x: {"y": m(x)})

m = randomize_affine(nn.LayerNorm(16))
case("layer_norm", {"dim": 16, "eps": 1e-5}, m, {"x": leaf(2, 5, 16, scale=spread(5, (1, 5, 1)), shift=-0.3)}, lambda x: {"y": m(x)})

# momentum=None is a cumulative average: after one batch from (0, 1) the running statistics are exactly
# the batch mean and the unbiased batch variance that PyTorch uses for them.
bn = randomize_affine(nn.BatchNorm2d(6, momentum=None))
bn.train()
case("batch_norm_train", {"channels": 6, "eps": 1e-5, "training": True}, bn, {"x": leaf(3, 6, 4, 4, scale=spread(6, (1, 6, 1, 1)), shift=0.7)},
     lambda x: {"y": bn(x)}, extra_outputs=lambda: {"batch_mean": bn.running_mean, "batch_var": bn.running_var})

bn = randomize_affine(nn.BatchNorm2d(6))
with torch.no_grad():
    bn.running_mean.copy_(short(torch.randn(6)))
    bn.running_var.copy_(short(spread(6, (6,)) ** 2 * (0.5 + torch.rand(6))))  # the smallest below eps
bn.eval()
case("batch_norm_eval", {"channels": 6, "eps": 1e-5, "training": False}, bn, {"x": leaf(3, 6, 4, 4, scale=spread(6, (1, 6, 1, 1)), shift=0.7)},
     lambda x: {"y": bn(x)})

for causal in (False, True):
    att = SelfAttention(32, 4, causal, 8)
    case("attention_causal" if causal else "attention", {"dim": 32, "heads": 4, "causal": causal}, att, {"x": leaf(2, 8, 32)},
         lambda x: {"y": att(x)})

# Per-position CE counted only where mask = 1 (the masked tokens); elsewhere the target is the mask
# token id K, outside the K classes, as in the absorbing-diffusion loss.
K = 10
mask = (torch.rand(2, 8) < 0.5).double()
mask[0, 0], mask[0, 1] = 1.0, 0.0
targets = torch.where(mask > 0, torch.randint(0, K, (2, 8)), torch.full((2, 8), K))


def masked_ce(logits, targets, mask):
    ce = F.cross_entropy(logits.permute(0, 2, 1), torch.where(mask > 0, targets, -1), ignore_index=-1, reduction="none")
    return {"ce": ce, "ce_sum": ce.sum().reshape(1)}


case("cross_entropy", {"classes": K}, None, {"logits": leaf(2, 8, K, scale=2.0), "targets": targets, "mask": mask}, masked_ce)

case("gelu", {}, None, {"x": leaf(4, 16, scale=3.0)}, lambda x: {"y": F.gelu(x)})
case("swish", {}, None, {"x": leaf(4, 16, scale=3.0)}, lambda x: {"y": F.silu(x)})

m = nn.Embedding(11, 6)
case("embedding", {"num": 11, "dim": 6}, m, {"indices": torch.randint(0, 11, (2, 5))}, lambda indices: {"y": m(indices)})
