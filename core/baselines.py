"""Is a recommendation better than chance? Permutation tests of Parts 2-5 with family-wise correction.

Null hypothesis (``NULL_HYPOTHESIS``): A and B are exchangeable, so the direction from A to B carries no
information. Under it, which analysed tokens came from A and which from B is arbitrary, so the tests redraw
that split. At a layer, pool the analysed tokens of A and B only (A's rows, then B's: n_pool = n_A + n_B);
each permutation takes n_A of them for A and the remaining n_B for B, without replacement
(``permutation_draws``). C is never changed and never in the pool. The same draws serve every layer, and the
observed split is evaluated by the same code as the draws (so a tie is a tie). Everything is seeded
(``np.random.default_rng(seed)``, an integer >= 0) and float64.

Statistics, for every layer l:
  - Parts 2-3: T_l = max_k cos(c_k, m_B' + alpha (m_B' - m_A')), m_A' and m_B' the means of the drawn rows;
  - Parts 4-5: M_l[k] = max over i in A', j in B' of cos(b_j + alpha (b_j - a_i), c_k), one per C token.

p-values are upper-tail with the observed split counted: p = (1 + #(null >= observed)) / (1 + n), never 0,
and valid (P(p <= a) <= a under the null) for any number of permutations n.

Family-wise correction (``maxt_p_values``): single-step max-statistic correction (Westfall and Young 1993).
Each statistic of the family (every layer for Part 3; every (layer, C token) cell for Part 5) is
standardised by the mean and standard deviation of its n + 1 values (observed and permuted), so that layers
whose nulls sit at different heights count alike; the corrected p-value of a statistic is the share of
permutations whose *largest* standardised statistic over the whole family reaches its own. Because the same
permutation is applied to every member of the family, this keeps their dependence, and the chance that any
member of a family of true nulls gets p_corrected <= a is at most a. A corrected p-value is never below the
uncorrected one.

Part 2-3 computation. Every draw is a weight row w [n_pool] (p / n_B on the drawn B rows, -q / n_A on the drawn
A rows, with (p, q) = ``analysis.extrapolation(alpha)`` so that any finite alpha is safe), and tau = w X_pool.
All permutations of a chunk are one matrix product (W [c, n_pool]; C_n is C with rows scaled to unit norm):
    tau_r . c_k / |c_k| = (W (C_n X_pool^T)^T)[r, k]
    |tau_r|^2           = (W (X_pool X_pool^T) * W).sum(1)[r]
when the pool is narrower than the vectors, else tau = W X_pool directly, layer by layer. The Gram form of
|tau|^2 loses about 1e-16 rho^2 of relative accuracy, with rho = sum_i |w_i| |x_i| / |tau| (how much the
terms cancel: large alpha and near-equal means); draws with rho > 1000 are recomputed from their means.

Part 4-5 computation. A draw's pairs (i in A', j in B') are ordered pairs (u, v) of distinct pool rows, so
Q[u, v, k] = cos(x_v + alpha (x_v - x_u), c_k) is computed once for the whole pool at every layer at once
(``_pool_pairs``: ``analysis``'s Gram expansion in float64, stored as float32; L n_pool^2 n_C values,
``pair_test_size``), and every (layer, k) lists its 256 best pairs in decreasing order. A draw's statistic
is the first listed pair with u drawn for A and v not. The first 128 list positions are checked for every
draw at once (one position at a time, backwards, so that the earliest hit is kept without a branch); the rest
of the lists only for the draws still without a qualifying pair (membership tested on bit masks), and the few
draws that no list answers take the masked maximum of the whole of Q. (The best pairs of a list tend to share
their B token, so a list answers a draw less often than the share of pairs that qualify,
n_A n_B / (n_pool (n_pool - 1)), would suggest.)
Observed and permuted values are the same float32 cosines, so ties are exact.
"""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass

import numpy as np

from . import analysis

NULL_HYPOTHESIS = "A and B are exchangeable: the direction from A to B carries no information."
CORRECTION = (
    "max-statistic (Westfall-Young single-step maxT) over standardised statistics, the same permutations "
    "for every member of the family"
)
NULL_CHUNK_ELEMENTS = 1 << 22  # float64 elements of intermediate arrays held at once (32 MiB)
_NULL_MAX_CANCELLATION = 1000.0  # rho = sum_i |w_i| |x_i| / |tau| above which a draw is recomputed from its means
_LISTED_PAIRS = 256  # best pairs listed per (layer, C token) for the Part 4-5 search
_DENSE = 128  # listed pairs checked for every draw, one list position at a time (at most 255)
_WINDOWS = (256,)  # how far down the lists each later round of the search looks


