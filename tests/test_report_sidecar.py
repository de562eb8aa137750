"""Reports of any size: Part 4's cube inline up to a million cells, beside the JSON as .pairs.npy above."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.cache import ActivationCache
from core.report import (
    INLINE_PAIR_LIMIT,
    ReportRequest,
    build_report,
    pair_cosines_field,
    pair_cube,
    read_report,
    with_inline_pairs,
    write_report,
)
from core.texts import DEFAULT_TEXTS
from core.workbench import Workbench
from tests.tiny import CORPUS

LAYER = 2


def long_text(lines: int, start: int) -> str:
    """A few corpus lines: about 110 analysed tokens with the tiny BPE, within its 128-token context."""
    return " ".join(CORPUS[(start + k) % len(CORPUS)] for k in range(lines))


@pytest.fixture(scope="module")
def long_texts(tiny_gpt2):
    texts = {"A": long_text(6, 0), "B": long_text(6, 3), "C": long_text(6, 5)}
    bench = Workbench.build(tiny_gpt2, ActivationCache(), texts, "mlp_out", True)
    sizes = [len(bench.labels(name)) for name in "ABC"]
    assert np.prod(sizes) > INLINE_PAIR_LIMIT and max(sizes) < tiny_gpt2.context, sizes
    return texts, np.asarray(bench.pair_cube(LAYER, 1.0))


def test_a_big_cube_goes_beside_the_json_and_reads_back_as_the_same_array(tiny_gpt2_dir, long_texts, cli, tmp_path):
    texts, cube = long_texts
    out = tmp_path / "big.json"
    args = ["--model", str(tiny_gpt2_dir), "--layer", str(LAYER), "--json", str(out)]
    args += ["--text-a", texts["A"], "--text-b", texts["B"], "--text-c", texts["C"]]
    done = cli("report", *args)
    assert done.returncode == 0, done.stderr

    written = json.loads(out.read_text())
    field = written["pair_cosines"]
    assert field == {"npy": "big.json.pairs.npy", "shape": list(cube.shape), "dtype": "float32"}
    assert written["timings_s"]["sidecar"] > 0  # the cube is computed as it is written, timed on its own
    stored = np.load(tmp_path / "big.json.pairs.npy")
    assert stored.dtype == np.float32 and stored.shape == cube.shape
    report = read_report(out)
    np.testing.assert_allclose(pair_cube(report), cube, atol=1e-6)
    np.testing.assert_allclose(np.asarray(report["pair_cosines"]), cube, atol=1e-6)
    assert report["max_pair_cosines"][LAYER] == pytest.approx(cube.max(axis=(0, 1)).tolist(), abs=1e-6)


def test_a_cube_up_to_a_million_cells_stays_inline_and_leaves_no_sidecar(tiny_gpt2, tmp_path):
    report = build_report(ReportRequest(model="tiny", layer=LAYER, texts=dict(DEFAULT_TEXTS)), model=tiny_gpt2)
    out = tmp_path / "small.json"
    (tmp_path / "small.json.pairs.npy").write_bytes(b"stale")  # from an earlier, bigger report of this name
    write_report(report, out)
    written = json.loads(out.read_text())["pair_cosines"]
    assert isinstance(written, list) and not (tmp_path / "small.json.pairs.npy").exists()
    read = read_report(out)
    assert read["pair_cosines"] == written
    np.testing.assert_array_equal(pair_cube(read), pair_cube(report))


def test_the_threshold_is_a_million_cells():
    assert isinstance(pair_cosines_field(np.zeros((100, 100, 100), np.float32)), list)
    above = pair_cosines_field(np.zeros((100, 100, 101), np.float32))
    assert isinstance(above, np.ndarray) and above.dtype == np.float32


def test_a_missing_or_mismatched_sidecar_is_named(tiny_gpt2, long_texts, tmp_path):
    texts, cube = long_texts
    report = build_report(ReportRequest(model="tiny", layer=LAYER, texts=texts), model=tiny_gpt2)
    out = tmp_path / "r.json"
    write_report(report, out)
    np.save(tmp_path / "r.json.pairs.npy", cube[:-1])
    with pytest.raises(ValueError, match="not the float32"):
        read_report(out)
    (tmp_path / "r.json.pairs.npy").unlink()
    with pytest.raises(ValueError, match="refers to r.json.pairs.npy, which cannot be read"):
        read_report(out)


def test_a_single_file_download_keeps_a_big_cube_inline(tiny_gpt2, long_texts):
    texts, cube = long_texts
    report = build_report(ReportRequest(model="tiny", layer=LAYER, texts=texts), model=tiny_gpt2)
    assert not isinstance(report["pair_cosines"], list)  # computed only when it is written
    inline = json.loads(json.dumps(with_inline_pairs(report)))
    np.testing.assert_allclose(np.asarray(inline["pair_cosines"]), cube, atol=1e-6)


def test_a_batch_line_with_a_big_cube_writes_its_own_sidecar(tiny_gpt2_dir, long_texts, tmp_path, capsys):
    from core.__main__ import main

    texts, cube = long_texts
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    line = {"text_a": texts["A"], "text_b": texts["B"], "text_c": texts["C"], "layer": LAYER}
    source.write_text(json.dumps({**line, "text_c": "Small."}) + "\n" + json.dumps(line) + "\n", encoding="utf-8")
    assert main(["batch", "--model", str(tiny_gpt2_dir), "--input", str(source), "--output", str(out)]) == 0
    small, big = (json.loads(row) for row in out.read_text(encoding="utf-8").splitlines())
    assert isinstance(small["pair_cosines"], list)  # inline, as in a single report
    assert big["pair_cosines"] == {"npy": "out.jsonl.line2.pairs.npy", "shape": list(cube.shape), "dtype": "float32"}
    np.testing.assert_allclose(np.load(tmp_path / "out.jsonl.line2.pairs.npy"), cube, atol=1e-6)
    assert "2/2 lines, 0 errors" in capsys.readouterr().err
