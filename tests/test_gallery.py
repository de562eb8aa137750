"""The gallery of example texts: each runs through the report, and the command line picks them by name."""

from __future__ import annotations

import json

import pytest

from core.__main__ import main
from core.gallery import EXAMPLES
from core.texts import DEFAULT_TEXTS, TEXT_NAMES


def test_the_textbook_example_is_the_default_texts():
    assert EXAMPLES["aged-aged-man"].texts == dict(DEFAULT_TEXTS)


def test_every_example_has_three_texts_and_one_line_idea():
    assert 6 <= len(EXAMPLES) <= 8
    for name, example in EXAMPLES.items():
        assert name == name.lower() and " " not in name
        assert all(text.strip() for text in example.texts.values()), name
        assert example.idea.strip() and "\n" not in example.idea, name
    assert len({tuple(example.texts.values()) for example in EXAMPLES.values()}) == len(EXAMPLES)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_example_runs_through_the_report(name, tiny_gpt2_dir, tmp_path, capsys):
    out = tmp_path / "report.json"
    args = ["report", "--model", str(tiny_gpt2_dir), "--layer", "1", "--example", name, "--keep-first"]
    assert main([*args, "--json", str(out)]) == 0, capsys.readouterr().err
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["format"] == 1  # --example alone keeps format 1
    assert len(report["per_layer"]) == 4
    for key in TEXT_NAMES:
        assert report["tokens"][key] and len(report["norms"][key][0]) == len(report["tokens"][key])


def test_explicit_texts_override_the_example(tiny_gpt2_dir, tmp_path):
    out = tmp_path / "report.json"
    args = ["report", "--model", str(tiny_gpt2_dir), "--layer", "0", "--keep-first", "--json", str(out)]
    assert main([*args, "--example", "song-of-myself", "--text-b", "I saw an aged aged man"]) == 0
    tokens = json.loads(out.read_text(encoding="utf-8"))["tokens"]
    example = EXAMPLES["song-of-myself"]
    assert ("".join(tokens["A"]), "".join(tokens["B"]), "".join(tokens["C"])) == (
        example.a,
        "I saw an aged aged man",
        example.c,
    )


def test_an_unknown_example_exits_2_with_one_line(tmp_path, capsys):
    code = main(["report", "--example", "x", "--json", str(tmp_path / "out.json")])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: unknown example 'x': choose one of {', '.join(EXAMPLES)}\n"
    assert not (tmp_path / "out.json").exists()


def test_the_examples_command_lists_every_name_with_its_idea(capsys):
    assert main(["examples"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(EXAMPLES)
    for line, (name, example) in zip(lines, EXAMPLES.items(), strict=True):
        assert line.split()[0] == name and line.endswith(example.idea)


def test_the_examples_command_runs_as_a_module(cli):
    result = cli("examples")
    assert result.returncode == 0 and result.stderr == ""
    assert [line.split()[0] for line in result.stdout.splitlines()] == list(EXAMPLES)