# Validation


def _count(value, name: str, minimum: int = 1) -> int:
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be {minimum} or more, got {value}")
    return value


def _matrix(X, ndim: int, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {X.shape}")
    if X.shape[-2] == 0:
        raise ValueError(f"{name} has no tokens to analyse")
    return X


def _texts(XA, XB, XC) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    XA, XB, XC = _matrix(XA, 3, "XA"), _matrix(XB, 3, "XB"), _matrix(XC, 3, "XC")
    if len({X.shape[-1] for X in (XA, XB, XC)}) != 1:
        raise ValueError(f"vectors must share one width, got {sorted({X.shape[-1] for X in (XA, XB, XC)})}")
    if len({X.shape[0] for X in (XA, XB, XC)}) != 1:
        raise ValueError("the three texts must have the same number of layers")
    return XA, XB, XC


def _inverse(values: np.ndarray) -> np.ndarray:
    out = np.zeros_like(values, dtype=np.float64)
    np.divide(1.0, values, out=out, where=values > 0)
    return out


def _unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm (zero rows stay zero, so their cosines are 0); X [..., n, d]."""
    return X * _inverse(analysis.norms(X))[..., None]


# Comparing observed statistics with their nulls


def _null(null) -> np.ndarray:
    null = np.asarray(null, dtype=np.float64).ravel()
    if null.size == 0:
        raise ValueError("the null distribution is empty: ask for at least one permutation")
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


def p_values(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Uncorrected p-values of a family: observed [...], null [..., n] -> [...] (``p_value`` of each)."""
    observed, null = np.asarray(observed, dtype=np.float64), np.asarray(null, dtype=np.float64)
    return (1 + np.count_nonzero(null >= observed[..., None], axis=-1)) / (1 + null.shape[-1])


def maxt_p_values(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Family-wise corrected p-values (module docstring): observed [...], null [..., n] -> [...].

    The family is every entry of ``observed``; null[..., r] must come from the same permutation r for all.
    """
    observed, null = np.asarray(observed, dtype=np.float64), np.asarray(null, dtype=np.float64)
    n = null.shape[-1]
    if n == 0:
        raise ValueError("the null distribution is empty: ask for at least one permutation")
    flat_obs, flat_null = observed.reshape(-1), null.reshape(-1, n)
    both = np.concatenate([flat_obs[:, None], flat_null], axis=1)
    centre, spread = both.mean(axis=1), both.std(axis=1)
    scale = np.where(spread > 0, spread, 1.0)  # a constant statistic: every z is 0
    z_observed = (flat_obs - centre) / scale
    largest = np.sort(((flat_null - centre[:, None]) / scale[:, None]).max(axis=0))
    beaten = n - np.searchsorted(largest, z_observed, side="left")  # #(largest >= z)
    return ((1 + beaten) / (1 + n)).reshape(observed.shape)


@dataclass(frozen=True)
class Baseline:
    """An observed statistic beside its null: the null's mean and 95th percentile, the p-value, the
    observed value's percentile in the null, and ``n`` (permutations in the null)."""

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


@dataclass(frozen=True)
class FamilyTest:
    """A family of permutation tests sharing their draws: ``observed``, ``p_values`` (uncorrected) and
    ``p_corrected`` (``maxt_p_values``), arrays of one shape; ``n`` permutations."""

    observed: np.ndarray
    p_values: np.ndarray
    p_corrected: np.ndarray
    n: int


def family_test(observed: np.ndarray, null: np.ndarray) -> FamilyTest:
    """observed [...], null [..., n] -> FamilyTest."""
    observed = np.asarray(observed, dtype=np.float64)
    return FamilyTest(observed, p_values(observed, null), maxt_p_values(observed, null), int(null.shape[-1]))


# The draws


def _identity_and_draws(n_a: int, n_b: int, n: int, seed, rows: int):
    """Yield (idx_A [c, n_A], idx_B [c, n_B]) in chunks of at most ``rows`` (at least 2): the observed split
    first, then the ``n`` draws. Each draw sorts n_A + n_B uniform keys: A gets the positions of the n_A
    smallest, B the rest. The key stream does not depend on ``rows``, so neither do the draws."""
    n_a, n_b, n = _count(n_a, "n_A"), _count(n_b, "n_B"), _count(n, "n")
    rng = np.random.default_rng(_count(seed, "seed", 0))
    rows = max(2, rows)
    order = np.arange(n_a + n_b)[None, :]
    for start in range(-1, n, rows):
        keys = rng.random((min(start + rows, n) - max(start, 0), n_a + n_b))
        drawn = np.argsort(keys, axis=1)
        if start < 0:
            drawn = np.concatenate([order, drawn])
        yield drawn[:, :n_a], drawn[:, n_a:]


def permutation_draws(n_A: int, n_B: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` draws of the tests: (idx_A [n, n_A], idx_B [n, n_B]) int64 rows of the pool (A's rows 0 ..
    n_A - 1, then B's). Each row pair is a split of the whole pool; the tests use exactly these draws."""
    chunks = list(_identity_and_draws(n_A, n_B, n, seed, rows=NULL_CHUNK_ELEMENTS // (n_A + n_B)))
    return np.concatenate([a for a, _ in chunks])[1:], np.concatenate([b for _, b in chunks])[1:]


# Parts 2-3: the token-average target


def target_statistics(XA, XB, XC, alpha: float = 1.0, n_permutations: int = 1000, seed: int = 0):
    """Part 2's statistic at every layer for the observed split and each draw.

    XA [L, n_A, d], XB [L, n_B, d], XC [L, n_C, d] -> (observed [L], null [L, n_permutations]) float64.
    """
    XA, XB, XC = _texts(XA, XB, XC)
    p, q = analysis.extrapolation(alpha)
    pool = np.concatenate([XA, XB], axis=1)  # [L, n_pool, d]
    n_layers, n_pool, d = pool.shape
    n_a, n_b = XA.shape[1], XB.shape[1]
    Cn = _unit_rows(XC)
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
    values = np.empty((n_layers, 1 + _count(n_permutations, "n_permutations")), dtype=np.float64)
    start = 0
    for idx_a, idx_b in _identity_and_draws(n_a, n_b, n_permutations, seed, rows):
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
            values[:, start : start + c] = cos.max(axis=2).T
        else:
            for layer in range(n_layers):
                T = W @ pool[layer]  # [c, d]
                cos = (T @ Cn[layer].T) * _inverse(np.linalg.norm(T, axis=1))[:, None]
                values[layer, start : start + c] = cos.max(axis=1)
        start += c
    return values[:, 0], values[:, 1:]


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
        target = analysis.scaled_target(mean_a, mean_b, p, q)  # [m, d]
        dots = np.einsum("md,mkd->mk", target, Cn[layers[part]])
        out[part] = dots * _inverse(np.linalg.norm(target, axis=1))[:, None]
    return out


def permutation_null(XA_l, XB_l, XC_l, alpha: float = 1.0, n_permutations: int = 1000, seed: int = 0) -> np.ndarray:
    """Part 2's permutation null at one layer: XA_l [n_A, d], XB_l [n_B, d], XC_l [n_C, d] -> null [n] float64.

    Equal to row l of ``target_statistics(...)[1]`` for the same seed (the draws do not depend on the layer).
    """
    XA_l, XB_l, XC_l = _matrix(XA_l, 2, "XA_l"), _matrix(XB_l, 2, "XB_l"), _matrix(XC_l, 2, "XC_l")
    return target_statistics(XA_l[None], XB_l[None], XC_l[None], alpha, n_permutations, seed)[1][0]


# Parts 4-5: the best pair of every C token


def best_pair_floor(n_a: int, n_b: int) -> float:
    """About the smallest p-value the Part 4-5 test can give: the share of draws that keep a given A token in A
    and a given B token in B, n_A n_B / (n_pool (n_pool - 1)). Each such draw keeps the observed best pair, so
    it reaches the observed value: balanced texts can never give a small p-value on this statistic."""
    n_pool = n_a + n_b
    return n_a * n_b / (n_pool * (n_pool - 1))


def pair_test_size(n_layers: int, n_a: int, n_b: int, n_c: int) -> int:
    """Pair cosines the Part 4-5 test holds: L (n_A + n_B)^2 n_C (its memory, 4 bytes each, grows with this)."""
    return n_layers * (n_a + n_b) ** 2 * n_c


def _pool_pairs(pool: np.ndarray, XC: np.ndarray, alpha: float) -> np.ndarray:
    """Q[l, k, u * n_pool + v] = cos(x_v + alpha (x_v - x_u), c_k) over the pool's ordered pairs, -inf where
    u = v (a row cannot be in A' and B' at once): pool [L, n_pool, d], XC [L, n_C, d] -> [L, n_C, n_pool^2]
    float32. Every layer at once from Gram matrices in float64 (``analysis``'s expansion), the pairs whose two
    terms cancel recomputed from their targets."""
    n_layers, n_pool, _ = pool.shape
    p, q = analysis.extrapolation(alpha)
    Cn = _unit_rows(XC)
    along = np.matmul(Cn, pool.transpose(0, 2, 1))  # [L, n_C, n_pool]: x_v . c_k / |c_k|
    squared = np.einsum("lnd,lnd->ln", pool, pool)  # [L, n_pool]
    terms = (p * p) * squared[:, None, :] + (q * q) * squared[:, :, None]  # [L, u, v]
    t2 = terms - (2 * p * q) * np.matmul(pool, pool.transpose(0, 2, 1))
    inv_t = np.zeros_like(t2)
    np.divide(1.0, np.sqrt(t2, where=t2 > 0, out=np.zeros_like(t2)), out=inv_t, where=t2 > 1e-12 * terms)
    Q = (p * along[:, :, None, :] - q * along[:, :, :, None]) * inv_t[:, None]  # [L, n_C, u, v]
    spread = abs(p) * np.sqrt(squared)[:, None, :] + abs(q) * np.sqrt(squared)[:, :, None]
    ill = t2 * analysis.PAIR_MAX_CANCELLATION**2 < spread * spread
    ill[:, np.arange(n_pool), np.arange(n_pool)] = False
    layers, u, v = np.nonzero(ill)
    if len(layers):
        targets = analysis.scaled_target(pool[layers, u], pool[layers, v], p, q)  # [m, d]
        dots = np.einsum("md,mkd->mk", targets, Cn[layers])
        Q[layers, :, u, v] = dots * _inverse(np.linalg.norm(targets, axis=1))[:, None]
    Q[:, :, np.arange(n_pool), np.arange(n_pool)] = -np.inf
    return Q.reshape(n_layers, -1, n_pool * n_pool).astype(np.float32)


def pair_statistics(XA, XB, XC, alpha: float = 1.0, n_permutations: int = 1000, seed: int = 0):
    """Part 5's statistic M[l, k] (the best pair's cosine) for the observed split and each draw.

    XA [L, n_A, d], XB [L, n_B, d], XC [L, n_C, d] -> (observed [L, n_C], null [L, n_C, n_permutations])
    float64. The draws are those of ``target_statistics`` for the same seed. Memory: ``pair_test_size`` x 4
    bytes.
    """
    XA, XB, XC = _texts(XA, XB, XC)
    analysis.extrapolation(alpha)
    pool = np.concatenate([XA, XB], axis=1)
    n_layers, n_pool, _ = pool.shape
    n_a, n_b, n_c = XA.shape[1], XB.shape[1], XC.shape[1]
    Q = _pool_pairs(pool, XC, alpha).reshape(n_layers * n_c, n_pool * n_pool)
    length = min(_LISTED_PAIRS, n_pool * (n_pool - 1))
    top = np.argpartition(-Q, length - 1, axis=1)[:, :length] if length < Q.shape[1] else np.argsort(-Q, axis=1)
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(Q, top, axis=1), axis=1, kind="stable"), axis=1)
    top = top[:, :length]
    listed = np.take_along_axis(Q, top, axis=1).astype(np.float64)  # [cells, length], best first
    pairs = _PairMasks(*np.divmod(top, n_pool))
    cells = n_layers * n_c
    out = np.empty((cells, 1 + _count(n_permutations, "n_permutations")))
    rows = NULL_CHUNK_ELEMENTS // max(n_pool, cells * 8)
    start = 0
    for idx_a, _ in _identity_and_draws(n_a, n_b, n_permutations, seed, rows):
        out[:, start : start + len(idx_a)] = _first_qualifying(Q, listed, pairs, _membership(idx_a, n_pool)).T
        start += len(idx_a)
    out = out.reshape(n_layers, n_c, -1)
    return out[:, :, 0], out[:, :, 1:]


def _membership(idx_a: np.ndarray, n_pool: int) -> np.ndarray:
    """Which pool rows each draw gives to A, as bits: idx_a [c, n_A] -> [c, ceil(n_pool / 64)] uint64."""
    member = np.zeros((len(idx_a), -(-n_pool // 64) * 64), dtype=bool)
    member[np.arange(len(idx_a))[:, None], idx_a] = True
    return np.packbits(member, axis=1, bitorder="little").view("<u8")


class _PairMasks:
    """Listed pairs (u, v) [cells, length] as masks on ``_membership``'s bits: a pair qualifies when the draw's
    bits of u and v, ``bits & both``, are exactly ``bit_u`` (u drawn for A, v not, so v is in B)."""

    def __init__(self, u: np.ndarray, v: np.ndarray):
        self.u, self.v = u, v
        self.word_u, self.word_v = u >> 6, v >> 6
        one = np.uint64(1)
        self.bit_u, self.bit_v = one << (u & 63).astype(np.uint64), one << (v & 63).astype(np.uint64)
        self.both = np.where(self.word_u == self.word_v, self.bit_u | self.bit_v, 0)

    def qualify(self, bits: np.ndarray, draw: np.ndarray, cell: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Whether listed pairs lo .. hi - 1 of ``cell`` qualify in ``draw``: [m, hi - lo] bool."""
        if bits.shape[1] == 1:  # up to 64 pooled rows: one word per draw
            return (bits[draw, 0][:, None] & self.both[cell, lo:hi]) == self.bit_u[cell, lo:hi]
        in_u = bits[draw[:, None], self.word_u[cell, lo:hi]]
        in_v = bits[draw[:, None], self.word_v[cell, lo:hi]]
        return ((in_u & self.bit_u[cell, lo:hi]) != 0) & ((in_v & self.bit_v[cell, lo:hi]) == 0)

    def qualify_all(self, bits: np.ndarray, hi: int) -> np.ndarray:
        """``qualify`` for every draw and cell and listed pairs 0 .. hi - 1: [c, cells, hi] bool."""
        if bits.shape[1] == 1:
            return (bits[:, 0, None, None] & self.both[None, :, :hi]) == self.bit_u[None, :, :hi]
        in_u, in_v = bits[:, self.word_u[:, :hi]], bits[:, self.word_v[:, :hi]]
        return ((in_u & self.bit_u[None, :, :hi]) != 0) & ((in_v & self.bit_v[None, :, :hi]) == 0)


def _first_qualifying(Q, listed, pairs: _PairMasks, bits) -> np.ndarray:
    """Each draw's best pair value for every cell: bits [c, words] (``_membership``) -> [c, cells].

    A listed pair (u, v) qualifies when u is drawn for A and v is not (v is then in B); the first qualifying
    pair of a list is the best. The first ``_DENSE`` listed pairs are checked for every draw at once, one
    list position at a time; the rest of each list in windows, only for the (draw, cell) still without
    a qualifying pair; what no list answers is the masked maximum of the cell's row of Q.
    """
    n_pool = int(np.sqrt(Q.shape[1]))
    member = np.unpackbits(bits.view(np.uint8), axis=1, bitorder="little")[:, :n_pool].astype(bool)
    by_row, outside = np.ascontiguousarray(member.T), np.ascontiguousarray(~member.T)  # [n_pool, c]
    dense = min(_DENSE, listed.shape[1], 255)
    first = np.full((len(listed), len(bits)), dense, dtype=np.uint8)  # [cells, c]: first qualifying position
    hit, step = np.empty(first.shape, dtype=bool), np.empty_like(first)
    for t in range(dense - 1, -1, -1):  # backwards, so first >= t: first -= (first - t) * hit sets t on a hit
        np.logical_and(by_row[pairs.u[:, t]], outside[pairs.v[:, t]], out=hit)
        np.multiply(np.subtract(first, t, out=step), hit, out=step)
        first -= step
    result = np.take_along_axis(listed, np.minimum(first, dense - 1), axis=1).T  # [c, cells]
    draw, cell = np.nonzero(first.T == dense)
    seen = dense
    for window in _WINDOWS:
        stop = min(window, listed.shape[1])
        if stop <= seen or not len(draw):
            continue
        hit = pairs.qualify(bits, draw, cell, seen, stop)
        where = hit.argmax(axis=1)
        found = hit[np.arange(len(draw)), where]
        result[draw[found], cell[found]] = listed[cell[found], seen + where[found]]
        draw, cell, seen = draw[~found], cell[~found], stop
    step = max(1, NULL_CHUNK_ELEMENTS // (n_pool * n_pool))
    for start in range(0, len(draw), step):
        d, k = draw[start : start + step], cell[start : start + step]
        member = np.unpackbits(bits[d].view(np.uint8), axis=1, bitorder="little")[:, :n_pool].astype(bool)
        allowed = (member[:, :, None] & ~member[:, None, :]).reshape(len(d), -1)
        result[d, k] = np.where(allowed, Q[k], -np.inf).max(axis=1)
    return result
