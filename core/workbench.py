"""Every part's results for one model and three texts, computed tier by tier and memoised.

Tiers (DESIGN.md): the texts tier (forward passes and norms) is fixed when a Workbench is built;
the alpha tier (the per-layer sweep of Parts 2-3 and the max-pair maps of Part 5) is computed once
per alpha; the layer tier (Part 2 at one layer, Part 4 for one layer and token) is a slice of the
cached vectors. Nothing here runs a forward pass after construction.

Mean-centering (``center=True``): at each layer l the mean vector mu[l] of the pooled analysed tokens of
A, B and C (one mean for all three texts) is subtracted from every vector once, at construction, so every
part sees the centered vectors: Part 1's norms are the norms of x - mu[l], and the cosines of Parts 2-5,
the top-k tables and the baselines are all of centered vectors. Activations are anisotropic (they share a
large common component, so raw cosines run high); centering removes what the three texts share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from . import analysis, baselines, ranking
from .cache import ActivationCache
from .checks import check_layer, check_token
from .lru import ByteLRU
from .models import LoadedModel
from .texts import TEXT_NAMES, AnalysedText, analyse_texts

PAIR_TEST_LIMIT = 30_000_000  # pair cosines the Part 4-5 test may hold (4 bytes each): beyond, it is off
MEMO_BYTES = 8 << 20  # memoised results kept (slices, tables, baselines): 8 MiB, least recently used dropped first
CUBE_BYTES = 1 << 20  # a layer's pair cube up to 1 MiB (float32) is memoised whole


class Workbench:
    """Results for ``texts`` (AnalysedText for "A", "B", "C") captured at ``hook`` of ``model``.

    With ``center`` on, every result is of the mean-centered vectors (module docstring); ``mean`` is then
    the subtracted pooled mean [n_layers, d] float64, else None. ``texts`` keep the vectors as captured.
    """

    def __init__(
        self,
        model: LoadedModel,
        texts: Mapping[str, AnalysedText],
        hook: str,
        skip_first: bool,
        center: bool = False,
    ):
        self.model = model
        self.texts = dict(texts)
        self.hook = hook
        self.skip_first = skip_first
        self.center = bool(center)
        self.mean: np.ndarray | None = None
        self._X = {name: self.texts[name].X for name in TEXT_NAMES}
        if self.center:
            self.mean = pooled_mean(*(self._X[name] for name in TEXT_NAMES))
            self._X = {name: (X - self.mean[:, None, :]).astype(np.float32) for name, X in self._X.items()}
        self.norms = {name: analysis.norms(self._X[name]) for name in TEXT_NAMES}
        self._memo = ByteLRU(MEMO_BYTES, _nbytes)

    @classmethod
    def build(
        cls,
        model: LoadedModel,
        cache: ActivationCache,
        texts: Mapping[str, str],
        hook: str,
        skip_first: bool,
        *,
        center: bool = False,
    ) -> Workbench:
        """Capture the three texts through ``cache``; raises TextError naming a text that cannot be used."""
        return cls(model, analyse_texts(model, cache, texts, hook, skip_first), hook, skip_first, center=center)

    @property
    def n_layers(self) -> int:
        return self.model.n_layers

    def labels(self, name: str) -> list[str]:
        """Readable labels of text ``name``'s analysed tokens (for display)."""
        return self.texts[name].readable

    def X(self, name: str) -> np.ndarray:
        """Vectors of text ``name`` as analysed (centered when ``center`` is on): [n_layers, n_analysed, d] float32."""
        return self._X[name]

    def _layer(self, layer: int) -> int:
        return check_layer(layer, self.n_layers)

    def _token(self, token: int) -> int:
        return check_token(token, len(self.labels("C")))

    def _memoised(self, key: tuple, compute):
        """``compute()`` once per key; beyond MEMO_BYTES of results the least recently used go first."""
        return self._memo.get_or_compute(key, compute)

    def sweep(self, alpha: float) -> np.ndarray:
        """Parts 2-3 at every layer: target cosines s [n_layers, n_C]."""
        return self._memoised(
            ("sweep", alpha), lambda: analysis.layer_sweep(self.X("A"), self.X("B"), self.X("C"), alpha)
        )

    def recommendations(self, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """Part 3: recommended C token [n_layers] and its cosine [n_layers]."""
        s = self.sweep(alpha)
        return s.argmax(axis=1), s.max(axis=1)

    def max_pairs(self, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """Part 5: M [n_layers, n_C] and arg-max pairs [n_layers, n_C, 2] (with the pair terms that
        ``pair_cube`` left in the memo, not computed again)."""

        def compute():
            terms = {layer: self._memo.get(("pair_terms", layer, alpha)) for layer in range(self.n_layers)}
            known = {layer: value for layer, value in terms.items() if value is not None}
            return analysis.max_pair_cosines(self.X("A"), self.X("B"), self.X("C"), alpha, known=known)

        return self._memoised(("max_pairs", alpha), compute)

    def target(self, layer: int, alpha: float) -> analysis.TargetResult:
        """Part 2 at ``layer``."""
        return self._memoised(
            ("target", layer, alpha),
            lambda: analysis.token_average_target(self.X("A")[layer], self.X("B")[layer], self.X("C")[layer], alpha),
        )

    def pair_matrix(self, layer: int, token: int, alpha: float) -> np.ndarray:
        """Part 4 for C token ``token`` at ``layer``: P[:, :, token] as float64 [n_A, n_B].

        A cube of at most CUBE_BYTES is computed once for every C token of the layer and sliced (the
        app shows five tokens of a layer at once); a larger one is computed one token at a time.
        """
        n_a, n_b, n_c = (len(self.labels(name)) for name in TEXT_NAMES)
        if n_a * n_b * n_c * 4 <= CUBE_BYTES:
            cube = self._memoised(("pair_cube", layer, alpha), lambda: np.asarray(self.pair_cube(layer, alpha)))
            return cube[:, :, token].astype(np.float64)
        return self._memoised(
            ("pairs", layer, token, alpha),
            lambda: analysis.pair_cosines_for_token(
                self.X("A")[layer], self.X("B")[layer], self.X("C")[layer], token, alpha
            ),
        )

    def pair_cube(self, layer: int, alpha: float) -> analysis.PairCube:
        """Part 4 for every C token at ``layer``: P [n_A, n_B, n_C] float32, computed when read
        (``analysis.PairCube``: it can be large). Its pair terms, O(n^2), are memoised, for ``max_pairs``."""
        A, B, C = self.X("A")[layer], self.X("B")[layer], self.X("C")[layer]
        return analysis.PairCube(
            self._memoised(("pair_terms", layer, alpha), lambda: analysis.pair_terms(A, B, C, alpha))
        )

    def top_tokens(self, layer: int, alpha: float, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Part 2's top-k table at ``layer``: the k best C tokens (indices [k'], cosines [k']), best first."""
        layer = self._layer(layer)
        return self._memoised(
            ("top_tokens", layer, alpha, k),
            lambda: ranking.top_tokens(self.target(layer, alpha).target_cosines, k),
        )

    def top_pairs(self, layer: int, token: int, alpha: float, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Part 4's top-k table for C token ``token`` at ``layer``: pairs [k', 2] as (i, j) and cosines [k']."""
        layer, token = self._layer(layer), self._token(token)
        return self._memoised(
            ("top_pairs", layer, token, alpha, k),
            lambda: ranking.top_pairs(self.pair_matrix(layer, token, alpha), k),
        )

    def layer_tests(self, alpha: float, n_permutations: int, seed: int = 0) -> LayerTests:
        """Parts 2-3 against chance: each layer's recommendation under the A/B permutation null
        (``baselines.target_statistics``, ``n_permutations`` draws shared by every layer), corrected over layers.

        Memoised per (alpha, n_permutations, seed); the Workbench's centering is fixed, so it is in the key too.
        """

        def compute() -> LayerTests:
            observed, null = baselines.target_statistics(
                self.X("A"), self.X("B"), self.X("C"), alpha, n_permutations, seed
            )
            return LayerTests(
                tuple(baselines.baseline(o, n) for o, n in zip(observed, null, strict=True)),
                baselines.family_test(observed, null),
            )

        return self._memoised(("layer_tests", alpha, n_permutations, seed), compute)

    def pair_tests_available(self) -> bool:
        """Whether the Part 4-5 test fits its memory bound (PAIR_TEST_LIMIT pair cosines)."""
        n_a, n_b, n_c = (self.X(name).shape[1] for name in TEXT_NAMES)
        return baselines.pair_test_size(self.n_layers, n_a, n_b, n_c) <= PAIR_TEST_LIMIT

    def pair_tests(self, alpha: float, n_permutations: int, seed: int = 0) -> baselines.FamilyTest | None:
        """Parts 4-5 against chance: every (layer, C token) cell's best-pair cosine under the same A/B
        permutations as ``layer_tests``, corrected over the whole layer x token map: FamilyTest [n_layers, n_C],
        or None when the texts are too long (``pair_tests_available``).

        Computed once per (alpha, n_permutations, seed) and memoised: a layer or token change only reads it.
        """
        if not self.pair_tests_available():
            return None

        def compute() -> baselines.FamilyTest:
            observed, null = baselines.pair_statistics(
                self.X("A"), self.X("B"), self.X("C"), alpha, n_permutations, seed
            )
            return baselines.family_test(observed, null)

        return self._memoised(("pair_tests", alpha, n_permutations, seed), compute)


@dataclass(frozen=True)
class LayerTests:
    """Part 2-3 tests: ``baselines`` (each layer's Baseline, uncorrected p) and ``family`` (observed [L],
    p_values [L], p_corrected [L] over layers)."""

    baselines: tuple[baselines.Baseline, ...]
    family: baselines.FamilyTest


def _nbytes(value) -> int:
    """Approximate size of a memoised result: its arrays' bytes (plus a little for everything else)."""
    if isinstance(value, np.ndarray):
        return value.nbytes + 128
    if isinstance(value, torch.Tensor):
        return value.nelement() * value.element_size() + 128
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(item) for item in value) + 64
    if hasattr(value, "__dataclass_fields__"):
        return sum(_nbytes(getattr(value, name)) for name in value.__dataclass_fields__) + 64
    return 64


def pooled_mean(XA: np.ndarray, XB: np.ndarray, XC: np.ndarray) -> np.ndarray:
    """Mean of the pooled rows of the three texts at each layer: XA [L, n_A, d], XB, XC -> [L, d] float64."""
    total = sum(np.asarray(X, dtype=np.float64).sum(axis=1) for X in (XA, XB, XC))
    return total / sum(X.shape[1] for X in (XA, XB, XC))
