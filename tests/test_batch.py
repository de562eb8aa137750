"""``python -m core batch``: a file of triples in, one report (or one error) per line out, the model loaded once."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core import batch
from core.__main__ import main
from core.report import ReportRequest, build_report, parse_report


def _batch(tmp_path, capsys, lines: list[str] | None, *options: str, model: str) -> tuple[int, str, list[dict]]:
    """Write ``lines`` to IN.jsonl (None: no file), run the batch, return (status, stderr, output rows)."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    if lines is not None:
        source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    status = main(["batch", "--model", model, "--input", str(source), "--output", str(out), *options])
    err = capsys.readouterr().err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    return status, err, rows


GOOD = {
    "text_a": "I saw an aged aged man.",
    "text_b": "Who are you, aged man?",
    "text_c": "Like water through a sieve.",
}


def test_good_and_bad_lines_each_get_their_own_output_line(tiny_gpt2_dir, tiny_gpt2, tmp_path, capsys, monkeypatch):
    loads = []
    original = batch.load_model
    monkeypatch.setattr(batch, "load_model", lambda name: loads.append(name) or original(name))
    lines = [
        json.dumps(GOOD),
        "{not json",
        "",
        json.dumps({**GOOD, "layer": 1, "alpha": 0.5, "seed": 7}),
        json.dumps({**GOOD, "layer": 9}),
        json.dumps({"text_a": "x", "text_b": "y"}),
        json.dumps({**GOOD, "colour": "red"}),
    ]
    status, err, rows = _batch(
        tmp_path, capsys, lines, "--layer", "2", "--permutations", "50", model=str(tiny_gpt2_dir)
    )
    assert status == 0 and loads == [str(tiny_gpt2_dir)]  # one model load for the whole file
    assert [row["line"] for row in rows] == [1, 2, 4, 5, 6, 7]  # the blank line 3 is skipped
    good, custom = rows[0], rows[2]
    assert good["format"] == 2 and good["baselines"]["permutations"] == 50 and "error" not in good
    expected = build_report(ReportRequest(texts={"A": GOOD["text_a"], "B": GOOD["text_b"], "C": GOOD["text_c"]},
                                          layer=2, format=2, permutations=50), model=tiny_gpt2)  # fmt: skip
    np.testing.assert_allclose(good["max_pair_cosines"], expected["max_pair_cosines"])
    assert good["baselines"]["per_layer_p_corrected"] == expected["baselines"]["per_layer_p_corrected"]
    assert (custom["layer"], custom["alpha"], custom["baselines"]["seed"]) == (1, 0.5, 7)
    parse_report({key: value for key, value in custom.items() if key != "line"})
    errors = {row["line"]: row["error"] for row in rows if "error" in row}
    assert set(errors) == {2, 5, 6, 7} and all(set(row) == {"line", "error"} for row in rows if "error" in row)
    assert errors[2] == "this line is not JSON."
    assert errors[5].startswith("Layer 9 is out of range")
    assert errors[6] == "text_c is missing or not a string."
    assert errors[7].startswith("unknown field 'colour'")
    assert "6/6 lines, 4 errors" in err  # the progress bar on stderr


def test_without_format2_options_each_line_is_a_format1_report(tiny_gpt2_dir, tmp_path, capsys):
    status, _, rows = _batch(tmp_path, capsys, [json.dumps(GOOD)], "--layer", "2", model=str(tiny_gpt2_dir))
    assert status == 0 and rows[0]["format"] == 1 and rows[0]["layer"] == 2 and "baselines" not in rows[0]


@pytest.mark.parametrize(
    "lines, message",
    [
        (None, "does not exist"),
        ([], "is empty"),
        (["", "   "], "is empty"),
        (["hello", "{broken", "[1, 2"], "no line of"),
    ],
    ids=["missing file", "empty file", "blank lines only", "no JSON line"],
)
def test_a_file_without_any_json_line_stops_with_one_error_line(lines, message, tiny_gpt2_dir, tmp_path, capsys):
    status, err, rows = _batch(tmp_path, capsys, lines, model=str(tiny_gpt2_dir))
    assert status == 2 and rows == []
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
