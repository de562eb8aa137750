"""Research instruments in the app: top-k lists, chance baselines, mean-centering (no browser)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from core import baselines, ranking
from core.workbench import Workbench
from widgets import Dashboard
from widgets.tables import p_pair, verdict, verdict_line


@pytest.fixture
def app(tiny_gpt2_dir):
    return Dashboard(model=str(tiny_gpt2_dir))


def pick(ranked, row: int) -> None:
    """The user clicks row ``row`` of a top-k list."""
    ranked.select.value = ranked.select.options[row][1]


def test_part2_lists_the_k_best_c_tokens_and_picking_one_selects_it(app):
    target = app.views["target"]
    app.controls.top_k.value = 3
    scores = app.session.feed.frame.bench.target(app.state.layer, app.state.alpha).target_cosines
    indices, _ = ranking.top_tokens(scores, 3)
    assert [value for _, value in target.ranking.select.options] == list(indices)
    assert target.ranking.select.options[0][0].startswith("1. “")
    pick(target.ranking, 2)
    assert app.state.token == indices[2] and app.controls.token.value == indices[2]


def test_part4_lists_the_k_best_pairs_and_picking_one_rings_it(app):
    pairs_view = app.views["pairs"]
    matrix = app.session.feed.frame.bench.pair_matrix(app.state.layer, app.state.token, app.state.alpha)
    expected, _ = ranking.top_pairs(matrix, app.state.top_k)
    assert [value for _, value in pairs_view.ranking.select.options] == [tuple(p) for p in expected]
    pick(pairs_view.ranking, 1)
    ring = pairs_view.main.markers["picked"]
    i, j = expected[1]
    assert ring.visible and pairs_view.main.marked_cell("picked") == pairs_view.main.cell(i, j)
    app.state.layer = 0  # a new slice: the ring goes, the list follows
    assert not ring.visible


def _verdicts(view) -> list[str]:
    return re.findall(r"<div class='mlprec-verdict'.*?</div>", view.chance.value)


def test_each_recommendation_has_one_verdict_from_its_corrected_p_value(app):
    state, bench = app.state, app.session.feed.frame.bench
    n = state.permutations
    tests = bench.layer_tests(state.alpha, n)
    (part2,) = _verdicts(app.views["target"])
    p = tests.family.p_corrected[state.layer]
    assert f"data-p='{float(p)!r}'" in part2 and f"p = {p:.3g} corrected over the {bench.n_layers} layers" in part2
    assert f"At this layer alone p = {tests.baselines[state.layer].p_value:.3g}" in part2
    assert verdict(p, n) in part2 and "random target directions" not in app.views["target"].chance.value
    assert "A and B are exchangeable" in app.views["target"].chance.value
    # Part 3: filled points are the layers whose corrected p-value is below 0.05; hover shows both p-values.
    expected = ["#e7a3a3" if c < 0.05 else "transparent" for c in tests.family.p_corrected]
    assert list(app.views["layers"].points.colors) == expected
    assert list(app.views["layers"].points.names) == [
        p_pair(c, u) for c, u in zip(tests.family.p_corrected, tests.family.p_values, strict=True)
    ]
    # Part 4: the selected token's best pair is Part 5's cell, corrected over the whole map.
    cells = bench.pair_tests(state.alpha, n)
    (part4,) = _verdicts(app.views["pairs"])
    p = cells.p_corrected[state.layer, state.token]
    assert f"data-p='{float(p)!r}'" in part4 and f"corrected over all {cells.p_corrected.size} cells" in part4
    assert f"For this cell alone p = {cells.p_values[state.layer, state.token]:.3g}" in part4
    # Part 5: dots on the cells that beat chance after correction, both p-values in the table.
    sweep = app.views["sweep"]
    assert len(sweep._dots) == int((cells.p_corrected < 0.05).sum())
    assert "<th>p corrected</th><th>p</th>" in sweep.table.value
    assert not _verdicts(app.views["layers"]) and not _verdicts(sweep)  # their verdicts are the marks
    app.controls.permutations.value = 0
    assert all(
        "baselines are off" in view.chance.value
        for view in (app.views[name] for name in ("target", "layers", "pairs", "sweep"))
    )


def test_verdicts_are_worded_as_their_p_values_say():
    assert verdict(0.004, 1000) == "better than chance (p < 0.01)"
    assert verdict(0.03, 1000) == "better than chance at the 5% level"
    for p in (0.05, 0.2, 1.0):
        assert "better than chance" not in verdict(p, 1000) and "not distinguishable from chance" in verdict(p, 1000)
    assert verdict(1 / 11, 10).startswith("cannot tell: 10 permutations cannot give p < 0.05")
    line = verdict_line("“<b>”", 0.3, "corrected", "details <i>", 99)
    assert "&lt;b&gt;" in line and "&lt;i&gt;" in line and "not distinguishable" in line


def test_layer_changes_read_the_memoised_tests_and_redraw_the_same_lines(app, monkeypatch):
    calls = []
    original = baselines.pair_statistics
    monkeypatch.setattr(baselines, "pair_statistics", lambda *a, **k: calls.append(1) or original(*a, **k))
    first = app.views["target"].chance.value
    for layer in (0, app.state.n_layers - 1, 1, app.state.layer):
        app.state.layer = layer
    app.state.token = 1
    assert calls == [] and app.views["target"].chance.value == first  # seeded and computed once, with the texts
    app.state.alpha = 0.5
    assert calls == [1]  # a new alpha is a new test


def test_mean_centering_reruns_every_part_from_the_cache(app):
    passes = app.session.cache.forward_passes
    app.controls.center.value = True
    assert app.session.cache.forward_passes == passes
    centered = Workbench.build(app.session.loaded, app.session.cache, app.state.texts(), "mlp_out", True, center=True)
    layer, alpha = app.state.layer, app.state.alpha
    np.testing.assert_allclose(
        app.views["target"].similarity.y, centered.target(layer, alpha).target_cosines, atol=1e-6
    )
    np.testing.assert_allclose(app.views["sweep"].heatmap.mark.color, centered.max_pairs(alpha)[0], atol=1e-6)
    np.testing.assert_allclose(app.views["norms"].heatmaps["A"].mark.color, centered.norms["A"], rtol=1e-6)
    pooled = np.concatenate([centered.X(name)[layer] for name in "ABC"])
    assert np.abs(pooled.mean(axis=0)).max() < 1e-5


@pytest.fixture(scope="module")
def second_model_dir(tmp_path_factory):
    from tests.tiny import build_gpt2

    return build_gpt2(tmp_path_factory.mktemp("six-layers"), n_layer=6, n_embd=48, seed=1)


def test_compare_shows_parts_3_and_5_for_a_second_model_on_the_same_texts(app, second_model_dir):
    from core.models import load_model

    assert app.comparison.grid.layout.display == "none"
    assert not app.comparison.first and not app.comparison.grid.children  # nothing built before it is chosen
    app.controls.compare.value = str(second_model_dir)
    second = Workbench.build(load_model(str(second_model_dir)), app.session.cache, app.state.texts(), "mlp_out", True)
    layers_b, sweep_b = app.comparison.second
    tokens, cosines = second.recommendations(app.state.alpha)
    np.testing.assert_allclose(layers_b.points.y, cosines, atol=1e-6)
    np.testing.assert_allclose(sweep_b.heatmap.mark.color, second.max_pairs(app.state.alpha)[0], atol=1e-6)
    layers_a, sweep_a = app.comparison.first
    np.testing.assert_allclose(sweep_a.heatmap.mark.color, app.views["sweep"].heatmap.mark.color)
    assert app.comparison.grid.layout.display is None and "6 layers" in app.comparison.status.value

    passes = app.session.cache.forward_passes
    app.controls.texts["C"].value = "Of shoes and ships and sealing-wax."
    assert app.session.cache.forward_passes == passes + 2  # one new text, two models: both kept in the cache
    assert sweep_b.heatmap.mark.color.shape[1] == app.views["sweep"].heatmap.mark.color.shape[1]
    app.state.layer = 0
    assert list(layers_b.current.x) == [0.0]


def test_a_compared_model_that_cannot_load_leaves_everything_else_alone(app, tmp_path):
    app.controls.compare.value = str(tmp_path / "missing")
    assert "Nothing to compare with" in app.messages.area.value
    assert app.state.compare_model == str(tmp_path / "missing")  # what the user asked for stays in the picker
    assert app.session.compared is None and app.comparison.grid.layout.display == "none"
    assert "mlprec-ready" in app.messages.status.value


def test_a_gallery_example_fills_the_three_texts_and_says_what_to_look_for(app):
    from core.gallery import EXAMPLES

    name, example = next((n, e) for n, e in EXAMPLES.items() if n != "aged-aged-man")
    app.controls.example.value = name
    assert (app.state.text_a, app.state.text_b, app.state.text_c) == (example.a, example.b, example.c)
    assert example.idea[:30] in app.controls.example_idea.value
    assert app.session.feed.frame.bench.texts["C"].activations.text == example.c
    assert "mlprec-ready" in app.messages.status.value and app.messages.area.value == ""


def test_a_second_dashboard_reads_the_activations_from_the_disk_cache(tiny_gpt2_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MLPREC_DISK_CACHE", "on")
    monkeypatch.setenv("MLPREC_CACHE_DIR", str(tmp_path / "activations"))
    first = Dashboard(model=str(tiny_gpt2_dir))
    assert (
        first.session.cache.forward_passes == 3
        and "(3 forward passes, 0 texts from the disk cache)" in first.messages.status.value
    )
    second = Dashboard(model=str(tiny_gpt2_dir))  # a new session: a new kernel, the same machine
    assert second.session.cache.forward_passes == 0 and second.session.cache.disk_hits == 3
    assert "(0 forward passes, 3 texts from the disk cache)" in second.messages.status.value
    np.testing.assert_array_equal(second.views["sweep"].heatmap.mark.color, first.views["sweep"].heatmap.mark.color)
