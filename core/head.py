"""The model's output head: its final norm and its output embedding (unembedding) matrix, per architecture.

``core.models`` loads the base model (no language-model head) so that hook paths stay those of the
base model. The head is found here, once per loaded model, without loading a second model:

- a tied head (GPT-2, GPT-Neo, OPT: ``tie_word_embeddings``) *is* the input embedding matrix;
- an untied head (Llama, Mistral, Qwen, GPT-NeoX) is read from the checkpoint's safetensors files
  (``lm_head.weight``, NeoX ``embed_out.weight``), a single tensor, onto the model's device;
- encoders (BERT, RoBERTa) and decoders whose files hold no head have no output head: their input
  embedding matrix stands in, with the raw projection only, and ``note`` says so.

The base models apply their final norm themselves, so next-token logits are
``last_hidden_state @ W.T``; a single vector v reads as ``final(v) @ W.T`` (the logit lens).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .models import LoadedModel


@dataclass(frozen=True)
class HeadLayout:
    """Where one architecture keeps its head: ``final`` module paths applied to the residual stream before
    unembedding (in order; a path whose module is None is skipped), and the head's tensor name on disk."""

    final: tuple[str, ...]
    weight: str


_LLAMA_LIKE = HeadLayout(("norm",), "lm_head.weight")

HEAD_LAYOUTS = {
    "gpt2": HeadLayout(("ln_f",), "lm_head.weight"),
    "gpt_neo": HeadLayout(("ln_f",), "lm_head.weight"),
    "gpt_neox": HeadLayout(("final_layer_norm",), "embed_out.weight"),
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    # Post-norm OPT has no final norm (None); OPT-350m projects from 1024 to 512 dims before its head.
    "opt": HeadLayout(("decoder.final_layer_norm", "decoder.project_out"), "lm_head.weight"),
}


class NoOutputHead(ValueError):
    """The model has no output head (an encoder, or a decoder whose files hold none)."""


@dataclass(frozen=True)
class OutputHead:
    """``W`` [vocab, d] float32 on the model's device; ``final`` the modules before it (empty without a head).

    ``predicts`` is True when ``W`` is the model's real output embedding (next-token logits exist);
    False when the input embedding stands in for a missing head. ``note`` is one sentence for the user.
    """

    W: torch.Tensor
    final: tuple[nn.Module, ...]
    predicts: bool
    note: str

    @property
    def vocab_size(self) -> int:
        return int(self.W.shape[0])

    def normed(self, vectors: torch.Tensor) -> torch.Tensor:
        """The final norm (and projection) of ``vectors`` [n, d] as the model applies it: [n, d'] float32."""
        out = vectors
        for module in self.final:
            parameter = next(module.parameters(), None)
            if parameter is not None:
                out = out.to(device=parameter.device, dtype=parameter.dtype)
            out = module(out)
        return out.float()

    def logits(self, vectors: torch.Tensor) -> torch.Tensor:
        """``vectors`` [n, d'] times the output embedding: [n, vocab] float32."""
        return vectors.to(device=self.W.device, dtype=torch.float32) @ self.W.T

    def require_prediction(self) -> None:
        if not self.predicts:
            raise NoOutputHead(f"Steering needs a model that predicts the next token: {self.note}")


def output_head(model: LoadedModel) -> OutputHead:
    """The head of ``model``, found once and kept in ``model.extras``."""
    head = model.extras.get("output_head")
    if head is None:
        head = model.extras["output_head"] = _find_head(model)
    return head


def _find_head(model: LoadedModel) -> OutputHead:
    base = model.model
    config = base.config
    embedding = base.get_input_embeddings().weight.detach()
    layout = HEAD_LAYOUTS.get(config.model_type)
    if layout is None:
        return OutputHead(
            embedding.float(),
            (),
            False,
            f"“{model.name}” is an encoder ({config.model_type}) without an output head: its input embedding "
            "matrix is used instead, with the raw projection (no final norm).",
        )
    final = tuple(m for m in (_optional_module(base, path) for path in layout.final) if m is not None)
    if getattr(config.get_text_config(), "tie_word_embeddings", False):
        return OutputHead(
            embedding.float(), final, True, f"“{model.name}”'s output embedding is its input embedding (tied)."
        )
    weight = _read_tensor(base, layout.weight)
    if weight is None:
        return OutputHead(
            embedding.float(),
            (),
            False,
            f"“{model.name}” has an untied output head but its files hold no {layout.weight}: its input embedding "
            "matrix is used instead, with the raw projection (no final norm).",
        )
    weight = weight.to(device=embedding.device, dtype=torch.float32)
    return OutputHead(weight, final, True, f"“{model.name}”'s output embedding ({layout.weight}, untied).")


def _optional_module(base: nn.Module, path: str) -> nn.Module | None:
    owner, _, name = path.rpartition(".")
    parent = base.get_submodule(owner) if owner else base
    return getattr(parent, name, None)


def _read_tensor(base: nn.Module, name: str) -> torch.Tensor | None:
    """Tensor ``name`` from the safetensors files of ``base``'s folder (a single tensor is read), or None."""
    from safetensors import safe_open

    folder = Path(getattr(base, "name_or_path", "") or "")
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            if name in handle.keys():
                return handle.get_tensor(name)
    return None
