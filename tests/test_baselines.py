"""Null baselines (core.baselines) against direct loops, and the Workbench's centering and baseline methods."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics.pairwise import cosine_similarity

from core import analysis, baselines, ranking
from core.baselines import (
    Baseline,
    baseline,
    p_value,
    pair_random_direction_null,
    percentile,
    permutation_draws,
    permutation_null,
    permutation_null_layers,
    random_direction_null,
)
from core.cache import ActivationCache
from core.texts import DEFAULT_TEXTS
from core.workbench import Workbench, pooled_mean


def _texts(rng, counts=(6, 5, 4), d=32, layers=None, offset=2.0):
    shape = (lambda n: (n, d)) if layers is None else (lambda n: (layers, n, d))
    return tuple(rng.standard_normal(shape(n)) + offset for n in counts)


def _loop_null(A, B, C, alpha, n, seed):
    """Part 2's statistic for every permutation, one sklearn cosine per C token, from the same draws."""
    pool = np.concatenate([A, B, C]).astype(np.float64)
    idx_a, idx_b = permutation_draws(len(pool), len(A), len(B), n, seed)
    out = []
    for rows_a, rows_b in zip(idx_a, idx_b, strict=True):
        mean_a, mean_b = pool[rows_a].mean(axis=0), pool[rows_b].mean(axis=0)
        target = mean_b + alpha * (mean_b - mean_a)
        out.append(max(cosine_similarity(c[None, :], target[None, :])[0, 0] for c in np.asarray(C, np.float64)))
    return np.array(out)


# The draws


def test_draws_are_disjoint_subsets_of_the_pool_without_replacement():
    idx_a, idx_b = permutation_draws(20, 6, 5, 300, seed=1)
    assert idx_a.shape == (300, 6) and idx_b.shape == (300, 5)
    both = np.concatenate([idx_a, idx_b], axis=1)
    assert both.min() >= 0 and both.max() < 20
    assert all(len(set(row)) == 11 for row in both.tolist())
    # Every pool position is drawn for A about equally often (6/20 of the time).
    counts = np.bincount(idx_a.ravel(), minlength=20) / 300
    assert np.abs(counts - 6 / 20).max() < 0.1


