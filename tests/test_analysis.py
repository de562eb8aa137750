"""The five parts of SPEC.md equal the textbook's definitions computed directly, one cosine at a time.

The reference (tests/textbook.py) loops element by element with one sklearn ``cosine_similarity`` per
cosine, in float64. SPEC.md's tolerances: 1e-5 absolute on cosines, 1e-4 relative on norms, and the
same arg-max choices except where the two candidates differ by less than 1e-6.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from core import analysis
from core.cache import ActivationCache
from core.texts import DEFAULT_TEXTS, analyse_texts
from tests import textbook

COSINE_TOL = 1e-5
NORM_RTOL = 1e-4
TIE = 1e-6

ALPHAS = [1.0, 0.0, -1.0, 0.5, 2.5, 1e12, -1e12]

# name -> (layers, n_A, n_B, n_C, d, how the rows are made)
CASES = {
    "several tokens": (3, 5, 4, 6, 16, "random"),
    "one token per text": (2, 1, 1, 1, 8, "random"),
    "one A token, several B and C": (2, 1, 3, 2, 8, "random"),
    "zero vectors": (2, 4, 3, 5, 8, "zeros"),
    "B is A (the same text twice)": (2, 4, 4, 3, 8, "same"),
    "A is exactly 2 B (targets cancel to zero at alpha 1)": (2, 3, 3, 4, 8, "double"),
}


@cache
def arrays(case: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """XA, XB, XC [L, n, d] float32 for ``case``: random rows with norms spread over three decades."""
    layers, n_a, n_b, n_c, d, kind = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case))

    def rows(n: int) -> np.ndarray:
        scale = 10.0 ** rng.uniform(-1, 2, size=(layers, n, 1))
        return (rng.normal(size=(layers, n, d)) * scale).astype(np.float32)

    XA, XB, XC = rows(n_a), rows(n_b), rows(n_c)
    if kind == "zeros":  # a zero row in every text, and in C the first row: its cosines are 0
        XA[:, 1] = 0
        XB[:, 2] = 0
        XC[:, 0] = 0
    elif kind == "same":
        XB = XA.copy()
    elif kind == "double":
        XA = 2 * XB
    return XA, XB, XC


@cache
def reference(case: str, alpha: float):
    """Every part by the textbook's loops: norms, Part 2 per layer, Part 3 sweep, P per layer, Part 5."""
    XA, XB, XC = arrays(case)
    part2 = [textbook.token_average_target(XA[i], XB[i], XC[i], alpha) for i in range(len(XA))]
    M, pairs, Ps = textbook.max_pair_cosines(XA, XB, XC, alpha)
    return {
        "norms": [textbook.norms(X) for X in (XA, XB, XC)],
        "part2": part2,
        "sweep": textbook.layer_sweep(XA, XB, XC, alpha),
        "P": Ps,
        "M": M,
        "pairs": pairs,
    }


def assert_same_choice(chosen, expected, values: np.ndarray, what: str) -> None:
    """Arg-max ``chosen`` equals the reference's ``expected``, or both reference values are within 1e-6.

    Indices are ints or tuples (pairs); ``values`` holds the reference values they index.
    """
    chosen = tuple(np.atleast_1d(chosen).tolist())
    expected = tuple(np.atleast_1d(expected).tolist())
    if chosen == expected:
        return
    gap = abs(float(values[chosen]) - float(values[expected]))
    assert gap < TIE, (
        f"{what}: chose {chosen} (reference value {values[chosen]!r}) but the textbook picks {expected} "
        f"(value {values[expected]!r}); they differ by {gap:.3g}, more than a tie"
    )


def assert_cosines(actual, expected, what: str) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=0, atol=COSINE_TOL, err_msg=what)


cases = pytest.mark.parametrize("case", list(CASES))
alphas = pytest.mark.parametrize("alpha", ALPHAS, ids=[f"alpha={a:g}" for a in ALPHAS])


# Part 1


@cases
def test_norms_through_the_layers_match_the_direct_norm(case):
    """Part 1: N_T[l, t] = |X_T[l][t]| for every text, layer and token."""
    for X, expected in zip(arrays(case), reference(case, 1.0)["norms"], strict=True):
        np.testing.assert_allclose(analysis.norms(X), expected, rtol=NORM_RTOL, atol=0)


