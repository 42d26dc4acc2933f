"""Fixtures for src/engine/safetensors.ts, written without the `safetensors` package (not installed
here), straight from the format description: u64 little-endian header length, JSON header padded
with spaces to a multiple of 8, raw little-endian data. Run with /usr/bin/python3 (numpy + torch).

- test/fixtures/python.safetensors: F32, F16, I64, an empty and a 0-d tensor, __metadata__; the data
  section is deliberately not in header order and not aligned, which readers must accept.
- test/fixtures/f16.json: float32 → float16 conversions by numpy (checked against torch) for edge
  values and a log-uniform sample, as bit patterns so that inf, NaN and -0 survive JSON.
"""
import json
import os
import struct

import numpy as np
import torch

HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, "..", "test", "fixtures")
os.makedirs(FIXTURES, exist_ok=True)

half_values = np.array([65504, 6e-8, -0.0, np.inf, -np.inf, np.nan, 1 / 3], dtype=np.float32).astype(np.float16)
tensors = {
    # name: (dtype, shape, little-endian bytes); written in this order
    "ids": ("I64", [3], np.array([-(2**62), 0, 2**53 + 1], dtype="<i8").tobytes()),
    "half": ("F16", [7], half_values.astype("<f2").tobytes()),
    "weight": ("F32", [2, 3], np.array([[1.5, -2.25, 3e-38], [1e30, -0.0, 0.1]], dtype="<f4").tobytes()),
    "empty": ("F32", [0, 4], b""),
    "scalar": ("F32", [], np.array(3.5, dtype="<f4").tobytes()),
}
header = {}
data = b""
for name, (dtype, shape, raw) in tensors.items():
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
# Header key order differs from data order on purpose; metadata last.
header = {k: header[k] for k in ["weight", "scalar", "half", "empty", "ids"]}
header["__metadata__"] = {"format": "pt", "note": "hand-written by make_safetensors_fixtures.py"}
blob = json.dumps(header).encode("utf-8")
blob += b" " * (-len(blob) % 8)
path = os.path.join(FIXTURES, "python.safetensors")
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(blob)) + blob + data)
print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")

rng = np.random.default_rng(7)
edges = [
    0.0, -0.0, 1.0, -1.0, 1 / 3, -1 / 3, 0.1, 2.0 / 3,
    65504.0, 65519.99, 65520.0, -65520.0, 65536.0, 1e10, 3.4028234e38, np.inf, -np.inf, np.nan,
    6e-8, 5.96e-8, 2.0**-24, 2.0**-25, np.nextafter(np.float32(2.0**-25), np.float32(1)), 3 * 2.0**-26,
    1.5 * 2.0**-24, 2.5 * 2.0**-24, 2.0**-14, np.nextafter(np.float32(2.0**-14), np.float32(0)), 6.1e-5,
    1 + 2.0**-11, 1 + 3 * 2.0**-11, 1 + 2.0**-11 + 2.0**-20, 2048 + 1, 2048 + 3, 1e-45, 1e-40, 1e-30,
]
exponents = rng.uniform(-30, 18, size=2000)
sample = rng.choice([-1, 1], size=2000) * 2.0**exponents
values = np.concatenate([np.array(edges, dtype=np.float32), sample.astype(np.float32)])
with np.errstate(over="ignore"):  # 65520 and above overflow to inf, as they should
    halves = values.astype(np.float16)
by_torch = torch.from_numpy(values).half().numpy()
same = (halves.view(np.uint16) == by_torch.view(np.uint16)) | (np.isnan(halves) & np.isnan(by_torch))
assert same.all(), "numpy and torch disagree on float16 rounding"
out = {
    "note": "f32 bits -> numpy float16 bits -> float16 value widened to float32 (bits)",
    "f32": values.view(np.uint32).tolist(),
    "f16": halves.view(np.uint16).tolist(),
    "back": halves.astype(np.float32).view(np.uint32).tolist(),
}
path = os.path.join(FIXTURES, "f16.json")
with open(path, "w") as f:
    json.dump(out, f)
print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes, {len(values)} values)")
