"""The headless report, ``python -m core report``, run as a user runs it: a subprocess writing JSON.

The independent runs of this module are started together in two module fixtures (two at a time), so
the interpreter start-ups overlap; each test then reads the run it is about.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core import analysis
from core.cache import ActivationCache
from core.texts import DEFAULT_TEXTS, analyse_texts

SPEC_KEYS = {
    "format", "model", "hook", "layer", "alpha", "skip_first", "n_layers", "tokens", "norms", "mean_cosine",
    "target_cosines", "recommended", "per_layer", "pair_cosines", "max_pair_cosines", "best_pairs", "timings_s",
}  # fmt: skip
LAYER = 2  # the tiny GPT-2 has layers 0..3; SPEC's default 6 is tested as out of range


def _strict_json(path: Path) -> dict:
    """Parse ``path``, refusing NaN and Infinity (not JSON, and never a valid report value)."""

    def refuse(constant):
        raise AssertionError(f"{path.name} holds {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def _run_all(cli, runs: dict[str, tuple]) -> dict:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(cli, *args) for name, args in runs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def reports(cli, tiny_gpt2_dir, minilm_dir, tmp_path_factory) -> dict[str, dict]:
    """Report JSON of each successful run: the tiny GPT-2 three ways, and MiniLM twice."""
    out = tmp_path_factory.mktemp("reports")
    tiny = ("--model", str(tiny_gpt2_dir), "--layer", str(LAYER))
    minilm = ("--model", str(minilm_dir), "--layer", "5")
    runs = {
        "tiny": tiny,
        "tiny keep-first": (*tiny, "--keep-first"),
        "tiny alpha 2.5": (*tiny, "--alpha", "2.5"),
        "minilm": minilm,
        "minilm again": minilm,
    }
    results = _run_all(
        cli, {name: ("report", *args, "--json", str(out / f"{name}.json")) for name, args in runs.items()}
    )
    for name, result in results.items():
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert result.stderr == "" and result.stdout == "", f"{name} printed: {result.stdout}{result.stderr}"
    return {name: _strict_json(out / f"{name}.json") for name in runs}


@pytest.fixture(scope="module")
def direct(tiny_gpt2):
    """What core.analysis gives in this process for the report's (default) texts, for the alpha asked."""

    def compute(alpha: float = 1.0, skip_first: bool = True):
        texts = analyse_texts(tiny_gpt2, ActivationCache(), DEFAULT_TEXTS, "mlp_out", skip_first)
        X = {name: texts[name].X for name in "ABC"}
        return {
            "labels": {name: texts[name].labels for name in "ABC"},
            "norms": {name: analysis.norms(X[name]) for name in "ABC"},
            "target": analysis.token_average_target(X["A"][LAYER], X["B"][LAYER], X["C"][LAYER], alpha),
            "sweep": analysis.layer_sweep(X["A"], X["B"], X["C"], alpha),
            "P": analysis.pair_cosines(X["A"][LAYER], X["B"][LAYER], X["C"][LAYER], alpha),
            "M": analysis.max_pair_cosines(X["A"], X["B"], X["C"], alpha),
        }

    return compute


def _dims(value) -> tuple[int, ...]:
    """Dimensions of a nested, rectangular list (asserting it is rectangular)."""
    array = np.asarray(value)
    assert array.dtype != object, "ragged nested list"
    return array.shape


