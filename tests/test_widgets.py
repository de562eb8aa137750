"""The dashboard without a browser: a user's choices go into AppState, and the marks show the core's results."""

from __future__ import annotations

import numpy as np
import pytest

from core import analysis
from core.cache import capture
from core.texts import TEXT_NAMES
from widgets import Dashboard
from widgets.figures import ACCENT, axis_labels
from widgets.raster import RING_SCALE, ramp, rgb
from widgets.views.pairs import overview_tokens

from .images import read_png
from .tables import highlighted_layer


@pytest.fixture
def app(tiny_gpt2_dir):
    return Dashboard(model=str(tiny_gpt2_dir))


def views(app):
    return tuple(app.views[name] for name in ("norms", "target", "layers", "pairs", "sweep"))


def reference(app, texts=None, hook="mlp_out", skip_first=True):
    """Each text's analysed vectors [L, n, d], captured afresh (no cache) straight from the model."""
    texts = texts or app.state.texts()
    out = {}
    for name in TEXT_NAMES:
        captured = capture(app.session.loaded, texts[name], hook)
        labels, X = captured.analysed(skip_first)
        out[name] = (labels, X)
    return out


def click(mark, data):
    """Deliver a click on ``mark`` exactly as the browser's bqplot sends it to the kernel."""
    mark._handle_custom_msg({"event": "element_click", "data": data}, [])


def test_every_part_shows_the_core_results_for_the_default_texts(app):
    norms, target, layers, pairs, sweep = views(app)
    ref = reference(app)
    XA, XB, XC = (ref[name][1] for name in TEXT_NAMES)
    layer, alpha, token = app.state.layer, app.state.alpha, app.state.token

    for name in TEXT_NAMES:
        heatmap = norms.heatmaps[name]
        np.testing.assert_allclose(heatmap.mark.color, analysis.norms(ref[name][1]), rtol=1e-6)
        assert list(heatmap.mark.column) == axis_labels(ref[name][0])

    part2 = analysis.token_average_target(XA[layer], XB[layer], XC[layer], alpha)
    np.testing.assert_allclose(target.similarity.y, part2.target_cosines, atol=1e-6)
    np.testing.assert_allclose(target.means.y, np.vstack([part2.mean_a, part2.mean_b]), atol=1e-6)
    assert f"S_AB = {part2.mean_cosine:.2f}" in target.scatter_figure.title
    assert list(target.best.x) == [axis_labels(ref["C"][0])[part2.recommended]]

    sweep_cos = analysis.layer_sweep(XA, XB, XC, alpha)
    np.testing.assert_allclose(layers.points.y, sweep_cos.max(axis=1), atol=1e-6)
    assert list(layers.labels.text) == [ref["C"][0][k] for k in sweep_cos.argmax(axis=1)]

    P = analysis.pair_cosines(XA[layer], XB[layer], XC[layer], alpha)
    np.testing.assert_allclose(pairs.main.shown, P[:, :, token], atol=1e-5)
    low, high = pairs.main.colors.min, pairs.main.colors.max
    np.testing.assert_array_equal(read_png(pairs.main.image.png), ramp(pairs.main.shown, low, high))  # row 0 on top
    for heatmap, caption, k in zip(pairs.overview, pairs.overview_pairs, overview_tokens(XC.shape[1]), strict=True):
        np.testing.assert_allclose(heatmap.shown, P[:, :, k], atol=1e-5)
        i, j = np.unravel_index(np.argmax(P[:, :, k]), P[:, :, k].shape)  # the best pair, ringed in the picture
        assert heatmap.figure.title == f"“{ref['C'][0][k]}”"  # the token; the pair, named under the picture:
        assert caption.value == f"best pair (“{ref['A'][0][i]}”, “{ref['B'][0][j]}”) = {P[i, j, k]:.3f}"
        picture = read_png(heatmap.image.png)
        assert heatmap.ring == (i, j) and picture.shape[:2] == (P.shape[0] * RING_SCALE, P.shape[1] * RING_SCALE)
        side = (j + 1) * RING_SCALE if (j + 1) * RING_SCALE < picture.shape[1] else j * RING_SCALE - 1
        ring = picture[max(i * RING_SCALE - 1, 0) : (i + 1) * RING_SCALE + 1, side, :3]
        assert all(tuple(pixel) == tuple(rgb(ACCENT)) for pixel in ring)  # the ring's right (or left) side

    M, best = analysis.max_pair_cosines(XA, XB, XC, alpha)
    np.testing.assert_allclose(sweep.heatmap.mark.color, M, atol=1e-6)
    i, j = best[layer, token]
    assert f"<td>{ref['A'][0][i]}</td><td>{ref['B'][0][j]}</td>" in sweep.table.value


