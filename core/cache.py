"""Activation capture: one forward pass per (model, hook point, text), kept in a bounded LRU cache."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from .activations import TextActivations
from .checks import TextError, check_hook
from .diskcache import DiskStore
from .labels import readable_labels
from .lru import ByteLRU
from .models import LoadedModel

MEMORY_BYTES = 1 << 30  # 1 GiB of cached vectors in memory


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

    def __init__(self, max_bytes: int = MEMORY_BYTES, disk: DiskStore | None = None):
        self.disk = disk
        self.forward_passes = 0
        self.disk_hits = 0
        self._entries = ByteLRU(max_bytes, lambda entry: entry.nbytes)

    @property
    def max_bytes(self) -> int:
        return self._entries.max_bytes

    @property
    def nbytes(self) -> int:
        return self._entries.nbytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, model: LoadedModel, text: str, hook: str = "mlp_out") -> TextActivations:
        key = (model.key, hook, text)
        entry = self._entries.get(key)
        if entry is not None:
            return entry
        entry = self.disk.get(model, text, hook) if self.disk is not None else None
        if entry is not None:
            self.disk_hits += 1
        else:
            entry = capture(model, text, hook)
            self.forward_passes += 1
            if self.disk is not None:
                self.disk.put(entry, model)
        self._entries.put(key, entry)
        return entry

    def clear(self) -> None:
        self._entries.clear()
