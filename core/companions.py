"""Helper objects that live exactly as long as the Workbench they read (vocabulary readers, steering runs).

A Workbench stands for one model, three texts, a hook point and centering; what is computed from it and
memoised (core.vocab, core.steer) belongs to it, and goes when it goes.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_COMPANIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def companion(bench, make: Callable[[object], T]) -> T:
    """The one ``make(bench)`` of ``bench``, built on first use (``make`` may raise; nothing is kept then)."""
    found = _COMPANIONS.setdefault(bench, {})
    if make not in found:
        found[make] = make(bench)
    return found[make]