def test_moving_the_layer_slider_redraws_every_view_without_a_forward_pass(app):
    norms, target, layers, pairs, sweep = views(app)
    passes = app.session.cache.forward_passes
    before = target.similarity.y.copy()
    tables = sweep.table.value, app.views["vocab_layers"].table.value

    app.controls.layer.value = 1  # the user drags the slider

    assert app.state.layer == 1
    assert app.session.cache.forward_passes == passes
    ref = reference(app)
    XA, XB, XC = (ref[name][1] for name in TEXT_NAMES)
    expected = analysis.token_average_target(XA[1], XB[1], XC[1], 1.0).target_cosines
    np.testing.assert_allclose(target.similarity.y, expected, atol=1e-6)
    assert not np.allclose(before, target.similarity.y)
    assert "at layer 1" in target.similarity_figure.title and "at layer 1" in pairs.main.figure.title
    assert list(layers.current.x) == [1.0]
    assert list(sweep.heatmap.marker.y) == ["1"]
    assert highlighted_layer(sweep.table) == 1 and highlighted_layer(app.views["vocab_layers"].table) == 1
    assert (sweep.table.value, app.views["vocab_layers"].table.value) == tables  # only the highlight moved


def test_alpha_reshapes_parts_2_to_5_from_cached_vectors(app):
    _, target, layers, pairs, sweep = views(app)
    passes = app.session.cache.forward_passes
    app.controls.alpha.value = 2.5
    assert app.session.cache.forward_passes == passes
    ref = reference(app)
    XA, XB, XC = (ref[name][1] for name in TEXT_NAMES)
    layer = app.state.layer
    np.testing.assert_allclose(
        target.similarity.y,
        analysis.token_average_target(XA[layer], XB[layer], XC[layer], 2.5).target_cosines,
        atol=1e-6,
    )
    np.testing.assert_allclose(layers.points.y, analysis.layer_sweep(XA, XB, XC, 2.5).max(axis=1), atol=1e-6)
    M, _ = analysis.max_pair_cosines(XA, XB, XC, 2.5)
    np.testing.assert_allclose(sweep.heatmap.mark.color, M, atol=1e-6)


def test_clicking_a_part5_cell_sets_layer_and_token_and_every_view_follows(app):
    _, target, layers, pairs, sweep = views(app)
    click(sweep.heatmap.mark, {"rowNum": 2, "columnNum": 5, "row": "2", "column": "x", "color": 0.1})
    assert (app.state.layer, app.state.token) == (2, 5)
    assert app.controls.layer.value == 2 and app.controls.token.value == 5
    word = app.session.feed.frame.bench.labels("C")[5]
    assert f"Similarity with “{word}” at layer 2" in pairs.main.figure.title
    assert list(target.selected.x) == [axis_labels(app.session.feed.frame.bench.labels("C"))[5]]
    assert list(layers.current.x) == [2.0]
    assert list(sweep.heatmap.marker.x) == [axis_labels(app.session.feed.frame.bench.labels("C"))[5]]


def test_clicking_a_c_token_in_part2_selects_it_and_a_point_in_part3_moves_the_layer(app):
    _, target, layers, pairs, _ = views(app)
    click(target.similarity, {"x": "ignored", "y": 0.0, "index": 3})
    assert app.state.token == 3 and app.controls.token.value == 3
    assert app.session.feed.frame.bench.labels("C")[3] in pairs.main.figure.title
    click(layers.points, {"x": 0.0, "y": 0.0, "index": 0})
    assert app.state.layer == 0 and app.controls.layer.value == 0


def test_the_token_picker_lists_text_c_and_counts_sit_beside_each_text(app):
    labels = app.session.feed.frame.bench.labels("C")
    assert [label for label, _ in app.controls.token.options] == [f"{k}: “{w}”" for k, w in enumerate(labels)]
    count = app.controls.counts["C"].value
    assert f"{len(labels) + 1} tokens · {len(labels)} analysed" in count


def test_typing_a_new_text_runs_one_forward_pass_and_redraws(app):
    norms, target, *_ = views(app)
    passes = app.session.cache.forward_passes
    app.controls.texts["C"].value = "The walrus said it was time to talk of ships."
    assert app.session.cache.forward_passes == passes + 1
    labels = reference(app)["C"][0]
    assert list(target.similarity.x) == axis_labels(labels)
    assert list(norms.heatmaps["C"].mark.column) == axis_labels(labels)
    assert app.state.n_tokens == len(labels)
    app.controls.texts["C"].value = app.state.text_c + " "  # a new text again
    app.controls.texts["C"].value = "The walrus said it was time to talk of ships."  # seen before: cached
    assert app.session.cache.forward_passes == passes + 2


def test_a_shorter_text_c_pulls_the_selected_token_back_into_range(app):
    app.state.token = app.state.n_tokens - 1
    app.controls.texts["C"].value = "And his answer"
    assert app.state.token == app.state.n_tokens - 1 < 5
    assert app.controls.token.value == app.state.token


