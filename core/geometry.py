"""The A -> B -> target geometry: the three texts' tokens at one layer in the plane of their first two
principal components.

The PCA (2 components) is fitted on the pooled analysed tokens of A, B and C at the layer (the centered vectors
when mean-centering is on: PCA removes their mean anyway, so only the target moves). Mean A, mean B and the
target tau = m_B + alpha (m_B - m_A) are placed with the same fitted projection, so the arrows
A -> B -> target are the true projections of the extrapolation.

``pca_2d`` is exact PCA, the same as scikit-learn's ``PCA(n_components=2, svd_solver="full")`` up to each
component's sign: the two leading eigenvectors of the centered scatter matrix X_c^T X_c [d, d] (float64), found
by LAPACK's MRRR solver for those two alone (``scipy.linalg.eigh(subset_by_index=...)``), without the full
decomposition, on one BLAS thread (the app fits layers in a background thread while the page is busy; two
BLAS threads on a shared 2-core machine wait on each other, measured up to 10x slower). With fewer tokens
than dimensions (n < d: the usual texts, a few dozen tokens against 768 dimensions) the same two eigenvectors
come from the small Gram matrix X_c X_c^T [n, n] instead: v = X_c^T u / sqrt(lambda). Signs follow scikit-learn's rule (each component's largest entry positive), so the same tokens
always give the same picture. (For 1,500 x 768 scikit-learn's default solver is randomized, and where the
leading eigenvalues are close its coordinates are far from the exact ones: benchmarks/bench_insight.py.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from threadpoolctl import ThreadpoolController

from .texts import TEXT_NAMES

_THREADS = ThreadpoolController()  # found once: a fresh threadpool_limits scans the loaded libraries (~1 ms)


@dataclass(frozen=True)
class PlanarPCA:
    """A fitted PCA: ``mean`` [d], ``components`` [k, d] (orthonormal rows, k <= 2) and
    ``explained_variance_ratio_`` [k], each component's share of the total variance."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio_: np.ndarray

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Coordinates of X [n, d] on the components: [n, k] float64."""
        return (np.asarray(X, dtype=np.float64) - self.mean) @ self.components.T


def pca_2d(X: np.ndarray) -> PlanarPCA:
    """The 2-component PCA of X [n, d] (n >= 2 rows), exact (module docstring)."""
    centered = np.array(X, dtype=np.float64)  # a copy, centered in place
    if centered.ndim != 2 or centered.shape[0] < 2:
        raise ValueError(f"PCA needs at least two vectors, got shape {centered.shape}.")
    mean = centered.mean(axis=0)
    centered -= mean
    total = float(np.einsum("ij,ij->", centered, centered))
    values, vectors = _leading_axes(centered, min(2, *centered.shape), total)
    components = vectors[:, ::-1].T  # largest first
    components *= np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])[:, None]
    ratio = np.clip(values[::-1], 0.0, None) / total if total > 0 else np.zeros(len(components))
    return PlanarPCA(mean, components, ratio)


def _leading_axes(centered: np.ndarray, k: int, total: float) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues [k] (ascending) of X_c^T X_c and their unit eigenvectors [d, k]."""
    n, d = centered.shape
    if n < d:  # through the Gram matrix, unless an axis has no variance (its direction is then arbitrary)
        values, u = _top_eigh(centered @ centered.T, k)
        if values[0] > 1e-12 * total:
            return values, (centered.T @ u) / np.sqrt(values)
    return _top_eigh(centered.T @ centered, k)


def _top_eigh(symmetric: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues (ascending) and eigenvectors of a symmetric matrix [m, m] it may overwrite."""
    m = len(symmetric)
    with _THREADS.limit(limits=1, user_api="blas"):  # LAPACK's many small steps only wait on a second thread
        return scipy.linalg.eigh(symmetric, subset_by_index=[m - k, m - 1], overwrite_a=True)


@dataclass(frozen=True)
class Geometry:
    """One layer's picture: ``points[name]`` [n_name, 2] for texts A, B, C; ``means`` [3, 2] for mean A,
    mean B and the target (in that order); ``explained`` [2] the fraction of the pooled tokens' variance
    on each axis."""

    layer: int
    points: dict[str, np.ndarray]
    means: np.ndarray
    explained: np.ndarray


def _plane(coords: np.ndarray) -> np.ndarray:
    """Coordinates with a second column of zeros when the tokens span only one direction."""
    return coords if coords.shape[1] == 2 else np.hstack([coords, np.zeros((len(coords), 2 - coords.shape[1]))])


class GeometryFits:
    """The fitted PCA of one Workbench per layer (fitted once per layer; alpha only moves the target)."""

    def __init__(self, bench):
        self.bench = bench
        self._fits: dict[int, tuple[PlanarPCA, dict[str, np.ndarray]]] = {}

    def fit(self, layer: int) -> tuple[PlanarPCA, dict[str, np.ndarray]]:
        if layer not in self._fits:
            X = {name: self.bench.X(name)[layer] for name in TEXT_NAMES}
            pca = pca_2d(np.concatenate([X[name] for name in TEXT_NAMES]))
            self._fits[layer] = (
                pca,
                {name: _plane(pca.transform(np.asarray(X[name], np.float64))) for name in TEXT_NAMES},
            )
        return self._fits[layer]

    def at(self, layer: int, alpha: float) -> Geometry:
        pca, points = self.fit(layer)
        result = self.bench.target(layer, alpha)
        means = _plane(pca.transform(np.stack([result.mean_a, result.mean_b, result.target])))
        explained = np.zeros(2)
        explained[: len(pca.explained_variance_ratio_)] = pca.explained_variance_ratio_
        return Geometry(layer, points, means, explained)
