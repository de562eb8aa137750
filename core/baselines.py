"""Is a recommendation better than chance? Null distributions for the statistics of Parts 2-4.

Pure, vectorised and seeded: every function takes ``seed`` (an integer >= 0) and draws from
``np.random.default_rng(seed)``, so the same call gives the same numbers. A null is compared with the
observed statistic by ``p_value`` (the upper tail, counting ties: (1 + #(null >= observed)) / (1 + n))
and ``percentile`` (100 * the share of the null strictly below it), gathered in a ``Baseline``.

Permutation null of Part 2 (``permutation_null``). The statistic is max_k cos(c_k, tau) with
tau = m_B + alpha (m_B - m_A). Pool the analysed tokens of A, B and C at the layer (rows in that order,
n = n_A + n_B + n_C); each permutation draws n_A of them for A and n_B others for B, without replacement
(``permutation_draws``), keeps C as it is, and recomputes the statistic. Every draw is a weight row
w [n] (p / n_B on B's rows, -q / n_A on A's, 0 elsewhere, with (p, q) = ``analysis.extrapolation(alpha)``
so that any finite alpha is safe), and tau = w X_pool. All permutations of a chunk are one matrix product
(W [c, n] holds c weight rows; C_n is C with rows scaled to unit norm):
    tau_r . c_k / |c_k| = (W (C_n X_pool^T)^T)[r, k]
    |tau_r|^2           = (W (X_pool X_pool^T) * W).sum(1)[r]
when the pool is narrower than the vectors (the default texts: 61 tokens, 768 dims), else tau = W X_pool
directly, layer by layer. Everything is float64. The Gram form of |tau|^2 loses about 1e-16 rho^2 of
relative accuracy, with rho = sum_i |w_i| |x_i| / |tau| (how much the terms cancel: large alpha and
near-equal means); draws with rho > 1000 are recomputed from their means as (p - q) m_B + q (m_B - m_A),
as core.analysis writes the target. ``permutation_null_layers`` does every layer with the same draws (one
product of the weight rows with every layer's Gram matrices side by side).

Random-direction nulls. Cosines do not depend on either vector's length, so "random directions of matched
norm" is moot: a Gaussian direction u ~ N(0, I_d) is as good as any rescaling of it. For Part 2,
``random_direction_null`` gives max_k cos(c_k, u), keeping the geometry of the C tokens. For the best
pair of Part 4 (``pair_random_direction_null``), the reference is the best of n_A n_B independent random
directions against one token c_k; by rotational symmetry cos(u, c_k) = z / sqrt(z^2 + R) exactly in
distribution, with z ~ N(0, 1) and R ~ chi^2(d - 1) independent, so each draw costs two scalars instead
of a d-dimensional vector (and 0 when c_k is zero).
"""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from . import analysis

NULL_CHUNK_ELEMENTS = 1 << 22  # float64 elements of intermediate arrays held at once (32 MiB)
_NULL_MAX_CANCELLATION = 1000.0  # rho = sum_i |w_i| |x_i| / |tau| above which a draw is recomputed from its means


# Validation


def _count(value, name: str, minimum: int = 1) -> int:
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be {minimum} or more, got {value}")
    return value


def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(_count(seed, "seed", 0))