def test_colour_limits_touch_only_the_colour_scales(app):
    norms, _, _, pairs, sweep = views(app)
    shown, image = pairs.main.shown, pairs.main.image.png
    app.controls.pair_colours.value = (0.0, 0.5)
    assert (pairs.main.colors.min, pairs.main.colors.max) == (0.0, 0.5)
    assert pairs.main.shown is shown and pairs.main.image.png != image  # the same cells, recoloured in the kernel
    np.testing.assert_array_equal(read_png(pairs.main.image.png), ramp(shown, 0.0, 0.5))
    app.controls.norm_colours.value = (0, 100)
    values = norms.heatmaps["A"].mark.color
    assert (norms.heatmaps["A"].colors.min, norms.heatmaps["A"].colors.max) == pytest.approx(
        (values.min(), values.max())
    )
    app.controls.sweep_colours.value = (10, 90)
    low, high = np.percentile(sweep.heatmap.mark.color, [10, 90])
    assert (sweep.heatmap.colors.min, sweep.heatmap.colors.max) == pytest.approx((low, high))


def test_hook_point_and_skip_first_rerun_the_model(app):
    norms, target, *_ = views(app)
    app.controls.skip_first.value = False
    assert app.state.n_tokens == len(reference(app, skip_first=False)["C"][0])
    assert len(norms.heatmaps["A"].mark.column) == len(reference(app, skip_first=False)["A"][0])
    app.controls.hook.value = "mlp_neurons"
    ref = reference(app, hook="mlp_neurons", skip_first=False)
    assert target.means.y.shape[1] == ref["A"][1].shape[-1] == 4 * app.session.loaded.d_model
    assert "mlp_neurons (128 dims" in app.messages.status.value


def test_an_empty_text_shows_a_message_and_keeps_the_previous_results(app):
    norms, *_ = views(app)
    shown = norms.heatmaps["A"].mark.color.copy()
    app.controls.texts["A"].value = "   "
    assert "Text A is empty" in app.messages.area.value and "mlprec-error" in app.messages.area.value
    np.testing.assert_array_equal(norms.heatmaps["A"].mark.color, shown)
    assert "mlprec-ready" in app.messages.status.value
    app.controls.texts["A"].value = "A fresh start for text A, and more words."
    assert app.messages.area.value == ""


def test_a_model_that_cannot_load_leaves_the_previous_one_working(app, tmp_path):
    name = app.state.model
    app.controls.model.value = str(tmp_path)  # a folder, but not a model
    assert "holds no model" in app.messages.area.value and "Still showing" in app.messages.area.value
    assert app.session.loaded.name == name  # still working on the model loaded before
    assert app.state.model == str(tmp_path)  # what the user asked for is not written back behind their back
    app.controls.layer.value = 0
    assert "at layer 0" in app.views["target"].similarity_figure.title


def test_without_any_model_the_app_offers_the_installed_minilm(tmp_path):
    app = Dashboard(model=str(tmp_path / "missing"))
    assert "No folder at" in app.messages.area.value
    assert app.messages.fallback.layout.display == "flex"
    app.messages.fallback.click()
    assert app.session.loaded is not None and app.session.loaded.adapter.blocks == "encoder.layer"
    assert "mlprec-ready" in app.messages.status.value and app.messages.area.value == ""
    assert "[CLS]" not in app.session.feed.frame.bench.labels("A")


def test_the_token_count_warns_when_a_text_is_cut_to_the_context(app):
    long_text = " ".join(["I saw an aged aged man, a-sitting on a gate."] * 40)
    app.controls.texts["B"].value = long_text
    assert "cut to the model's context" in app.controls.counts["B"].value
    assert "longer than the model's context" in app.messages.area.value and "mlprec-notice" in app.messages.area.value


def test_a_huge_heatmap_is_drawn_as_pooled_blocks_that_keep_every_maximum():
    from widgets.figures import LINE_PX, MAX_CELLS, HeatmapFigure, ordinal_ticks

    rng = np.random.default_rng(0)
    values = rng.normal(size=(1000, 700))
    labels_a = [f"a{i}" for i in range(1000)]
    labels_b = [f"b{j}" for j in range(700)]
    heatmap = HeatmapFigure("", "A", "B", "Cosine", rows_up=False, marker=True)
    heatmap.show(labels_a, labels_b, values)
    drawn = heatmap.mark.color
    assert drawn.size <= MAX_CELLS and drawn.max() == values.max()
    i, j = np.unravel_index(values.argmax(), values.shape)
    rows, columns = heatmap.data_ranges(*heatmap.cell(i, j))
    assert i in rows and j in columns
    assert drawn[heatmap.cell(i, j)] == values.max()
    first = heatmap.data_ranges(0, 0)[0]
    assert heatmap.mark.row[0] == f"a0…a{first.stop - 1}"
    heatmap.mark_cell(i, j)
    assert heatmap.marker.y[0] == heatmap.mark.row[heatmap.cell(i, j)[0]]
    shown = ordinal_ticks(len(heatmap.mark.row), heatmap.row_axis.num_ticks)  # thinned: a line each
    assert min(np.diff(shown)) * heatmap.plot_size[1] / len(heatmap.mark.row) >= LINE_PX
    heatmap.show(labels_a[:10], labels_b[:10], values[:10, :10])  # small again: every cell, every tick
    assert heatmap.mark.color.shape == (10, 10) and heatmap.row_axis.num_ticks is None
