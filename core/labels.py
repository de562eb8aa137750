"""Token labels a reader can read: byte pieces, control characters and lone combining marks made visible."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

REPLACEMENT = "\ufffd"
SHOWN = {"\n": "↵", "\r": "␍", "\t": "⇥", " ": " "}


def visible(label: str) -> str:
    """``label`` with control and format characters (bidi overrides included) escaped, newlines and tabs
    as symbols, a whitespace-only label as ␣, and a leading combining mark on a dotted circle."""
    out = []
    for char in label:
        if char in SHOWN:
            out.append(SHOWN[char])
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    text = "".join(out)
    if not text.strip():
        return "␣" * len(text) if text else "∅"
    if unicodedata.category(text[0]) in ("Mn", "Mc", "Me"):
        text = "◌" + text
    return text


def readable_labels(text: str, decoded: Sequence[str], offsets: Sequence[tuple[int, int]] | None) -> list[str]:
    """One readable label per token, [n] -> [n].

    A token whose decoding is a replacement character holds only part of a character's UTF-8 bytes; it
    is shown as that character with its piece number, e.g. 🙂[1/4], using the tokenizer's character
    ``offsets`` into ``text`` (without offsets: ‹bytes›).
    """
    pieces: dict[tuple[int, int], list[int]] = {}
    if offsets is not None:
        for index, label in enumerate(decoded):
            if REPLACEMENT in label:
                pieces.setdefault(tuple(offsets[index]), []).append(index)
    labels = []
    for index, label in enumerate(decoded):
        if REPLACEMENT not in label:
            labels.append(visible(label))
            continue
        span = tuple(offsets[index]) if offsets is not None else None
        if span is None or span[1] <= span[0]:
            labels.append("‹byte›")
            continue
        group = pieces[span]
        labels.append(f"{visible(text[span[0] : span[1]])}[{group.index(index) + 1}/{len(group)}]")
    return labels
