"""Vocabulary projection: what a vector of the residual stream's width reads as, token by token.

For a vector v [d] at a layer (the target tau = m_B + alpha (m_B - m_A), or a mean vector):

- ``logit lens`` (nostalgebraist 2020): the output embedding applied to the model's final norm of v,
  W_U final(v) (GPT-2: ``lm_head(ln_f(v))``);
- ``raw`` (Geva et al. 2022): the output embedding applied to v alone, W_U v.

Logits come from float32 products with the output embedding, one per vocabulary id. Models without an output head (BERT encoders) use their
input embedding matrix with ``raw`` only (core.head). ``mlp_neurons`` vectors are the MLP's hidden
activations, not vectors of the residual stream's width: they have no vocabulary reading.
With mean-centering on, the vectors are the centered ones (core.workbench).

Speed (``Basis``): every vector read at a layer is x = m_B + alpha (m_B - m_A) (alpha = -1 and 0 give the means).
``raw`` is linear in x, and a LayerNorm final norm (GPT-2, GPT-Neo, GPT-NeoX) is linear in x up to one scalar:
ln(x) = gamma (x - mean x) / sqrt(var x + eps) + beta. So a layer needs the output embedding applied to two
vectors only, once (memoised, for every alpha), and the per-model constant W beta once. Other final norms (RMS
norms, OPT's projection) are applied as the model applies them, vector by vector. Top and bottom k come from a
partial sort (``extremes``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import analysis
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


def extremes(logits: np.ndarray, k: int, largest: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The k largest (or smallest) logits of each row of ``logits`` [n, vocab]: ids [n, k'] and logits [n, k'],
    k' = min(k, vocab), ordered from the most extreme; ties go to the lower id.

    torch's partial sort finds each row's k-th value; the ids at or beyond it are then ordered here, so ties
    at the k-th value are settled by id whatever order the partial sort left them in."""
    logits = np.ascontiguousarray(logits)
    k = min(int(k), logits.shape[-1])
    kth = torch.topk(torch.from_numpy(logits), k, dim=1, largest=largest, sorted=False).values
    thresholds = (kth.amin(dim=1) if largest else kth.amax(dim=1)).numpy()
    score = -logits if largest else logits  # ascending score = most extreme first
    ids = np.empty((len(logits), k), dtype=np.int64)
    for row, threshold in enumerate(-thresholds if largest else thresholds):
        candidates = np.flatnonzero(score[row] <= threshold)  # the k extremes and any ties at the k-th
        ids[row] = candidates[np.lexsort((candidates, score[row, candidates]))[:k]]
    return ids, np.take_along_axis(logits, ids, axis=1)


def layer_norm(head: OutputHead) -> nn.LayerNorm | None:
    """The head's final norm when it is one LayerNorm over the vector (the logit lens is then ``Basis``-linear)."""
    if len(head.final) == 1 and type(head.final[0]) is nn.LayerNorm and len(head.final[0].normalized_shape) == 1:
        return head.final[0]
    return None


def products(W: torch.Tensor, vectors: np.ndarray) -> np.ndarray:
    """W [vocab, d] times each of ``vectors`` [n, d]: [n, vocab] float32.

    As W @ V^T, W's rows in their stored order: for a few vectors this is one read of W (memory-bound), which
    torch's product streams on all its threads (the transposed form, V @ W^T, is several times slower)."""
    V = torch.as_tensor(np.asarray(vectors, dtype=np.float32), device=W.device)
    with torch.inference_mode():
        return (W @ V.T).T.cpu().numpy()


