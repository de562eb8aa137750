"""One check per input value, with one message each: used by the app's state, the Workbench, the report CLI and links.

Every check returns the value it accepts (normalised where that is obvious, e.g. a stripped model name)
and raises ``InputError`` (a ValueError) with one sentence saying what is wrong and what to do; a
layer or token out of range raises ``RangeError`` (also an IndexError, as indexing would).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

HOOK_POINTS: Mapping[str, str] = {
    "mlp_out": "what each block's MLP adds to the residual stream",
    "mlp_neurons": "the MLP's hidden activations after the nonlinearity (input of its down projection)",
    "attn_out": "what each block's attention adds to the residual stream",
    "resid_post": "the hidden state after the block",
}
MAX_TOP_K = 50  # rows of a top-k table in the app
MAX_PERMUTATIONS = 1_000_000  # draws of one null distribution


class InputError(ValueError):
    """A value that cannot be used; the message is one sentence for the user."""


class RangeError(InputError, IndexError):
    """A layer or token outside the results."""


class TextError(InputError):
    """A text cannot be analysed; the message says which text and what to do."""


def check_layer(layer: int, n_layers: int | None = None) -> int:
    """``layer`` in 0..n_layers-1 (only >= 0 while the number of layers is not known)."""
    if layer < 0 or (n_layers is not None and layer >= n_layers):
        span = f"this model has layers 0 to {n_layers - 1}" if n_layers else "layers count from 0"
        raise RangeError(f"Layer {layer} is out of range: {span}.")
    return int(layer)


def check_token(token: int, n_tokens: int | None = None) -> int:
    """``token`` in 0..n_tokens-1 (an index into text C's analysed tokens)."""
    if token < 0 or (n_tokens is not None and token >= n_tokens):
        span = f"text C has analysed tokens 0 to {n_tokens - 1}" if n_tokens else "tokens count from 0"
        raise RangeError(f"Token {token} is out of range: {span}.")
    return int(token)


def check_alpha(alpha: float) -> float:
    if not math.isfinite(alpha):
        raise InputError(f"Alpha must be a finite number, got {alpha}.")
    return float(alpha)


def check_text(name: str, text: str) -> str:
    """Text ``name`` ("A", "B" or "C") must hold more than white space."""
    if not text or not text.strip():
        raise TextError(f"Text {name} is empty: type a few words.")
    return text


def check_hook(hook: str) -> str:
    if hook not in HOOK_POINTS:
        raise InputError(f"Unknown hook point '{hook}': choose one of {', '.join(HOOK_POINTS)}.")
    return hook


def check_percentiles(low: float, high: float) -> tuple[float, float]:
    """Colour limits as percentiles: 0 <= low < high <= 100."""
    if not 0 <= low < high <= 100:
        raise InputError(f"Colour percentiles must satisfy 0 <= low < high <= 100, got {low} and {high}.")
    return float(low), float(high)


def check_limits(low: float, high: float) -> tuple[float, float]:
    """Colour limits as values: finite, low < high."""
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InputError(f"Colour limits must be finite with low < high, got {low} and {high}.")
    return float(low), float(high)


def check_top_k(k: int, most: int | None = MAX_TOP_K) -> int:
    """Rows of a top-k table: 1..most (``most=None``: any number from 0, as the report allows)."""
    low = 1 if most is not None else 0
    if k < low or (most is not None and k > most):
        span = f"1 to {most}" if most is not None else "0 or more"
        raise InputError(f"Top-k {k} is out of range: ask for {span} rows.")
    return int(k)


def check_permutations(n: int, most: int = MAX_PERMUTATIONS) -> int:
    if not 0 <= n <= most:
        raise InputError(f"Permutations {n} is out of range: 0 (no baselines) to {most}.")
    return int(n)


def check_model_name(name: str, choices: Sequence[str] = (), free: bool = True, required: bool = True) -> str:
    """A model name, stripped: one of ``choices`` unless ``free``; "" only when not ``required``."""
    name = name.strip()
    if not name:
        if required:
            raise InputError("No model given: choose one from the list.")
        return name
    if not free and name not in choices:
        raise InputError(f"Model “{name}” is not offered on this server: choose one of {', '.join(choices)}.")
    return name