def test_the_report_has_exactly_the_spec_keys_and_shapes(reports, tiny_gpt2_dir):
    report = reports["tiny"]
    assert set(report) == SPEC_KEYS
    assert report["format"] == 1
    assert report["model"] == str(tiny_gpt2_dir)
    assert (report["hook"], report["layer"], report["alpha"], report["skip_first"]) == ("mlp_out", LAYER, 1.0, True)
    L = report["n_layers"]
    assert L == 4
    n = {name: len(report["tokens"][name]) for name in "ABC"}
    assert set(report["tokens"]) == set(report["norms"]) == {"A", "B", "C"}
    for name in "ABC":
        assert all(isinstance(token, str) for token in report["tokens"][name])
        assert _dims(report["norms"][name]) == (L, n[name])
    assert isinstance(report["mean_cosine"], float)
    assert _dims(report["target_cosines"]) == (n["C"],)
    assert isinstance(report["recommended"], int) and 0 <= report["recommended"] < n["C"]
    assert [row["layer"] for row in report["per_layer"]] == list(range(L))
    for row in report["per_layer"]:
        assert set(row) == {"layer", "token", "cosine"}
        assert isinstance(row["token"], int) and 0 <= row["token"] < n["C"]
    assert _dims(report["pair_cosines"]) == (n["A"], n["B"], n["C"])
    assert _dims(report["max_pair_cosines"]) == (L, n["C"])
    pairs = np.asarray(report["best_pairs"])
    assert pairs.shape == (L, n["C"], 2) and pairs.dtype.kind == "i"
    assert (pairs[..., 0] < n["A"]).all() and (pairs[..., 1] < n["B"]).all() and (pairs >= 0).all()
    assert set(report["timings_s"]) == {"load", "forward", "analysis"}
    assert all(isinstance(t, float) and t >= 0 for t in report["timings_s"].values())


def _assert_report_is(report: dict, expected: dict) -> None:
    """Every value of ``report`` equals what core.analysis gives directly (ints exactly, floats to 1e-6)."""
    close = dict(rtol=0, atol=1e-6)
    assert report["tokens"] == expected["labels"]
    for name in "ABC":
        np.testing.assert_allclose(report["norms"][name], expected["norms"][name], **close)
    target = expected["target"]
    assert report["mean_cosine"] == pytest.approx(target.mean_cosine, abs=1e-6)
    np.testing.assert_allclose(report["target_cosines"], target.target_cosines, **close)
    assert report["recommended"] == target.recommended
    assert [row["token"] for row in report["per_layer"]] == expected["sweep"].argmax(axis=1).tolist()
    np.testing.assert_allclose([row["cosine"] for row in report["per_layer"]], expected["sweep"].max(axis=1), **close)
    np.testing.assert_allclose(report["pair_cosines"], expected["P"], **close)
    M, pairs = expected["M"]
    np.testing.assert_allclose(report["max_pair_cosines"], M, **close)
    assert report["best_pairs"] == pairs.tolist()


def test_the_report_values_are_what_core_analysis_computes(reports, direct):
    _assert_report_is(reports["tiny"], direct())


def test_keep_first_analyses_one_more_token_per_text(reports, direct):
    """--keep-first puts position 0 back: one more token in every text, in front, and the values follow."""
    skipped, kept = reports["tiny"], reports["tiny keep-first"]
    assert kept["skip_first"] is False
    for name in "ABC":
        assert kept["tokens"][name][1:] == skipped["tokens"][name]
        assert len(kept["norms"][name][0]) == len(skipped["norms"][name][0]) + 1
    assert kept["tokens"]["A"][0] == "I"
    _assert_report_is(kept, direct(skip_first=False))


def test_alpha_changes_the_target_and_nothing_before_it(reports, direct):
    """--alpha 2.5 extrapolates further: new target cosines and pairs; norms and S_AB are unchanged."""
    base, further = reports["tiny"], reports["tiny alpha 2.5"]
    assert further["alpha"] == 2.5
    assert further["norms"] == base["norms"] and further["mean_cosine"] == base["mean_cosine"]
    assert not np.allclose(further["target_cosines"], base["target_cosines"], atol=1e-3)
    assert not np.allclose(further["max_pair_cosines"], base["max_pair_cosines"], atol=1e-3)
    _assert_report_is(further, direct(alpha=2.5))


