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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PAIR_CHUNK_ELEMENTS = 1 << 20  # elements of the pair stage held at once (4 MiB of float32)
PAIR_MAX_CANCELLATION = 8.0  # rho above which a pair's cosines are computed directly (see above)


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


def _pair_terms(A: np.ndarray, B: np.ndarray, C: np.ndarray, alpha: float):
    """Float32 tensors (inv_t [n_A, n_B], BCn [n_B, n_C], ACn [n_A, n_C]) with P = inv_t (BCn - ACn),
    except at the pairs (ill_a [m], ill_b [m]) that cancel, whose exact cosines are E [m, n_C]: P[ill_a, ill_b] = E."""
    _same_width(A, B, C)
    p, q = extrapolation(alpha)
    A = torch.as_tensor(np.asarray(A), dtype=torch.float64)
    B = torch.as_tensor(np.asarray(B), dtype=torch.float64)
    C = torch.as_tensor(np.asarray(C), dtype=torch.float64)
    inv_c = torch.from_numpy(_inverse(torch.linalg.vector_norm(C, dim=1).numpy()))
    a2 = (A * A).sum(dim=1)
    b2 = (B * B).sum(dim=1)
    t2 = (p * p) * b2[None, :] + (q * q) * a2[:, None] - (2 * p * q) * (A @ B.T)
    # |t|^2 below rounding noise of its terms means t = 0, whose cosine is 0 by definition.
    floor = 1e-12 * ((p * p) * b2[None, :] + (q * q) * a2[:, None])
    inv_t = torch.where(t2 > floor, t2.clamp_min(1e-300).rsqrt(), torch.zeros_like(t2))
    bcn = (p * (B @ C.T)) * inv_c[None, :]
    acn = (q * (A @ C.T)) * inv_c[None, :]
    spread = abs(p) * b2.sqrt()[None, :] + abs(q) * a2.sqrt()[:, None]
    ill_a, ill_b = torch.nonzero(t2 * PAIR_MAX_CANCELLATION**2 < spread * spread, as_tuple=True)
    exact = torch.empty(len(ill_a), C.shape[0], dtype=torch.float32)
    step = max(1, PAIR_CHUNK_ELEMENTS // max(1, A.shape[1] + C.shape[0]))
    for start in range(0, len(ill_a), step):
        i, j = ill_a[start : start + step], ill_b[start : start + step]
        targets = scaled_target(A[i], B[j], p, q)  # [m, d]
        inv = torch.from_numpy(_inverse(torch.linalg.vector_norm(targets, dim=1).numpy()))
        exact[start : start + step] = ((targets @ C.T) * inv[:, None] * inv_c[None, :]).float()
    return inv_t.float(), bcn.float(), acn.float(), (ill_a, ill_b, exact)


def pair_cosines(A: np.ndarray, B: np.ndarray, C: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Part 4: P[i, j, k] = cos(b_j + alpha (b_j - a_i), c_k); A [n_A, d], B [n_B, d], C [n_C, d] -> float32."""
    A, B, C = _check(A, 2, "A"), _check(B, 2, "B"), _check(C, 2, "C")
    inv_t, bcn, acn, (ill_a, ill_b, exact) = _pair_terms(A, B, C, alpha)
    P = bcn[None, :, :] - acn[:, None, :]
    P *= inv_t[:, :, None]
    P[ill_a, ill_b] = exact
    return P.numpy()


def pair_cosines_for_token(A: np.ndarray, B: np.ndarray, C: np.ndarray, k: int, alpha: float = 1.0) -> np.ndarray:
    """Part 4 for one C token: P[:, :, k] as float64 [n_A, n_B]."""
    A, B, C = _check(A, 2, "A"), _check(B, 2, "B"), _check(C, 2, "C")
    if not 0 <= k < len(C):
        raise IndexError(f"token {k} is out of range: C has {len(C)} analysed tokens")
    inv_t, bcn, acn, (ill_a, ill_b, exact) = _pair_terms(A, B, C[k : k + 1], alpha)
    P_k = (bcn[None, :, 0] - acn[:, None, 0]) * inv_t
    P_k[ill_a, ill_b] = exact[:, 0]
    return P_k.double().numpy()


def best_pair(P_k: np.ndarray) -> tuple[int, int]:
    """Row-major arg-max (i, j) of a pair matrix [n_A, n_B]."""
    i, j = np.unravel_index(int(np.argmax(P_k)), P_k.shape)
    return int(i), int(j)


def max_pair_cosines(
    XA: np.ndarray, XB: np.ndarray, XC: np.ndarray, alpha: float = 1.0, chunk_elements: int = PAIR_CHUNK_ELEMENTS
) -> tuple[np.ndarray, np.ndarray]:
    """Part 5: M[l, k] = max_(i,j) P_l[i, j, k] and its row-major first arg-max pair.

    XA [L, n_A, d], XB [L, n_B, d], XC [L, n_C, d] -> (M [L, n_C] float64, pairs [L, n_C, 2] int64).
    Per layer, the best over B of each A row, R[i, k] = max_j P[i, j, k], is reduced in chunks of A
    rows (at most ``chunk_elements`` pair cosines at once); the winning row i* = argmax_i R[i, k]
    then gives j* from that row alone.
    """
    XA, XB, XC = _check(XA, 3, "XA"), _check(XB, 3, "XB"), _check(XC, 3, "XC")
    _same_width(XA, XB, XC)
    _same_layers(XA, XB, XC)
    n_layers, n_a, n_b, n_c = XA.shape[0], XA.shape[1], XB.shape[1], XC.shape[1]
    rows = max(1, chunk_elements // (n_b * n_c))
    best = np.empty((n_layers, n_c), dtype=np.float64)
    pairs = np.empty((n_layers, n_c, 2), dtype=np.int64)
    buffer = torch.empty(rows * n_b * n_c, dtype=torch.float32)
    row_best = torch.empty(n_a, n_c, dtype=torch.float32)
    columns = torch.arange(n_c)
    for layer in range(n_layers):
        inv_t, bcn, acn, (ill_a, ill_b, exact) = _pair_terms(XA[layer], XB[layer], XC[layer], alpha)
        for start in range(0, n_a, rows):
            stop = min(start + rows, n_a)
            chunk = buffer[: (stop - start) * n_b * n_c].view(stop - start, n_b, n_c)
            torch.sub(bcn[None, :, :], acn[start:stop, None, :], out=chunk)
            chunk.mul_(inv_t[start:stop, :, None])
            if len(ill_a):
                inside = (ill_a >= start) & (ill_a < stop)
                chunk[ill_a[inside] - start, ill_b[inside]] = exact[inside]
            torch.amax(chunk, dim=1, out=row_best[start:stop])
        i_best = torch.argmax(row_best, dim=0)  # [n_c], first maximal row
        winners = (bcn[:, columns] - acn[i_best, columns][None, :]) * inv_t[i_best].T  # [n_b, n_c]
        if len(ill_a):
            m, k = torch.nonzero(ill_a[:, None] == i_best[None, :], as_tuple=True)
            winners[ill_b[m], k] = exact[m, k]
        j_best = torch.argmax(winners, dim=0)
        best[layer] = row_best[i_best, columns].numpy()
        pairs[layer, :, 0] = i_best.numpy()
        pairs[layer, :, 1] = j_best.numpy()
    return best, pairs
