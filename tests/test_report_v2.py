"""Report format 2 (top-k tables, baselines, centering) through the CLI, and read_report for formats 1 and 2.

One run goes through a real ``python -m core`` subprocess; the rest call ``core.__main__.main`` in this
process (the same code without the interpreter start-up, which costs seconds).
"""

from __future__ import annotations

import contextlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core import analysis, ranking
from core.__main__ import main
from core.cache import ActivationCache
from core.report import FORMAT1_KEYS, FORMAT2_KEYS, ReportRequest, build_report, parse_report, read_report
from core.texts import DEFAULT_TEXTS, analyse_texts
from core.workbench import pooled_mean

LAYER = 2  # the tiny GPT-2 has layers 0..3
BASELINE_KEYS = {"observed", "null_mean", "null_p95", "p_value", "percentile", "n"}


def _strict_json(path: Path) -> dict:
    def refuse(constant):
        raise AssertionError(f"{path.name} holds {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.fixture(scope="module")
def cli_reports(cli, tiny_gpt2_dir, tmp_path_factory) -> dict[str, dict]:
    """ "v2": a real ``python -m core report`` subprocess; "centered": main() in this process (while it runs)."""
    out = tmp_path_factory.mktemp("reports-v2")
    model = ("--model", str(tiny_gpt2_dir), "--layer", str(LAYER))
    v2 = (*model, "--top-k", "4", "--permutations", "200", "--seed", "3", "--token", "5")
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(cli, "report", *v2, "--json", str(out / "v2.json"))
        errors = io.StringIO()
        with contextlib.redirect_stderr(errors):
            status = main(["report", *model, "--center", "--permutations", "0", "--json", str(out / "centered.json")])
        assert status == 0, errors.getvalue()
        result = future.result()
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == "", f"the CLI printed: {result.stdout}{result.stderr}"
    return {name: _strict_json(out / f"{name}.json") for name in ("v2", "centered")}


@pytest.fixture(scope="module")
def v1_report(tiny_gpt2) -> dict:
    """The format-1 report of the same model and layer, computed in this process."""
    return build_report(ReportRequest(model="tiny", layer=LAYER), model=tiny_gpt2)


def _run(tmp_path: Path, capsys, *args: str) -> tuple[int, str, Path]:
    """main(report ARGS --json OUT) in this process: (exit status, stderr, OUT)."""
    out = tmp_path / "out.json"
    try:
        status = main(["report", *args, "--json", str(out)])
    except SystemExit as exit_:  # argparse errors
        status = exit_.code
    captured = capsys.readouterr()
    assert captured.out == ""
    return status, captured.err, out


def test_format_2_keeps_every_format_1_field_and_adds_the_new_ones(cli_reports, v1_report):
    report = cli_reports["v2"]
    assert list(report) == list(FORMAT2_KEYS)
    assert report["format"] == 2 and report["center"] is False and report["token"] == 5
    for key in FORMAT1_KEYS:
        if key not in ("format", "model", "timings_s"):
            np.testing.assert_equal(report[key], v1_report[key], err_msg=key)
    assert set(report["timings_s"]) == {"load", "forward", "analysis"}


def test_top_k_tables_rank_the_reports_own_cosines(cli_reports):
    report = cli_reports["v2"]
    top = report["top_k"]
    assert top["k"] == 4 and len(top["tokens"]) == 4 and len(top["pairs"]) == 4
    indices, values = ranking.top_tokens(np.asarray(report["target_cosines"]), 4)
    assert [row[0] for row in top["tokens"]] == indices.tolist()
    np.testing.assert_allclose([row[1] for row in top["tokens"]], values, rtol=0, atol=1e-12)
    assert top["tokens"][0][0] == report["recommended"]
    P_k = np.asarray(report["pair_cosines"])[:, :, report["token"]]
    pairs, pair_values = ranking.top_pairs(P_k, 4)
    assert [row[:2] for row in top["pairs"]] == pairs.tolist()
    np.testing.assert_allclose([row[2] for row in top["pairs"]], pair_values, rtol=0, atol=1e-6)  # P is float32


def test_baselines_are_the_permutation_tests_of_parts_2_3_and_5(cli_reports):
    report = cli_reports["v2"]
    found = report["baselines"]
    assert (found["permutations"], found["seed"]) == (200, 3) and found["seconds"] >= 0
    assert found["null_hypothesis"] == "A and B are exchangeable: the direction from A to B carries no information."
    assert "max-statistic" in found["correction"]
    assert "part2_random_directions" not in found and "part4_random_directions" not in found
    part2 = found["part2"]
    assert set(part2) == BASELINE_KEYS and part2["n"] == 200
    assert 1 / 201 <= part2["p_value"] <= 1 and 0 <= part2["percentile"] <= 100
    assert part2["null_mean"] <= part2["null_p95"] <= 1
    assert part2["observed"] == pytest.approx(max(report["target_cosines"]), abs=1e-12)
    n_layers, n_c = report["n_layers"], len(report["tokens"]["C"])
    raw, corrected = np.array(found["per_layer_p_values"]), np.array(found["per_layer_p_corrected"])
    assert raw.shape == corrected.shape == (n_layers,) and raw[LAYER] == part2["p_value"]
    assert (corrected >= raw).all() and (corrected <= 1).all()
    cells, cells_corrected = np.array(found["part5_p_values"]), np.array(found["part5_p_corrected"])
    assert cells.shape == cells_corrected.shape == (n_layers, n_c)
    assert (cells_corrected >= cells).all() and (cells >= 1 / 201).all()


def test_a_seeded_report_is_reproducible_and_another_seed_differs(cli_reports, tiny_gpt2_dir, tmp_path, capsys):
    model = ("--model", str(tiny_gpt2_dir), "--layer", str(LAYER), "--top-k", "4", "--token", "5")
    expected = cli_reports["v2"]["baselines"]
    for seed, same in (("3", True), ("4", False)):
        status, err, out = _run(tmp_path, capsys, *model, "--permutations", "200", "--seed", seed)
        assert status == 0, err
        found = read_report(out)["baselines"]
        found.pop("seconds")
        assert (found == {key: value for key, value in expected.items() if key != "seconds"}) is same


def test_centered_report_is_of_the_centered_vectors(cli_reports, v1_report, tiny_gpt2):
    report = cli_reports["centered"]
    assert report["format"] == 2 and report["center"] is True and report["baselines"] is None
    texts = analyse_texts(tiny_gpt2, ActivationCache(), DEFAULT_TEXTS, "mlp_out", True)
    X = {name: texts[name].X.astype(np.float64) for name in "ABC"}
    mean = pooled_mean(X["A"], X["B"], X["C"])
    centered = {name: X[name] - mean[:, None, :] for name in "ABC"}
    for name in "ABC":
        np.testing.assert_allclose(report["norms"][name], analysis.norms(centered[name]), rtol=1e-5)
    target = analysis.token_average_target(centered["A"][LAYER], centered["B"][LAYER], centered["C"][LAYER])
    np.testing.assert_allclose(report["target_cosines"], target.target_cosines, atol=1e-5)
    assert not np.allclose(report["target_cosines"], v1_report["target_cosines"], atol=1e-3)
    assert report["token"] == report["recommended"] == report["top_k"]["tokens"][0][0]


def test_format_2_defaults_and_the_format_1_default(tiny_gpt2_dir, tmp_path, capsys):
    model = ("--model", str(tiny_gpt2_dir), "--layer", str(LAYER))
    status, err, out = _run(tmp_path, capsys, *model, "--format", "2")
    assert status == 0, err
    report = read_report(out)
    assert report["top_k"]["k"] == 5 and len(report["top_k"]["tokens"]) == 5
    assert (report["baselines"]["permutations"], report["baselines"]["seed"]) == (1000, 0)
    assert report["token"] == report["recommended"] and report["center"] is False
    status, err, out = _run(tmp_path, capsys, *model)
    assert status == 0, err
    assert list(json.loads(out.read_text())) == list(FORMAT1_KEYS)


def test_top_k_zero_gives_empty_tables(tiny_gpt2_dir, tmp_path, capsys):
    status, err, out = _run(
        tmp_path, capsys, "--model", str(tiny_gpt2_dir), "--layer", "1", "--top-k", "0", "--permutations", "0"
    )
    assert status == 0, err
    report = read_report(out)
    assert report["top_k"] == {"k": 0, "tokens": [], "pairs": []} and report["baselines"] is None


BAD_OPTIONS = {
    "negative top-k": (("--top-k", "-1"), "Top-k -1 is out of range"),
    "non-integer top-k": (("--top-k", "two"), "invalid int value"),
    "negative permutations": (("--permutations", "-5"), "Permutations -5 is out of range"),
    "too many permutations": (("--permutations", "2000000"), "to 1000000"),
    "negative seed": (("--seed", "-1"), "Seed -1 is out of range"),
    "token out of range": (("--token", "99"), "Token 99 is out of range: text C has"),
    "negative token": (("--token", "-1"), "Token -1 is out of range"),
    "format 1 with format-2 options": (("--format", "1", "--center", "--top-k", "3"), "--top-k, --center need"),
    "unknown format": (("--format", "3"), "invalid choice"),
}


@pytest.mark.parametrize("name", list(BAD_OPTIONS))
def test_bad_options_exit_2_with_one_error_line(name, tiny_gpt2_dir, tmp_path, capsys):
    args, fragment = BAD_OPTIONS[name]
    status, err, out = _run(tmp_path, capsys, "--model", str(tiny_gpt2_dir), "--layer", str(LAYER), *args)
    assert status == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
    assert "Traceback" not in err and not out.exists()


# read_report


def test_read_report_reads_format_1_as_format_2(v1_report, tmp_path):
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(v1_report), encoding="utf-8")
    report = read_report(path)
    assert report["format"] == 1
    assert (report["center"], report["token"], report["top_k"], report["baselines"]) == (False, None, None, None)
    assert {key: report[key] for key in FORMAT1_KEYS} == json.loads(path.read_text())
    assert set(report) == set(FORMAT2_KEYS)


def test_read_report_reads_format_2_unchanged(cli_reports, tmp_path):
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(cli_reports["v2"]), encoding="utf-8")
    assert read_report(path) == cli_reports["v2"]


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, found list"),
        ('{"model": "gpt2"}', "no format field"),
        ('{"format": 3}', "format 3: this version reads report formats 1 and 2"),
        ('{"format": "2"}', "format '2'"),
        ('{"format": true}', "format True"),
    ],
)
def test_read_report_refuses_anything_else(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json") as error:
        read_report(path)
    assert fragment in str(error.value)


def test_read_report_refuses_an_incomplete_report(cli_reports, v1_report):
    v2 = dict(cli_reports["v2"])
    del v2["baselines"]
    with pytest.raises(ValueError, match="not a complete format-2 report: missing baselines"):
        parse_report(v2)
    v1 = {key: value for key, value in v1_report.items() if key != "norms"}
    with pytest.raises(ValueError, match="missing norms"):
        parse_report(v1)
