"""The vocabulary, steering and geometry panels without a browser: a user's choices in, the core's numbers out."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from traitlets import TraitError

from core.geometry import GeometryFits
from core.steer import steerer
from core.vocab import reader
from widgets import Dashboard
from widgets.views.geometry import largest_values

from .images import read_png
from .tables import highlighted_layer


@pytest.fixture
def app(tiny_gpt2_dir):
    return Dashboard(model=str(tiny_gpt2_dir))


def click(mark, data):
    """Deliver a click on ``mark`` exactly as the browser's bqplot sends it to the kernel."""
    mark._handle_custom_msg({"event": "element_click", "data": data}, [])


def cell_titles(value: str) -> list[str]:
    return [html.unescape(title) for title in re.findall(r"title='([^']*)'", value)]


def test_the_sections_sit_beside_their_parts_and_keep_the_five_parts_contract(app):
    classes = [view.widget._dom_classes for view in app.views.values()]
    assert [c for c in classes if "mlprec-section" in c] == [
        app.views[name].widget._dom_classes for name in ("norms", "target", "layers", "pairs", "sweep")
    ]
    order = [next(name for name in c if name.startswith("mlprec-") and name not in ("mlprec-section", "mlprec-extra")) if "mlprec-extra" in c else "part" for c in classes]  # fmt: skip
    assert order == ["part", "part", "mlprec-vocab", "part", "mlprec-vocab-layers", "part", "part", "mlprec-steering", "mlprec-geometry"]  # fmt: skip


def test_the_vocabulary_tables_follow_layer_alpha_and_lens(app):
    bench = app.session.feed.frame.bench
    expected = reader(bench).at_layer(app.state.layer, 1.0, "logit lens", 10)["target"].top
    assert cell_titles(app.views["vocab"].tables.value)[0] == f"id {expected[0][0]} · logit {expected[0][2]:.3f}"
    app.state.layer, app.state.alpha = 1, 2.0
    moved = reader(bench).at_layer(1, 2.0, "logit lens", 10)["target"].top
    assert "at layer 1 (logit lens)" in app.views["vocab"].tables.value
    assert cell_titles(app.views["vocab"].tables.value)[0] == f"id {moved[0][0]} · logit {moved[0][2]:.3f}"
    app.views["vocab"].lens.value = "raw"  # the user clicks "raw"
    assert app.state.lens == "raw" and "at layer 1 (raw)" in app.views["vocab"].tables.value
    rows = reader(bench).through_layers(2.0, "raw", 10)
    titles = cell_titles(app.views["vocab_layers"].table.value)
    assert len(titles) == 10 * bench.n_layers
    assert titles[10] == f"id {rows[1][0][0]} · logit {rows[1][0][2]:.3f}"
    assert highlighted_layer(app.views["vocab_layers"].table) == 1


def test_mlp_neurons_leave_the_vocabulary_panels_empty_and_say_why(app):
    app.state.hook = "mlp_neurons"
    assert "Nothing to read: mlp_neurons vectors are 128 wide" in html.unescape(app.views["vocab"].tables.value)
    assert app.views["vocab"].lens.disabled and "<table" not in app.views["vocab"].tables.value
    assert "mlp_neurons has no d_model space" in html.unescape(app.views["steering"].status.value)
    assert app.views["steering"].run_button.disabled


def test_an_encoder_reads_raw_through_its_input_embedding_and_says_so(minilm_dir):
    app = Dashboard(model=str(minilm_dir))
    assert "without an output head" in html.unescape(app.views["vocab"].note.value)
    assert app.views["vocab"].lens.disabled and "(raw)" in app.views["vocab"].tables.value
    assert "Steering needs a model that predicts the next token" in html.unescape(app.views["steering"].status.value)


def test_steering_runs_on_the_button_in_the_background_and_shows_both_sides(app):
    app.state.steer_strength = 6.0
    assert "Press Steer" in app.views["steering"].status.value
    app.views["steering"].run_button.click()
    assert app.views["steering"].wait(120)
    result = steerer(app.session.feed.frame.bench).cached(app.state.text_c, app.state.layer, 1.0, 6.0, "target", 20)
    assert result is not None and result.kl > 0
    assert f"{result.kl:.4f}</b> nats" in app.views["steering"].status.value
    shown = app.views["steering"].output.value
    assert "Next token, plain" in shown and "Next token, steered" in shown
    assert html.escape(result.steered_text, quote=False) in shown
    assert (
        app.views["steering"].progress.value == app.views["steering"].progress.max == 40
    )  # 2 prompt passes + 19 tokens each way
    assert not app.views["steering"].run_button.disabled
    app.state.layer = 1
    assert (
        "Press Steer to run at layer 1" in app.views["steering"].status.value
        and app.views["steering"].output.value == ""
    )
    app.state.layer = 3
    assert f"{result.kl:.4f}" in app.views["steering"].status.value  # the cached run comes back at once


