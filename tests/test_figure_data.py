"""Numbers from Python and figures that fit: ``Dashboard.data()``, tick thinning, abbreviated labels and titles."""

from __future__ import annotations

import numpy as np
import pytest

from core import analysis
from core.cache import capture
from core.geometry import GeometryFits
from core.texts import TEXT_NAMES
from widgets import Dashboard
from widgets.data import Table
from widgets.figures import LINE_PX, SLANT_SIN, SLANTED_LABEL_PX, TICK_FONT, HeatmapFigure, ordinal_ticks
from widgets.textfit import abbreviate, fit_quoted, text_width, tick_step
from widgets.views.geometry import FRAME_X, FRAME_Y, largest_values


@pytest.fixture(scope="module")
def app(tiny_gpt2_dir):
    return Dashboard(model=str(tiny_gpt2_dir))


def analysed(app):
    """Each text's analysed vectors [L, n, d] and labels, captured afresh straight from the model."""
    return {name: capture(app.session.loaded, app.state.texts()[name], "mlp_out").analysed(True) for name in TEXT_NAMES}


def test_a_lecturer_gets_every_figures_numbers_with_their_labels(app):
    app.state.layer, app.state.token, app.state.alpha = 2, 3, 1.5
    data = app.data()
    assert set(data) == set(app._figures()), "one table per exported figure"
    assert all(isinstance(table, Table) and isinstance(table.values, np.ndarray) for table in data.values())
    ref = analysed(app)
    (la, XA), (lb, XB), (lc, XC) = (ref[name] for name in TEXT_NAMES)

    norms = data["Part 1 · text B norms"]
    np.testing.assert_allclose(norms.values, analysis.norms(XB), rtol=1e-6)
    assert norms.rows == list(range(app.session.feed.frame.bench.n_layers)) and norms.columns == lb

    part2 = analysis.token_average_target(XA[2], XB[2], XC[2], 1.5)
    similarity = data["Part 2 · similarity to the target"]
    np.testing.assert_allclose(similarity.values[:, 0], part2.target_cosines, atol=1e-6)
    assert similarity.rows == lc and similarity.marks == {"recommended": part2.recommended, "selected": 3}
    np.testing.assert_allclose(
        data["Part 2 · mean vectors"].values, np.stack([part2.mean_a, part2.mean_b], 1), atol=1e-6
    )

    layers = data["Part 3 · recommendations by layer"]
    sweep = analysis.layer_sweep(XA, XB, XC, 1.5)
    np.testing.assert_allclose(layers.values[:, 0], sweep.max(axis=1), atol=1e-6)
    assert layers.annotations["token"] == [lc[k] for k in sweep.argmax(axis=1)]

    pairs = data["Part 4 · pairs for the selected token"]
    targets = XB[2][None, :, :] + 1.5 * (XB[2][None, :, :] - XA[2][:, None, :])  # b + α(b − a), [n_A, n_B, d]
    c = XC[2][3]
    direct = targets @ c / (np.linalg.norm(targets, axis=-1) * np.linalg.norm(c))
    np.testing.assert_allclose(pairs.values, direct, atol=1e-5)
    assert (pairs.rows, pairs.columns) == (la, lb)
    assert pairs.marks["best_pair"] == np.unravel_index(direct.argmax(), direct.shape)

    best = data["Part 5 · max similarity by layer and token"]
    assert best.values.shape == (app.session.feed.frame.bench.n_layers, len(lc))
    assert best.marks["best_pairs"].shape == (*best.values.shape, 2)


def test_the_numbers_come_as_pandas_frames_with_labels(app):
    pd = pytest.importorskip("pandas")
    frame = app.data()["Part 3 · recommendations by layer"].frame()
    assert isinstance(frame, pd.DataFrame) and frame.index.name == "layer"
    assert list(frame.columns) == ["cosine", "token", "token_position"]
    norms = app.data()["Part 1 · text A norms"].frame()
    assert norms.shape == (app.session.feed.frame.bench.n_layers, len(app.session.feed.frame.bench.labels("A")))


def test_no_data_before_the_first_results(tmp_path):
    app = Dashboard(model=str(tmp_path / "missing"))
    with pytest.raises(RuntimeError, match="No results yet"):
        app.data()


