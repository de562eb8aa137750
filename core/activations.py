"""One text's captured vectors at every layer (what the activation cache and the disk store hold)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TextActivations:
    """One text's hooked vectors at every layer.

    ``token_ids`` [n_tokens] and ``labels`` (the decoding of each single token) cover every input
    position fed to the model, ``readable`` is the same labels made legible (core.labels); ``special`` [n_tokens] marks tokens the tokenizer added;
    ``vectors`` is float32 [n_layers, n_tokens, d]. ``n_tokens_full`` counts the tokens before
    truncation to the model's context.
    """

    text: str
    hook: str
    token_ids: np.ndarray
    labels: tuple[str, ...]
    special: np.ndarray
    vectors: np.ndarray
    n_tokens_full: int
    readable: tuple[str, ...] = ()

    @property
    def truncated(self) -> bool:
        return self.n_tokens_full > len(self.token_ids)

    @property
    def nbytes(self) -> int:
        return self.vectors.nbytes + self.token_ids.nbytes + self.special.nbytes

    def positions(self, skip_first: bool = True) -> np.ndarray:
        """Indices of the analysed positions: not special, and not position 0 if ``skip_first``."""
        keep = ~self.special
        if skip_first and len(keep):
            keep = keep.copy()
            keep[0] = False
        return np.flatnonzero(keep)

    def analysed(self, skip_first: bool = True) -> tuple[list[str], np.ndarray]:
        """Labels of the analysed tokens and their vectors [n_layers, n_analysed, d]."""
        pos = self.positions(skip_first)
        return [self.labels[p] for p in pos], self.vectors[:, pos, :]
