"""Vocabulary projection: what a vector of the residual stream's width reads as, token by token.

For a vector v [d] at a layer (the target tau = m_B + alpha (m_B - m_A), or a mean vector):

- ``logit lens`` (nostalgebraist 2020): the output embedding applied to the model's final norm of v,
  W_U final(v) (GPT-2: ``lm_head(ln_f(v))``);
- ``raw`` (Geva et al. 2022): the output embedding applied to v alone, W_U v.

Logits are float32, one per vocabulary id. Models without an output head (BERT encoders) use their
input embedding matrix with ``raw`` only (core.head). ``mlp_neurons`` vectors are the MLP's hidden
activations, not vectors of the residual stream's width: they have no vocabulary reading.
With mean-centering on, the vectors are the centered ones (core.workbench).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from .analysis import target_vector
from .checks import InputError
from .companions import companion
from .head import OutputHead, output_head

LENSES = ("logit lens", "raw")
DEFAULT_LENS = "logit lens"
D_MODEL_HOOKS = ("mlp_out", "attn_out", "resid_post")
READINGS = ("target", "mean_a", "mean_b")
MEMO_ENTRIES = 512

Entry = tuple[int, str, float]  # (vocabulary id, the tokenizer's decoding of that one id, logit)


class VocabError(InputError):
    """A vector cannot be read through the vocabulary; the message says why in one sentence."""


def check_lens(lens: str) -> str:
    if lens not in LENSES:
        raise VocabError(f"Unknown lens '{lens}': choose 'logit lens' or 'raw'.")
    return lens


def check_hook_space(hook: str, width: int, d_model: int) -> None:
    """Refuse vectors that do not live in the residual stream's d_model space."""
    if hook not in D_MODEL_HOOKS or width != d_model:
        raise VocabError(
            f"{hook} vectors are {width} wide, the MLP's hidden activations, not vectors of the {d_model}-dimensional "
            f"residual stream: the vocabulary can only read {', '.join(D_MODEL_HOOKS)}."
        )


def effective_lens(head: OutputHead, lens: str) -> str:
    """The lens actually used: ``raw`` when the model has no output head (and so no final norm)."""
    return check_lens(lens) if head.predicts else "raw"


def project(head: OutputHead, vectors: np.ndarray, lens: str) -> torch.Tensor:
    """Logits of ``vectors`` [n, d] through the vocabulary: [n, vocab] float32 (on the head's device)."""
    V = torch.as_tensor(np.asarray(vectors, dtype=np.float32), device=head.W.device)
    with torch.inference_mode():
        if effective_lens(head, lens) == "logit lens":
            V = head.normed(V)
        return head.logits(V)


def extremes(logits: torch.Tensor, k: int, largest: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The k largest (or smallest) logits of each row: ids [n, k'] and logits [n, k'], k' = min(k, vocab),
    ordered from the most extreme; ties go to the lower id."""
    k = min(int(k), logits.shape[-1])
    values, ids = torch.topk(logits, k, dim=-1, largest=largest, sorted=True)
    return ids.cpu().numpy(), values.cpu().numpy()


@dataclass(frozen=True)
class Reading:
    """The k top and bottom vocabulary entries of one vector."""

    top: list[Entry]
    bottom: list[Entry]


class VocabReader:
    """Vocabulary readings of one Workbench's vectors, memoised per (layer, alpha, lens, k).

    Raises VocabError when the bench's hook point has no d_model space. ``lens_used(lens)`` is the
    lens a request is answered with (``raw`` without an output head); ``note`` says which matrix is used.
    """

    def __init__(self, bench):
        width = bench.X("A").shape[-1]
        check_hook_space(bench.hook, width, bench.model.d_model)
        self.bench = bench
        self.head = output_head(bench.model)
        self._tokenizer = bench.model.tokenizer
        self._texts: dict[int, str] = {}
        self._memo: OrderedDict[tuple, object] = OrderedDict()

    @property
    def note(self) -> str:
        return self.head.note

    def lens_used(self, lens: str) -> str:
        return effective_lens(self.head, lens)

    def text(self, token_id: int) -> str:
        """The tokenizer's decoding of one id."""
        text = self._texts.get(token_id)
        if text is None:
            text = self._texts[token_id] = self._tokenizer.decode([int(token_id)])
        return text

    def _entries(self, ids: np.ndarray, values: np.ndarray) -> list[Entry]:
        return [(int(i), self.text(int(i)), float(v)) for i, v in zip(ids, values, strict=True)]

    def _memoised(self, key: tuple, compute):
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        value = self._memo[key] = compute()
        while len(self._memo) > MEMO_ENTRIES:
            self._memo.popitem(last=False)
        return value

    def vectors(self, layer: int, alpha: float) -> np.ndarray:
        """The target, mean A and mean B at ``layer``: [3, d] float64 (READINGS order)."""
        result = self.bench.target(layer, alpha)
        return np.stack([result.target, result.mean_a, result.mean_b])

    def at_layer(self, layer: int, alpha: float, lens: str, k: int) -> dict[str, Reading]:
        """Top and bottom k entries of the target, mean A and mean B at ``layer`` (keys: READINGS)."""
        lens = self.lens_used(lens)

        def compute() -> dict[str, Reading]:
            logits = project(self.head, self.vectors(layer, alpha), lens)
            top_ids, top_values = extremes(logits, k)
            low_ids, low_values = extremes(logits, k, largest=False)
            return {
                name: Reading(
                    self._entries(top_ids[row], top_values[row]), self._entries(low_ids[row], low_values[row])
                )
                for row, name in enumerate(READINGS)
            }

        return self._memoised(("layer", layer, float(alpha), lens, int(k)), compute)

    def through_layers(self, alpha: float, lens: str, k: int) -> list[list[Entry]]:
        """The target's top k entries at every layer: [n_layers][k'] (one batched projection)."""
        lens = self.lens_used(lens)

        def compute() -> list[list[Entry]]:
            means_a = self.bench.X("A").mean(axis=1, dtype=np.float64)
            means_b = self.bench.X("B").mean(axis=1, dtype=np.float64)
            ids, values = extremes(project(self.head, target_vector(means_a, means_b, alpha), lens), k)
            return [self._entries(row_ids, row_values) for row_ids, row_values in zip(ids, values, strict=True)]

        return self._memoised(("layers", float(alpha), lens, int(k)), compute)


def reader(bench) -> VocabReader:
    """The one VocabReader of ``bench`` (kept as long as the bench lives); VocabError without d_model space."""
    return companion(bench, VocabReader)
