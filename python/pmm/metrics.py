"""Sample-quality figures for trained models (models/evaluate.py, the tests).

energy_distance: Szekely's energy distance between two samples, 2 E|X - Y| - E|X - X'|
    - E|Y - Y'|, with the within-sample terms averaged over distinct pairs (the unbiased
    U-statistic, so two samples of one distribution give about 0, possibly below 0).
frechet_distance: ||m1 - m2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) between Gaussians fitted to
    two feature sets (the Frechet inception distance's formula).
nearest_distances: each row's Euclidean distance to its nearest row of a reference set.
"""
import numpy as np
import torch

_CHUNK = 2048


def _mean_distance(a, b, same):
    """The mean |a_i - b_j| over all pairs (over i != j when a and b are the same set)."""
    total = 0.0
    for i in range(0, a.shape[0], _CHUNK):
        total += torch.cdist(a[i:i + _CHUNK], b).sum().item()
    pairs = a.shape[0] * (b.shape[0] - 1) if same else a.shape[0] * b.shape[0]
    return total / pairs


def energy_distance(x, y):
    """Energy distance between samples x [n, ...] and y [m, ...] (rows flattened)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64).reshape(len(x), -1)
    y = torch.as_tensor(np.asarray(y), dtype=torch.float64).reshape(len(y), -1)
    if x.shape[0] < 2 or y.shape[0] < 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"energy_distance: samples {list(x.shape)} and {list(y.shape)}, "
                         "expected at least 2 rows each of equal width")
    return (2 * _mean_distance(x, y, False) - _mean_distance(x, x, True)
            - _mean_distance(y, y, True))


def frechet_distance(f1, f2):
    """Frechet distance between Gaussians fitted to features f1 [n, d] and f2 [m, d]."""
    f1, f2 = (np.asarray(f, dtype=np.float64) for f in (f1, f2))
    m1, m2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    # tr (S1 S2)^(1/2) = sum of sqrt(eigenvalues of S1^(1/2) S2 S1^(1/2)), a symmetric
    # positive semi-definite matrix, so symmetric eigendecompositions suffice.
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    trace_root = np.sqrt(np.clip(inner, 0, None)).sum()
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_root)


def nearest_distances(x, reference):
    """For each row of x [n, ...], the Euclidean distance to the nearest row of reference."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32).reshape(len(x), -1)
    r = torch.as_tensor(np.asarray(reference), dtype=torch.float32).reshape(len(reference), -1)
    out = []
    for i in range(0, x.shape[0], _CHUNK):
        out.append(torch.cdist(x[i:i + _CHUNK], r).min(1).values)
    return torch.cat(out).numpy()