def test_draws_are_seeded_and_do_not_depend_on_the_chunk_size(monkeypatch):
    first = permutation_draws(30, 7, 4, 50, seed=5)
    again = permutation_draws(30, 7, 4, 50, seed=5)
    other = permutation_draws(30, 7, 4, 50, seed=6)
    monkeypatch.setattr(baselines, "NULL_CHUNK_ELEMENTS", 64)  # two permutations per chunk
    chunked = permutation_draws(30, 7, 4, 50, seed=5)
    for a, b, c in zip(first, again, chunked, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not np.array_equal(first[0], other[0])


def test_draws_refuse_an_impossible_split():
    with pytest.raises(ValueError, match="cannot draw"):
        permutation_draws(10, 6, 5, 3)
    with pytest.raises(ValueError, match="seed"):
        permutation_draws(10, 2, 2, 3, seed=-1)
    with pytest.raises(ValueError, match="n must be 1 or more"):
        permutation_draws(10, 2, 2, 0)


# The permutation null against the direct loop


@pytest.mark.parametrize("alpha", [1.0, -0.5, 3.0, 0.0])
@pytest.mark.parametrize(
    "counts, d", [((6, 5, 4), 32), ((7, 5, 4), 8), ((3, 3, 3), 9)], ids=["gram (pool < d)", "direct", "pool = d"]
)
def test_permutation_statistic_equals_the_direct_loop(counts, d, alpha):
    A, B, C = _texts(np.random.default_rng(d), counts, d)
    np.testing.assert_allclose(
        permutation_null(A, B, C, alpha, 60, seed=3), _loop_null(A, B, C, alpha, 60, 3), atol=1e-12
    )


def test_permutation_statistic_is_exact_where_the_gram_form_cancels(monkeypatch):
    """Vectors sharing a huge common component, alpha 1e6: tau is tiny beside its terms (recomputed directly)."""
    rng = np.random.default_rng(11)
    common = rng.standard_normal(64) * 1000
    A, B, C = (common + 1e-3 * rng.standard_normal((n, 64)) for n in (6, 5, 4))
    expected = {alpha: _loop_null(A, B, C, alpha, 40, 0) for alpha in (1e6, -1e9)}
    for alpha in expected:
        np.testing.assert_allclose(permutation_null(A, B, C, alpha, 40), expected[alpha], atol=1e-9)
    monkeypatch.setattr(baselines, "NULL_CHUNK_ELEMENTS", 64 * 16)  # the recomputed draws in several chunks
    np.testing.assert_allclose(permutation_null(A, B, C, 1e6, 40), expected[1e6], atol=1e-9)
    monkeypatch.setattr(baselines, "_NULL_MAX_CANCELLATION", np.inf)  # the Gram form alone is not good enough here
    assert np.abs(permutation_null(A, B, C, 1e6, 40) - expected[1e6]).max() > 1e-7


def test_zero_vectors_give_cosine_zero():
    rng = np.random.default_rng(2)
    A, B, C = _texts(rng, (4, 4, 3), 16)
    C[1] = 0
    np.testing.assert_allclose(permutation_null(A, B, C, 1.0, 30), _loop_null(A, B, C, 1.0, 30, 0), atol=1e-12)
    zeros = np.zeros((3, 16))
    assert (permutation_null(zeros, zeros, zeros, 1.0, 5) == 0).all()


def test_every_layer_at_once_equals_each_layer_alone(monkeypatch):
    XA, XB, XC = _texts(np.random.default_rng(4), (5, 6, 3), 24, layers=3)
    together = permutation_null_layers(XA, XB, XC, 1.5, 70, seed=9)
    assert together.shape == (3, 70)
    for layer in range(3):
        np.testing.assert_allclose(
            together[layer], permutation_null(XA[layer], XB[layer], XC[layer], 1.5, 70, 9), atol=1e-12
        )
    monkeypatch.setattr(baselines, "NULL_CHUNK_ELEMENTS", 200)  # several chunks of permutations
    np.testing.assert_allclose(permutation_null_layers(XA, XB, XC, 1.5, 70, seed=9), together, atol=1e-12)


def test_seeded_runs_are_reproducible_and_seeds_differ():
    A, B, C = _texts(np.random.default_rng(8), (6, 5, 4), 32)
    first = permutation_null(A, B, C, 1.0, 200, seed=42)
    np.testing.assert_array_equal(first, permutation_null(A, B, C, 1.0, 200, seed=42))
    assert not np.array_equal(first, permutation_null(A, B, C, 1.0, 200, seed=43))
    directions = random_direction_null(C, 200, seed=42)
    np.testing.assert_array_equal(directions, random_direction_null(C, 200, seed=42))
    assert not np.array_equal(directions, random_direction_null(C, 200, seed=43))
    pairs = pair_random_direction_null(C, 30, 1, 200, seed=42)
    np.testing.assert_array_equal(pairs, pair_random_direction_null(C, 30, 1, 200, seed=42))
    assert not np.array_equal(pairs, pair_random_direction_null(C, 30, 1, 200, seed=43))


def test_the_observed_split_is_one_of_the_permutations():
    """A draw that reproduces the texts' own split gives the observed Part 2 statistic."""
    A, B, C = _texts(np.random.default_rng(12), (2, 1, 1), 8)  # pool of 4: 12 ordered splits
    observed = analysis.token_average_target(A, B, C, 1.0).target_cosines.max()
    idx_a, idx_b = permutation_draws(4, 2, 1, 400, seed=0)
    own = [i for i in range(400) if set(idx_a[i]) == {0, 1} and idx_b[i, 0] == 2]
    assert own
    np.testing.assert_allclose(permutation_null(A, B, C, 1.0, 400)[own], observed, atol=1e-12)


def test_shapes_are_checked():
    A, B, C = _texts(np.random.default_rng(0), (3, 3, 3), 8)
    with pytest.raises(ValueError, match="width"):
        permutation_null(A, B, C[:, :4])
    with pytest.raises(ValueError, match="2 dimensions"):
        permutation_null(A[None], B, C)
    with pytest.raises(ValueError, match="no tokens"):
        permutation_null(A[:0], B, C)
    with pytest.raises(ValueError, match="finite"):
        permutation_null(A, B, C, alpha=float("nan"))


# Random directions


def test_random_direction_null_equals_the_loop_over_the_same_directions(monkeypatch):
    C = _texts(np.random.default_rng(5), (4,), 12)[0]
    C[2] = 0
    null = random_direction_null(C, 50, seed=7)
    U = np.random.default_rng(7).standard_normal((50, 12))
    expected = [max(cosine_similarity(c[None, :], u[None, :])[0, 0] for c in C) for u in U]
    np.testing.assert_allclose(null, expected, atol=1e-12)
    monkeypatch.setattr(baselines, "NULL_CHUNK_ELEMENTS", 24)  # two directions per chunk
    np.testing.assert_allclose(random_direction_null(C, 50, seed=7), null, atol=1e-12)


def _ks_statistic(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    grid = np.concatenate([x, y])
    return float(
        np.abs(
            np.searchsorted(np.sort(x), grid, "right") / len(x) - np.searchsorted(np.sort(y), grid, "right") / len(y)
        ).max()
    )


def test_pair_null_has_the_distribution_of_the_best_of_n_random_directions():
    """Sampled as z / sqrt(z^2 + chi^2(d-1)): the same law as the best cosine of n explicit Gaussian directions."""
    d, n_pairs, draws = 16, 20, 3000
    C = _texts(np.random.default_rng(6), (3,), d)[0]
    null = pair_random_direction_null(C, n_pairs, 1, draws, seed=1)
    U = np.random.default_rng(2).standard_normal((draws, n_pairs, d))
    explicit = (U @ (C[1] / np.linalg.norm(C[1])) / np.linalg.norm(U, axis=2)).max(axis=1)
    assert _ks_statistic(null, explicit) < 1.95 * np.sqrt(2 / draws)  # the 0.1% critical value
    assert _ks_statistic(null, explicit + 0.02) > 1.95 * np.sqrt(2 / draws)  # and the test can tell a shift
    assert null.shape == (draws,) and (np.abs(null) <= 1).all()
    single = pair_random_direction_null(C, 1, 0, draws, seed=3)
    assert abs(single.mean()) < 0.02 and single.std() == pytest.approx(1 / np.sqrt(d), rel=0.1)


def test_pair_null_chunks_keep_the_values_and_zero_token_gives_zero(monkeypatch):
    C = _texts(np.random.default_rng(6), (3,), 16)[0]
    monkeypatch.setattr(baselines, "NULL_CHUNK_ELEMENTS", 7)  # directions split inside one draw
    small = pair_random_direction_null(C, 20, 1, 10, seed=1)
    assert small.shape == (10,) and (np.abs(small) <= 1).all()
    C[2] = 0
    assert (pair_random_direction_null(C, 20, 2, 10) == 0).all()
    with pytest.raises(IndexError, match="out of range"):
        pair_random_direction_null(C, 20, 3, 10)
    assert set(pair_random_direction_null(np.ones((2, 1)), 3, 0, 50).tolist()) <= {-1.0, 1.0}


# p-values and percentiles


def test_p_value_and_percentile_edge_cases():
    null = np.array([0.1, 0.2, 0.3, 0.4])
    assert p_value(0.5, null) == 1 / 5 and percentile(0.5, null) == 100.0  # above every null value
    assert p_value(0.0, null) == 1.0 and percentile(0.0, null) == 0.0  # below every null value
    assert p_value(0.3, null) == 3 / 5 and percentile(0.3, null) == 50.0  # ties count against (p) / not below
    assert p_value(0.3, np.full(9, 0.3)) == 1.0 and percentile(0.3, np.full(9, 0.3)) == 0.0
    assert p_value(1.0, [0.0]) == 0.5
    for function in (p_value, percentile, baseline):
        with pytest.raises(ValueError, match="empty"):
            function(0.5, [])
        with pytest.raises(ValueError, match="NaN"):
            function(float("nan"), null)


def test_baseline_gathers_the_null_summary():
    null = np.arange(100) / 100
    result = baseline(0.905, null)
    assert result == Baseline(0.905, float(null.mean()), float(np.percentile(null, 95)), 10 / 101, 91.0, 100)
    assert result.to_dict() == {
        "observed": 0.905, "null_mean": pytest.approx(0.495), "null_p95": pytest.approx(0.9405), "p_value": 10 / 101,
        "percentile": 91.0, "n": 100,
    }  # fmt: skip


# Workbench: centering and the memoised top-k and baseline methods


@pytest.fixture(scope="module")
def benches(tiny_gpt2):
    cache = ActivationCache()
    return {
        center: Workbench.build(tiny_gpt2, cache, DEFAULT_TEXTS, "mlp_out", True, center=center)
        for center in (False, True)
    }


def test_centered_vectors_have_zero_pooled_mean_at_every_layer(benches):
    raw, centered = benches[False], benches[True]
    assert not raw.center and raw.mean is None and centered.center
    pooled = np.concatenate([centered.X(name) for name in "ABC"], axis=1).astype(np.float64)
    scale = np.abs(np.concatenate([raw.X(name) for name in "ABC"], axis=1)).max()
    assert np.abs(pooled.mean(axis=1)).max() < 1e-6 * scale
    np.testing.assert_allclose(centered.mean, pooled_mean(raw.X("A"), raw.X("B"), raw.X("C")))
    for name in "ABC":
        assert centered.X(name).dtype == np.float32
        np.testing.assert_allclose(centered.X(name), raw.X(name) - centered.mean[:, None, :], atol=1e-5 * scale)
        assert centered.texts[name].X is raw.texts[name].X or np.array_equal(centered.texts[name].X, raw.texts[name].X)
        np.testing.assert_allclose(centered.norms[name], analysis.norms(centered.X(name)))


def test_centering_changes_the_cosines_of_every_part(benches):
    raw, centered = benches[False], benches[True]
    assert not np.allclose(raw.sweep(1.0), centered.sweep(1.0), atol=1e-3)
    assert not np.allclose(raw.pair_matrix(2, 0, 1.0), centered.pair_matrix(2, 0, 1.0), atol=1e-3)
    assert not np.allclose(raw.max_pairs(1.0)[0], centered.max_pairs(1.0)[0], atol=1e-3)
    assert not np.allclose(raw.norms["A"], centered.norms["A"], atol=1e-3)
    X = {name: centered.X(name)[2] for name in "ABC"}
    np.testing.assert_allclose(
        centered.target(2, 1.0).target_cosines, analysis.token_average_target(X["A"], X["B"], X["C"]).target_cosines
    )


def test_workbench_top_k_tables_are_the_ranking_of_its_results(benches):
    bench = benches[True]
    indices, values = bench.top_tokens(2, 1.0, 4)
    assert indices[0] == bench.target(2, 1.0).recommended
    np.testing.assert_array_equal(values, bench.target(2, 1.0).target_cosines[indices])
    pairs, pair_values = bench.top_pairs(2, 3, 1.0, 6)
    expected = ranking.top_pairs(bench.pair_matrix(2, 3, 1.0), 6)
    np.testing.assert_array_equal(pairs, expected[0])
    np.testing.assert_array_equal(pair_values, expected[1])
    with pytest.raises(IndexError, match="Token 99"):
        bench.top_pairs(2, 99, 1.0, 3)
    with pytest.raises(IndexError, match="Layer -1"):
        bench.top_tokens(-1, 1.0, 3)


def test_workbench_baselines_agree_with_each_other_and_are_seeded(benches, tiny_gpt2):
    bench = benches[False]
    both = bench.baseline(2, 1.0, 300, seed=4)
    assert both.permutation.observed == both.random_directions.observed == bench.recommendations(1.0)[1][2]
    assert both.permutation.n == both.random_directions.n == 300
    X = {name: bench.X(name)[2] for name in "ABC"}
    assert both.permutation == baseline(
        both.permutation.observed, permutation_null(X["A"], X["B"], X["C"], 1.0, 300, 4)
    )
    per_layer = bench.layer_baselines(1.0, 300, seed=4)
    assert len(per_layer) == bench.n_layers and per_layer[2] == both.permutation
    pair = bench.pair_baseline(2, 5, 1.0, 300, seed=4)
    assert pair.observed == pytest.approx(bench.pair_matrix(2, 5, 1.0).max())
    assert 0 < pair.p_value <= 1 and pair.n == 300
    fresh = Workbench.build(tiny_gpt2, ActivationCache(), DEFAULT_TEXTS, "mlp_out", True)
    assert fresh.baseline(2, 1.0, 300, seed=4) == both and fresh.pair_baseline(2, 5, 1.0, 300, seed=4) == pair
    assert fresh.baseline(2, 1.0, 300, seed=5).permutation != both.permutation
