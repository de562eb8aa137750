"""One user action, one run (when texts or model change), one frame, one redraw per view; threads never collide."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from core.cache import ActivationCache, capture
from core.gallery import EXAMPLES
from widgets import Dashboard


@pytest.fixture
def app(tiny_gpt2_dir):
    return Dashboard(model=str(tiny_gpt2_dir))


def panels(n: int) -> dict[str, int]:
    """Refreshes of the four panels beyond the five parts (vocabulary, words through the layers, steering,
    geometry): each shows the layer, so they redraw with every frame the parts redraw for."""
    return dict.fromkeys(("vocab", "vocab_layers", "steering", "geometry"), n)


def counts(app) -> dict:
    """Runs, frames and each view's refreshes so far."""
    return {"runs": app.session.runs, "frames": app.session.frames} | {
        name: view.refreshes for name, view in app.views.items()
    }


def added(app, before: dict) -> dict:
    return {key: value - before[key] for key, value in counts(app).items()}


def test_the_first_build_is_one_run_one_frame_and_one_redraw_per_view(app):
    assert counts(app) == {"runs": 1, "frames": 1, "norms": 1, "target": 1, "layers": 1, "pairs": 1, "sweep": 1, **panels(1)}
    assert app.session.feed.frame.number == 1 and "data" in app.session.feed.frame.changed


def test_a_gallery_example_is_one_run(app):
    before = counts(app)
    name = next(name for name in EXAMPLES if name != "aged-aged-man")
    app.controls.example.value = name
    assert added(app, before) == {"runs": 1, "frames": 1, "norms": 1, "target": 1, "layers": 1, "pairs": 1, "sweep": 1, **panels(1)}
    assert app.state.texts() == EXAMPLES[name].texts
    app.controls.texts["A"].value = "My own text A, typed after picking an example."
    assert app.state.example == ""  # the texts are the user's own now
    assert app.controls.example.value == ""


def test_a_link_on_a_running_app_is_one_run_and_one_frame(app):
    before = counts(app)
    app.apply_link("text_c=Of+shoes+and+ships+and+sealing-wax+and+kings&layer=2&token=3&alpha=0.5")
    assert added(app, before) == {"runs": 1, "frames": 1, "norms": 1, "target": 1, "layers": 1, "pairs": 1, "sweep": 1, **panels(1)}
    frame = app.session.feed.frame
    assert (frame.layer, frame.token, app.state.alpha) == (2, 3, 0.5)
    assert "at layer 2" in app.views["pairs"].main.figure.title
    before = counts(app)
    app.apply_link("layer=1")  # only a slice: a frame, no run
    assert added(app, before)["runs"] == 0 and added(app, before)["frames"] == 1


def test_a_part5_click_is_one_frame_and_one_refresh_of_each_view_that_shows_layer_or_token(app):
    from tests.test_widgets import click

    before = counts(app)
    click(app.views["sweep"].heatmap.mark, {"rowNum": 2, "columnNum": 5})
    assert added(app, before) == {"runs": 0, "frames": 1, "norms": 0, "target": 1, "layers": 1, "pairs": 1, "sweep": 1, **panels(1)}
    assert app.session.feed.frame.changed == {"layer", "token"}


def test_a_layer_step_redraws_only_the_views_that_show_the_layer(app):
    before = counts(app)
    app.controls.layer.value = 0
    assert added(app, before) == {"runs": 0, "frames": 1, "norms": 0, "target": 1, "layers": 1, "pairs": 1, "sweep": 1, **panels(1)}
    before = counts(app)
    app.controls.norm_colours.value = (0, 100)  # a visual trait: only the view it restyles
    assert added(app, before) == {"runs": 0, "frames": 1, "norms": 1, "target": 0, "layers": 0, "pairs": 0, "sweep": 0, **panels(0)}


def test_a_failed_load_keeps_the_loaded_model_and_the_request(app, tmp_path):
    loaded, before = app.session.loaded, counts(app)
    app.controls.model.value = str(tmp_path)
    assert app.session.loaded is loaded and app.state.model == str(tmp_path)
    assert added(app, before)["runs"] == 0 and "Still showing" in app.messages.area.value
    app.controls.model.value = loaded.name  # back to the loaded model: nothing to load, nothing to run
    assert app.session.loaded is loaded and added(app, before)["runs"] == 0


def test_a_background_load_and_foreground_runs_never_corrupt_the_cache_or_the_frame(tiny_gpt2_dir, tiny_gpt2):
    cache = ActivationCache(max_bytes=40_000)  # small: entries are dropped while both threads work
    app = Dashboard(model=str(tiny_gpt2_dir), background=True, cache=cache)
    texts = [f"The {word} said it was time to talk of many things, number {k}." for k, word in enumerate("ABCDEFGH")]
    errors = []

    def other_session():  # a second user of the same cache (e.g. a compared model's run)
        try:
            for text in texts * 3:
                entry = cache.get(tiny_gpt2, text)
                assert entry.text == text
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    worker = threading.Thread(target=other_session)
    worker.start()
    for text in texts:  # the user types while the model loads
        app.state.text_c = text
    worker.join(120)
    assert app.wait(120) and not errors
    frame = app.session.feed.frame
    assert frame.bench.texts["C"].activations.text == texts[-1] == app.state.text_c
    assert frame.number == app.session.frames and frame.n_tokens == app.state.n_tokens
    assert cache.nbytes <= cache.max_bytes or len(cache) == 1
    assert cache.nbytes == sum(size for _, size in cache._entries._entries.values())
    fresh = capture(tiny_gpt2, texts[-1], "mlp_out").vectors
    np.testing.assert_array_equal(frame.bench.texts["C"].activations.vectors, fresh)


def in_an_event_loop(coroutine_function):
    """Run a coroutine as a kernel would, in an event loop of its own (a thread of its own: the browser tests'
    Playwright may hold this thread's loop)."""
    results = []
    thread = threading.Thread(target=lambda: results.append(asyncio.run(coroutine_function())))
    thread.start()
    thread.join(60)
    return results[0]


def test_a_dragged_layer_slider_is_drawn_at_most_every_100_ms_and_ends_on_its_last_value(app):
    """In a kernel (an event loop runs), the browser sends twelve Layer values within 20 ms: two frames, the
    first at once and the last value 100 ms after it. A value set from Python is never held."""
    from widgets.session import THROTTLE_S

    slider = app.controls.layer

    async def drag():
        await asyncio.sleep(THROTTLE_S)  # the app's first frame is long drawn
        assert app.state.layer == 3
        before = counts(app)
        for layer in [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1]:
            slider.set_state({"value": layer})  # as the browser's messages apply them
        held = added(app, before)
        await asyncio.sleep(THROTTLE_S + 0.1)
        after, dragged_to = added(app, before), app.session.feed.frame.layer
        app.state.layer = 2  # from Python, right after a frame: drawn at once
        return held, after, dragged_to, app.session.feed.frame.layer

    held, after, dragged_to, now = in_an_event_loop(drag)
    assert held["frames"] == 1 and held["target"] == 1  # the first value, at once; the rest held
    assert after["frames"] == 2 and after["target"] == 2 and after["runs"] == 0 and dragged_to == 1
    assert now == 2 and slider.value == 2 and "at layer 2" in app.views["target"].similarity_figure.title
