"""Export from the app: the report JSON and the CSV tables hold exactly what the core computes."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import zipfile

import pytest

from core.report import ReportRequest, build_report
from core.vocab import reader
from widgets import Dashboard


def download(app, button) -> tuple[str, bytes]:
    """Press an Export button; the file behind the link it prepares (name, bytes)."""
    button.click()
    [(name, data)] = re.findall(r"download='([^']+)' href='data:[^;]+;base64,([^']+)'", app.exports.links.value)
    return name, base64.b64decode(data)


@pytest.fixture
def app(tiny_gpt2_dir):
    app = Dashboard(model=str(tiny_gpt2_dir))
    app.state.layer, app.state.alpha = 2, 1.5
    app.exports.widget.selected_index = 0  # the user opens the Export panel
    return app


def test_the_exported_report_equals_the_cli_report_of_the_same_choices(app):
    files = dict([download(app, app.exports.report)])
    name = next(name for name in files if name.endswith(".json"))
    assert name.startswith("mlprec-") and name.endswith("-layer2-and-his-answer-trickled-report.json")
    exported = json.loads(files[name])
    request = ReportRequest(model=app.state.model, layer=2, alpha=1.5, format=2, token=app.state.token)
    expected = build_report(request, app.session.loaded)
    for key in (
        "tokens",
        "norms",
        "mean_cosine",
        "target_cosines",
        "recommended",
        "per_layer",
        "max_pair_cosines",
        "best_pairs",
        "top_k",
        "format",
    ):
        assert exported[key] == expected[key], key
    assert exported["baselines"]["permutations"] == app.state.permutations


def test_the_exported_tables_are_the_views_numbers(app):
    files = dict([download(app, app.exports.tables)])
    archive = zipfile.ZipFile(io.BytesIO(next(data for name, data in files.items() if name.endswith(".zip"))))
    assert sorted(archive.namelist()) == [
        "norms.csv", "part2-layer2.csv", "part3.csv", "part5.csv", "vocab-layer2.csv", "vocab-layers.csv",
    ]  # fmt: skip
    part5 = list(csv.DictReader(io.StringIO(archive.read("part5.csv").decode())))
    best, pairs = app.session.feed.frame.bench.max_pairs(1.5)
    assert len(part5) == best.size
    row = part5[5]
    layer, k = int(row["layer"]), int(row["c_position"])
    assert float(row["max_cosine"]) == pytest.approx(best[layer, k], abs=1e-5)
    assert (int(row["a_position"]), int(row["b_position"])) == tuple(pairs[layer, k])
    part3 = list(csv.DictReader(io.StringIO(archive.read("part3.csv").decode())))
    assert [float(r["cosine"]) for r in part3] == pytest.approx(list(app.views["layers"].points.y), abs=1e-5)
    vocab = list(csv.DictReader(io.StringIO(archive.read("vocab-layer2.csv").decode())))
    target = reader(app.session.feed.frame.bench).at_layer(2, 1.5, "logit lens", 10)["target"]
    rows = [row for row in vocab if (row["vector"], row["side"]) == ("target", "top")]
    assert [int(row["token_id"]) for row in rows] == [entry[0] for entry in target.top]
    assert [float(row["logit"]) for row in rows] == pytest.approx([entry[2] for entry in target.top], abs=1e-4)
    layers = list(csv.DictReader(io.StringIO(archive.read("vocab-layers.csv").decode())))
    assert len(layers) == 10 * app.session.feed.frame.bench.n_layers and {row["lens"] for row in layers} == {"logit lens"}


def test_nothing_is_computed_for_the_panel_until_a_button_is_pressed(app, monkeypatch):
    import widgets.export

    computed = []
    monkeypatch.setattr(widgets.export, "bench_report", lambda *args: computed.append(args) or {"pair_cosines": []})
    for layer in (1, 0, 3):
        app.state.layer = layer  # the panel is open: still nothing computed
    assert computed == [] and app.exports.links.value == ""
    name, _ = download(app, app.exports.report)
    assert len(computed) == 1 and "layer3" in name
