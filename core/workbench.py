"""Every part's results for one model and three texts, computed tier by tier and memoised.

Tiers (DESIGN.md): the texts tier (forward passes and norms) is fixed when a Workbench is built;
the alpha tier (the per-layer sweep of Parts 2-3 and the max-pair maps of Part 5) is computed once
per alpha; the layer tier (Part 2 at one layer, Part 4 for one layer and token) is a slice of the
cached vectors. Nothing here runs a forward pass after construction.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import analysis
from .cache import ActivationCache
from .models import LoadedModel
from .texts import TEXT_NAMES, AnalysedText, analyse_texts

_MEMO_SIZE = 8  # results kept per memoised function (distinct alphas, layers...)


class Workbench:
    """Results for ``texts`` (AnalysedText for "A", "B", "C") captured at ``hook`` of ``model``."""

    def __init__(self, model: LoadedModel, texts: Mapping[str, AnalysedText], hook: str, skip_first: bool):
        self.model = model
        self.texts = dict(texts)
        self.hook = hook
        self.skip_first = skip_first
        self.norms = {name: analysis.norms(self.texts[name].X) for name in TEXT_NAMES}
        self._memo: dict[tuple, object] = {}

    @classmethod
    def build(
        cls, model: LoadedModel, cache: ActivationCache, texts: Mapping[str, str], hook: str, skip_first: bool
    ) -> Workbench:
        """Capture the three texts through ``cache``; raises TextError naming a text that cannot be used."""
        return cls(model, analyse_texts(model, cache, texts, hook, skip_first), hook, skip_first)

    @property
    def n_layers(self) -> int:
        return self.model.n_layers

    def labels(self, name: str) -> list[str]:
        """Readable labels of text ``name``'s analysed tokens (for display)."""
        return self.texts[name].readable

    def X(self, name: str) -> np.ndarray:
        """Vectors of text ``name``: [n_layers, n_analysed, d] float32."""
        return self.texts[name].X

    def _memoised(self, key: tuple, compute):
        if key not in self._memo:
            if len(self._memo) >= _MEMO_SIZE * 4:
                self._memo.pop(next(iter(self._memo)))
            self._memo[key] = compute()
        return self._memo[key]

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
        """Part 5: M [n_layers, n_C] and arg-max pairs [n_layers, n_C, 2]."""
        return self._memoised(
            ("max_pairs", alpha), lambda: analysis.max_pair_cosines(self.X("A"), self.X("B"), self.X("C"), alpha)
        )

    def target(self, layer: int, alpha: float) -> analysis.TargetResult:
        """Part 2 at ``layer``."""
        return self._memoised(
            ("target", layer, alpha),
            lambda: analysis.token_average_target(self.X("A")[layer], self.X("B")[layer], self.X("C")[layer], alpha),
        )

    def pair_matrix(self, layer: int, token: int, alpha: float) -> np.ndarray:
        """Part 4 for C token ``token`` at ``layer``: P[:, :, token] as [n_A, n_B]."""
        return self._memoised(
            ("pairs", layer, token, alpha),
            lambda: analysis.pair_cosines_for_token(
                self.X("A")[layer], self.X("B")[layer], self.X("C")[layer], token, alpha
            ),
        )

    def pair_cube(self, layer: int, alpha: float) -> np.ndarray:
        """Part 4 for every C token at ``layer``: P [n_A, n_B, n_C] float32 (not memoised: it can be large)."""
        return analysis.pair_cosines(self.X("A")[layer], self.X("B")[layer], self.X("C")[layer], alpha)
