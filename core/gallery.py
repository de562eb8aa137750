"""A gallery of example texts A, B and C, all public domain, each with one line on what to look for.

``EXAMPLES`` maps a name to an Example; "aged-aged-man" is the textbook default (core.texts.DEFAULT_TEXTS).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .texts import DEFAULT_TEXTS


@dataclass(frozen=True)
class Example:
    """Texts ``a``, ``b`` and ``c`` of one analysis, and the ``idea``: one line on what to look for."""

    a: str
    b: str
    c: str
    idea: str

    @property
    def texts(self) -> dict[str, str]:
        """The texts keyed "A", "B", "C" (as core.texts and core.report take them)."""
        return {"A": self.a, "B": self.b, "C": self.c}


EXAMPLES: Mapping[str, Example] = {
    "aged-aged-man": Example(
        DEFAULT_TEXTS["A"],
        DEFAULT_TEXTS["B"],
        DEFAULT_TEXTS["C"],
        "Carroll's White Knight (the textbook): which words of the answer follow the step from telling to asking?",
    ),
    "jabberwocky": Example(
        "'Twas brillig, and the slithy toves Did gyre and gimble in the wabe:",
        "All mimsy were the borogoves, And the mome raths outgrabe.",
        "Beware the Jabberwock, my son! The jaws that bite, the claws that catch!",
        "Carroll's nonsense words: do invented words get directions as clear as real ones?",
    ),
    "sonnet-18": Example(
        "Shall I compare thee to a summer's day?",
        "Thou art more lovely and more temperate:",
        "Rough winds do shake the darling buds of May, And summer's lease hath all too short a date:",
        "Shakespeare's question turned into praise: do the weather words of C follow the turn?",
    ),
    "to-be-or-not": Example(
        "To be, or not to be, that is the question:",
        "Whether 'tis nobler in the mind to suffer The slings and arrows of outrageous fortune,",
        "Or to take arms against a sea of troubles, And by opposing end them.",
        "Hamlet from abstract to concrete: does C's fighting image align with B's suffering?",
    ),
    "hope-is-the-thing": Example(
        '"Hope" is the thing with feathers - That perches in the soul -',
        "And sings the tune without the words - And never stops - at all -",
        "And sweetest - in the Gale - is heard - And sore must be the storm -",
        "Emily Dickinson's dashes: are the dashes and the weather of C the tokens that stand out?",
    ),
    "universally-acknowledged": Example(
        "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
        "must be in want of a wife.",
        "However little known the feelings or views of such a man may be on his first entering a neighbourhood,",
        "this truth is so well fixed in the minds of the surrounding families, "
        "that he is considered the rightful property of some one or other of their daughters.",
        "Jane Austen's long sentence: does C's irony follow the step from the maxim to the man?",
    ),
    "the-raven": Example(
        "Once upon a midnight dreary, while I pondered, weak and weary,",
        "Over many a quaint and curious volume of forgotten lore—",
        'Quoth the Raven "Nevermore."',
        "Poe's rhyme and refrain: does the one-word answer Nevermore stand out at any layer?",
    ),
    "song-of-myself": Example(
        "I celebrate myself, and sing myself,",
        "And what I assume you shall assume,",
        "For every atom belonging to me as good belongs to you.",
        "Walt Whitman from I to you: do the pronouns of C follow the step from A to B?",
    ),
}
