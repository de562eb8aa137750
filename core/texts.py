"""The three texts of an analysis: validated, captured through the cache, cut to analysed positions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .activations import TextActivations
from .cache import ActivationCache
from .checks import TextError, check_text
from .models import LoadedModel

TEXT_NAMES = ("A", "B", "C")

DEFAULT_TEXTS: Mapping[str, str] = {
    "A": "I'll tell thee everything I can; There's little to relate. I saw an aged aged man, a-sitting on a gate.",
    "B": '"Who are you, aged man?" I said. "And how is it you live?"',
    "C": "And his answer trickled through my head, like water through a sieve.",
}


@dataclass(frozen=True)
class AnalysedText:
    """One text's analysed tokens: ``labels`` [n] (decoded), ``readable`` [n] (legible, for display)
    and vectors ``X`` [n_layers, n, d] float32."""

    name: str
    labels: list[str]
    X: np.ndarray
    activations: TextActivations
    readable: list[str]

    @property
    def truncated(self) -> bool:
        return self.activations.truncated

    @property
    def n_input_tokens(self) -> int:
        return len(self.activations.token_ids)


def analyse_text(
    model: LoadedModel, cache: ActivationCache, name: str, text: str, hook: str, skip_first: bool
) -> AnalysedText:
    """Capture ``text`` (called Text ``name`` in messages) and keep its analysed positions."""
    check_text(name, text)
    try:
        activations = cache.get(model, text, hook)
    except TextError as err:
        raise TextError(f"Text {name}: {err}") from None
    labels, X = activations.analysed(skip_first)
    readable = [activations.readable[p] for p in activations.positions(skip_first)]
    if not labels:
        hint = " or turn off skip-first" if skip_first else ""
        raise TextError(
            f"Text {name} has {len(activations.token_ids)} token(s) and none is left to analyse: "
            f"type a longer text{hint}."
        )
    return AnalysedText(name, labels, X, activations, readable)


def analyse_texts(
    model: LoadedModel, cache: ActivationCache, texts: Mapping[str, str], hook: str = "mlp_out", skip_first: bool = True
) -> dict[str, AnalysedText]:
    """Texts A, B and C (keys of ``texts``) captured at ``hook``; raises TextError naming the text."""
    return {name: analyse_text(model, cache, name, texts[name], hook, skip_first) for name in TEXT_NAMES}
