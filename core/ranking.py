"""Top-k tables: the k best C tokens for the target (Part 2) and the k best (A, B) pairs for one C token (Part 4).

Both are pure functions of a score array. Order: descending score; equal scores keep index order (the
lower index first, row-major for pairs), so entry 0 is always the arg-max that SPEC.md names. Selection
is O(n) (``np.argpartition``) followed by a sort of the k selected entries only, so a 512 x 512 pair
matrix costs about as much as reading it.
"""

from __future__ import annotations

import operator

import numpy as np


def _check_k(k) -> int:
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be an integer, got {k!r}") from None
    if k < 0:
        raise ValueError(f"k must be 0 or more, got {k}")
    return k


def _top_k(flat: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k' = min(k, n) largest entries of ``flat`` [n]: descending, ties to the lower index."""
    n = flat.size
    k = min(k, n)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if np.isnan(flat).any():
        raise ValueError("scores contain NaN: a top-k table needs comparable scores")
    if k < n:
        # The k-th largest value, then everything above it and the first (by index) of those equal to it:
        # argpartition alone would break ties at the boundary arbitrarily.
        kth = flat[np.argpartition(flat, n - k)[n - k]]
        above = np.flatnonzero(flat > kth)
        equal = np.flatnonzero(flat == kth)[: k - len(above)]
        chosen = np.concatenate([above, equal])
    else:
        chosen = np.arange(n)
    chosen.sort()  # index order, so the stable sort below leaves equal scores lowest index first
    order = np.argsort(-flat[chosen], kind="stable")
    return chosen[order].astype(np.int64)


def top_tokens(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best C tokens: scores [n_C] -> (indices [k'] int64, values [k'] float64), k' = min(k, n_C).

    Descending score; equal scores list the lower index first.
    """
    k = _check_k(k)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must have 1 dimension [n_C], got shape {scores.shape}")
    indices = _top_k(scores, k)
    return indices, scores[indices]


def top_pairs(P_k: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (A, B) pairs: P_k [n_A, n_B] -> (pairs [k', 2] int64 as (i, j), values [k'] float64).

    k' = min(k, n_A n_B). Descending cosine; equal cosines in row-major order (lower i, then lower j).
    """
    k = _check_k(k)
    P_k = np.asarray(P_k, dtype=np.float64)
    if P_k.ndim != 2:
        raise ValueError(f"P_k must have 2 dimensions [n_A, n_B], got shape {P_k.shape}")
    flat = P_k.ravel()
    indices = _top_k(flat, k)
    rows, columns = np.unravel_index(indices, P_k.shape)
    pairs = np.stack([rows, columns], axis=1).astype(np.int64).reshape(-1, 2)
    return pairs, flat[indices]
