"""The A -> B -> target geometry: the three texts' tokens at one layer in the plane of their first two
principal components.

scikit-learn's PCA (2 components, its default solver: exact for small inputs, randomized with a fixed
seed for large ones, so the same tokens always give the same picture) is fitted on the pooled analysed tokens of A, B and C at
the layer (the centered vectors when mean-centering is on: PCA removes their mean anyway, so only the
target moves). Mean A, mean B and the target tau = m_B + alpha (m_B - m_A) are placed with the same
fitted projection, so the arrows A -> B -> target are the true projections of the extrapolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

from .texts import TEXT_NAMES


def pca_2d(X: np.ndarray) -> PCA:
    """A 2-component PCA fitted on X [n, d] (n >= 2 rows); deterministic (seeded)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"PCA needs at least two vectors, got shape {X.shape}.")
    return PCA(n_components=min(2, *X.shape), random_state=0).fit(X)


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
        self._fits: dict[int, tuple[PCA, dict[str, np.ndarray]]] = {}

    def fit(self, layer: int) -> tuple[PCA, dict[str, np.ndarray]]:
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