def test_a_typed_prompt_is_shown_literally_and_a_failing_forward_pass_is_reported(app):
    messages = []
    app.views["steering"]._tell = messages.append
    app.state.steer_prompt = "<b>bold</b> & <script>x</script>"
    app.views["steering"].run_button.click()
    assert app.views["steering"].wait(120)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in app.views["steering"].output.value
    assert "<script>" not in app.views["steering"].output.value

    def explode(module, args, output):
        raise RuntimeError("out of memory on the device")

    model = app.session.loaded
    before = sum(len(m._forward_hooks) for m in model.model.modules())
    handle = model.blocks()[3].register_forward_hook(explode)
    try:
        app.state.steer_strength = 2.5
        app.views["steering"].run_button.click()
        assert app.views["steering"].wait(120)
    finally:
        handle.remove()
    assert messages == ["Steering failed: out of memory on the device"]
    assert "mlprec-error" in app.views["steering"].status.value
    assert sum(len(m._forward_hooks) for m in model.model.modules()) == before
    assert not app.views["steering"].run_button.disabled


def test_a_prompt_longer_than_the_context_is_cut_with_a_notice(app):
    app.state.steer_prompt = " ".join([app.state.text_a] * 12)
    app.views["steering"].run_button.click()
    assert app.views["steering"].wait(120)
    status = html.unescape(app.views["steering"].status.value)
    assert re.search(r"The prompt has \d+ tokens: only the first 108 are used \(the model's context less", status)
    assert "mlprec-error" not in app.views["steering"].status.value


@pytest.mark.parametrize("strength", [float("nan"), 1e9])
def test_a_strength_that_is_not_a_number_or_huge_is_refused_with_a_message(app, strength):
    with pytest.raises(TraitError, match="Steering strength must be a number between -100 and 100"):
        app.state.steer_strength = strength  # from Python: refused loudly
    slider = app.views["steering"].strength
    slider.value = strength  # through the panel: the slider keeps huge values to its range, NaN is told
    assert app.state.steer_strength == slider.value and abs(slider.value) <= 100
    if strength != strength:
        assert "Steering strength must be a number between -100 and 100" in app.messages.area.value


def test_the_geometry_view_draws_the_pca_and_a_click_on_a_c_point_moves_token(app):
    bench = app.session.feed.frame.bench
    geometry = GeometryFits(bench).at(app.state.layer, 1.0)
    view = app.views["geometry"]
    unit = largest_values(geometry.points, geometry.means)  # each axis over its largest |value|: a fixed frame
    assert np.abs(np.vstack([view.c_points.x, view.c_points.y])).max() <= 1.0 + 1e-12
    np.testing.assert_allclose(view.c_points.x, geometry.points["C"][:, 0] / unit[0])
    painted = read_png(view.cloud.image.png)  # A's and B's tokens: a square of their colour in their cell
    columns, rows = view.cloud.cells
    for name in "AB":
        x, y = geometry.points[name][0] / unit
        column = min(int((x - view.x.min) / (view.x.max - view.x.min) * columns), columns - 1)
        row = rows - 1 - min(int((y - view.y.min) / (view.y.max - view.y.min) * rows), rows - 1)
        assert painted[row, column, 3] == 255
    assert (painted[..., 3] > 0).sum() <= len(geometry.points["A"]) + len(geometry.points["B"])
    np.testing.assert_allclose(view.means.y, geometry.means[:, 1] / unit[1])
    first, second = geometry.explained * 100
    assert f"PC1 {first:.1f}%, PC2 {second:.1f}% of the variance" in view.key.value
    assert list(view.c_points.names) == bench.labels("C")
    assert all(f"Text {name}" in view.key.value for name in "ABC")  # the key sits beside the plot, not in it
    assert not any(mark.display_legend for mark in view.figure.marks)
    png_at_first_layer = view.cloud.image.png
    click(view.c_points, {"index": 4})
    assert app.state.token == 4
    np.testing.assert_allclose(view.selected.x, geometry.points["C"][4:5, 0] / unit[0])
    app.state.layer = 0
    assert "At layer 0:" in view.key.value
    at_0 = GeometryFits(bench).at(0, 1.0)
    np.testing.assert_allclose(view.c_points.y, at_0.points["C"][:, 1] / largest_values(at_0.points, at_0.means)[1])
    assert view.cloud.image.png != png_at_first_layer


def test_the_means_are_named_only_where_their_names_cannot_overlap(app):
    from widgets.views.geometry import names_fit

    assert names_fit(np.array([[0.0, 0.0], [0.5, 0.0], [1.0, 0.5]]), (1.0, 1.0))
    assert not names_fit(np.array([[0.0, 0.0], [0.03, 0.02], [1.0, 0.5]]), (1.0, 1.0))  # A and B nearly coincide
    assert names_fit(np.array([[0.0, 0.0], [0.03, 0.5], [1.0, 0.5]]), (1.0, 1.0))  # one above the other
    view = app.views["geometry"]
    for layer in range(app.state.n_layers):
        app.state.layer = layer
        spans = (view.x.max - view.x.min, view.y.max - view.y.min)
        assert view.means.display_names == names_fit(np.column_stack([view.means.x, view.means.y]), spans)


def test_lecture_mode_has_a_step_for_each_new_panel(tiny_gpt2_dir):
    app = Dashboard(model=str(tiny_gpt2_dir), lecture=True)
    assert len(app.lecture.sections) == 9
    app.lecture.go(8)
    assert "Step 8 of 9 · Steering" in app.lecture.caption.value and "KL divergence" in app.lecture.caption.value
    assert app.views["steering"].widget.layout.display is None and app.views["geometry"].widget.layout.display == "none"
