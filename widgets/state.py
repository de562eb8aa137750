"""AppState: what the user asked for, as traits; every refused value raises TraitError (core.checks' message)."""

from __future__ import annotations

from traitlets import Bool, Float, HasTraits, Int, List, TraitError, Tuple, Unicode, validate

from core import checks
from core.gallery import EXAMPLES
from core.steer import DEFAULT_STRENGTH, check_direction, check_strength
from core.texts import DEFAULT_TEXTS
from core.vocab import DEFAULT_LENS, check_lens

# Which traits belong to which tier of change (DESIGN.md "three tiers").
DATA_TRAITS = ("model", "compare_model", "example", "text_a", "text_b", "text_c", "hook", "skip_first", "center")
SLICE_TRAITS = (  # the panels' own settings too: each change is a frame only the panels that show it redraw for
    "layer", "token", "alpha", "top_k", "permutations", "lens", "steer_strength", "steer_direction", "steer_prompt"
)
VISUAL_TRAITS = ("norm_percentiles", "pair_limits", "sweep_percentiles")
_INSIGHT_CHECKS = {"lens": check_lens, "steer_strength": check_strength, "steer_direction": check_direction}


def _checked(check, *args):
    """``check(*args)``, with core's InputError raised as the TraitError traitlets expects (same message)."""
    try:
        return check(*args)
    except checks.InputError as err:
        raise TraitError(str(err)) from None


class AppState(HasTraits):
    """What the user chose. ``token`` indexes the analysed tokens of Text C.

    ``model`` and ``compare_model`` are what the user *requested* (the Session knows what is loaded).
    ``example`` is the gallery example whose texts are in use ("" = the user's own texts).
    ``n_layers`` and ``n_tokens`` are the bounds of the results on screen, written by the Session with
    each frame; ``layer`` and ``token`` must lie within them. ``model`` must be one of ``model_choices``
    unless ``free_model_entry``. A refused value raises TraitError and the trait keeps its value; the
    controls and links catch it and show the message instead.
    """

    model_choices = List(Unicode())
    free_model_entry = Bool(True)

    model = Unicode("gpt2")
    compare_model = Unicode("")  # a second model for the Compare section; "" = none
    example = Unicode("")
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
        return _checked(_INSIGHT_CHECKS[proposal["trait"].name], proposal["value"])

    @validate("layer")
    def _layer(self, proposal):
        return _checked(checks.check_layer, proposal["value"], self.n_layers or None)

    @validate("token")
    def _token(self, proposal):
        return _checked(checks.check_token, proposal["value"], self.n_tokens or None)

    @validate("alpha")
    def _alpha(self, proposal):
        return _checked(checks.check_alpha, proposal["value"])

    @validate("top_k")
    def _top_k(self, proposal):
        return _checked(checks.check_top_k, proposal["value"])

    @validate("permutations")
    def _permutations(self, proposal):
        return _checked(checks.check_permutations, proposal["value"], 100_000)

    @validate("hook")
    def _hook(self, proposal):
        return _checked(checks.check_hook, proposal["value"])

    @validate("norm_percentiles", "sweep_percentiles")
    def _percentiles(self, proposal):
        return _checked(checks.check_percentiles, *proposal["value"])

    @validate("pair_limits")
    def _limits(self, proposal):
        return _checked(checks.check_limits, *proposal["value"])

    @validate("model", "compare_model")
    def _model(self, proposal):
        required = proposal["trait"].name == "model"
        return _checked(checks.check_model_name, proposal["value"], self.model_choices, self.free_model_entry, required)

    @validate("example")
    def _example(self, proposal):
        name = proposal["value"]
        if name and name not in EXAMPLES:
            raise TraitError(f"Unknown example “{name}”: choose one of {', '.join(EXAMPLES)}.")
        return name

    def texts(self) -> dict[str, str]:
        return {"A": self.text_a, "B": self.text_b, "C": self.text_c}
