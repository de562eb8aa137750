"""Top-k tables (core.ranking) against sorting loops: order, ties, k beyond the size, big matrices."""

from __future__ import annotations

import numpy as np
import pytest

from core.ranking import top_pairs, top_tokens


def _loop_top(scores: list[float], k: int) -> list[int]:
    """Reference: repeatedly take the first maximum among the indices not taken yet."""
    taken: list[int] = []
    for _ in range(min(k, len(scores))):
        best = None
        for index, value in enumerate(scores):
            if index not in taken and (best is None or value > scores[best]):
                best = index
        taken.append(best)
    return taken


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [0, 1, 3, 7, 50])
def test_top_tokens_equals_the_selection_loop(seed, k):
    rng = np.random.default_rng(seed)
    # Few distinct values, so that ties are common (also across the k-th boundary).
    scores = rng.integers(-3, 4, size=int(rng.integers(1, 20))) / 4.0
    indices, values = top_tokens(scores, k)
    expected = _loop_top(scores.tolist(), k)
    assert indices.tolist() == expected
    assert values.tolist() == [scores[i] for i in expected]
    assert indices.dtype == np.int64 and values.dtype == np.float64


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [0, 1, 4, 12, 1000])
def test_top_pairs_equals_the_selection_loop_in_row_major_order(seed, k):
    rng = np.random.default_rng(100 + seed)
    shape = tuple(int(n) for n in rng.integers(1, 9, size=2))
    P = rng.integers(-2, 3, size=shape) / 10.0
    pairs, values = top_pairs(P, k)
    expected = _loop_top(P.ravel().tolist(), k)  # row-major flat index = i * n_B + j
    assert pairs.tolist() == [[e // shape[1], e % shape[1]] for e in expected]
    assert values.tolist() == [P.ravel()[e] for e in expected]
    assert pairs.shape == (len(expected), 2) and pairs.dtype == np.int64


def test_first_entry_is_the_arg_max_that_spec_names():
    rng = np.random.default_rng(7)
    scores = rng.standard_normal(15)
    P = rng.standard_normal((28, 18)).astype(np.float32)
    assert top_tokens(scores, 5)[0][0] == np.argmax(scores)
    assert tuple(top_pairs(P, 5)[0][0]) == np.unravel_index(np.argmax(P), P.shape)


def test_all_equal_scores_keep_index_order():
    assert top_tokens(np.zeros(6), 4)[0].tolist() == [0, 1, 2, 3]
    assert top_pairs(np.ones((2, 3)), 4)[0].tolist() == [[0, 0], [0, 1], [0, 2], [1, 0]]


def test_a_big_matrix_agrees_with_a_full_stable_sort():
    rng = np.random.default_rng(3)
    P = np.round(rng.standard_normal((512, 512)), 2)  # many ties at 2 decimals
    pairs, values = top_pairs(P, 100)
    order = np.argsort(-P.ravel(), kind="stable")[:100]
    assert (pairs[:, 0] * 512 + pairs[:, 1]).tolist() == order.tolist()
    np.testing.assert_array_equal(values, P.ravel()[order])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="0 or more"):
        top_tokens(np.zeros(3), -1)
    with pytest.raises(TypeError, match="integer"):
        top_tokens(np.zeros(3), 2.5)
    with pytest.raises(ValueError, match="1 dimension"):
        top_tokens(np.zeros((2, 2)), 1)
    with pytest.raises(ValueError, match="2 dimensions"):
        top_pairs(np.zeros(3), 1)
    with pytest.raises(ValueError, match="NaN"):
        top_tokens(np.array([0.1, np.nan]), 1)
    assert top_pairs(np.zeros((0, 4)), 3)[0].shape == (0, 2)
