"""The geometry view's coordinates: scikit-learn's PCA of the pooled tokens, the means placed with it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from core.cache import ActivationCache
from core.geometry import GeometryFits, pca_2d
from core.texts import DEFAULT_TEXTS, TEXT_NAMES
from core.workbench import Workbench


def same_up_to_sign(ours: np.ndarray, theirs: np.ndarray) -> None:
    for column in range(theirs.shape[1]):
        sign = np.sign(ours[:, column] @ theirs[:, column]) or 1.0
        np.testing.assert_allclose(ours[:, column], sign * theirs[:, column], atol=1e-6)


@pytest.mark.parametrize("center", [False, True])
def test_coordinates_equal_sklearns_pca_of_the_pooled_tokens(tiny_gpt2, center):
    bench = Workbench.build(tiny_gpt2, ActivationCache(), dict(DEFAULT_TEXTS), "mlp_out", True, center=center)
    layer = 2
    geometry = GeometryFits(bench).at(layer, 1.0)
    pooled = np.concatenate([bench.X(name)[layer] for name in TEXT_NAMES]).astype(np.float64)
    reference = PCA(n_components=2).fit(pooled)
    ours = np.concatenate([geometry.points[name] for name in TEXT_NAMES])
    same_up_to_sign(ours, reference.transform(pooled))
    np.testing.assert_allclose(geometry.explained, reference.explained_variance_ratio_, rtol=1e-6)
    result = bench.target(layer, 1.0)
    same_up_to_sign(
        np.vstack([ours, geometry.means]),
        reference.transform(np.vstack([pooled, [result.mean_a, result.mean_b, result.target]])),
    )


def test_pca_is_exact_on_wide_inputs_with_close_eigenvalues():
    """Random vectors (leading eigenvalues within a few percent of each other) of a size where scikit-learn's
    default solver is randomized: the coordinates still equal its exact ("full") solver's."""
    X = np.random.default_rng(5).standard_normal((700, 600)) + 3.0
    reference = PCA(n_components=2, svd_solver="full").fit(X)
    ours = pca_2d(X)
    same_up_to_sign(ours.transform(X), reference.transform(X))
    np.testing.assert_allclose(ours.explained_variance_ratio_, reference.explained_variance_ratio_, rtol=1e-9)
    np.testing.assert_allclose(ours.components @ ours.components.T, np.eye(2), atol=1e-12)


def test_two_tokens_span_one_direction():
    X = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    fit = pca_2d(X)
    np.testing.assert_allclose(fit.explained_variance_ratio_, [1.0, 0.0], atol=1e-12)
    same_up_to_sign(fit.transform(X)[:, :1], PCA(n_components=1).fit(X).transform(X))


def test_the_target_lies_one_alpha_step_beyond_b_along_a_to_b(tiny_gpt2):
    bench = Workbench.build(tiny_gpt2, ActivationCache(), dict(DEFAULT_TEXTS), "mlp_out", True)
    a, b, target = GeometryFits(bench).at(1, 2.0).means
    np.testing.assert_allclose(target, b + 2.0 * (b - a), atol=1e-6)


def test_pca_needs_two_vectors():
    with pytest.raises(ValueError, match="at least two vectors"):
        pca_2d(np.ones((1, 8)))
