"""Activation capture: one forward pass per (model, hook point, text), kept in a bounded LRU cache."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from .labels import readable_labels
from .models import LoadedModel, check_hook

if TYPE_CHECKING:
    from .diskcache import DiskStore

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB of cached vectors


class TextError(ValueError):
    """A text cannot be analysed; the message says which text and what to do."""


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


@contextmanager
def hooked(model: LoadedModel, hook: str) -> Iterator[list]:
    """Attach a forward hook at ``hook`` in every block; yield the per-layer list it fills.

    Each entry becomes the tensor [n_tokens, d] seen at that layer (the batch holds one text). Every handle is
    removed on exit, also when the forward pass raises.
    """
    check_hook(hook)
    store: list = [None] * model.n_layers
    handles = []

    def grabber(layer: int, side: str):
        def grab(module, args, output):
            value = args[0] if side == "input" else (output[0] if isinstance(output, tuple) else output)
            # Batch of one: [1, n_tokens, d], or [n_tokens, d] where a block flattens batch and
            # sequence around its MLP (OPT's fc1/fc2).
            store[layer] = value.detach().reshape(-1, value.shape[-1])

        return grab

    try:
        for layer in range(model.n_layers):
            module, side = model.site(layer, hook)
            handles.append(module.register_forward_hook(grabber(layer, side)))
        yield store
    finally:
        for handle in handles:
            handle.remove()


def tokenize(model: LoadedModel, text: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Token ids [n] and special-token mask [n] of ``text`` cut to the context, and the uncut count.

    (Tokenizing twice only when the text is too long is cheaper than asking for overflow.)
    """
    from transformers.utils import logging as hf_logging

    tokenizer = model.tokenizer
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        full = tokenizer(text, return_special_tokens_mask=True)
        n_full = len(full["input_ids"])
        enc = full
        if n_full > model.context:
            enc = tokenizer(text, return_special_tokens_mask=True, truncation=True, max_length=model.context)
    finally:
        hf_logging.set_verbosity(verbosity)
    ids = np.asarray(enc["input_ids"], dtype=np.int64)
    special = np.asarray(enc["special_tokens_mask"], dtype=bool)
    return ids, special, n_full


def capture(model: LoadedModel, text: str, hook: str = "mlp_out") -> TextActivations:
    """Run one forward pass of ``text`` and return its vectors at ``hook`` for every layer."""
    ids, special, n_full = tokenize(model, text)
    if len(ids) == 0:
        raise TextError("The text is empty: type a few words.")
    labels = tuple(model.tokenizer.decode([int(i)]) for i in ids)
    readable = tuple(readable_labels(text, labels, _offsets(model, text, len(ids))))
    input_ids = torch.as_tensor(ids, device=model.device)[None, :]
    with hooked(model, hook) as store, torch.inference_mode():
        model.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
    # With a device_map the layers may sit on several devices: each vector comes to the CPU first.
    vectors = torch.stack([vector.to(device="cpu", dtype=torch.float32) for vector in store]).numpy()
    return TextActivations(text, hook, ids, labels, special, vectors, n_full, readable)


def _offsets(model: LoadedModel, text: str, n_tokens: int) -> list[tuple[int, int]] | None:
    """Character span of each of the first ``n_tokens`` tokens (fast tokenizers only; else None)."""
    if not getattr(model.tokenizer, "is_fast", False):
        return None
    spans = model.tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    return [tuple(span) for span in spans[:n_tokens]] if len(spans) >= n_tokens else None


class ActivationCache:
    """LRU cache of TextActivations keyed by (model key, hook, text), bounded by ``max_bytes``.

    On a memory miss the ``disk`` store (core.diskcache), if any, is read before running a forward
    pass, and every forward pass's result is written to it. ``forward_passes`` counts the forward
    passes actually run; ``disk_hits`` the memory misses answered from disk.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, disk: DiskStore | None = None):
        self.max_bytes = int(max_bytes)
        self.disk = disk
        self.forward_passes = 0
        self.disk_hits = 0
        self._entries: OrderedDict[tuple[str, str, str], TextActivations] = OrderedDict()

    @property
    def nbytes(self) -> int:
        return sum(entry.nbytes for entry in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, model: LoadedModel, text: str, hook: str = "mlp_out") -> TextActivations:
        key = (model.key, hook, text)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry
        entry = self.disk.get(model, text, hook) if self.disk is not None else None
        if entry is not None:
            self.disk_hits += 1
        else:
            entry = capture(model, text, hook)
            self.forward_passes += 1
            if self.disk is not None:
                self.disk.put(entry, model)
        self._entries[key] = entry
        self._evict()
        return entry

    def clear(self) -> None:
        self._entries.clear()

    def _evict(self) -> None:
        total = self.nbytes
        while total > self.max_bytes and len(self._entries) > 1:
            _, oldest = self._entries.popitem(last=False)
            total -= oldest.nbytes
