"""Steering by activation addition: exact at strength 0, effective above it, and the hook never left behind."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.cache import ActivationCache
from core.head import NoOutputHead
from core.steer import SteerError, added, steer, steerer, steering_vector
from core.texts import DEFAULT_TEXTS
from core.workbench import Workbench


@pytest.fixture(scope="module")
def bench(tiny_gpt2):
    return Workbench.build(tiny_gpt2, ActivationCache(), dict(DEFAULT_TEXTS), "mlp_out", True)


def plain_next_token_probabilities(folder, ids) -> np.ndarray:
    from transformers import GPT2LMHeadModel

    lm = GPT2LMHeadModel.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = lm(torch.as_tensor([ids])).logits[0, -1]
    return torch.softmax(logits.double(), -1).numpy()


def hooks_on(model) -> int:
    return sum(len(module._forward_hooks) for module in model.model.modules())


def test_strength_zero_gives_the_plain_model_exactly(bench, tiny_gpt2, tiny_gpt2_dir):
    result = steerer(bench).run(DEFAULT_TEXTS["C"], 2, 1.0, 0.0, generate=0)
    expected = plain_next_token_probabilities(tiny_gpt2_dir, list(result.prompt_ids))
    np.testing.assert_allclose(result.plain_probs, expected, atol=1e-6)
    np.testing.assert_allclose(result.steered_probs, result.plain_probs, atol=1e-6)
    assert result.kl < 1e-9
    assert [e[0] for e in result.plain_top] == [int(i) for i in np.argsort(-expected, kind="stable")[:10]]


def test_a_positive_strength_changes_the_next_token_distribution(bench):
    result = steerer(bench).run(DEFAULT_TEXTS["C"], 2, 1.0, 8.0, generate=0)
    assert result.kl > 1e-3
    assert np.abs(result.steered_probs - result.plain_probs).max() > 1e-4
    assert result.scale == pytest.approx(np.linalg.norm(bench.texts["C"].X[2], axis=-1).mean())


def test_the_steering_vector_is_added_at_every_position_of_the_hooked_module(bench, tiny_gpt2):
    """With the hook on, mlp_out at the layer equals the plain output plus s r t/|t| at every position."""
    from core.cache import hooked

    unit, scale = steering_vector(bench, 1, 1.0, "trend")
    delta = torch.as_tensor(3.0 * scale * unit, dtype=torch.float32)
    ids = torch.as_tensor([[5, 9, 13, 20]])
    with hooked(tiny_gpt2, "mlp_out") as plain, torch.no_grad():
        tiny_gpt2.model(input_ids=ids)
    plain = plain[1].clone()
    with added(tiny_gpt2, 1, "mlp_out", delta), hooked(tiny_gpt2, "mlp_out") as steered, torch.no_grad():
        tiny_gpt2.model(input_ids=ids)
    torch.testing.assert_close(steered[1], plain + delta, atol=1e-5, rtol=0)


def test_the_trend_and_the_target_are_different_directions(bench):
    trend, _ = steering_vector(bench, 2, 1.0, "trend")
    target, _ = steering_vector(bench, 2, 1.0, "target")
    result = bench.target(2, 1.0)
    np.testing.assert_allclose(trend, (result.mean_b - result.mean_a) / np.linalg.norm(result.mean_b - result.mean_a))
    assert abs(float(trend @ target)) < 0.9999


def test_the_continuation_is_greedy_and_deterministic(bench, tiny_gpt2):
    first = steerer(bench).run("I saw an aged aged man", 3, 1.0, 6.0, generate=12)
    unit, scale = steering_vector(bench, 3, 1.0, "target")
    again = steer(tiny_gpt2, "I saw an aged aged man", 3, "mlp_out", unit, scale, 6.0, generate=12)
    assert (first.plain_text, first.steered_text) == (again.plain_text, again.steered_text)
    assert first.plain_text and first.steered_text
    assert steerer(bench).run("I saw an aged aged man", 3, 1.0, 6.0, generate=12) is first  # memoised


def test_the_plain_continuation_is_the_models_own_greedy_generation(bench, tiny_gpt2_dir):
    from transformers import GPT2LMHeadModel

    result = steerer(bench).run("And his answer", 2, 1.0, 3.0, generate=10)
    lm = GPT2LMHeadModel.from_pretrained(tiny_gpt2_dir).eval()
    ids = torch.as_tensor([list(result.prompt_ids)])
    generated = lm.generate(
        ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, do_sample=False, pad_token_id=0
    )
    expected = lm.config.eos_token_id
    tokens = [int(t) for t in generated[0, ids.shape[1] :]]
    tokens = tokens[: tokens.index(expected) + 1] if expected in tokens else tokens
    assert result.plain_text == bench.model.tokenizer.decode(tokens)


def test_the_hook_is_gone_after_a_run_and_after_a_failing_forward_pass(bench, tiny_gpt2):
    before = hooks_on(tiny_gpt2)
    steerer(bench).run("And his answer", 1, 1.0, 2.0, generate=2)
    assert hooks_on(tiny_gpt2) == before

    def explode(module, args, output):
        raise RuntimeError("the forward pass failed")

    late = tiny_gpt2.blocks()[3].register_forward_hook(explode)
    try:
        unit, scale = steering_vector(bench, 1, 1.0, "target")
        with pytest.raises(RuntimeError, match="forward pass failed"):
            steer(tiny_gpt2, "And his answer", 1, "mlp_out", unit, scale, 2.0, generate=0)
    finally:
        late.remove()
    assert hooks_on(tiny_gpt2) == before


def test_a_forward_pass_in_another_thread_is_not_steered(bench, tiny_gpt2):
    import threading

    from core.cache import capture

    plain = capture(tiny_gpt2, "And his answer", "mlp_out").vectors
    out = {}
    unit, scale = steering_vector(bench, 1, 1.0, "target")
    with added(tiny_gpt2, 1, "mlp_out", torch.as_tensor(50 * scale * unit, dtype=torch.float32)):
        worker = threading.Thread(target=lambda: out.update(v=capture(tiny_gpt2, "And his answer", "mlp_out").vectors))
        worker.start()
        worker.join()
    np.testing.assert_array_equal(out["v"], plain)


@pytest.mark.parametrize("strength", [float("nan"), float("inf"), 1e6, -101.0])
def test_a_strength_that_is_not_a_number_or_huge_is_refused(bench, strength):
    with pytest.raises(SteerError, match="Steering strength must be a number between -100 and 100"):
        steerer(bench).run("And his answer", 1, 1.0, strength)


def test_an_empty_prompt_is_refused(bench):
    with pytest.raises(SteerError, match="prompt is empty"):
        steerer(bench).run("  \n ", 1, 1.0, 4.0)


def test_a_prompt_longer_than_the_context_is_cut_to_leave_room_for_the_continuation(bench, tiny_gpt2):
    long = " ".join([DEFAULT_TEXTS["A"]] * 20)
    result = steerer(bench).run(long, 1, 1.0, 4.0, generate=5)
    assert result.truncated and len(result.prompt_ids) == tiny_gpt2.context - 5
    assert result.n_prompt_full > tiny_gpt2.context


def test_markup_in_the_prompt_is_just_text(bench, tiny_gpt2):
    result = steerer(bench).run("<b>bold</b><script>alert(1)</script>", 1, 1.0, 4.0, generate=3)
    assert tiny_gpt2.tokenizer.decode(list(result.prompt_ids)) == "<b>bold</b><script>alert(1)</script>"


def test_hooks_without_d_model_space_cannot_be_steered(tiny_gpt2):
    neurons = Workbench.build(tiny_gpt2, ActivationCache(), dict(DEFAULT_TEXTS), "mlp_neurons", True)
    with pytest.raises(SteerError, match="mlp_neurons has no d_model space"):
        steerer(neurons)


def test_an_encoder_without_an_output_head_cannot_be_steered(minilm):
    bench = Workbench.build(minilm, ActivationCache(), dict(DEFAULT_TEXTS), "mlp_out", True)
    with pytest.raises(NoOutputHead, match="Steering needs a model that predicts the next token"):
        steerer(bench).run("And his answer", 1, 1.0, 4.0)
