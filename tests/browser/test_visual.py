"""Readable at a glance: no overlapping tick labels, no text cut at a figure's edge, readable messages.

A 12-layer tiny GPT-2 (gpt2's number of layers) is served by Voila; each case opens the dashboard at
1400 or 1024 px, in the light or the dark theme (Voila's ``?theme=dark``), with the default texts or
long texts (more tokens than the model's context, long words, an emoji), plus a link value that is
refused so that the message area shows an error (the long texts' notice replaces it). The measurements (tests/browser/visual.py) must all
be zero and every message must reach WCAG AA (4.5:1). Screenshots and the measurements of every case
land in test-artifacts/visual-<case>.png / .json.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.browser import VoilaServer, full_screenshot, wait_ready
from tests.browser.visual import measure, summary
from tests.tiny import build_gpt2

pytestmark = pytest.mark.browser

LONG_TEXTS = {
    "text_a": "Internationalisation of extraordinarily uncharacteristic counterrevolutionaries 🙂 " * 6,
    "text_b": "Notwithstanding the incomprehensibility, the philharmonic's superintendents rehearsed. " * 6,
    "text_c": " ".join(
        f"Supercalifragilistic{word} and antidisestablishmentarianism of the {word} kind."
        for word in ("apple", "river", "window", "cloud", "stone", "paper", "garden", "mirror", "violin", "candle")
    ),
}
CASES = [
    (width, theme, texts) for width in (1400, 1024) for theme in ("light", "dark") for texts in ("default", "long")
]


@pytest.fixture(scope="module")
def server(tmp_path_factory, artifacts):
    """Voila serving a tiny GPT-2 with gpt2's 12 layers."""
    model = build_gpt2(tmp_path_factory.mktemp("gpt2-12-layers"), n_layer=12)
    with VoilaServer(model, artifacts / "voila-visual.log", startup_timeout=60) as server:
        yield server


def open_dashboard(page, server, theme: str, texts: str) -> None:
    query = {"layer": "99"}  # refused: the message area shows an error, whose contrast is measured
    if theme == "dark":
        query["theme"] = "dark"
    if texts == "long":
        query.update(LONG_TEXTS)
    page.goto(f"{server.url}?{urlencode(query)}", wait_until="domcontentloaded", timeout=60_000)
    wait_ready(page, timeout_s=120)
    page.wait_for_function("() => document.querySelector('.mlprec-message div')", timeout=30_000)
    page.wait_for_timeout(1500)  # let the last redraws and transitions finish


@pytest.mark.parametrize(("width", "theme", "texts"), CASES, ids=[f"{w}-{t}-{x}" for w, t, x in CASES])
def test_every_text_is_readable(page, server, artifacts, width, theme, texts):
    page.set_viewport_size({"width": width, "height": 900})
    open_dashboard(page, server, theme, texts)
    if theme == "dark":
        assert page.evaluate("() => document.body.dataset.jpThemeLight") == "false", "the dark theme did not apply"
    facts = measure(page)
    name = f"visual-{width}-{theme}-{texts}"
    full_screenshot(page, artifacts / f"{name}.png")
    (artifacts / f"{name}.json").write_text(json.dumps({"summary": summary(facts), **facts}, indent=1))
    assert facts["figures"] >= 12 and facts["texts"] > 100, facts["figures"]
    assert facts["overlaps"] == [], f"{len(facts['overlaps'])} overlapping tick labels: {facts['overlaps'][:10]}"
    assert facts["outside"] == [], f"{len(facts['outside'])} texts outside their figure: {facts['outside'][:10]}"
    assert facts["cut"] == [], f"cut labels: {facts['cut']}"
    assert facts["contrast"] == [], f"below 4.5:1: {facts['contrast'][:10]}"
