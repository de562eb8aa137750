"""Fitting texts into figures: estimated text widths, abbreviation with "…", thinned tick labels.

The browser's font is not known in the kernel, so widths are estimated from the proportions of a
common sans-serif (DejaVu Sans / Arial class), rounded up: a text estimated to fit does fit.
All sizes are CSS pixels.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from itertools import accumulate

ELLIPSIS = "…"
NARROW = set("iIl.,:;'|!()[]{}ftjr ·\u200b")
WIDE = set("mwMW@%")


@lru_cache(maxsize=4096)
def char_width(char: str) -> float:
    """Advance width of one character, in ems."""
    if char == "\u200b" or unicodedata.combining(char):
        return 0.0
    if unicodedata.east_asian_width(char) in ("W", "F") or ord(char) > 0xFFFF:
        return 1.25  # CJK and emoji
    if char in NARROW:
        return 0.36
    if char in WIDE:
        return 0.98
    if char.isupper() or char.isdigit():
        return 0.72
    return 0.62


def text_width(text: str, font_px: float) -> float:
    """Estimated drawn width of ``text`` at ``font_px``, in pixels (an upper bound for common fonts)."""
    return font_px * sum(char_width(char) for char in text)


@lru_cache(maxsize=8192)  # the same axis labels are fitted again at every Layer step
def abbreviate(text: str, max_px: float, font_px: float) -> str:
    """``text`` if it fits in ``max_px``, else its longest prefix that fits followed by "…" (at least one character)."""
    if text_width(text, font_px) <= max_px:
        return text
    budget = max_px - text_width(ELLIPSIS, font_px)
    ends = accumulate(text_width(char, font_px) for char in text)
    keep = sum(1 for end in ends if end <= budget)
    return text[: max(keep, 1)] + ELLIPSIS


def tick_step(count: int, length_px: float, needed_px: float) -> int:
    """Label every ``step``-th of ``count`` evenly spaced ticks along ``length_px`` so each gets ``needed_px``."""
    if count <= 1:
        return 1
    return max(1, math.ceil(needed_px / (length_px / count)))


def fit_quoted(template: str, words: Sequence[str], max_px: float, font_px: float, shortest: int = 3) -> str:
    """``template.format(*words)`` with the words abbreviated (longest first) until it fits in ``max_px``.

    Used for titles that quote tokens: the fixed text stays, the quoted tokens give way.
    """
    words = list(words)
    limit = max((len(word) for word in words), default=0)
    while True:
        shown = [word if len(word) <= limit else word[: max(limit - 1, 1)] + ELLIPSIS for word in words]
        text = template.format(*shown)
        if text_width(text, font_px) <= max_px or limit <= shortest:
            return text
        limit -= 1