def _all_numbers(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _all_numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _all_numbers(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def test_pretrained_minilm_through_the_report_is_finite_without_special_tokens_and_deterministic(reports):
    """Real weights (all-MiniLM-L6-v2, BERT adapter): finite values, no [CLS]/[SEP], the same twice."""
    report, again = reports["minilm"], reports["minilm again"]
    assert report["n_layers"] == 6 and report["layer"] == 5
    assert all(math.isfinite(x) for x in _all_numbers(report))
    assert report["tokens"]["C"] == [
        "and", "his", "answer", "trickle", "##d", "through", "my", "head", ",", "like", "water", "through", "a",
        "si", "##eve", ".",
    ]  # fmt: skip
    for name in "ABC":
        assert "[CLS]" not in report["tokens"][name] and "[SEP]" not in report["tokens"][name]
    assert -1 <= min(_all_numbers(report["max_pair_cosines"])) <= max(_all_numbers(report["max_pair_cosines"])) <= 1
    assert max(_all_numbers(report["norms"])) > 0
    report.pop("timings_s")
    again.pop("timings_s")
    assert report == again


# Bad input: a non-zero exit with exactly one line on stderr, and no traceback


def _bad_runs(tiny: str, tmp: Path) -> dict[str, tuple[tuple, str]]:
    """name -> (CLI arguments, a fragment of the expected message)."""
    model = ("--model", tiny, "--layer", str(LAYER))
    out = ("--json", str(tmp / "out.json"))
    (tmp / "not-a-model").mkdir()
    (tmp / "a-file").write_text("")
    runs = {
        "empty text A": ((*model, "--text-a", "", *out), "Text A is empty"),
        "blank text C": ((*model, "--text-c", "  \n ", *out), "Text C is empty"),
        "one-token text with skip-first": ((*model, "--text-b", "Who", *out), "none is left to analyse"),
        "layer out of range": (("--model", tiny, "--layer", "4", *out), "layers 0 to 3"),
        "negative layer": (("--model", tiny, "--layer", "-1", *out), "out of range"),
        "non-integer layer": (("--model", tiny, "--layer", "two", *out), "invalid int value: 'two'"),
        "alpha nan": ((*model, "--alpha", "nan", *out), "finite"),
        "alpha inf": ((*model, "--alpha=-inf", *out), "finite"),
        "alpha not a number": ((*model, "--alpha", "much", *out), "invalid float value"),
        "unknown hook": ((*model, "--hook", "mlp_in", *out), "Unknown hook point 'mlp_in'"),
        "bad model path": (("--model", str(tmp / "no" / "such" / "model"), *out), "No folder at"),
        "invalid hub id": (("--model", "not a model!", *out), "neither a folder nor a valid hub id"),
        "non-model folder": (("--model", str(tmp / "not-a-model"), *out), "holds no model"),
        "json under a file": ((*model, "--json", str(tmp / "a-file" / "out.json")), "cannot write"),
        "no json option": (model, "--json"),
    }
    if Path("/dev/full").exists():  # opens, but every write fails (as root, no folder is unwritable)
        runs["json on a full device"] = ((*model, "--json", "/dev/full"), "cannot write /dev/full")
    else:
        runs["json is a folder"] = ((*model, "--json", str(tmp / "not-a-model")), "cannot write")
    return runs


@pytest.fixture(scope="module")
def bad_runs(cli, tiny_gpt2_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-input")
    runs = _bad_runs(str(tiny_gpt2_dir), tmp)
    results = _run_all(cli, {name: ("report", *args) for name, (args, _) in runs.items()})
    return {name: (results[name], runs[name][1]) for name in runs}, tmp


def _bad_names() -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return list(_bad_runs("tiny", Path(tmp)))


@pytest.mark.parametrize("name", _bad_names())
def test_bad_input_exits_with_one_error_line_and_no_traceback(bad_runs, name):
    results, tmp = bad_runs
    result, fragment = results[name]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert not (tmp / "out.json").exists()