# Part 2


@cases
@alphas
def test_token_average_target_matches_the_textbook(case, alpha):
    """Part 2 at every layer: S_AB, the cosines s_k to the extrapolated target, the recommended token."""
    XA, XB, XC = arrays(case)
    for layer, (mean_cosine, scores, recommended) in enumerate(reference(case, alpha)["part2"]):
        result = analysis.token_average_target(XA[layer], XB[layer], XC[layer], alpha)
        assert abs(result.mean_cosine - mean_cosine) <= COSINE_TOL
        assert_cosines(result.target_cosines, scores, f"s_k at layer {layer}")
        assert_same_choice(result.recommended, recommended, scores, f"recommended C token at layer {layer}")
        np.testing.assert_allclose(result.mean_a, np.asarray(XA[layer], np.float64).mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(result.mean_b, np.asarray(XB[layer], np.float64).mean(axis=0), rtol=1e-12)


def test_target_vector_is_b_plus_alpha_times_b_minus_a():
    """tau = m_B + alpha (m_B - m_A): alpha 1 gives the textbook's 2 m_B - m_A, alpha 0 gives m_B."""
    rng = np.random.default_rng(5)
    mean_a, mean_b = rng.normal(size=(2, 16))
    np.testing.assert_allclose(analysis.target_vector(mean_a, mean_b, 1.0), 2 * mean_b - mean_a, rtol=1e-12)
    np.testing.assert_allclose(analysis.target_vector(mean_a, mean_b, 0.0), mean_b, rtol=1e-12)
    np.testing.assert_allclose(analysis.target_vector(mean_a, mean_b, -1.0), mean_a, rtol=1e-12)


# Part 3


@cases
@alphas
def test_layer_sweep_recommends_what_the_textbook_recommends(case, alpha):
    """Part 3: at every layer the recommended C token and its similarity max_k s_k."""
    XA, XB, XC = arrays(case)
    expected = reference(case, alpha)["sweep"]
    sweep = analysis.layer_sweep(XA, XB, XC, alpha)
    assert sweep.shape == expected.shape
    assert_cosines(sweep, expected, "s[l, k]")
    for layer in range(len(sweep)):
        assert_same_choice(
            int(np.argmax(sweep[layer])), int(np.argmax(expected[layer])), expected[layer], f"layer {layer}"
        )
        assert abs(sweep[layer].max() - expected[layer].max()) <= COSINE_TOL


# Part 4


@cases
@alphas
def test_pair_cosines_match_the_triple_loop(case, alpha):
    """Part 4: P[i, j, k] = cos(b_j + alpha (b_j - a_i), c_k) for every i, j, k, and its best pair per C token."""
    XA, XB, XC = arrays(case)
    for layer, expected in enumerate(reference(case, alpha)["P"]):
        P = analysis.pair_cosines(XA[layer], XB[layer], XC[layer], alpha)
        assert P.shape == expected.shape
        assert_cosines(P, expected, f"P at layer {layer}")
        for k in range(P.shape[2]):
            P_k = analysis.pair_cosines_for_token(XA[layer], XB[layer], XC[layer], k, alpha)
            assert_cosines(P_k, expected[:, :, k], f"P[:, :, {k}] at layer {layer}")
            reference_best = np.unravel_index(int(np.argmax(expected[:, :, k])), expected.shape[:2])
            assert_same_choice(analysis.best_pair(P_k), reference_best, expected[:, :, k], f"best pair for C token {k}")


def test_zero_vectors_have_cosine_zero():
    """A zero C token, and a zero target (a zero B token at alpha 0), give cosine 0, not NaN."""
    XA, XB, XC = arrays("zero vectors")
    P = analysis.pair_cosines(XA[0], XB[0], XC[0], 1.0)
    assert np.all(P[:, :, 0] == 0)
    P0 = analysis.pair_cosines(XA[0], XB[0], XC[0], 0.0)  # target = b_j, and b_2 = 0
    assert np.all(P0[:, 2, :] == 0)
    assert analysis.token_average_target(XA[0], XB[0], XC[0]).target_cosines[0] == 0
    assert analysis.layer_sweep(XA, XB, XC)[:, 0].tolist() == [0.0, 0.0]
    zero = np.zeros((2, 3, 8), dtype=np.float32)
    assert analysis.token_average_target(zero[0], zero[0], XC[0]).mean_cosine == 0
    M, _ = analysis.max_pair_cosines(zero, zero, XC[:, :3])
    assert np.all(M == 0)


def test_targets_that_cancel_exactly_have_cosine_zero():
    """With A = 2 B and alpha 1 the target 2 b_j - a_j is the zero vector: its cosines are 0, as sklearn says."""
    XA, XB, XC = arrays("A is exactly 2 B (targets cancel to zero at alpha 1)")
    P = analysis.pair_cosines(XA[0], XB[0], XC[0], 1.0)
    for j in range(XB.shape[1]):
        assert np.all(P[j, j, :] == 0)
        assert textbook.cos(2 * XB[0, j].astype(np.float64) - XA[0, j], XC[0, 0]) == 0


# Part 5


@cases
@alphas
def test_max_pair_cosines_match_the_triple_loop_at_every_layer(case, alpha):
    """Part 5: M[l, k] = max_(i,j) P_l[i, j, k] and the (first, row-major) arg-max pair of each cell."""
    XA, XB, XC = arrays(case)
    ref = reference(case, alpha)
    M, pairs = analysis.max_pair_cosines(XA, XB, XC, alpha)
    assert M.shape == ref["M"].shape and pairs.shape == ref["pairs"].shape
    assert_cosines(M, ref["M"], "M")
    for layer in range(M.shape[0]):
        for k in range(M.shape[1]):
            assert_same_choice(
                pairs[layer, k], ref["pairs"][layer, k], ref["P"][layer][:, :, k], f"cell ({layer}, {k})"
            )


@pytest.mark.parametrize("chunk_elements", [1, 7, 25, 1 << 20])
@pytest.mark.parametrize("case", ["several tokens", "B is A (the same text twice)", "zero vectors"])
def test_max_pair_cosines_in_tiny_chunks_equal_the_unchunked_result(case, chunk_elements):
    """Reducing the pair stage a few rows at a time changes nothing: same maxima, same pairs."""
    XA, XB, XC = arrays(case)
    for alpha in (1.0, 1e12):
        M, pairs = analysis.max_pair_cosines(XA, XB, XC, alpha, chunk_elements=10**9)
        M_chunked, pairs_chunked = analysis.max_pair_cosines(XA, XB, XC, alpha, chunk_elements=chunk_elements)
        np.testing.assert_array_equal(M_chunked, M)
        np.testing.assert_array_equal(pairs_chunked, pairs)


def test_ties_go_to_the_first_pair_in_row_major_order():
    """Identical A rows and identical B rows make every pair tie: the winner is (0, 0), as numpy's argmax."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 8)).astype(np.float32)
    XA = np.tile(a, (1, 3, 1))
    XB = np.tile(b, (1, 4, 1))
    XC = rng.normal(size=(1, 5, 8)).astype(np.float32)
    M, pairs = analysis.max_pair_cosines(XA, XB, XC, chunk_elements=7)
    assert pairs[0].tolist() == [[0, 0]] * 5
    assert analysis.token_average_target(XC[0], XC[0], np.stack([XC[0, 0]] * 3)).recommended == 0


def near_ties(alpha: float, seed: int, ill: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """XA [2, 30, 12], XB [2, 40, 12], XC [2, 20, 12] float32 whose pair cosines tie or nearly tie a lot.

    A, B and C repeat a few rows, exactly and nudged by 1e-7. A and B share a large common direction e and
    C's first token is -e, so at most alphas all its pair cosines are negative. With ``ill`` (and alpha not 0),
    eight A rows are a_i = b_j (1 + alpha) / alpha + sign(alpha) 1e-5 c_k, whose target
    -alpha (a_i - b_j (1 + alpha) / alpha) cancels to a tiny multiple of c_k: ill-conditioned pairs with
    cosine about 1, the winners of their C tokens.
    """
    rng = np.random.default_rng(seed)
    common = 10 * rng.normal(size=12)

    def repeats(n: int, distinct: int, shift) -> np.ndarray:
        base = shift + rng.normal(size=(2, distinct, 12)) * 10.0 ** rng.uniform(-1, 0, size=(2, distinct, 1))
        X = base[:, rng.integers(0, distinct, size=n)]
        nudged = rng.random(n) < 0.3
        X[:, nudged] *= 1 + 1e-7 * rng.normal(size=(2, nudged.sum(), 12))
        return X.astype(np.float32)

    XA, XB, XC = repeats(30, 5, common), repeats(40, 6, common), repeats(20, 4, 0.0)
    XC[:, 0] = -common
    if ill and alpha != 0:
        j, k = rng.integers(0, 40, size=8), rng.integers(1, 20, size=8)
        XA[:, :8] = XB[:, j] * np.float32((1 + alpha) / alpha) + np.sign(alpha) * 1e-5 * XC[:, k]
    return XA, XB, XC


@pytest.mark.parametrize("sparse_ratio", [0, 8, 10**9], ids=["lines only", "default", "whole cube"])
@pytest.mark.parametrize("alpha", [1.0, 0.0, -0.5, -1.0, 2.5, -3.0, 40.0])
def test_max_pair_cosines_equal_the_brute_force_maximum_of_the_cube(alpha, sparse_ratio, monkeypatch):
    """Skipping lines of the cube never drops a winner: M and its pair equal the maximum of the whole cube
    from pair_cosines and numpy's first row-major arg-max, bit for bit, with many (near-)ties and
    ill-conditioned pairs, evaluated line by line, whole or as the bound decides."""
    monkeypatch.setattr(analysis, "PAIR_SPARSE_RATIO", sparse_ratio)
    for seed, ill in ((0, True), (1, True), (2, False)):
        XA, XB, XC = near_ties(alpha, seed, ill)
        M, pairs = analysis.max_pair_cosines(XA, XB, XC, alpha, chunk_elements=97)
        for layer in range(2):
            P = analysis.pair_cosines(XA[layer], XB[layer], XC[layer], alpha)
            flat = P.reshape(-1, P.shape[2])
            first = flat.argmax(axis=0)
            np.testing.assert_array_equal(M[layer], flat.max(axis=0))
            np.testing.assert_array_equal(pairs[layer], np.stack(np.unravel_index(first, P.shape[:2]), axis=1))


def test_known_pair_terms_give_the_same_parts_4_and_5():
    """Pair terms computed once (as the Workbench does for the report's layer) give the same cube and maxima."""
    XA, XB, XC = near_ties(1.0, 0, True)
    terms = analysis.pair_terms(XA[1], XB[1], XC[1], 1.0)
    np.testing.assert_array_equal(
        analysis.pair_cosines(XA[1], XB[1], XC[1], 1.0, terms=terms), analysis.pair_cosines(XA[1], XB[1], XC[1], 1.0)
    )
    for got, expected in zip(
        analysis.max_pair_cosines(XA, XB, XC, 1.0, known={1: terms}),
        analysis.max_pair_cosines(XA, XB, XC, 1.0),
        strict=True,
    ):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("max_elements", [1, 3 * 40 * 20, 10**9], ids=["one A token", "three", "whole"])
def test_a_cube_read_in_blocks_is_the_whole_cube_bit_for_bit(max_elements):
    """A big report streams Part 4's cube to its sidecar block by block: the blocks, ill-conditioned pairs
    included, put together are exactly the cube that np.asarray computes whole."""
    XA, XB, XC = near_ties(1.0, 0, True)
    cube = analysis.PairCube(analysis.pair_terms(XA[1], XB[1], XC[1], 1.0))
    assert len(cube.terms.ill_a) > 0 and cube.shape == (30, 40, 20)
    blocks = [block.copy() for block in cube.blocks(max_elements)]
    assert len(blocks) == -(-30 // max(1, max_elements // (40 * 20)))
    np.testing.assert_array_equal(np.concatenate(blocks), np.asarray(cube))
    np.testing.assert_array_equal(np.asarray(cube), analysis.pair_cosines(XA[1], XB[1], XC[1], 1.0))


# On the tiny model's real activations

TINY_TEXTS = {
    "A": "I saw an aged aged man, a-sitting on a gate.",
    "B": '"Who are you, aged man?" I said.',
    "C": "Like water through a sieve.",
}


@pytest.fixture(scope="module")
def tiny_activations(tiny_gpt2):
    """Analysed vectors [n_layers, n, d] of three short texts at two hook points of the tiny GPT-2."""
    cache = ActivationCache()
    out = {}
    for hook in ("mlp_out", "mlp_neurons"):
        texts = analyse_texts(tiny_gpt2, cache, TINY_TEXTS, hook)
        out[hook] = tuple(texts[name].X for name in "ABC")
    return out


@pytest.mark.parametrize(
    "hook, alpha, same_text",
    [("mlp_out", 1.0, False), ("mlp_out", -0.5, False), ("mlp_neurons", 2.5, False), ("mlp_out", 1e12, True)],
    ids=["mlp_out alpha=1", "mlp_out alpha=-0.5", "mlp_neurons alpha=2.5", "A=B alpha=1e12"],
)
def test_every_part_matches_the_textbook_on_the_tiny_models_activations(tiny_activations, hook, alpha, same_text):
    """Parts 1-5 on real GPT-2 activations of every layer equal the direct, one-cosine-per-element loops."""
    XA, XB, XC = tiny_activations[hook]
    if same_text:
        XB = XA
    assert XA.dtype == np.float32 and XA.shape[0] == 4
    for X in (XA, XB, XC):
        np.testing.assert_allclose(analysis.norms(X), textbook.norms(X), rtol=NORM_RTOL)
    sweep = analysis.layer_sweep(XA, XB, XC, alpha)
    expected_sweep = textbook.layer_sweep(XA, XB, XC, alpha)
    assert_cosines(sweep, expected_sweep, "Part 3")
    M, pairs = analysis.max_pair_cosines(XA, XB, XC, alpha)
    M_ref, pairs_ref, Ps = textbook.max_pair_cosines(XA, XB, XC, alpha)
    assert_cosines(M, M_ref, "Part 5")
    for layer in range(XA.shape[0]):
        mean_cosine, scores, recommended = textbook.token_average_target(XA[layer], XB[layer], XC[layer], alpha)
        part2 = analysis.token_average_target(XA[layer], XB[layer], XC[layer], alpha)
        assert abs(part2.mean_cosine - mean_cosine) <= COSINE_TOL
        assert_cosines(part2.target_cosines, scores, f"Part 2 at layer {layer}")
        assert_same_choice(part2.recommended, recommended, scores, f"Part 2 at layer {layer}")
        assert_same_choice(
            int(np.argmax(sweep[layer])), int(np.argmax(expected_sweep[layer])), expected_sweep[layer], "Part 3"
        )
        assert_cosines(
            analysis.pair_cosines(XA[layer], XB[layer], XC[layer], alpha), Ps[layer], f"Part 4 at layer {layer}"
        )
        for k in range(XC.shape[1]):
            assert_same_choice(pairs[layer, k], pairs_ref[layer, k], Ps[layer][:, :, k], f"Part 5 cell ({layer}, {k})")


def test_default_texts_on_the_tiny_model_match_the_textbook_at_one_layer(tiny_gpt2):
    """The textbook's own texts (about 34 x 22 x 21 pairs): Parts 2, 4 and 5 at layer 2."""
    texts = analyse_texts(tiny_gpt2, ActivationCache(), DEFAULT_TEXTS)
    XA, XB, XC = (texts[name].X[2:3] for name in "ABC")
    P_ref = textbook.pair_cosines(XA[0], XB[0], XC[0])
    assert_cosines(analysis.pair_cosines(XA[0], XB[0], XC[0]), P_ref, "Part 4")
    M_ref, pairs_ref = textbook.best_pairs(P_ref)
    M, pairs = analysis.max_pair_cosines(XA, XB, XC)
    assert_cosines(M[0], M_ref, "Part 5")
    for k in range(len(M_ref)):
        assert_same_choice(pairs[0, k], pairs_ref[k], P_ref[:, :, k], f"Part 5 C token {k}")
    _, scores, recommended = textbook.token_average_target(XA[0], XB[0], XC[0])
    part2 = analysis.token_average_target(XA[0], XB[0], XC[0])
    assert_cosines(part2.target_cosines, scores, "Part 2")
    assert_same_choice(part2.recommended, recommended, scores, "Part 2")


# Bad input

NOT_FINITE = [float("nan"), float("inf"), float("-inf")]


@pytest.mark.parametrize("alpha", NOT_FINITE, ids=["nan", "inf", "-inf"])
def test_a_non_finite_alpha_is_refused_by_every_part(alpha):
    """NaN or infinite alpha raises ValueError naming alpha, in every function that takes one."""
    XA, XB, XC = arrays("several tokens")
    calls = [
        lambda: analysis.extrapolation(alpha),
        lambda: analysis.target_vector(XA[0, 0], XB[0, 0], alpha),
        lambda: analysis.token_average_target(XA[0], XB[0], XC[0], alpha),
        lambda: analysis.layer_sweep(XA, XB, XC, alpha),
        lambda: analysis.pair_cosines(XA[0], XB[0], XC[0], alpha),
        lambda: analysis.pair_cosines_for_token(XA[0], XB[0], XC[0], 0, alpha),
        lambda: analysis.max_pair_cosines(XA, XB, XC, alpha),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="alpha must be a finite number"):
            call()


def _shape_errors():
    X = np.ones((2, 3, 4), dtype=np.float32)
    wide = np.ones((2, 3, 5), dtype=np.float32)
    empty = np.ones((2, 0, 4), dtype=np.float32)
    fewer_layers = np.ones((1, 3, 4), dtype=np.float32)
    return {
        "Part 2 with a 1-D A": (
            lambda: analysis.token_average_target(X[0, 0], X[0], X[0]),
            r"A must have 2 dimensions",
        ),
        "Part 2 with a wider C": (lambda: analysis.token_average_target(X[0], X[0], wide[0]), r"share one width"),
        "Part 2 with no B tokens": (lambda: analysis.token_average_target(X[0], empty[0], X[0]), r"B has no tokens"),
        "Part 3 with one layer's matrix": (lambda: analysis.layer_sweep(X[0], X, X), r"XA must have 3 dimensions"),
        "Part 3 with a wider B": (lambda: analysis.layer_sweep(X, wide, X), r"share one width"),
        "Part 3 with fewer C layers": (lambda: analysis.layer_sweep(X, X, fewer_layers), r"same number of layers"),
        "Part 4 with a 3-D C": (lambda: analysis.pair_cosines(X[0], X[0], X), r"C must have 2 dimensions"),
        "Part 4 with a wider A": (lambda: analysis.pair_cosines(wide[0], X[0], X[0]), r"share one width"),
        "Part 4 with no C tokens": (lambda: analysis.pair_cosines(X[0], X[0], empty[0]), r"C has no tokens"),
        "Part 5 with a wider C": (lambda: analysis.max_pair_cosines(X, X, wide), r"share one width"),
        "Part 5 with no A tokens": (lambda: analysis.max_pair_cosines(empty, X, X), r"XA has no tokens"),
        "Part 5 with fewer B layers": (lambda: analysis.max_pair_cosines(X, fewer_layers, X), r"same number of layers"),
    }


@pytest.mark.parametrize("name", list(_shape_errors()))
def test_wrong_shapes_raise_a_clear_value_error(name):
    """Arrays of the wrong rank, width, layer count or with no tokens raise ValueError saying which."""
    call, message = _shape_errors()[name]
    with pytest.raises(ValueError, match=message):
        call()


def test_pair_cosines_for_a_token_outside_c_raise_index_error():
    XA, XB, XC = arrays("several tokens")
    with pytest.raises(IndexError, match="out of range"):
        analysis.pair_cosines_for_token(XA[0], XB[0], XC[0], XC.shape[1])
