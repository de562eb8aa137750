"""Reliability of the app under odd input, faults and long use (issue: reliability and security)."""

from __future__ import annotations

import gc
import random
import re
import time

import numpy as np
import pytest
from traitlets import TraitError

from widgets import Dashboard


@pytest.fixture
def app(tiny_gpt2_dir):
    return Dashboard(model=str(tiny_gpt2_dir))


def forward_hooks(module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * 4096 / 2**20


@pytest.mark.parametrize(
    ("trait", "value", "message"),
    [
        ("layer", 99, "Layer 99 is out of range"),
        ("layer", -1, "Layer -1 is out of range"),
        ("token", 10_000, "Token 10000 is out of range"),
        ("alpha", float("nan"), "Alpha must be a finite number"),
        ("alpha", float("inf"), "Alpha must be a finite number"),
        ("hook", "resid_mid", "Unknown hook point"),
        ("pair_limits", (0.3, 0.1), "Colour limits must be finite"),
        ("norm_percentiles", (50, 150), "Colour percentiles"),
        ("model", "   ", "No model given"),
    ],
)
def test_a_bad_value_from_python_raises_the_same_message_and_nothing_changes(app, trait, value, message):
    shown = app.views["pairs"].main.shown.copy()
    before = getattr(app.state, trait)
    with pytest.raises(TraitError, match=re.escape(message)):  # a script fails loudly
        setattr(app.state, trait, value)
    assert getattr(app.state, trait) == before
    np.testing.assert_array_equal(app.views["pairs"].main.shown, shown)
    assert "mlprec-ready" in app.messages.status.value and app.messages.area.value == ""


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("layer=99", "Layer 99 is out of range: this model has layers 0 to 3."),
        ("token=10000", "Token 10000 is out of range"),
        ("hook=resid_mid", "Unknown hook point 'resid_mid'"),
        ("model=+++", "No model given"),
    ],
)
def test_a_bad_value_from_a_link_or_a_control_is_told_in_the_message_area(app, query, message):
    frames = app.session.frames
    app.apply_link(query)  # never raises
    assert message in app.messages.area.value
    assert "mlprec-ready" in app.messages.status.value and app.session.frames == frames
    app.messages.tell("")
    app.controls.model.value = "   "  # typed into the model picker
    assert "No model given" in app.messages.area.value and app.controls.model.value == app.state.model


def test_a_huge_alpha_still_gives_finite_cosines(app):
    app.state.alpha = 1e300
    pairs = app.views["pairs"].main.shown
    assert np.all(np.isfinite(pairs)) and np.all(np.abs(pairs) <= 1 + 1e-6)
    assert np.all(np.isfinite(app.views["sweep"].heatmap.mark.color))


def test_an_exception_in_one_view_is_reported_and_the_other_views_keep_working(app):
    target = app.views["target"]

    def broken(changed):
        raise RuntimeError("injected fault")

    target.refresh = broken
    app.state.layer = 1
    assert "Part 2 · Token-average target vector could not be drawn: injected fault" in app.messages.area.value
    assert "at layer 1" in app.views["pairs"].main.figure.title
    assert list(app.views["layers"].current.x) == [1.0]


def test_a_thousand_random_changes_keep_memory_flat_hooks_clear_and_each_change_fast(app):
    rng = random.Random(0)
    state = app.state
    model = app.session.loaded.model

    def change():
        choice = rng.randrange(3)
        if choice == 0:
            state.layer = rng.randrange(state.n_layers)
        elif choice == 1:
            state.token = rng.randrange(state.n_tokens)
        else:
            state.alpha = round(rng.uniform(-3, 5), 1)

    for _ in range(1000):  # warm-up: memoised results reach their bound (core.workbench.MEMO_BYTES)
        change()
    gc.collect()
    start_mb = rss_mb()
    times = []
    for _ in range(1000):
        begin = time.perf_counter()
        change()
        times.append(time.perf_counter() - begin)
    gc.collect()
    assert rss_mb() - start_mb < 50
    assert forward_hooks(model) == 0
    assert np.median(times) < 0.030, f"median change took {np.median(times) * 1000:.1f} ms"
    assert app.messages.area.value == ""
