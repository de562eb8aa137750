"""Permutation tests (core.baselines) against direct loops of their definitions, their family-wise error under
a synthetic null, and the Workbench's centering and memoised test methods."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics.pairwise import cosine_similarity

from core import analysis, baselines, ranking
from core.baselines import (
    Baseline,
    baseline,
    maxt_p_values,
    p_value,
    p_values,
    pair_statistics,
    percentile,
    permutation_draws,
    permutation_null,
    target_statistics,
)
from core.cache import ActivationCache
from core.texts import DEFAULT_TEXTS
from core.workbench import Workbench, pooled_mean


def _texts(rng, counts=(6, 5, 4), d=32, layers=None, offset=2.0):
    shape = (lambda n: (n, d)) if layers is None else (lambda n: (layers, n, d))
    return tuple(rng.standard_normal(shape(n)) + offset for n in counts)


def _loop_null(A, B, C, alpha, n, seed, pool_c=False):
    """The definition, one permutation and one sklearn cosine at a time: pool A and B (and C only when
    ``pool_c``, the old, wrong null), give the drawn rows to A and B, max_k cos(c_k, m_B' + alpha (m_B' - m_A'))."""
    pool = np.concatenate([A, B, C] if pool_c else [A, B]).astype(np.float64)
    if pool_c:
        rng = np.random.default_rng(seed)
        draws = [np.argsort(rng.random(len(pool)))[: len(A) + len(B)] for _ in range(n)]
        idx_a, idx_b = [d[: len(A)] for d in draws], [d[len(A) :] for d in draws]
    else:
        idx_a, idx_b = permutation_draws(len(A), len(B), n, seed)
    out = []
    for rows_a, rows_b in zip(idx_a, idx_b, strict=True):
        mean_a, mean_b = pool[rows_a].mean(axis=0), pool[rows_b].mean(axis=0)
        target = mean_b + alpha * (mean_b - mean_a)
        out.append(max(cosine_similarity(c[None, :], target[None, :])[0, 0] for c in np.asarray(C, np.float64)))
    return np.array(out)


def _loop_pair_null(XA, XB, XC, alpha, n, seed):
    """Part 5's statistic for every draw, each draw's A and B rows through core.analysis.max_pair_cosines."""
    pool = np.concatenate([XA, XB], axis=1)
    idx_a, idx_b = permutation_draws(XA.shape[1], XB.shape[1], n, seed)
    return np.stack(
        [analysis.max_pair_cosines(pool[:, a], pool[:, b], XC, alpha)[0] for a, b in zip(idx_a, idx_b, strict=True)], -1
    )


# The draws


def test_draws_split_the_pooled_a_and_b_tokens_without_replacement():
    idx_a, idx_b = permutation_draws(6, 5, 300, seed=1)
    assert idx_a.shape == (300, 6) and idx_b.shape == (300, 5)
    both = np.sort(np.concatenate([idx_a, idx_b], axis=1), axis=1)
    assert (both == np.arange(11)).all()  # every draw splits the whole pool of A and B, and nothing else
    counts = np.bincount(idx_a.ravel(), minlength=11) / 300
    assert np.abs(counts - 6 / 11).max() < 0.1  # every token goes to A about equally often


def test_draws_are_seeded_and_do_not_depend_on_the_chunk_size(monkeypatch):
    first = permutation_draws(7, 4, 50, seed=5)
    again = permutation_draws(7, 4, 50, seed=5)
    other = permutation_draws(7, 4, 50, seed=6)
    monkeypatch.setattr(baselines, "NULL_CHUNK_ELEMENTS", 22)  # two permutations per chunk
    chunked = permutation_draws(7, 4, 50, seed=5)
    for a, b, c in zip(first, again, chunked, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not np.array_equal(first[0], other[0])
    with pytest.raises(ValueError, match="seed"):
        permutation_draws(2, 2, 3, seed=-1)
    with pytest.raises(ValueError, match="n must be 1 or more"):
        permutation_draws(2, 2, 0)


# Parts 2-3: the permutation null against the direct loop of its definition


@pytest.mark.parametrize("alpha", [1.0, -0.5, 3.0, 0.0])
@pytest.mark.parametrize(
    "counts, d", [((6, 5, 4), 32), ((7, 5, 4), 8), ((3, 3, 3), 6)], ids=["gram (pool < d)", "direct", "pool = d"]
)
def test_permutation_statistic_equals_the_direct_loop(counts, d, alpha):
    A, B, C = _texts(np.random.default_rng(d), counts, d)
    null = permutation_null(A, B, C, alpha, 60, seed=3)
    assert null.dtype == np.float64
    np.testing.assert_allclose(null, _loop_null(A, B, C, alpha, 60, 3), rtol=0, atol=1e-10)


def test_c_is_never_in_the_pool():
    """A and B share no token with C, and C points elsewhere: pooling C would change the null a lot."""
    rng = np.random.default_rng(21)
    A, B = (rng.standard_normal((n, 24)) + 3.0 for n in (6, 5))
    C = rng.standard_normal((4, 24)) - 3.0
    null = permutation_null(A, B, C, 1.0, 200, seed=2)
    np.testing.assert_allclose(null, _loop_null(A, B, C, 1.0, 200, 2), rtol=0, atol=1e-10)
    wrong = _loop_null(A, B, C, 1.0, 200, 2, pool_c=True)
    assert abs(wrong.mean() - null.mean()) > 0.2
    # The null depends on A and B only through their pooled tokens: swapping a token between them keeps it.
    A2, B2 = A.copy(), B.copy()
    A2[0], B2[0] = B[0], A[0]
    swapped = np.concatenate([A2, B2])
    order = [list(map(tuple, swapped)).index(tuple(row)) for row in np.concatenate([A, B])]
    assert sorted(order) == list(range(11))
    assert np.isclose(np.sort(permutation_null(A2, B2, C, 1.0, 4000, 2)).mean(), null.mean(), atol=0.02)


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


def test_every_layer_at_once_equals_each_layer_alone_and_the_observed_split(monkeypatch):
    XA, XB, XC = _texts(np.random.default_rng(4), (5, 6, 3), 24, layers=3)
    observed, together = target_statistics(XA, XB, XC, 1.5, 70, seed=9)
    assert together.shape == (3, 70)
    np.testing.assert_allclose(observed, analysis.layer_sweep(XA, XB, XC, 1.5).max(axis=1), atol=1e-12)
    for layer in range(3):
        np.testing.assert_allclose(
            together[layer], permutation_null(XA[layer], XB[layer], XC[layer], 1.5, 70, 9), atol=1e-12
        )
    monkeypatch.setattr(baselines, "NULL_CHUNK_ELEMENTS", 200)  # several chunks of permutations
    np.testing.assert_allclose(target_statistics(XA, XB, XC, 1.5, 70, seed=9)[1], together, atol=1e-12)


def test_seeded_runs_are_reproducible_and_seeds_differ():
    A, B, C = _texts(np.random.default_rng(8), (6, 5, 4), 32)
    first = permutation_null(A, B, C, 1.0, 200, seed=42)
    np.testing.assert_array_equal(first, permutation_null(A, B, C, 1.0, 200, seed=42))
    assert not np.array_equal(first, permutation_null(A, B, C, 1.0, 200, seed=43))


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


# Parts 4-5: the best pair of every C token under the same draws


@pytest.mark.parametrize("alpha", [1.0, -2.0])
def test_pair_statistic_equals_the_loop_over_draws(alpha):
    XA, XB, XC = _texts(np.random.default_rng(7), (6, 5, 4), 16, layers=2)
    observed, null = pair_statistics(XA, XB, XC, alpha, 80, seed=1)
    assert observed.shape == (2, 4) and null.shape == (2, 4, 80)
    np.testing.assert_allclose(null, _loop_pair_null(XA, XB, XC, alpha, 80, 1), rtol=0, atol=1e-6)
    np.testing.assert_allclose(observed, analysis.max_pair_cosines(XA, XB, XC, alpha)[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("alpha", [1.0, -2.0, 1e6])
def test_pooled_pair_cosines_equal_their_definition_also_where_the_two_terms_cancel(alpha):
    """Q[l, k, u, v] = cos(x_v + alpha (x_v - x_u), c_k) for every ordered pair of distinct pooled rows, one
    sklearn cosine at a time; rows 0 and 1 nearly equal and a zero row make the Gram form cancel or vanish."""
    XA, XB, XC = _texts(np.random.default_rng(11), (4, 3, 2), 16, layers=2)
    XA[:, 1] = XA[:, 0] + 1e-7 * XB[:, 0]
    XB[:, 2] = 0.0
    pool = np.concatenate([XA, XB], axis=1)
    Q = baselines._pool_pairs(pool, XC, alpha).reshape(2, 2, 7, 7)
    for layer, k, u, v in np.ndindex(Q.shape):
        if u == v:
            assert Q[layer, k, u, v] == -np.inf
            continue
        target = pool[layer, v] + alpha * (pool[layer, v] - pool[layer, u])
        expected = cosine_similarity(target[None], XC[layer, k][None])[0, 0]
        assert Q[layer, k, u, v] == pytest.approx(expected, abs=1e-6), (layer, k, u, v)


def test_pair_statistic_is_the_same_through_every_search_path(monkeypatch):
    """Short lists and windows force the masked search of Q; a pool wider than 64 rows uses several bit words."""
    XA, XB, XC = _texts(np.random.default_rng(9), (6, 5, 4), 16, layers=2)
    expected = pair_statistics(XA, XB, XC, 1.0, 60, seed=3)
    monkeypatch.setattr(baselines, "_LISTED_PAIRS", 3)
    monkeypatch.setattr(baselines, "_WINDOWS", (1, 3))
    monkeypatch.setattr(baselines, "NULL_CHUNK_ELEMENTS", 500)
    for got, want in zip(pair_statistics(XA, XB, XC, 1.0, 60, seed=3), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    XA, XB, XC = _texts(np.random.default_rng(10), (40, 30, 2), 8, layers=1)
    observed, null = pair_statistics(XA, XB, XC, 1.0, 20, seed=0)
    np.testing.assert_allclose(null, _loop_pair_null(XA, XB, XC, 1.0, 20, 0), rtol=0, atol=1e-6)


# Family-wise correction


def test_maxt_correction_is_never_below_the_uncorrected_p_value_and_equals_it_for_one_test():
    rng = np.random.default_rng(0)
    null = rng.standard_normal((5, 300)) * np.arange(1, 6)[:, None]  # nulls of different spreads
    observed = np.array([0.5, 3.0, 1.0, 12.0, -1.0])
    raw, corrected = p_values(observed, null), maxt_p_values(observed, null)
    assert (corrected >= raw).all() and (corrected <= 1).all() and raw[3] < 0.01
    np.testing.assert_array_equal(maxt_p_values(observed[:1], null[:1]), raw[:1])
    assert maxt_p_values(np.array([1.0, 2.0]), np.ones((2, 9)))[0] == 1.0  # a constant statistic never beats


def test_family_wise_error_is_controlled_under_a_synthetic_null():
    """I.i.d. activations (A and B truly exchangeable): over many data sets, 'some layer has p < 0.05' happens
    at about 5% after correction (within its 99.9% binomial interval), far more often without it. Part 5's
    corrected map stays at or below 5% (its statistic is conservative: see the next test)."""
    runs, layers, n = 300, 6, 99
    any_raw = any_corrected = any_cell_raw = any_cell_corrected = 0
    for seed in range(runs):
        XA, XB, XC = _texts(np.random.default_rng(1000 + seed), (8, 7, 3), 8, layers=layers, offset=0.0)
        observed, null = target_statistics(XA, XB, XC, 1.0, n, seed)
        any_raw += bool((p_values(observed, null) <= 0.05).any())
        any_corrected += bool((maxt_p_values(observed, null) <= 0.05).any())
        observed, null = pair_statistics(XA, XB, XC, 1.0, n, seed)
        any_cell_raw += bool((p_values(observed, null) <= 0.05).any())
        any_cell_corrected += bool((maxt_p_values(observed, null) <= 0.05).any())
    half_width = 3.3 * np.sqrt(0.05 * 0.95 / runs)
    assert abs(any_corrected / runs - 0.05) < half_width, any_corrected / runs
    assert any_cell_corrected / runs < 0.05 + half_width, any_cell_corrected / runs
    assert any_raw / runs > 0.05 + 2 * half_width
    assert any_cell_corrected <= any_cell_raw


def test_a_best_pair_can_only_be_beaten_by_chance_as_often_as_its_two_tokens_keep_their_sides():
    """Every draw that gives the observed best pair's A token to A and its B token to B reaches the observed
    value, so p >= about n_A n_B / (n_pool (n_pool - 1)) (0.24 for the default texts' 28 and 18 tokens)."""
    XA, XB, XC = _texts(np.random.default_rng(3), (8, 7, 3), 8, layers=2, offset=0.0)
    XB[:, 0] = XC[:, 0] * 5  # B holds a token pointing right at C's first token: a very high observed value
    observed, null = pair_statistics(XA, XB, XC, 1.0, 2000, seed=0)
    floor = baselines.best_pair_floor(8, 7)
    assert floor == pytest.approx(8 * 7 / (15 * 14))
    assert p_values(observed, null).min() > floor - 4 * np.sqrt(floor * (1 - floor) / 2000)


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


def test_workbench_tests_are_memoised_seeded_and_agree_with_the_core(benches, tiny_gpt2):
    bench = benches[False]
    tests = bench.layer_tests(1.0, 300, seed=4)
    assert len(tests.baselines) == bench.n_layers and tests.baselines[2].n == 300
    X = {name: bench.X(name)[2] for name in "ABC"}
    assert tests.baselines[2] == baseline(
        tests.baselines[2].observed, permutation_null(X["A"], X["B"], X["C"], 1.0, 300, 4)
    )
    assert tests.baselines[2].observed == pytest.approx(bench.recommendations(1.0)[1][2], abs=1e-12)
    np.testing.assert_array_equal(tests.family.p_values, [b.p_value for b in tests.baselines])
    assert bench.layer_tests(1.0, 300, seed=4) is tests
    cells = bench.pair_tests(1.0, 300, seed=4)
    assert cells.p_corrected.shape == (bench.n_layers, len(bench.labels("C")))
    np.testing.assert_allclose(cells.observed, bench.max_pairs(1.0)[0], atol=1e-6)
    assert bench.pair_tests(1.0, 300, seed=4) is cells
    fresh = Workbench.build(tiny_gpt2, ActivationCache(), DEFAULT_TEXTS, "mlp_out", True)
    np.testing.assert_array_equal(fresh.pair_tests(1.0, 300, seed=4).p_corrected, cells.p_corrected)
    assert fresh.layer_tests(1.0, 300, seed=5).baselines != tests.baselines


def test_pair_tests_are_off_for_texts_too_long(benches, monkeypatch):
    from core import workbench

    monkeypatch.setattr(workbench, "PAIR_TEST_LIMIT", 10)
    assert not benches[True].pair_tests_available() and benches[True].pair_tests(1.0, 50, seed=0) is None
