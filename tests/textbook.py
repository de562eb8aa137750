"""The textbook's definitions computed directly: one sklearn cosine per element (the reference, never shipped).

Every function here loops element by element in float64, exactly as SPEC.md defines each part; the
tests compare core.analysis against them, and benchmarks/bench_core.py times them.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics.pairwise import cosine_similarity


def cos(u: np.ndarray, v: np.ndarray) -> float:
    """cos(u, v) by one sklearn call (0 when either vector is zero, as sklearn's normalisation gives)."""
    return float(
        cosine_similarity(np.asarray(u, dtype=np.float64)[None, :], np.asarray(v, dtype=np.float64)[None, :])[0, 0]
    )


def norms(X: np.ndarray) -> np.ndarray:
    """Part 1: N[l, t] = |X[l][t]| one vector at a time; X [L, n, d] -> [L, n]."""
    X = np.asarray(X, dtype=np.float64)
    out = np.empty(X.shape[:2])
    for layer in range(X.shape[0]):
        for t in range(X.shape[1]):
            out[layer, t] = np.sqrt(sum(float(x) * float(x) for x in X[layer, t]))
    return out


def token_average_target(A, B, C, alpha: float = 1.0):
    """Part 2 at one layer: (S_AB, s [n_C], argmax k) from A [n_A, d], B [n_B, d], C [n_C, d]."""
    mean_a = np.asarray(A, dtype=np.float64).mean(axis=0)
    mean_b = np.asarray(B, dtype=np.float64).mean(axis=0)
    target = mean_b + alpha * (mean_b - mean_a)
    scores = np.array([cos(c, target) for c in np.asarray(C)])
    return cos(mean_a, mean_b), scores, int(np.argmax(scores))


def layer_sweep(XA, XB, XC, alpha: float = 1.0) -> np.ndarray:
    """Part 3: s [L, n_C] from Part 2 at every layer (recommended token = argmax of each row)."""
    return np.array([token_average_target(XA[i], XB[i], XC[i], alpha)[1] for i in range(len(XA))])


def pair_cosines(A, B, C, alpha: float = 1.0) -> np.ndarray:
    """Part 4: P[i, j, k] = cos(b_j + alpha (b_j - a_i), c_k), the triple loop."""
    A, B, C = (np.asarray(X, dtype=np.float64) for X in (A, B, C))
    P = np.empty((len(A), len(B), len(C)))
    for i, a in enumerate(A):
        for j, b in enumerate(B):
            target = b + alpha * (b - a)
            for k, c in enumerate(C):
                P[i, j, k] = cos(target, c)
    return P


def best_pairs(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Part 5 at one layer from its P: (M [n_C], pairs [n_C, 2]), first arg-max in row-major order."""
    n_c = P.shape[2]
    best = np.empty(n_c)
    pairs = np.empty((n_c, 2), dtype=np.int64)
    for k in range(n_c):
        flat = int(np.argmax(P[:, :, k]))
        pairs[k] = np.unravel_index(flat, P.shape[:2])
        best[k] = P[:, :, k].max()
    return best, pairs


def max_pair_cosines(XA, XB, XC, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Part 5: (M [L, n_C], pairs [L, n_C, 2], P of every layer), the triple loop at each layer."""
    Ps = [pair_cosines(XA[i], XB[i], XC[i], alpha) for i in range(len(XA))]
    parts = [best_pairs(P) for P in Ps]
    return np.array([m for m, _ in parts]), np.array([p for _, p in parts]), Ps
