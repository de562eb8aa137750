"""Steering by activation addition (Turner et al. 2023): what the target *does* to the model's next words.

At layer l, ``s * r * t / |t|`` is added to the output of the hooked module (``mlp_out``, ``attn_out`` or
``resid_post``) at every position of the prompt (and of the greedy continuation), where

- t [d] is the steering direction at l: ``target`` (tau = m_B + alpha (m_B - m_A), of the centered vectors
  when mean-centering is on, as the app computes it) or ``trend`` (m_B - m_A alone);
- r is the mean norm of that hook's vectors over C's analysed tokens at l, as captured (never centered),
  so that s = 1 adds a vector as long as a typical one at that point;
- s is the strength (0 = off: the plain model's probabilities, exactly).

A run costs two forward passes of the prompt (plain and steered) plus, for a continuation of N tokens,
N - 1 passes of one token each way with the prompt's key/value cache (greedy: the most probable token each
time, ties to the lower id; no sampling; the steering vector is added at the new positions too). The hook
is removed in ``finally``, also when the forward pass raises; it acts only in the thread that attached
it, so a forward pass another thread runs meanwhile (the app capturing a new text) is not steered.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from .cache import tokenize
from .checks import InputError
from .companions import companion
from .head import OutputHead, output_head
from .models import LoadedModel

STEER_HOOKS = ("mlp_out", "attn_out", "resid_post")
DIRECTIONS = ("target", "trend")
DEFAULT_STRENGTH = 4.0
MAX_STRENGTH = 100.0  # |s| r beyond a hundred typical norms only shows that a big enough push breaks any model
DEFAULT_GENERATE = 20
MAX_GENERATE = 200
TOP = 10
MEMO_ENTRIES = 64

Entry = tuple[int, str, float]  # (vocabulary id, the tokenizer's decoding of that one id, probability)
Progress = Callable[[int, int], None]  # (forward passes done, forward passes in all)


class SteerError(InputError):
    """Steering cannot run with these settings; the message says why in one sentence."""


def check_strength(strength: float) -> float:
    strength = float(strength)
    if not math.isfinite(strength) or abs(strength) > MAX_STRENGTH:
        raise SteerError(
            f"Steering strength must be a number between -{MAX_STRENGTH:g} and {MAX_STRENGTH:g}, got {strength}."
        )
    return strength


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise SteerError(f"Unknown steering direction '{direction}': choose 'target' or 'trend'.")
    return direction


def check_steer_hook(hook: str) -> str:
    if hook not in STEER_HOOKS:
        raise SteerError(
            f"Steering adds a vector to the residual stream: {hook} has no d_model space, choose one of "
            f"{', '.join(STEER_HOOKS)}."
        )
    return hook


def check_generate(n: int) -> int:
    if not 0 <= int(n) <= MAX_GENERATE:
        raise SteerError(f"The continuation must be 0 to {MAX_GENERATE} tokens long, got {n}.")
    return int(n)


@dataclass(frozen=True)
class SteeringResult:
    """One steering run. ``plain_probs``/``steered_probs`` [vocab] float64 are the next-token distributions
    after the prompt; ``kl`` = KL(plain || steered) in nats; texts are None when no continuation was asked.
    ``n_prompt_full`` counts the prompt's tokens before it was cut to ``len(prompt_ids)``; ``scale`` is r.
    """

    layer: int
    strength: float
    direction: str
    hook: str
    prompt: str
    prompt_ids: tuple[int, ...]
    n_prompt_full: int
    scale: float
    plain_probs: np.ndarray
    steered_probs: np.ndarray
    plain_top: list[Entry]
    steered_top: list[Entry]
    kl: float
    plain_text: str | None
    steered_text: str | None

    @property
    def truncated(self) -> bool:
        return self.n_prompt_full > len(self.prompt_ids)


def steering_vector(bench, layer: int, alpha: float, direction: str) -> tuple[np.ndarray, float]:
    """The unit direction t / |t| [d] float64 at ``layer`` and the scale r (mean norm of C's analysed
    vectors there, as captured)."""
    check_direction(direction)
    check_steer_hook(bench.hook)
    result = bench.target(layer, alpha)
    t = result.target if direction == "target" else result.mean_b - result.mean_a
    size = float(np.linalg.norm(t))
    if not size > 0 or not math.isfinite(size):
        raise SteerError(
            f"The {direction} direction is zero at layer {layer} (texts A and B have the same mean there): "
            "nothing to steer with."
        )
    C = np.asarray(bench.texts["C"].X[layer], dtype=np.float64)
    return t / size, float(np.linalg.norm(C, axis=-1).mean())


@contextmanager
def added(model: LoadedModel, layer: int, hook: str, delta: torch.Tensor) -> Iterator[None]:
    """Add ``delta`` [d] to the output of ``hook`` in block ``layer`` (every position) while inside, in this
    thread only; the hook is removed on exit, also when the forward pass raises."""
    check_steer_hook(hook)
    module, _ = model.site(layer, hook)
    owner = threading.get_ident()

    def add(module, args, output):
        if threading.get_ident() != owner:
            return None
        if isinstance(output, tuple):
            return (output[0] + delta.to(output[0].dtype), *output[1:])
        return output + delta.to(output.dtype)

    handle = module.register_forward_hook(add)
    try:
        yield
    finally:
        handle.remove()


def next_logits(model: LoadedModel, head: OutputHead, ids: list[int], past=None) -> tuple[torch.Tensor, object]:
    """Next-token logits [vocab] float32 after ``ids`` (following the cached ``past`` positions, if any), and the
    cache that now includes ``ids``. The base model applies its final norm itself."""
    input_ids = torch.as_tensor([ids], device=model.device)
    name = _cache_argument(model)
    with torch.inference_mode():
        out = model.model(input_ids=input_ids, use_cache=True, **{name: past})
        return head.logits(out.last_hidden_state[0, -1:])[0], getattr(out, name)


def _cache_argument(model: LoadedModel) -> str:
    """The key/value cache's name in the forward pass and its output: ``cache`` (transformers 5.2x) or
    ``past_key_values`` (before)."""
    return "cache" if "cache" in inspect.signature(model.model.forward).parameters else "past_key_values"


def _continue(model, head, logits, past, n: int, step: Callable[[], None]) -> list[int]:
    """Greedy continuation by up to ``n`` tokens from the prompt's ``logits`` and cache ``past`` (one forward
    pass of one token per further token; stops at the end-of-text token)."""
    out: list[int] = []
    eos = model.tokenizer.eos_token_id
    while True:
        token = int(torch.argmax(logits))  # ties: the lower id
        out.append(token)
        if token == eos or len(out) == n:
            return out
        logits, past = next_logits(model, head, [token], past)
        step()


def _top(probs: np.ndarray, tokenizer, k: int = TOP) -> list[Entry]:
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(i), tokenizer.decode([int(i)]), float(probs[i])) for i in order]


def steer(
    model: LoadedModel,
    prompt: str,
    layer: int,
    hook: str,
    unit: np.ndarray,
    scale: float,
    strength: float,
    *,
    direction: str = "target",
    generate: int = DEFAULT_GENERATE,
    progress: Progress | None = None,
) -> SteeringResult:
    """Run ``prompt`` plainly and with ``strength * scale * unit`` added at ``hook`` of block ``layer``.

    The prompt is cut to the context less the continuation's ``generate`` tokens (``truncated`` says so).
    """
    strength, generate = check_strength(strength), check_generate(generate)
    check_steer_hook(hook)
    if not prompt or not prompt.strip():
        raise SteerError("The steering prompt is empty: type a few words.")
    if not 0 <= layer < model.n_layers:
        raise SteerError(f"Layer {layer} is out of range: this model has layers 0 to {model.n_layers - 1}.")
    head = output_head(model)
    head.require_prediction()
    ids, _, n_full = tokenize(model, prompt)
    ids = [int(i) for i in ids[: max(1, model.context - generate)]]
    if not ids:
        raise SteerError("The steering prompt has no tokens: type a few words.")
    total, done = 2 + 2 * max(generate - 1, 0), [0]

    def step() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    delta = torch.as_tensor(strength * scale * np.asarray(unit, dtype=np.float64), dtype=torch.float32)
    delta = delta.to(model.device)
    plain, plain_past = next_logits(model, head, ids)
    step()
    with added(model, layer, hook, delta):
        steered, steered_past = next_logits(model, head, ids)
        step()
        steered_ids = _continue(model, head, steered, steered_past, generate, step) if generate else None
    plain_ids = _continue(model, head, plain, plain_past, generate, step) if generate else None
    if progress is not None:
        progress(total, total)  # a continuation that ended early leaves passes unrun
    log_p = torch.log_softmax(plain.double(), dim=-1)
    log_q = torch.log_softmax(steered.double(), dim=-1)
    p, q = log_p.exp().cpu().numpy(), log_q.exp().cpu().numpy()
    kl = float(torch.sum(log_p.exp() * (log_p - log_q)))
    decode = model.tokenizer.decode
    return SteeringResult(
        layer=layer,
        strength=strength,
        direction=direction,
        hook=hook,
        prompt=prompt,
        prompt_ids=tuple(ids),
        n_prompt_full=n_full,
        scale=scale,
        plain_probs=p,
        steered_probs=q,
        plain_top=_top(p, model.tokenizer),
        steered_top=_top(q, model.tokenizer),
        kl=max(kl, 0.0),
        plain_text=decode(plain_ids) if plain_ids is not None else None,
        steered_text=decode(steered_ids) if steered_ids is not None else None,
    )


class Steerer:
    """Steering runs on one Workbench's texts, hook and centering, memoised per
    (prompt, layer, alpha, strength, direction, continuation length)."""

    def __init__(self, bench):
        check_steer_hook(bench.hook)
        self.bench = bench
        self._memo: OrderedDict[tuple, SteeringResult] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(prompt, layer, alpha, strength, direction, generate) -> tuple:
        return (prompt, int(layer), float(alpha), float(strength), direction, int(generate))

    def cached(self, *key_parts) -> SteeringResult | None:
        return self._memo.get(self.key(*key_parts))

    def run(
        self,
        prompt: str,
        layer: int,
        alpha: float,
        strength: float,
        direction: str = "target",
        generate: int = DEFAULT_GENERATE,
        progress: Progress | None = None,
    ) -> SteeringResult:
        key = self.key(prompt, layer, alpha, check_strength(strength), check_direction(direction), generate)
        found = self._memo.get(key)
        if found is not None:
            return found
        unit, scale = steering_vector(self.bench, layer, alpha, direction)
        with self._lock:  # one steering run at a time per bench: the hook is attached per run
            result = steer(
                self.bench.model, prompt, layer, self.bench.hook, unit, scale, strength,
                direction=direction, generate=generate, progress=progress,
            )  # fmt: skip
            self._memo[key] = result
            while len(self._memo) > MEMO_ENTRIES:
                self._memo.popitem(last=False)
        return result


def steerer(bench) -> Steerer:
    """The one Steerer of ``bench``; SteerError when its hook point cannot be steered."""
    return companion(bench, Steerer)