def _matrix(X, ndim: int, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {X.shape}")
    if X.shape[-2] == 0:
        raise ValueError(f"{name} has no tokens to analyse")
    return X


def _inverse(values: np.ndarray) -> np.ndarray:
    out = np.zeros_like(values, dtype=np.float64)
    np.divide(1.0, values, out=out, where=values > 0)
    return out


def _unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm (zero rows stay zero, so their cosines are 0); X [..., n, d]."""
    return X * _inverse(analysis.norms(X))[..., None]


# Comparing an observed statistic with its null


def _null(null) -> np.ndarray:
    null = np.asarray(null, dtype=np.float64).ravel()
    if null.size == 0:
        raise ValueError("the null distribution is empty: ask for at least one permutation or draw")
    return null


def _observed(observed) -> float:
    observed = float(observed)
    if np.isnan(observed):
        raise ValueError("the observed statistic is NaN")
    return observed


def p_value(observed: float, null: np.ndarray) -> float:
    """Upper-tail p-value (1 + #(null >= observed)) / (1 + n): never 0, and 1 / (n + 1) at best."""
    null, observed = _null(null), _observed(observed)
    return float((1 + np.count_nonzero(null >= observed)) / (1 + null.size))


def percentile(observed: float, null: np.ndarray) -> float:
    """Percentile of ``observed`` in the null: 100 * the share of null values strictly below it (0 .. 100)."""
    null, observed = _null(null), _observed(observed)
    return float(100.0 * np.count_nonzero(null < observed) / null.size)


@dataclass(frozen=True)
class Baseline:
    """An observed statistic beside its null: the null's mean and 95th percentile, the p-value, the
    observed value's percentile in the null, and ``n`` (permutations or draws in the null)."""

    observed: float
    null_mean: float
    null_p95: float
    p_value: float
    percentile: float
    n: int

    def to_dict(self) -> dict:
        """Plain JSON-ready fields."""
        return asdict(self)


def baseline(observed: float, null: np.ndarray) -> Baseline:
    """The Baseline of ``observed`` against the null statistics ``null`` [n]."""
    null, observed = _null(null), _observed(observed)
    return Baseline(
        observed=observed,
        null_mean=float(null.mean()),
        null_p95=float(np.percentile(null, 95)),
        p_value=p_value(observed, null),
        percentile=percentile(observed, null),
        n=int(null.size),
    )


class TargetBaselines(NamedTuple):
    """Both references of a Part 2 recommendation: the permutation null and random directions."""

    permutation: Baseline
    random_directions: Baseline


# Permutation null of Part 2


def _draw_chunks(n_pool: int, n_a: int, n_b: int, n: int, seed, rows: int):
    """Yield (idx_A [c, n_A], idx_B [c, n_B]) for consecutive chunks of at most ``rows`` permutations.

    Each permutation sorts n_pool uniform keys: A is the positions of the n_A smallest, B of the next n_B.
    The key stream does not depend on ``rows``, so neither do the draws.
    """
    n_pool, n_a, n_b, n = (_count(n_pool, "n_pool"), _count(n_a, "n_A"), _count(n_b, "n_B"), _count(n, "n"))
    if n_a + n_b > n_pool:
        raise ValueError(f"cannot draw {n_a} + {n_b} distinct tokens from a pool of {n_pool}")
    rng = _rng(seed)
    for start in range(0, n, rows):
        keys = rng.random((min(rows, n - start), n_pool))
        order = np.argsort(keys, axis=1)[:, : n_a + n_b]
        yield order[:, :n_a], order[:, n_a:]


def permutation_draws(n_pool: int, n_A: int, n_B: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The index draws of ``n`` permutations: (idx_A [n, n_A], idx_B [n, n_B]) int64 into a pool of ``n_pool``.

    Rows of idx_A and idx_B are disjoint and drawn without replacement; the permutation nulls use exactly
    these draws for the same arguments.
    """
    chunks = list(_draw_chunks(n_pool, n_A, n_B, n, seed, rows=max(1, NULL_CHUNK_ELEMENTS // max(1, n_pool))))
    return np.concatenate([a for a, _ in chunks]), np.concatenate([b for _, b in chunks])


def permutation_null_layers(
    XA: np.ndarray, XB: np.ndarray, XC: np.ndarray, alpha: float = 1.0, n_permutations: int = 1000, seed: int = 0
) -> np.ndarray:
    """Permutation null of Part 2 at every layer: null [L, n_permutations] float64.

    XA [L, n_A, d], XB [L, n_B, d], XC [L, n_C, d]. Permutation r draws the same pool positions at every
    layer (``permutation_draws(n_A + n_B + n_C, n_A, n_B, n_permutations, seed)``, pool rows A, B, C in
    order); null[l, r] = max_k cos(c_k, tau_r) at layer l.
    """
    XA, XB, XC = _matrix(XA, 3, "XA"), _matrix(XB, 3, "XB"), _matrix(XC, 3, "XC")
    if len({X.shape[-1] for X in (XA, XB, XC)}) != 1:
        raise ValueError(f"vectors must share one width, got {sorted({X.shape[-1] for X in (XA, XB, XC)})}")
    if len({X.shape[0] for X in (XA, XB, XC)}) != 1:
        raise ValueError("the three texts must have the same number of layers")
    n = _count(n_permutations, "n_permutations")
    p, q = analysis.extrapolation(alpha)
    pool = np.concatenate([XA, XB, XC], axis=1)  # [L, n_pool, d]
    n_layers, n_pool, d = pool.shape
    n_a, n_b = XA.shape[1], XB.shape[1]
    Cn = _unit_rows(XC)  # [L, n_C, d]
    n_c = Cn.shape[1]
    gram = n_pool < d
    if gram:
        # Per layer: G = C_n X^T [n_C, n_pool] and K = X X^T [n_pool, n_pool], laid out [n_pool, L * ...]
        # so that one product W @ (...) serves every layer.
        G = np.matmul(Cn, pool.transpose(0, 2, 1)).transpose(2, 0, 1).reshape(n_pool, n_layers * n_c)
        K = np.matmul(pool, pool.transpose(0, 2, 1)).transpose(1, 0, 2).reshape(n_pool, n_layers * n_pool)
        pool_norms = analysis.norms(pool).T  # [n_pool, L]
        width = n_layers * (n_c + n_pool)
    else:
        width = d
    rows = max(1, NULL_CHUNK_ELEMENTS // max(width, n_pool))
    null = np.empty((n_layers, n), dtype=np.float64)
    start = 0
    for idx_a, idx_b in _draw_chunks(n_pool, n_a, n_b, n, seed, rows):
        c = len(idx_a)
        W = np.zeros((c, n_pool))
        r = np.arange(c)[:, None]
        W[r, idx_a] = -q / n_a
        W[r, idx_b] = p / n_b
        if gram:
            dots = (W @ G).reshape(c, n_layers, n_c)
            t2 = np.einsum("clp,cp->cl", (W @ K).reshape(c, n_layers, n_pool), W)
            spread = np.abs(W) @ pool_norms  # [c, L]
            cos = dots * _inverse(np.sqrt(np.clip(t2, 0, None)))[:, :, None]
            ill, layers = np.nonzero(t2 * _NULL_MAX_CANCELLATION**2 < spread * spread)
            if len(ill):
                cos[ill, layers] = _exact_cosines(pool, Cn, idx_a[ill], idx_b[ill], layers, p, q)
            null[:, start : start + c] = cos.max(axis=2).T
        else:
            for layer in range(n_layers):
                T = W @ pool[layer]  # [c, d]
                cos = (T @ Cn[layer].T) * _inverse(np.linalg.norm(T, axis=1))[:, None]
                null[layer, start : start + c] = cos.max(axis=1)
        start += c
    return null


def _exact_cosines(pool, Cn, idx_a, idx_b, layers, p: float, q: float) -> np.ndarray:
    """cos(c_k, tau) of m draws from their means: pool [L, n, d], Cn [L, n_C, d], idx_a [m, n_A],
    idx_b [m, n_B], layers [m] -> [m, n_C], in chunks of at most ``NULL_CHUNK_ELEMENTS`` gathered elements."""
    width = pool.shape[2] * (idx_a.shape[1] + idx_b.shape[1] + Cn.shape[1])
    step = max(1, NULL_CHUNK_ELEMENTS // width)
    out = np.empty((len(layers), Cn.shape[1]))
    for start in range(0, len(layers), step):
        part = slice(start, start + step)
        rows = layers[part, None]
        mean_a, mean_b = pool[rows, idx_a[part]].mean(axis=1), pool[rows, idx_b[part]].mean(axis=1)
        target = (p - q) * mean_b + q * (mean_b - mean_a)  # [m, d]
        dots = np.einsum("md,mkd->mk", target, Cn[layers[part]])
        out[part] = dots * _inverse(np.linalg.norm(target, axis=1))[:, None]
    return out


def permutation_null(
    XA_l: np.ndarray,
    XB_l: np.ndarray,
    XC_l: np.ndarray,
    alpha: float = 1.0,
    n_permutations: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """Permutation null of Part 2 at one layer: XA_l [n_A, d], XB_l [n_B, d], XC_l [n_C, d] -> null [n] float64.

    Equal to row l of ``permutation_null_layers`` for the same seed (the draws do not depend on the layer).
    """
    XA_l, XB_l, XC_l = _matrix(XA_l, 2, "XA_l"), _matrix(XB_l, 2, "XB_l"), _matrix(XC_l, 2, "XC_l")
    return permutation_null_layers(XA_l[None], XB_l[None], XC_l[None], alpha, n_permutations, seed)[0]


# Random directions


def random_direction_null(XC_l: np.ndarray, n_directions: int = 1000, seed: int = 0) -> np.ndarray:
    """Part 2 against random directions: null[r] = max_k cos(c_k, u_r), u_r ~ N(0, I_d); XC_l [n_C, d] -> [n].

    The norm of u does not matter to a cosine, so no norm is matched.
    """
    XC_l = _matrix(XC_l, 2, "XC_l")
    n = _count(n_directions, "n_directions")
    rng = _rng(seed)
    Cn = _unit_rows(XC_l)
    d = Cn.shape[1]
    rows = max(1, NULL_CHUNK_ELEMENTS // max(d, Cn.shape[0]))
    null = np.empty(n, dtype=np.float64)
    for start in range(0, n, rows):
        U = rng.standard_normal((min(rows, n - start), d))
        null[start : start + len(U)] = ((U @ Cn.T) * _inverse(np.linalg.norm(U, axis=1))[:, None]).max(axis=1)
    return null


def pair_random_direction_null(
    XC_l: np.ndarray, n_pairs: int, k: int, n_draws: int = 1000, seed: int = 0
) -> np.ndarray:
    """Part 4's best pair against chance: null[r] = max over ``n_pairs`` random directions u of cos(u, c_k).

    XC_l [n_C, d] -> [n_draws] float64. The observed statistic is max_(i,j) P[i, j, k] over the
    n_pairs = n_A n_B targets; this null asks how high the best of that many independent random
    directions would reach. Each cosine is sampled exactly as z / sqrt(z^2 + R), z ~ N(0, 1),
    R ~ chi^2(d - 1) (see the module docstring), in float32, in chunks of draws so that at most
    ``NULL_CHUNK_ELEMENTS`` cosines are held at once; 0 when c_k is zero.
    """
    XC_l = _matrix(XC_l, 2, "XC_l")
    n_pairs = _count(n_pairs, "n_pairs")
    n = _count(n_draws, "n_draws")
    k = operator.index(k)
    if not 0 <= k < len(XC_l):
        raise IndexError(f"token {k} is out of range: C has {len(XC_l)} analysed tokens")
    d = XC_l.shape[1]
    if not np.any(XC_l[k]):
        return np.zeros(n)
    rng = _rng(seed)
    rows = max(1, NULL_CHUNK_ELEMENTS // n_pairs)
    null = np.empty(n, dtype=np.float64)
    for start in range(0, n, rows):
        count = min(rows, n - start)
        best = np.full(count, -np.inf, dtype=np.float32)
        for first in range(0, n_pairs, NULL_CHUNK_ELEMENTS):  # one chunk of directions when n_pairs is huge
            shape = (count, min(NULL_CHUNK_ELEMENTS, n_pairs - first))
            z = rng.standard_normal(shape, dtype=np.float32)
            if d > 1:
                rest = 2.0 * rng.standard_gamma((d - 1) / 2.0, shape, dtype=np.float32)
                cos = z / np.sqrt(z * z + rest)
            else:
                cos = np.sign(z)
            np.maximum(best, cos.max(axis=1), out=best)
        null[start : start + count] = best
    return null
