"""The activation cache: one forward pass per (model, hook, text), bounded memory, hooks always removed."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest

from core.cache import ActivationCache, capture
from core.checks import TextError
from core.texts import DEFAULT_TEXTS, analyse_text, analyse_texts
from tests.tiny import CORPUS

TEXT = DEFAULT_TEXTS["C"]


@contextmanager
def counting_forward_passes(model):
    """Count calls of the whole model's forward (independently of the cache's own counter)."""
    calls = []
    handle = model.model.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


def all_forward_hooks(model) -> dict[str, list]:
    """Every module that holds forward (or forward pre-) hooks: name -> the hooks."""
    out = {}
    for name, module in model.model.named_modules():
        hooks = list(module._forward_hooks.values()) + list(module._forward_pre_hooks.values())
        if hooks:
            out[name] = hooks
    return out


def test_one_forward_pass_per_model_hook_and_text(tiny_gpt2, tiny_gpt2_dir):
    """Asking again for the same (model, hook, text) reuses the vectors; any new key runs exactly one pass."""
    from core.models import load_model

    cache = ActivationCache()
    other = load_model(str(tiny_gpt2_dir))  # same weights, but a distinct LoadedModel with the same key
    with counting_forward_passes(tiny_gpt2) as calls:
        first = cache.get(tiny_gpt2, TEXT, "mlp_out")
        assert cache.get(tiny_gpt2, TEXT, "mlp_out") is first
        assert (cache.forward_passes, len(calls)) == (1, 1)
        cache.get(tiny_gpt2, TEXT, "mlp_neurons")
        cache.get(tiny_gpt2, DEFAULT_TEXTS["A"], "mlp_out")
        assert (cache.forward_passes, len(calls)) == (3, 3)
        analyse_texts(tiny_gpt2, cache, {"A": DEFAULT_TEXTS["A"], "B": TEXT, "C": TEXT})  # all cached
        assert (cache.forward_passes, len(calls)) == (3, 3)
    assert cache.get(other, TEXT, "mlp_out") is first  # the key is the weights' folder, not the object
    assert cache.forward_passes == 3 and len(cache) == 3


def test_one_forward_pass_captures_every_layer_at_once(tiny_gpt2):
    """capture returns ids, labels and [n_layers, n_tokens, d] float32 from a single forward pass."""
    with counting_forward_passes(tiny_gpt2) as calls:
        acts = capture(tiny_gpt2, TEXT, "mlp_out")
    assert len(calls) == 1
    n = len(acts.token_ids)
    assert acts.vectors.shape == (tiny_gpt2.n_layers, n, tiny_gpt2.d_model)
    assert acts.vectors.dtype == np.float32
    assert acts.token_ids.tolist() == tiny_gpt2.tokenizer(TEXT)["input_ids"]
    assert "".join(acts.labels) == TEXT
    assert list(acts.labels) == [tiny_gpt2.tokenizer.decode([i]) for i in acts.token_ids]
    assert not acts.truncated and acts.n_tokens_full == n


def test_memory_is_bounded_by_evicting_the_least_recently_used_text(tiny_gpt2):
    """With room for two texts, a third evicts the one used longest ago, which then needs a new pass."""
    texts = CORPUS[:3]
    sizes = [capture(tiny_gpt2, text, "mlp_out").nbytes for text in texts]
    cache = ActivationCache(max_bytes=sizes[0] + sizes[1] + min(sizes) // 2)
    first = cache.get(tiny_gpt2, texts[0])
    cache.get(tiny_gpt2, texts[1])
    assert cache.get(tiny_gpt2, texts[0]) is first  # texts[0] is now the most recently used
    cache.get(tiny_gpt2, texts[2])
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes
    assert cache.nbytes == sizes[0] + sizes[2]
    assert cache.forward_passes == 3
    assert cache.get(tiny_gpt2, texts[0]) is first
    assert cache.forward_passes == 3
    cache.get(tiny_gpt2, texts[1])  # evicted: computed again, and evicts texts[2]
    assert cache.forward_passes == 4
    assert cache.nbytes == sizes[0] + sizes[1]


def test_a_text_larger_than_the_budget_is_returned_but_kept_alone(tiny_gpt2):
    cache = ActivationCache(max_bytes=1)
    cache.get(tiny_gpt2, CORPUS[0])
    big = cache.get(tiny_gpt2, CORPUS[1])
    assert len(cache) == 1 and cache.get(tiny_gpt2, CORPUS[1]) is big
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


def test_hooks_are_removed_when_the_forward_pass_raises(tiny_gpt2_dir):
    """A block that raises mid-forward: the error propagates, and only the test's own hook is left.

    A fresh model has no hooks; transformers may add its own output recorders on a first forward pass,
    so the reference is the hooks present before the failing passes, plus the test's one.
    """
    from core.models import load_model

    class Broken(RuntimeError):
        pass

    def explode(module, args, output):
        raise Broken("block 2 failed")

    model = load_model(str(tiny_gpt2_dir))
    assert all_forward_hooks(model) == {}
    healthy = capture(model, TEXT, "mlp_out").vectors
    before = all_forward_hooks(model)
    handle = model.blocks()[2].register_forward_hook(explode)
    with_trap = dict(before, **{"h.2": [*before.get("h.2", []), explode]})
    cache = ActivationCache()
    try:
        for hook in ("mlp_out", "resid_post", "mlp_neurons"):
            with pytest.raises(Broken):
                cache.get(model, TEXT, hook)
            assert all_forward_hooks(model) == with_trap
    finally:
        handle.remove()
    assert all_forward_hooks(model) == before
    assert len(cache) == 0 and cache.forward_passes == 0
    np.testing.assert_array_equal(cache.get(model, TEXT, "mlp_out").vectors, healthy)
    assert all_forward_hooks(model) == before


def test_analysed_positions_skip_position_zero(tiny_gpt2):
    """GPT-2 adds no special tokens: skip-first drops position 0 only, keep-first keeps everything."""
    acts = capture(tiny_gpt2, TEXT, "mlp_out")
    n = len(acts.token_ids)
    assert not acts.special.any()
    assert acts.positions(skip_first=True).tolist() == list(range(1, n))
    assert acts.positions(skip_first=False).tolist() == list(range(n))
    labels, X = acts.analysed(skip_first=True)
    assert labels == list(acts.labels[1:])
    np.testing.assert_array_equal(X, acts.vectors[:, 1:, :])


def test_bert_special_tokens_are_never_analysed(minilm):
    """MiniLM wraps a text in [CLS] ... [SEP]: neither is analysed, with or without skip-first."""
    acts = capture(minilm, "Who are you, aged man?", "mlp_out")
    assert acts.labels[0] == "[CLS]" and acts.labels[-1] == "[SEP]"
    assert acts.special.tolist() == [True] + [False] * (len(acts.labels) - 2) + [True]
    n = len(acts.labels)
    for skip_first in (True, False):
        assert acts.positions(skip_first).tolist() == list(range(1, n - 1))
        labels, X = acts.analysed(skip_first)
        assert labels == ["who", "are", "you", ",", "aged", "man", "?"]
        assert X.shape == (minilm.n_layers, n - 2, minilm.d_model)


def test_a_text_longer_than_the_context_is_truncated_and_says_so(tiny_gpt2):
    """The tiny model reads 128 tokens: a longer text keeps its first 128 and reports how many it had."""
    long_text = " ".join(CORPUS * 3)
    full_ids = tiny_gpt2.tokenizer(long_text)["input_ids"]
    assert len(full_ids) > tiny_gpt2.context == 128
    acts = capture(tiny_gpt2, long_text, "mlp_out")
    assert acts.truncated
    assert acts.n_tokens_full == len(full_ids)
    assert acts.token_ids.tolist() == full_ids[:128]
    assert acts.vectors.shape == (tiny_gpt2.n_layers, 128, tiny_gpt2.d_model)
    text = analyse_text(tiny_gpt2, ActivationCache(), "A", long_text, "mlp_out", True)
    assert text.truncated and text.n_input_tokens == 128 and len(text.labels) == 127


def test_a_text_longer_than_bert_context_is_truncated_keeping_its_sep(minilm):
    long_text = " ".join(CORPUS * 12)
    acts = capture(minilm, long_text, "mlp_out")
    assert acts.truncated and len(acts.token_ids) == minilm.context == 512
    assert acts.labels[0] == "[CLS]" and acts.labels[-1] == "[SEP]"
    assert len(acts.positions()) == 510


@pytest.mark.parametrize("name", ["A", "B", "C"])
@pytest.mark.parametrize("empty", ["", "   ", "\n\t"])
def test_an_empty_text_raises_a_text_error_naming_it(tiny_gpt2, name, empty):
    texts = dict(DEFAULT_TEXTS, **{name: empty})
    with pytest.raises(TextError, match=f"^Text {name} is empty"):
        analyse_texts(tiny_gpt2, ActivationCache(), texts)


def test_capturing_an_empty_text_raises_a_text_error(tiny_gpt2):
    with pytest.raises(TextError, match="empty"):
        capture(tiny_gpt2, "", "mlp_out")


def test_a_one_token_text_leaves_nothing_after_the_first_token(tiny_gpt2):
    """With skip-first, a one-token text has nothing to analyse: the error names the text and the way out."""
    assert len(tiny_gpt2.tokenizer("Who")["input_ids"]) == 1
    texts = dict(DEFAULT_TEXTS, B="Who")
    with pytest.raises(TextError, match=r"^Text B has 1 token\(s\) and none is left") as err:
        analyse_texts(tiny_gpt2, ActivationCache(), texts, skip_first=True)
    assert "skip-first" in str(err.value)
    kept = analyse_texts(tiny_gpt2, ActivationCache(), texts, skip_first=False)
    assert kept["B"].labels == ["Who"]


def test_vectors_do_not_depend_on_what_else_is_cached(tiny_gpt2):
    """A text's vectors are the same whether captured alone, through the cache, or after other texts."""
    alone = capture(tiny_gpt2, TEXT, "mlp_out").vectors
    cache = ActivationCache()
    for text in CORPUS:
        cache.get(tiny_gpt2, text)
    np.testing.assert_array_equal(cache.get(tiny_gpt2, TEXT).vectors, alone)
