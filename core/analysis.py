"""The five analyses of SPEC.md as pure functions of arrays.

Shapes: a text's vectors at one layer are X [n, d]; at every layer X [L, n, d]. cos(u, v) is 0 when
either vector is zero; arg-max ties go to the first index (row-major for pairs).

The extrapolated target is t = b + alpha (b - a) = (1 + alpha) b - alpha a. Cosines do not depend on
the target's scale, so it is computed as p b - q a with p = (1 + alpha) / s, q = alpha / s and
s = max(1, |alpha|, |1 + alpha|): any finite alpha is safe from overflow.

Pair cosines P[i, j, k] = cos(t_ij, c_k) with t_ij = p b_j - q a_i expand into Gram matrices:
    t_ij . c_k = p (B C^T)[j, k] - q (A C^T)[i, k]
    |t_ij|^2   = p^2 |b_j|^2 + q^2 |a_i|^2 - 2 p q (A B^T)[i, j]
so no target vector is ever formed; the Gram matrices are float64, the n_A x n_B x n_C stage float32
in chunks of at most ``chunk_elements``.

The float32 stage loses about 6e-8 rho of accuracy, where rho = (p |b_j| + |q| |a_i|) / |t_ij| measures
how much the two terms cancel (a_i close to b_j with a large alpha, e.g. the same text as A and B).
Pairs with rho > ``PAIR_MAX_CANCELLATION`` are few; their cosines are computed directly in float64 from
the target written without cancellation, t / s = b / s + q (b - a).

Part 5 needs only each C token's maximum over the cube and its first pair, so it does not visit every pair.
Read along A, P[:, j, k] = (bcn[j, k] - acn[:, k]) inv_t[:, j] is bounded by its extremes (bcn[j, k] -
min_i acn[i, k] times max_i or min_i inv_t[i, j], as that difference's sign says); a few lines of highest
bound give a first maximum G[k], and only the lines whose bound reaches G[k] are evaluated (about 2% of
them on the benchmark's 3 x 499 tokens at alpha 1). Lines run along B instead when |q| > |p|; when the
bounds leave more than an eighth of the lines, every line is evaluated. The values are the same float32
numbers as the whole cube's, so M and its first pairs are too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

PAIR_CHUNK_ELEMENTS = 1 << 20  # elements of the pair stage held at once (4 MiB of float32)
PAIR_MAX_CANCELLATION = 8.0  # rho above which a pair's cosines are computed directly (see above)
PAIR_GUESS_LINES = 4  # Part 5: lines per C token evaluated first, for a first guess
PAIR_BOUND_MARGIN = 1e-6  # Part 5: slack on the skipping test, beyond the bound's own exactness
PAIR_SPARSE_RATIO = 8  # Part 5: lines are evaluated one by one while at most 1 / 8 of them are left


def _check(X: np.ndarray, ndim: int, name: str) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {X.shape}")
    if X.shape[-2] == 0:
        raise ValueError(f"{name} has no tokens to analyse")
    return X


def _same_width(*arrays: np.ndarray) -> None:
    widths = {a.shape[-1] for a in arrays}
    if len(widths) != 1:
        raise ValueError(f"vectors must share one width, got {sorted(widths)}")


def _same_layers(*arrays: np.ndarray) -> None:
    counts = {a.shape[0] for a in arrays}
    if len(counts) != 1:
        raise ValueError(f"the three texts must have the same number of layers, got {sorted(counts)}")


def extrapolation(alpha: float) -> tuple[float, float]:
    """Coefficients (p, q) of the target direction p b - q a, scaled so that neither overflows."""
    alpha = float(alpha)
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, got {alpha}")
    scale = max(1.0, abs(alpha), abs(1.0 + alpha))
    return (1.0 + alpha) / scale, alpha / scale


def scaled_target(a, b, p: float, q: float):
    """The target direction p b - q a, written as (p - q) b + q (b - a) so that a = b does not cancel."""
    return (p - q) * b + q * (b - a)


def _inverse(norms: np.ndarray) -> np.ndarray:
    out = np.zeros_like(norms, dtype=np.float64)
    np.divide(1.0, norms, out=out, where=norms > 0)
    return out


def norms(X: np.ndarray) -> np.ndarray:
    """Part 1: Euclidean norm of every vector; X [..., n, d] -> [..., n] float64."""
    return np.linalg.norm(np.asarray(X, dtype=np.float64), axis=-1)


def cosines(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """cos(X[..., k, :], v[..., :]) for every row k; X [..., n, d], v [..., d] -> [..., n] float64."""
    X = np.asarray(X, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    dots = np.einsum("...nd,...d->...n", X, v)
    return dots * _inverse(norms(X)) * _inverse(np.linalg.norm(v, axis=-1))[..., None]


def target_vector(mean_a: np.ndarray, mean_b: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Part 2: tau = m_B + alpha (m_B - m_A); [..., d] -> [..., d] float64."""
    extrapolation(alpha)
    mean_a = np.asarray(mean_a, dtype=np.float64)
    mean_b = np.asarray(mean_b, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return mean_b + alpha * (mean_b - mean_a)


@dataclass(frozen=True)
class TargetResult:
    """Part 2 at one layer: mean vectors [d], S_AB, target [d], s_k [n_C] and the recommended k."""

    mean_a: np.ndarray
    mean_b: np.ndarray
    mean_cosine: float
    target: np.ndarray
    target_cosines: np.ndarray
    recommended: int


def token_average_target(A: np.ndarray, B: np.ndarray, C: np.ndarray, alpha: float = 1.0) -> TargetResult:
    """Part 2 on one layer's vectors A [n_A, d], B [n_B, d], C [n_C, d]."""
    A, B, C = _check(A, 2, "A"), _check(B, 2, "B"), _check(C, 2, "C")
    _same_width(A, B, C)
    p, q = extrapolation(alpha)
    mean_a = A.mean(axis=0, dtype=np.float64)
    mean_b = B.mean(axis=0, dtype=np.float64)
    scores = cosines(C, scaled_target(mean_a, mean_b, p, q))
    return TargetResult(
        mean_a=mean_a,
        mean_b=mean_b,
        mean_cosine=float(cosines(mean_a[None, :], mean_b)[0]),
        target=target_vector(mean_a, mean_b, alpha),
        target_cosines=scores,
        recommended=int(np.argmax(scores)),
    )


def layer_sweep(XA: np.ndarray, XB: np.ndarray, XC: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Parts 2-3 at every layer at once: s [L, n_C] float64 from XA [L, n_A, d], XB, XC.

    The recommended token of layer l is s[l].argmax(); its similarity s[l].max().
    """
    XA, XB, XC = _check(XA, 3, "XA"), _check(XB, 3, "XB"), _check(XC, 3, "XC")
    _same_width(XA, XB, XC)
    _same_layers(XA, XB, XC)
    p, q = extrapolation(alpha)
    targets = scaled_target(XA.mean(axis=1, dtype=np.float64), XB.mean(axis=1, dtype=np.float64), p, q)
    return cosines(XC, targets)


class PairTerms(NamedTuple):
    """One layer's pair cosines in factored form: P = inv_t (bcn - acn) in float32, except at the
    ill-conditioned pairs (ill_a [m], ill_b [m]) whose exact cosines are ``exact`` [m, n_C]."""

    inv_t: torch.Tensor  # [n_A, n_B]
    bcn: torch.Tensor  # [n_B, n_C]
    acn: torch.Tensor  # [n_A, n_C]
    ill_a: torch.Tensor  # [m] int64
    ill_b: torch.Tensor  # [m] int64
    exact: torch.Tensor  # [m, n_C]
    p: float  # the target's coefficients, p b - q a
    q: float


def pair_terms(A: np.ndarray, B: np.ndarray, C: np.ndarray, alpha: float = 1.0) -> PairTerms:
    """The factored pair cosines of one layer's A [n_A, d], B [n_B, d], C [n_C, d]."""
    A, B, C = _check(A, 2, "A"), _check(B, 2, "B"), _check(C, 2, "C")
    _same_width(A, B, C)
    p, q = extrapolation(alpha)
    A = torch.as_tensor(np.asarray(A), dtype=torch.float64)
    B = torch.as_tensor(np.asarray(B), dtype=torch.float64)
    C = torch.as_tensor(np.asarray(C), dtype=torch.float64)
    inv_c = torch.from_numpy(_inverse(torch.linalg.vector_norm(C, dim=1).numpy()))
    a2 = (A * A).sum(dim=1)
    b2 = (B * B).sum(dim=1)
    squares = (p * p) * b2[None, :] + (q * q) * a2[:, None]  # [n_A, n_B]
    t2 = torch.addmm(squares, A, B.T, alpha=-2 * p * q)
    # |t|^2 below rounding noise of its terms means t = 0, whose cosine is 0 by definition.
    inv_t = torch.empty(t2.shape, dtype=torch.float32)
    torch.rsqrt(t2, out=inv_t).masked_fill_(t2 <= 1e-12 * squares, 0.0)
    bcn = torch.mul(B @ C.T, p * inv_c[None, :], out=torch.empty(B.shape[0], C.shape[0], dtype=torch.float32))
    acn = torch.mul(A @ C.T, q * inv_c[None, :], out=torch.empty(A.shape[0], C.shape[0], dtype=torch.float32))
    spread = abs(p) * b2.sqrt()[None, :] + abs(q) * a2.sqrt()[:, None]
    ill_a, ill_b = torch.nonzero(t2 * PAIR_MAX_CANCELLATION**2 < spread * spread, as_tuple=True)
    exact = torch.empty(len(ill_a), C.shape[0], dtype=torch.float32)
    step = max(1, PAIR_CHUNK_ELEMENTS // max(1, A.shape[1] + C.shape[0]))
    for start in range(0, len(ill_a), step):
        i, j = ill_a[start : start + step], ill_b[start : start + step]
        targets = scaled_target(A[i], B[j], p, q)  # [m, d]
        inv = torch.from_numpy(_inverse(torch.linalg.vector_norm(targets, dim=1).numpy()))
        exact[start : start + step] = ((targets @ C.T) * inv[:, None] * inv_c[None, :]).float()
    return PairTerms(inv_t, bcn, acn, ill_a, ill_b, exact, p, q)


def pair_cosines(
    A: np.ndarray, B: np.ndarray, C: np.ndarray, alpha: float = 1.0, terms: PairTerms | None = None
) -> np.ndarray:
    """Part 4: P[i, j, k] = cos(b_j + alpha (b_j - a_i), c_k); A [n_A, d], B [n_B, d], C [n_C, d] -> float32.

    ``terms``: ``pair_terms(A, B, C, alpha)`` when already known."""
    return np.asarray(PairCube(pair_terms(A, B, C, alpha) if terms is None else terms))


def pair_cosine_rows(terms: PairTerms, start: int, stop: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """P[start:stop] of one layer's cube, the A tokens start .. stop - 1: float32 [stop - start, n_B, n_C],
    written into ``out`` when given (a float32 tensor of that shape)."""
    (n_b, n_c), rows = terms.bcn.shape, slice(start, stop)
    out = torch.empty(stop - start, n_b, n_c, dtype=torch.float32) if out is None else out
    torch.sub(terms.bcn[None, :, :], terms.acn[rows, None, :], out=out)
    out.mul_(terms.inv_t[rows, :, None])
    inside = (terms.ill_a >= start) & (terms.ill_a < stop)
    out[terms.ill_a[inside] - start, terms.ill_b[inside]] = terms.exact[inside]
    return out


class PairCube:
    """Part 4's cube P [n_A, n_B, n_C] float32 of one layer, computed when it is read: ``np.asarray(cube)``
    computes it whole, ``blocks()`` a few A tokens at a time (a big cube can go to a file without ever
    being whole in memory). The values are ``pair_cosines``' either way, bit for bit."""

    dtype = np.dtype(np.float32)

    def __init__(self, terms: PairTerms):
        self.terms = terms
        self.shape = (terms.inv_t.shape[0], *terms.bcn.shape)
        self.size = int(np.prod(self.shape))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        cube = pair_cosine_rows(self.terms, 0, self.shape[0]).numpy()
        return cube if dtype is None else cube.astype(dtype, copy=False)

    def blocks(self, max_elements: int = PAIR_CHUNK_ELEMENTS):
        """The cube in order, as float32 arrays [m, n_B, n_C] of at most ``max_elements`` (at least one A
        token each); every block reuses one buffer, so each must be used before the next is asked for."""
        n_a, n_b, n_c = self.shape
        step = max(1, max_elements // max(1, n_b * n_c))
        buffer = torch.empty(min(step, n_a), n_b, n_c, dtype=torch.float32)
        for start in range(0, n_a, step):
            stop = min(start + step, n_a)
            yield pair_cosine_rows(self.terms, start, stop, out=buffer[: stop - start]).numpy()


def pair_cosines_for_token(A: np.ndarray, B: np.ndarray, C: np.ndarray, k: int, alpha: float = 1.0) -> np.ndarray:
    """Part 4 for one C token: P[:, :, k] as float64 [n_A, n_B]."""
    C = _check(C, 2, "C")
    if not 0 <= k < len(C):
        raise IndexError(f"token {k} is out of range: C has {len(C)} analysed tokens")
    terms = pair_terms(A, B, C[k : k + 1], alpha)
    P_k = (terms.bcn[None, :, 0] - terms.acn[:, None, 0]) * terms.inv_t
    P_k[terms.ill_a, terms.ill_b] = terms.exact[:, 0]
    return P_k.double().numpy()


def best_pair(P_k: np.ndarray) -> tuple[int, int]:
    """Row-major arg-max (i, j) of a pair matrix [n_A, n_B]."""
    i, j = np.unravel_index(int(np.argmax(P_k)), P_k.shape)
    return int(i), int(j)


class _Lines(NamedTuple):
    """The pair cosines of one layer as lines: along line (f, k), P at x is (u[f, k] - vt[x, k]) w[f, x].

    Along A (f = j, x = i): u = bcn [n_B, n_C], vt = acn [n_A, n_C], w = inv_t^T [n_B, n_A].
    Along B (f = i, x = j): u = -acn [n_A, n_C], vt = -bcn [n_B, n_C], w = inv_t [n_A, n_B].
    Either way each float32 value is inv_t (bcn - acn)'s, bit for bit (negating both operands of a
    subtraction negates its rounded result). v = vt^T [n_C, n_x]. ``ill`` [n_f, n_x] (None if there are
    none) marks the ill-conditioned pairs, which the lines leave out: their values are -inf there."""

    u: torch.Tensor
    vt: torch.Tensor
    v: torch.Tensor
    w: torch.Tensor
    ill: torch.Tensor | None
    along_a: bool


def _lines(terms: PairTerms, along_a: bool) -> _Lines:
    n_a, n_b = terms.inv_t.shape
    if along_a:
        u, vt, w, shape, at = terms.bcn, terms.acn, terms.inv_t.T.contiguous(), (n_b, n_a), (terms.ill_b, terms.ill_a)
    else:
        u, vt, w, shape, at = -terms.acn, -terms.bcn, terms.inv_t, (n_a, n_b), (terms.ill_a, terms.ill_b)
    ill = None
    if len(terms.ill_a):
        ill = torch.zeros(shape, dtype=torch.bool)
        ill[at] = True
    return _Lines(u, vt, vt.T.contiguous(), w, ill, along_a)


def _line_bounds(lines: _Lines) -> torch.Tensor:
    """An upper bound [n_f, n_C] of every line's float32 values.

    With D = u[f, k] - min_x vt[x, k] >= u[f, k] - vt[x, k] and w >= 0, each value is at most
    D max_x w[f, x] when D >= 0, else D min_x w[f, x]; computed in float32 the bound still holds, as
    rounding is monotone.
    """
    D = lines.u - lines.vt.amin(dim=0)[None, :]
    return torch.where(D >= 0, D * lines.w.amax(dim=1)[:, None], D * lines.w.amin(dim=1)[:, None])


def _line_values(lines: _Lines, f: torch.Tensor, k: torch.Tensor, chunk_elements: int):
    """The values of the lines (f [N], k [N]) a few lines at a time: yields (start, values [m, n_x])."""
    step = max(1, chunk_elements // lines.v.shape[1])
    buffers = torch.empty(2, min(step, len(f)), lines.v.shape[1], dtype=torch.float32)
    for start in range(0, len(f), step):
        fs, ks = f[start : start + step], k[start : start + step]
        chunk, weights = buffers[0, : len(fs)], buffers[1, : len(fs)]
        torch.index_select(lines.v, 0, ks, out=chunk)
        torch.sub(lines.u[fs, ks][:, None], chunk, out=chunk)
        chunk.mul_(torch.index_select(lines.w, 0, fs, out=weights))
        if lines.ill is not None:
            chunk.masked_fill_(lines.ill.index_select(0, fs), -torch.inf)
        yield start, chunk


def _line_maxima(lines: _Lines, f: torch.Tensor, k: torch.Tensor, chunk_elements: int) -> torch.Tensor:
    """Maximum [N] along the lines (f [N], k [N])."""
    maxima = torch.empty(len(f), dtype=torch.float32)
    for start, chunk in _line_values(lines, f, k, chunk_elements):
        torch.amax(chunk, dim=1, out=maxima[start : start + len(chunk)])
    return maxima


def _first_positions(lines: _Lines, f: torch.Tensor, k: torch.Tensor, chunk_elements: int) -> torch.Tensor:
    """First position x [N] of the maximum along the lines (f [N], k [N])."""
    return torch.cat([chunk.argmax(dim=1) for _, chunk in _line_values(lines, f, k, chunk_elements)])


def _all_line_maxima(lines: _Lines, chunk_elements: int) -> torch.Tensor:
    """Maximum along every line [n_f, n_C], a few slabs f at a time."""
    (n_f, n_x), n_c = lines.w.shape, lines.u.shape[1]
    step = max(1, chunk_elements // (n_x * n_c))
    maxima = torch.empty(n_f, n_c, dtype=torch.float32)
    buffer = torch.empty(min(step, n_f) * n_x * n_c, dtype=torch.float32)
    ill_f, ill_x = torch.nonzero(lines.ill, as_tuple=True) if lines.ill is not None else (None, None)
    for start in range(0, n_f, step):
        stop = min(start + step, n_f)
        chunk = buffer[: (stop - start) * n_x * n_c].view(stop - start, n_x, n_c)
        torch.sub(lines.u[start:stop, None, :], lines.vt[None, :, :], out=chunk)
        chunk.mul_(lines.w[start:stop, :, None])
        if ill_f is not None:
            inside = (ill_f >= start) & (ill_f < stop)
            chunk[ill_f[inside] - start, ill_x[inside]] = -torch.inf
        torch.amax(chunk, dim=1, out=maxima[start:stop])
    return maxima


def _top_lines(bound: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The PAIR_GUESS_LINES lines (f, k) of highest bound for every C token k."""
    f = bound.topk(min(PAIR_GUESS_LINES, bound.shape[0]), dim=0).indices  # [g, n_C]
    return f.flatten(), torch.arange(bound.shape[1]).repeat(f.shape[0])


def _first_best(values, i, j, k, n_b: int, n_c: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per C token, the best of the candidate pairs (i [N], j [N]) for tokens k [N] with ``values`` [N]:
    M [n_C] and the first of its pairs in row-major order (i [n_C], j [n_C])."""
    best = torch.full((n_c,), -torch.inf).scatter_reduce_(0, k, values, "amax")
    key = torch.where(values == best[k], i * n_b + j, torch.iinfo(torch.int64).max)
    first = torch.full((n_c,), torch.iinfo(torch.int64).max).scatter_reduce_(0, k, key, "amin")
    return best, first // n_b, first % n_b


def _max_pairs_of_layer(terms: PairTerms, chunk_elements: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Part 5 at one layer: M [n_C] float32 and its row-major first arg-max pair (i [n_C], j [n_C]).

    The cube is read as lines (``_Lines``) along the axis whose vectors weigh less in the target (A when
    |p| >= |q|), where values vary least and the bounds (``_line_bounds``) are tightest. A first guess
    G[k] <= M[k] is the best of the exact cosines of the ill-conditioned pairs and of the PAIR_GUESS_LINES
    lines of highest bound; then only the lines whose bound reaches G[k] (less PAIR_BOUND_MARGIN) are
    evaluated, or every line, slab by slab, when more than 1 / PAIR_SPARSE_RATIO of them are left. A skipped
    line holds no value >= M[k], so M and its first pair are those of the whole cube. The first positions
    are found on the lines that reach M only; the ill-conditioned pairs compete as candidates of their own.
    """
    n_b, n_c = terms.inv_t.shape[1], terms.bcn.shape[1]
    ill_k = torch.arange(n_c).repeat(len(terms.ill_a))
    ill = (terms.exact.flatten(), terms.ill_a.repeat_interleave(n_c), terms.ill_b.repeat_interleave(n_c), ill_k)
    lines = _lines(terms, along_a=abs(terms.p) >= abs(terms.q))
    bound = _line_bounds(lines)
    f, k = _top_lines(bound)
    guess = torch.full((n_c,), -torch.inf).scatter_reduce_(0, ill_k, ill[0], "amax")
    guess.scatter_reduce_(0, k, _line_maxima(lines, f, k, chunk_elements), "amax")
    kept = bound >= guess[None, :] - PAIR_BOUND_MARGIN
    if kept.sum() * PAIR_SPARSE_RATIO > kept.numel():
        f, k = torch.nonzero(torch.ones_like(kept), as_tuple=True)
        values = _all_line_maxima(lines, chunk_elements).flatten()
    else:
        f, k = torch.nonzero(kept, as_tuple=True)
        values = _line_maxima(lines, f, k, chunk_elements)
    top = values >= torch.full((n_c,), -torch.inf).scatter_reduce_(0, k, values, "amax")[k]
    f, k, values = f[top], k[top], values[top]
    x = _first_positions(lines, f, k, chunk_elements)
    i, j = (x, f) if lines.along_a else (f, x)
    return _first_best(*(torch.cat(pair) for pair in zip((values, i, j, k), ill, strict=True)), n_b, n_c)


def max_pair_cosines(
    XA: np.ndarray,
    XB: np.ndarray,
    XC: np.ndarray,
    alpha: float = 1.0,
    chunk_elements: int = PAIR_CHUNK_ELEMENTS,
    known: Mapping[int, PairTerms] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Part 5: M[l, k] = max_(i,j) P_l[i, j, k] and its row-major first arg-max pair.

    XA [L, n_A, d], XB [L, n_B, d], XC [L, n_C, d] -> (M [L, n_C] float64, pairs [L, n_C, 2] int64).
    Each layer's maxima come from the lines of the cube that can hold them (``_max_pairs_of_layer``),
    evaluated at most ``chunk_elements`` pair cosines at once. ``known``: layer -> its ``pair_terms`` (at
    ``alpha``) for the layers where they are already computed.
    """
    XA, XB, XC = _check(XA, 3, "XA"), _check(XB, 3, "XB"), _check(XC, 3, "XC")
    _same_width(XA, XB, XC)
    _same_layers(XA, XB, XC)
    n_layers, n_c = XA.shape[0], XC.shape[1]
    best = np.empty((n_layers, n_c), dtype=np.float64)
    pairs = np.empty((n_layers, n_c, 2), dtype=np.int64)
    for layer in range(n_layers):
        terms = (known or {}).get(layer)
        terms = pair_terms(XA[layer], XB[layer], XC[layer], alpha) if terms is None else terms
        M, i, j = _max_pairs_of_layer(terms, chunk_elements)
        best[layer] = M.numpy()
        pairs[layer, :, 0] = i.numpy()
        pairs[layer, :, 1] = j.numpy()
    return best, pairs
