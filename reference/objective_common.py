"""What the objective fixture scripts share: fixed model weights by formula, so that the fixtures need not
store a model's parameters, and compact JSON tensors.

test/helpers/fixed-weights.ts computes the same float32 values for unmask's parameters (whose names equal
these state-dict keys); the fixtures store each tensor's sum, which the tests check first. Value i of the
tensor `name` is (2u − 1)·bound with u = lowbias32(fnv1a32(name) + i·0x9E3779B9) / 2³², an exact uint32
hash, and a bound by the kind of tensor, near PyTorch's default initialisation:
  rank-1 `…weight` (a norm's scale)       1 + 0.2·(2u − 1)
  rank-1 `…bias`                          0.2·(2u − 1)
  BatchNorm running_mean / running_var    0 / 1
  pos_emb, start_tok                      0.1·(2u − 1)
  any other tensor [out, ...]             (2u − 1)/√(fan-in), fan-in = the product of the other axes
Every product is computed in float64 and rounded once to float32, as the TypeScript side does.
"""
import math

import numpy as np
import torch

MASK = 0xFFFFFFFF


def fnv1a32(name):
    h = 0x811C9DC5
    for b in name.encode():
        h = ((h ^ b) * 0x01000193) & MASK
    return h


def uniforms(name, n):
    x = (np.uint64(fnv1a32(name)) + np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B9)) & np.uint64(MASK)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & np.uint64(MASK)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & np.uint64(MASK)
    x ^= x >> np.uint64(16)
    return x.astype(np.float64) / 2.0**32


def fixed_tensor(name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    if name.endswith("running_mean"):
        return np.zeros(n, np.float32).reshape(shape)
    if name.endswith("running_var"):
        return np.ones(n, np.float32).reshape(shape)
    s = 2 * uniforms(name, n) - 1
    last = name.rsplit(".", 1)[-1]
    if len(shape) == 1 and last == "weight":
        v = 1 + 0.2 * s
    elif len(shape) == 1 and last == "bias":
        v = 0.2 * s
    elif last in ("pos_emb", "start_tok"):
        v = 0.1 * s
    else:
        v = s * (1 / math.sqrt(int(np.prod(shape[1:]))))
    return v.astype(np.float32).reshape(shape)


def load_fixed(module):
    """Sets every float tensor of the module's state dict (parameters and buffers) to its fixed value."""
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.from_numpy(fixed_tensor(name, list(t.shape))))
    return module


def checksums(module, names):
    """Σ of each named tensor, in float64: the test's check that both sides made the same weights."""
    sd = module.state_dict()
    return {k: float(sd[k].double().sum()) for k in names}


def floats(t, digits=9):
    """A float tensor as {shape, dtype, data} to `digits` significant digits (9 round-trips float32 values)."""
    return {"shape": list(t.shape), "dtype": "float32", "data": [float(f"{v:.{digits}g}") for v in t.detach().flatten().tolist()]}


def ints(t):
    return {"shape": list(t.shape), "dtype": "int64", "data": t.flatten().tolist()}


def null_directions(largest):
    """Tensors whose gradient was 0 up to float64 rounding at every step ({name: largest norm seen}): their
    weights change no output, and each side's Adam turns its own rounding noise into steps (the tests
    compare them loosely). The gap between these and the rest is asserted, so the split is not a guess."""
    top = max(largest.values())
    null = sorted(k for k, v in largest.items() if v <= 1e-12 * top)
    assert all(v > 1e-8 * top for k, v in largest.items() if k not in null), "a gradient between rounding noise and signal"
    return null
