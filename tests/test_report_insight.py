"""The report's "vocab" and "steer" fields (``--vocab K``, ``--steer S``) and their bad inputs, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.__main__ import main
from core.cache import ActivationCache
from core.report import read_report
from core.texts import DEFAULT_TEXTS
from core.workbench import Workbench

LAYER = 2


def run(tmp_path: Path, capsys, *args: str) -> tuple[int, str, Path]:
    out = tmp_path / "out.json"
    try:
        status = main(["report", "--layer", str(LAYER), *args, "--json", str(out)])
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    assert captured.out == ""
    return status, captured.err, out


@pytest.fixture(scope="module")
def insight_report(tiny_gpt2_dir, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("insight") / "report.json"
    args = ["report", "--model", str(tiny_gpt2_dir), "--layer", str(LAYER), "--alpha", "1.5", "--permutations", "0"]
    args += ["--vocab", "6", "--steer", "4", "--prompt", "I saw an aged man", "--generate", "5", "--direction", "trend"]
    assert main([*args, "--json", str(out)]) == 0
    return read_report(out)


def test_vocab_field_reads_the_target_through_gpt2s_own_head(insight_report, tiny_gpt2, tiny_gpt2_dir):
    from transformers import GPT2LMHeadModel

    vocab = insight_report["vocab"]
    assert insight_report["format"] == 2
    assert set(vocab) == {"lens", "k", "target", "target_bottom", "mean_a", "mean_b", "per_layer_target"}
    assert vocab["lens"] == "logit lens" and vocab["k"] == 6
    assert len(vocab["per_layer_target"]) == 4 and all(len(row) == 6 for row in vocab["per_layer_target"])
    assert [e[0] for e in vocab["per_layer_target"][LAYER]] == [e[0] for e in vocab["target"]]
    np.testing.assert_allclose(
        [e[2] for e in vocab["per_layer_target"][LAYER]], [e[2] for e in vocab["target"]], atol=1e-5
    )
    bench = Workbench.build(tiny_gpt2, ActivationCache(), dict(DEFAULT_TEXTS), "mlp_out", True)
    lm = GPT2LMHeadModel.from_pretrained(tiny_gpt2_dir).eval()
    result = bench.target(LAYER, 1.5)
    for field, vector, sign in (
        ("target", result.target, 1),
        ("target_bottom", result.target, -1),
        ("mean_b", result.mean_b, 1),
    ):
        with torch.no_grad():
            logits = lm.lm_head(lm.transformer.ln_f(torch.as_tensor(vector, dtype=torch.float32)[None]))[0].numpy()
        ids = [int(i) for i in np.argsort(-sign * logits, kind="stable")[:6]]
        assert [entry[0] for entry in vocab[field]] == ids, field
        assert [entry[1] for entry in vocab[field]] == [tiny_gpt2.tokenizer.decode([i]) for i in ids]
        np.testing.assert_allclose([entry[2] for entry in vocab[field]], logits[ids], atol=1e-4)


def test_steer_field_has_the_issues_fields_and_the_continuations(insight_report):
    steer = insight_report["steer"]
    assert list(steer) == [
        "layer", "strength", "direction", "prompt", "plain_top", "steered_top", "kl", "plain_text", "steered_text",
    ]  # fmt: skip
    assert (steer["layer"], steer["strength"], steer["direction"]) == (LAYER, 4.0, "trend")
    assert steer["prompt"] == "I saw an aged man"
    assert len(steer["plain_top"]) == len(steer["steered_top"]) == 10
    probs = [entry[2] for entry in steer["plain_top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-9
    assert steer["kl"] > 0 and steer["plain_text"] and steer["steered_text"]


def test_steering_without_a_continuation_leaves_the_texts_out_and_defaults_to_text_c(tmp_path, capsys, tiny_gpt2_dir):
    status, err, out = run(
        tmp_path, capsys, "--model", str(tiny_gpt2_dir), "--permutations", "0", "--steer", "0", "--generate", "0"
    )
    assert status == 0, err
    steer = json.loads(out.read_text())["steer"]
    assert "plain_text" not in steer and steer["prompt"] == DEFAULT_TEXTS["C"]
    assert steer["kl"] < 1e-9 and steer["plain_top"] == steer["steered_top"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--steer", "nan"], "error: Steering strength must be a number between -100 and 100, got nan."),
        (["--steer", "1e9"], "error: Steering strength must be a number between -100 and 100, got 1000000000.0."),
        (["--steer", "4", "--prompt", "   "], "error: The steering prompt is empty: type a few words, or leave out --prompt to use text C."),
        (["--prompt", "hello"], "error: --prompt needs --steer S"),
        (["--vocab", "5", "--hook", "mlp_neurons"], "error: --vocab reads vectors of the residual stream: mlp_neurons has no d_model space, use one of mlp_out, attn_out, resid_post."),
        (["--steer", "2", "--hook", "mlp_neurons"], "error: Steering adds a vector to the residual stream: mlp_neurons has no d_model space, choose one of mlp_out, attn_out, resid_post."),
        (["--vocab", "0"], "error: --vocab 0 is out of range: ask for 1 to 1000 tokens."),
        (["--vocab", "5", "--format", "1"], "error: --vocab needs report format 2: leave out --format 1"),
    ],
)  # fmt: skip
def test_bad_vocab_and_steer_options_exit_with_one_error_line(tmp_path, capsys, tiny_gpt2_dir, args, message):
    status, err, out = run(tmp_path, capsys, "--model", str(tiny_gpt2_dir), *args)
    assert status == 2 and err.strip() == message and not out.exists()


def test_steering_an_encoder_without_an_output_head_is_refused(tmp_path, capsys, minilm_dir):
    status, err, _ = run(tmp_path, capsys, "--model", str(minilm_dir), "--permutations", "0", "--steer", "4")
    assert status == 2
    assert err.startswith("error: Steering needs a model that predicts the next token:") and "encoder" in err


def test_minilm_vocab_is_raw_through_its_input_embedding(tmp_path, capsys, minilm_dir):
    status, err, out = run(tmp_path, capsys, "--model", str(minilm_dir), "--permutations", "0", "--vocab", "3")
    assert status == 0, err
    assert json.loads(out.read_text())["vocab"]["lens"] == "raw"
