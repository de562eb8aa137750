"""Vocabulary projection: the target read through the model's own final norm and output embedding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.cache import ActivationCache
from core.head import output_head
from core.models import load_model
from core.texts import DEFAULT_TEXTS
from core.vocab import READINGS, VocabError, VocabReader, extremes, project, reader
from core.workbench import Workbench
from tests.tiny import train_tokenizer


def bench_of(model, hook="mlp_out", center=False):
    return Workbench.build(model, ActivationCache(), dict(DEFAULT_TEXTS), hook, True, center=center)


@pytest.fixture(scope="module")
def untied_llama_dir(tmp_path_factory):
    """A tiny Llama with an untied output head (lm_head.weight in its safetensors), saved as a causal LM."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer()
    config = LlamaConfig(
        num_hidden_layers=2, hidden_size=32, num_attention_heads=4, num_key_value_heads=2, intermediate_size=48,
        max_position_embeddings=128, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("llama-untied")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def top_ids(logits: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in np.argsort(-logits, kind="stable")[:k]]


def test_gpt2_logit_lens_equals_lm_head_of_ln_f_of_the_target(tiny_gpt2, tiny_gpt2_dir):
    """GPT-2 (tied head): the target's top tokens are those of GPT2LMHeadModel's own lm_head(ln_f(v))."""
    from transformers import GPT2LMHeadModel

    lm = GPT2LMHeadModel.from_pretrained(tiny_gpt2_dir).eval()
    bench = bench_of(tiny_gpt2)
    for layer in range(bench.n_layers):
        tables = reader(bench).at_layer(layer, 1.0, "logit lens", 10)
        v = torch.as_tensor(bench.target(layer, 1.0).target, dtype=torch.float32)
        with torch.no_grad():
            expected = lm.lm_head(lm.transformer.ln_f(v[None]))[0].numpy()
        assert [e[0] for e in tables["target"].top] == top_ids(expected, 10)
        assert [e[0] for e in tables["target"].bottom] == top_ids(-expected, 10)
        np.testing.assert_allclose([e[2] for e in tables["target"].top], np.sort(expected)[::-1][:10], atol=1e-4)
        assert tables["target"].top[0][1] == tiny_gpt2.tokenizer.decode([tables["target"].top[0][0]])


@pytest.mark.parametrize("center", [False, True])
def test_gpt2_logit_lens_of_the_means_and_any_alpha_equals_lm_head_of_ln_f(tiny_gpt2, tiny_gpt2_dir, center):
    """The two memoised products per layer (module docstring) give the model's own lm_head(ln_f(v)) for mean A,
    mean B and targets of several alphas, also after a change of alpha with no new product."""
    from transformers import GPT2LMHeadModel

    lm = GPT2LMHeadModel.from_pretrained(tiny_gpt2_dir).eval()
    lens = reader(bench_of(tiny_gpt2, center=center))
    for alpha in (1.0, -0.5, 3.0, 40.0):
        tables = lens.at_layer(1, alpha, "logit lens", 6)
        for name, v in zip(READINGS, lens.vectors(1, alpha), strict=True):
            with torch.no_grad():
                expected = lm.lm_head(lm.transformer.ln_f(torch.as_tensor(v, dtype=torch.float32)[None]))[0].numpy()
            assert [e[0] for e in tables[name].top] == top_ids(expected, 6), (alpha, name)
            assert [e[0] for e in tables[name].bottom] == top_ids(-expected, 6), (alpha, name)
            np.testing.assert_allclose([e[2] for e in tables[name].top], np.sort(expected)[::-1][:6], atol=1e-4)


def test_extremes_order_ties_by_the_lower_id():
    logits = np.array([[0.0, 2.0, 5.0, 2.0, 5.0, -1.0, -1.0, 2.0]])
    ids, values = extremes(logits, 4)
    assert ids.tolist() == [[2, 4, 1, 3]] and values.tolist() == [[5.0, 5.0, 2.0, 2.0]]
    ids, values = extremes(logits, 3, largest=False)
    assert ids.tolist() == [[5, 6, 0]] and values.tolist() == [[-1.0, -1.0, 0.0]]


def test_gpt2_raw_reading_of_the_means_is_the_output_embedding_times_the_vector(tiny_gpt2, tiny_gpt2_dir):
    from transformers import GPT2LMHeadModel

    lm = GPT2LMHeadModel.from_pretrained(tiny_gpt2_dir).eval()
    bench = bench_of(tiny_gpt2)
    tables = reader(bench).at_layer(2, 0.5, "raw", 5)
    result = bench.target(2, 0.5)
    for name, vector in (("mean_a", result.mean_a), ("mean_b", result.mean_b)):
        with torch.no_grad():
            expected = lm.lm_head(torch.as_tensor(vector, dtype=torch.float32)[None])[0].numpy()
        assert [e[0] for e in tables[name].top] == top_ids(expected, 5)
        np.testing.assert_allclose([e[2] for e in tables[name].top], np.sort(expected)[::-1][:5], atol=1e-4)


def test_the_table_through_the_layers_repeats_each_layers_reading(tiny_gpt2):
    bench = bench_of(tiny_gpt2, center=True)
    lens = reader(bench)
    table = lens.through_layers(1.5, "logit lens", 8)
    assert len(table) == bench.n_layers and all(len(row) == 8 for row in table)
    for layer, row in enumerate(table):
        at_layer = lens.at_layer(layer, 1.5, "logit lens", 8)["target"].top
        assert [e[0] for e in row] == [e[0] for e in at_layer]
        np.testing.assert_allclose([e[2] for e in row], [e[2] for e in at_layer], atol=1e-4)
    assert lens.through_layers(1.5, "logit lens", 8) is table  # memoised


def test_an_untied_head_is_read_from_the_checkpoint(untied_llama_dir):
    """Llama (untied): the head is lm_head.weight from disk and the lens is model.norm then lm_head."""
    from transformers import LlamaForCausalLM

    model = load_model(str(untied_llama_dir))
    lm = LlamaForCausalLM.from_pretrained(untied_llama_dir).eval()
    head = output_head(model)
    assert head.predicts and "untied" in head.note
    assert torch.equal(head.W, lm.lm_head.weight.detach())
    assert not torch.equal(head.W, lm.model.embed_tokens.weight.detach())
    v = np.random.default_rng(0).standard_normal((3, 32))
    with torch.no_grad():
        expected = lm.lm_head(lm.model.norm(torch.as_tensor(v, dtype=torch.float32))).numpy()
    np.testing.assert_allclose(project(head, v, "logit lens").numpy(), expected, atol=1e-4)


def test_an_rms_norm_lens_reads_each_vector_through_the_models_own_norm(untied_llama_dir):
    """Llama's RMSNorm is not a LayerNorm: the reader applies model.norm then lm_head to every vector."""
    from transformers import LlamaForCausalLM

    lm = LlamaForCausalLM.from_pretrained(untied_llama_dir).eval()
    lens = reader(bench_of(load_model(str(untied_llama_dir)), "resid_post"))
    tables = lens.at_layer(1, 2.0, "logit lens", 5)
    for name, v in zip(READINGS, lens.vectors(1, 2.0), strict=True):
        with torch.no_grad():
            expected = lm.lm_head(lm.model.norm(torch.as_tensor(v, dtype=torch.float32)[None]))[0].numpy()
        assert [e[0] for e in tables[name].top] == top_ids(expected, 5), name
        np.testing.assert_allclose([e[2] for e in tables[name].top], np.sort(expected)[::-1][:5], atol=1e-4)
    table = lens.through_layers(2.0, "logit lens", 5)
    assert [e[0] for e in table[1]] == [e[0] for e in tables["target"].top]


def test_minilm_has_no_output_head_and_reads_raw_through_its_input_embedding(minilm):
    bench = bench_of(minilm)
    lens = reader(bench)
    assert lens.lens_used("logit lens") == "raw"
    assert "without an output head" in lens.note and "input embedding" in lens.note
    tables = lens.at_layer(3, 1.0, "logit lens", 10)
    E = minilm.model.embeddings.word_embeddings.weight.detach().numpy()
    expected = E @ bench.target(3, 1.0).target.astype(np.float32)
    assert [e[0] for e in tables["target"].top] == top_ids(expected, 10)
    np.testing.assert_allclose([e[2] for e in tables["target"].top], np.sort(expected)[::-1][:10], atol=1e-4)


def test_a_decoder_whose_files_hold_no_head_falls_back_to_its_input_embedding(tmp_path):
    """An untied Llama saved as a base model only: no lm_head.weight, so the input embedding stands in (raw)."""
    from transformers import LlamaConfig, LlamaModel

    tokenizer = train_tokenizer()
    config = LlamaConfig(
        num_hidden_layers=1, hidden_size=16, num_attention_heads=2, num_key_value_heads=1, intermediate_size=24,
        max_position_embeddings=64, vocab_size=len(tokenizer), tie_word_embeddings=False,
    )  # fmt: skip
    LlamaModel(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    head = output_head(load_model(str(tmp_path)))
    assert not head.predicts and "hold no lm_head.weight" in head.note


def test_mlp_neurons_have_no_vocabulary_reading(tiny_gpt2):
    bench = bench_of(tiny_gpt2, hook="mlp_neurons")
    with pytest.raises(VocabError, match="not vectors of the 32-dimensional residual stream"):
        VocabReader(bench)


def test_an_unknown_lens_is_refused(tiny_gpt2):
    with pytest.raises(VocabError, match="Unknown lens"):
        reader(bench_of(tiny_gpt2)).at_layer(0, 1.0, "tuned lens", 5)
