"""Reference values for src/eval (FID and precision/recall/density/coverage) from NumPy and SciPy.

Run with /usr/bin/python3 (Debian's python3-scipy). Writes test/fixtures/eval/metrics.json, read by
test/eval/metrics.test.ts.

FID follows pytorch-fid's calculate_frechet_distance: mean and unbiased covariance (np.cov) of each
feature set, then |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrtm(S1 S2)) with scipy.linalg.sqrtm (an
eps offset on the diagonals if the product's square root is not finite, and the real part taken).

PRDC follows the prdc package (Naeem et al. 2020, clovaai/generative-evaluation-prdc), with
scipy.spatial.distance.cdist in place of sklearn's pairwise_distances (both Euclidean):
  radius of a sample = distance to its k-th nearest neighbour within its own set (the (k+1)-th
  smallest distance counting itself at 0);
  precision = fraction of fake samples within some real sample's radius;
  recall    = fraction of real samples within some fake sample's radius;
  density   = (1/k) * mean over fake samples of how many real balls contain it;
  coverage  = fraction of real samples whose nearest fake sample lies within their radius.
All comparisons are strict (<), as in prdc.

Features are drawn from seeded Gaussians with random covariances and rounded to 4 significant
digits before anything is computed, so the file is small and holds exactly the inputs used.
"""
import json
import os

import numpy as np
from scipy import linalg
from scipy.spatial.distance import cdist

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "eval", "metrics.json")
SEED = 20226
DIM = 16
KS = [3, 5]


def round_sig(x, digits=4):
    return np.array([float(f"{v:.{digits - 1}e}") for v in x.ravel()]).reshape(x.shape)


def gaussian(rng, n, mean, scale):
    a = rng.normal(size=(DIM, DIM)) * scale / np.sqrt(DIM)
    return round_sig(rng.normal(size=(n, DIM)) @ a.T + mean)


def fid(real, fake, eps=1e-6):
    mu1, mu2 = real.mean(axis=0), fake.mean(axis=0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        assert np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kth_value(distances, k):
    """The k-th smallest value of each row (prdc's get_kth_value)."""
    return np.sort(distances, axis=-1)[:, k - 1]


def prdc(real, fake, k):
    real_radii = kth_value(cdist(real, real), k + 1)
    fake_radii = kth_value(cdist(fake, fake), k + 1)
    d = cdist(real, fake)  # [real, fake]
    inside = d < real_radii[:, None]
    return {
        "precision": float(inside.any(axis=0).mean()),
        "recall": float((d < fake_radii[None, :]).any(axis=1).mean()),
        "density": float(inside.sum(axis=0).mean() / k),
        "coverage": float((d.min(axis=1) < real_radii).mean()),
    }


def case(name, real, fake):
    return {
        "name": name,
        "real": {"n": real.shape[0], "d": DIM, "data": real.ravel().tolist()},
        "fake": {"n": fake.shape[0], "d": DIM, "data": fake.ravel().tolist()},
        "fid": fid(real, fake),
        "prdc": {str(k): prdc(real, fake, k) for k in KS},
    }


def main():
    rng = np.random.default_rng(SEED)
    shift = rng.normal(size=DIM) * 0.5
    cases = [
        # Different means and covariances: FID of order 30, PRDC inside (0, 1).
        case("shifted", gaussian(rng, 200, 0.0, 2.0), gaussian(rng, 300, shift, 1.5)),
    ]
    # One distribution, two draws: FID near its sampling floor, precision and recall high.
    rng_same = np.random.default_rng(SEED + 1)
    a = rng_same.normal(size=(DIM, DIM)) / np.sqrt(DIM)
    same = [round_sig(rng_same.normal(size=(n, DIM)) @ a.T) for n in (200, 300)]
    cases.append(case("same", same[0], same[1]))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"source": "reference/make_eval_fixtures.py", "numpy": np.__version__, "scipy": __import__("scipy").__version__, "cases": cases}, f)
        f.write("\n")
    for c in cases:
        print(c["name"], "FID", round(c["fid"], 6), {k: {m: round(v, 4) for m, v in p.items()} for k, p in c["prdc"].items()})


if __name__ == "__main__":
    main()