def test_long_labels_are_abbreviated_to_fit_and_short_ones_are_kept():
    assert abbreviate("the", 60, 11) == "the"
    short = abbreviate("Supercalifragilistic", 60, 11)
    assert short.endswith("…") and "Supercalifragilistic".startswith(short[:-1])
    assert text_width(short, 11) <= 60
    assert abbreviate("🙂🙂🙂🙂🙂🙂", 30, 11).endswith("…")


def test_titles_keep_their_words_and_shorten_the_quoted_tokens():
    template = "Similarity with “{}” at layer 3: best pair (“{}”, “{}”) = 0.749"
    assert fit_quoted(template, ["a", "b", "c"], 1000, 15) == template.format("a", "b", "c")
    title = fit_quoted(template, ["Supercalifragilistic", "ab", "incomprehensibility"], 560, 15)
    assert title.startswith("Similarity with “Sup") and "“ab”" in title and text_width(title, 15) <= 560


def test_tick_labels_are_thinned_so_each_gets_a_line_of_room():
    assert tick_step(10, 400, 15) == 1
    assert tick_step(100, 400, 15) == 4  # 4 px per tick: every 4th label gets 16 px
    heatmap = HeatmapFigure("", "A", "B", "Cosine", rows_up=False, min_width=400)
    labels = [f"token-number-{i}" for i in range(120)]
    heatmap.show(labels, labels, np.zeros((120, 120)))
    width, height = heatmap.plot_size
    rows = ordinal_ticks(len(labels), heatmap.row_axis.num_ticks)
    columns = ordinal_ticks(len(labels), heatmap.column_axis.num_ticks)
    assert min(np.diff(rows)) * height / len(labels) >= LINE_PX  # the labels bqplot draws, a line apart
    assert min(np.diff(columns)) * width / len(labels) * SLANT_SIN >= LINE_PX
    assert all(text_width(text, TICK_FONT) <= SLANTED_LABEL_PX for text in heatmap.column_axis.tick_labels.values())
    assert list(heatmap.mark.column) == labels  # hovering a cell shows the full token
    heatmap.show(labels[:8], labels[:8], np.zeros((8, 8)))
    assert heatmap.row_axis.num_ticks is None and heatmap.column_axis.num_ticks is None  # room for every label


def test_value_axes_get_a_few_round_ticks_inside_their_limits():
    import bqplot as bq

    from widgets.figures import nice_ticks

    ticks = nice_ticks(bq.LinearScale(min=-0.00143, max=0.00151))
    assert 4 <= len(ticks) <= 7 and ticks[0] >= -0.00143 and ticks[-1] <= 0.00151
    np.testing.assert_allclose(np.diff(ticks), 0.0005)


def test_an_axis_stays_put_while_the_next_layers_values_still_fill_it():
    import bqplot as bq

    from widgets.figures import hold_range

    scale = bq.LinearScale()
    hold_range(scale, 0.0, 10.0)
    assert (scale.min, scale.max) == (-1.0, 11.0)  # a tenth of room each side
    hold_range(scale, 1.0, 9.5)  # inside, filling 71%: kept
    assert (scale.min, scale.max) == (-1.0, 11.0)
    hold_range(scale, 2.0, 9.0)  # inside but filling 58%: refitted
    assert (scale.min, scale.max) == pytest.approx((1.3, 9.7))
    hold_range(scale, 2.0, 12.0)  # outside: refitted
    assert (scale.min, scale.max) == pytest.approx((1.0, 13.0))


def test_stepping_through_the_layers_keeps_every_point_inside_the_axes(app):
    views = app.views
    for layer in [*range(app.state.n_layers), *range(app.state.n_layers - 2, -1, -1)]:
        app.state.layer = layer
        similarity = views["target"].similarity.y
        geometry = views["geometry"]
        assert views["target"].cos.min <= similarity.min() and similarity.max() <= views["target"].cos.max
        fit = GeometryFits(app.session.feed.frame.bench).at(layer, app.state.alpha)
        unit = largest_values(fit.points, fit.means)
        assert (geometry.x.min, geometry.x.max, geometry.y.min, geometry.y.max) == (*FRAME_X, *FRAME_Y)  # never moves
        for points in [*fit.points.values(), fit.means]:  # the painted A and B tokens too, in the fixed frame
            assert geometry.x.min <= (points[:, 0] / unit[0]).min() and (points[:, 0] / unit[0]).max() <= geometry.x.max
            assert geometry.y.min <= (points[:, 1] / unit[1]).min() and (points[:, 1] / unit[1]).max() <= geometry.y.max