@dataclass(frozen=True)
class Basis:
    """Logits of every x = m_B + alpha (m_B - m_A) at one layer from two products with W [vocab, d].

    ``means`` [2, d] float64 (m_A, m_B); ``products`` [2, vocab] float32: W m for ``raw``, W (gamma (m - mean m))
    through a LayerNorm (gamma, beta, ``eps``), whose logits are then
    [(1 + alpha) P_B - alpha P_A] / sqrt(var x + eps) + W beta (``offset`` [vocab]); ``eps`` is None for raw.
    """

    means: np.ndarray
    products: np.ndarray
    offset: np.ndarray | None
    eps: float | None

    def logits(self, alphas) -> np.ndarray:
        """Logits of x = m_B + alpha (m_B - m_A) for each of ``alphas`` [n]: [n, vocab] float64."""
        alphas = np.asarray(alphas, dtype=np.float64)
        weights = np.stack([-alphas, 1.0 + alphas], axis=1)  # [n, 2]: the weights of m_A and m_B
        out = weights @ self.products
        if self.eps is not None:
            x = weights @ self.means
            out *= (1.0 / np.sqrt(x.var(axis=1) + self.eps))[:, None]
            out += self.offset
        return out


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
        self._basis: dict[tuple[int, str], Basis] = {}  # (layer, lens): 2 x vocab float32 each, kept
        self._offset: np.ndarray | None = None  # W beta of the final LayerNorm, once found

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

    def _linear(self, lens: str) -> bool:
        return lens == "raw" or layer_norm(self.head) is not None

    def _bases(self, layers, lens: str) -> list[Basis]:
        """The ``Basis`` of each of ``layers`` for ``lens`` (a linear one); the missing ones (and W beta, the first
        time) in one product."""
        missing = [layer for layer in layers if (layer, lens) not in self._basis]
        if missing:
            means = [np.stack([(r := self.bench.target(layer, 1.0)).mean_a, r.mean_b]) for layer in missing]
            norm = layer_norm(self.head) if lens == "logit lens" else None
            if norm is None:
                found = products(self.head.W, np.concatenate(means)).reshape(len(missing), 2, -1)
                offset = eps = None
            else:
                gamma = 1.0 if norm.weight is None else norm.weight.detach().double().cpu().numpy()
                rows = [gamma * (m - m.mean(axis=1, keepdims=True)) for m in means]
                beta = [] if norm.bias is None or self._offset is not None else [norm.bias.detach().double().cpu()]
                found = products(self.head.W, np.concatenate(rows + [b.numpy()[None] for b in beta]))
                if self._offset is None:
                    self._offset = found[-1] if beta else np.zeros(found.shape[1], np.float32)
                found = found[: 2 * len(missing)].reshape(len(missing), 2, -1)
                offset, eps = self._offset, float(norm.eps)
            for layer, m, product in zip(missing, means, found, strict=True):
                self._basis[layer, lens] = Basis(m, product, offset, eps)
        return [self._basis[layer, lens] for layer in layers]

    def _logits(self, layer: int, alphas, lens: str) -> np.ndarray:
        """Logits of m_B + alpha (m_B - m_A) at ``layer`` for each of ``alphas``: [n, vocab]."""
        if self._linear(lens):
            return self._bases([layer], lens)[0].logits(alphas)
        result = self.bench.target(layer, 1.0)
        vectors = [analysis.target_vector(result.mean_a, result.mean_b, alpha) for alpha in alphas]
        return project(self.head, np.stack(vectors), lens).cpu().numpy()

    def at_layer(self, layer: int, alpha: float, lens: str, k: int) -> dict[str, Reading]:
        """Top and bottom k entries of the target, mean A and mean B at ``layer`` (keys: READINGS)."""
        lens = self.lens_used(lens)

        def compute() -> dict[str, Reading]:
            logits = self._logits(layer, [alpha, -1.0, 0.0], lens)  # the target, mean A, mean B
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
            layers = range(self.bench.n_layers)
            if self._linear(lens):
                logits = np.concatenate([basis.logits([alpha]) for basis in self._bases(layers, lens)])
            else:
                means_a = self.bench.X("A").mean(axis=1, dtype=np.float64)
                means_b = self.bench.X("B").mean(axis=1, dtype=np.float64)
                logits = project(self.head, analysis.target_vector(means_a, means_b, alpha), lens).cpu().numpy()
            ids, values = extremes(logits, k)
            return [self._entries(row_ids, row_values) for row_ids, row_values in zip(ids, values, strict=True)]

        return self._memoised(("layers", float(alpha), lens, int(k)), compute)


def reader(bench) -> VocabReader:
    """The one VocabReader of ``bench`` (kept as long as the bench lives); VocabError without d_model space."""
    return companion(bench, VocabReader)
