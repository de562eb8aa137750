"""AppState: the one observed object that every control writes and every view reads."""

from __future__ import annotations

import math
from collections.abc import Callable

from traitlets import Bool, Float, HasTraits, Int, List, TraitError, Tuple, Unicode, validate

from core.models import HOOK_POINTS
from core.steer import DEFAULT_STRENGTH, check_direction, check_strength
from core.texts import DEFAULT_TEXTS
from core.vocab import DEFAULT_LENS, check_lens

# Which traits belong to which tier of change (DESIGN.md "three tiers").
DATA_TRAITS = ("model", "text_a", "text_b", "text_c", "hook", "skip_first", "center")
SLICE_TRAITS = ("layer", "token", "alpha", "top_k", "permutations")
VISUAL_TRAITS = ("norm_percentiles", "pair_limits", "sweep_percentiles")
_INSIGHT_CHECKS = {"lens": check_lens, "steer_strength": check_strength, "steer_direction": check_direction}


class AppState(HasTraits):
    """What the user chose. ``token`` indexes the analysed tokens of Text C.

    ``n_layers`` and ``n_tokens`` are the bounds of the results on screen, kept by the Dashboard;
    ``layer`` and ``token`` must lie within them. ``model`` must be one of ``model_choices`` unless
    ``free_model_entry``. A refused value raises TraitError, or, once a handler is registered with
    ``on_refusal`` (the Dashboard does), is reported to it and the trait keeps its value.
    """

    def __init__(self, **kwargs):
        self._refusal_handlers: list[Callable[[str], None]] = []
        super().__init__(**kwargs)

    def on_refusal(self, handler: Callable[[str], None]) -> None:
        self._refusal_handlers.append(handler)

    def _refuse(self, name: str, message: str):
        if not self._refusal_handlers:
            raise TraitError(message)
        for handler in self._refusal_handlers:
            handler(message)
        return getattr(self, name)

    model_choices = List(Unicode())
    free_model_entry = Bool(True)

    model = Unicode("gpt2")
    compare_model = Unicode("")  # a second model for the Compare section; "" = none
    text_a = Unicode(DEFAULT_TEXTS["A"])
    text_b = Unicode(DEFAULT_TEXTS["B"])
    text_c = Unicode(DEFAULT_TEXTS["C"])
    layer = Int(6)
    token = Int(0)
    alpha = Float(1.0)
    hook = Unicode("mlp_out")
    skip_first = Bool(True)
    center = Bool(False)
    top_k = Int(5)
    permutations = Int(1000)
    norm_percentiles = Tuple(Float(), Float(), default_value=(5.0, 95.0))
    pair_limits = Tuple(Float(), Float(), default_value=(0.05, 0.3))
    sweep_percentiles = Tuple(Float(), Float(), default_value=(5.0, 95.0))

    n_layers = Int(0)
    n_tokens = Int(0)

    # What the target reads as and does (views/vocab.py, views/steering.py)
    lens = Unicode(DEFAULT_LENS)
    steer_prompt = Unicode("")  # "" = text C
    steer_strength = Float(DEFAULT_STRENGTH)
    steer_direction = Unicode("target")

    @validate(*_INSIGHT_CHECKS)
    def _insight_value(self, proposal):
        name = proposal["trait"].name
        try:
            return _INSIGHT_CHECKS[name](proposal["value"])
        except ValueError as err:
            return self._refuse(name, str(err))

    @validate("layer")
    def _layer_in_range(self, proposal):
        layer = proposal["value"]
        if layer < 0 or (self.n_layers and layer >= self.n_layers):
            return self._refuse(
                "layer", f"Layer {layer} is out of range: this model has layers 0 to {max(self.n_layers - 1, 0)}."
            )
        return layer

    @validate("token")
    def _token_in_range(self, proposal):
        token = proposal["value"]
        if token < 0 or (self.n_tokens and token >= self.n_tokens):
            return self._refuse(
                "token", f"Token {token} is out of range: Text C has analysed tokens 0 to {max(self.n_tokens - 1, 0)}."
            )
        return token

    @validate("alpha")
    def _alpha_finite(self, proposal):
        alpha = proposal["value"]
        if not math.isfinite(alpha):
            return self._refuse("alpha", f"Alpha must be a finite number, got {alpha}.")
        return alpha

    @validate("top_k")
    def _top_k_range(self, proposal):
        if not 1 <= proposal["value"] <= 50:
            return self._refuse("top_k", f"Top k must be between 1 and 50, got {proposal['value']}.")
        return proposal["value"]

    @validate("permutations")
    def _permutation_count(self, proposal):
        if not 0 <= proposal["value"] <= 100_000:
            return self._refuse(
                "permutations", f"Permutations must be between 0 (off) and 100000, got {proposal['value']}."
            )
        return proposal["value"]

    @validate("hook")
    def _known_hook(self, proposal):
        if proposal["value"] not in HOOK_POINTS:
            return self._refuse(
                "hook", f"Unknown hook point '{proposal['value']}': choose one of {', '.join(HOOK_POINTS)}."
            )
        return proposal["value"]

    @validate("norm_percentiles", "sweep_percentiles")
    def _percentiles(self, proposal):
        low, high = proposal["value"]
        if not (0 <= low < high <= 100):
            return self._refuse(
                proposal["trait"].name, f"Colour percentiles must satisfy 0 <= low < high <= 100, got {low} and {high}."
            )
        return (float(low), float(high))

    @validate("pair_limits")
    def _limits(self, proposal):
        low, high = proposal["value"]
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            return self._refuse("pair_limits", f"Colour limits must be finite with low < high, got {low} and {high}.")
        return (float(low), float(high))

    @validate("model", "compare_model")
    def _allowed_model(self, proposal):
        trait, name = proposal["trait"].name, proposal["value"].strip()
        if not name and trait == "model":
            return self._refuse(trait, "No model given: choose one from the list.")
        if name and not self.free_model_entry and name not in self.model_choices:
            return self._refuse(
                trait, f"Model “{name}” is not offered on this server: choose one of {', '.join(self.model_choices)}."
            )
        return name

    def texts(self) -> dict[str, str]:
        return {"A": self.text_a, "B": self.text_b, "C": self.text_c}


class Results(HasTraits):
    """The results on screen: ``bench`` (a core Workbench, or None before the first run).

    ``version`` increases each time ``bench`` is replaced (new model, texts, hook or skip-first);
    views observe it to redraw everything.
    """

    version = Int(0)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bench = None

    def publish(self, bench) -> None:
        self.bench = bench
        self.version += 1

    def clear(self) -> None:
        self.bench = None
