"""The vocabulary, steering and geometry panels in the served app (Voila + Chromium), driven as a user would."""

from __future__ import annotations

import re

import pytest

from tests.browser import CURRENT_ROW_JS, full_screenshot, scroll_to_centre

pytestmark = pytest.mark.browser

C_COLOUR = "rgb(148, 103, 189)"  # widgets/views/geometry.py COLOURS["C"]


def panel_state(page) -> dict:
    return page.evaluate(
        """() => {
          const currentRow = """
        + CURRENT_ROW_JS
        + """;
          const q = (sel) => document.querySelector(sel);
          const geometry = q('.mlprec-geometry');
          return {
            vocabRows: q('.mlprec-vocab .mlprec-vocab-top') ? q('.mlprec-vocab .mlprec-vocab-top').rows.length : 0,
            vocabHeading: q('.mlprec-vocab-tables') ? q('.mlprec-vocab-tables').innerText : '',
            layerRows: q('.mlprec-vocab-layer-table table') ? q('.mlprec-vocab-layer-table table').rows.length : 0,
            currentLayer: (currentRow('.mlprec-vocab-layer-table') || {cells: [{textContent: ''}]}).cells[0].textContent,
            geometryLayer: (geometry.querySelector('.mlprec-geometry-layer') || {}).textContent || '',
            geometryDots: geometry.querySelectorAll('path.dot').length,
            axisLabels: [...geometry.querySelectorAll('text.axislabel')].map(t => t.textContent),
            steerButton: !!q('.mlprec-steering .mlprec-steer-run'),
          };
        }"""
    )


def wait_for_panels_at(page, layer: int) -> None:
    page.wait_for_function(
        """(layer) => {
          const currentRow = """
        + CURRENT_ROW_JS
        + """;
          const heading = document.querySelector('.mlprec-vocab-tables');
          const row = currentRow('.mlprec-vocab-layer-table');
          const line = document.querySelector('.mlprec-geometry .mlprec-geometry-layer');
          return heading && heading.innerText.includes(`at layer ${layer} (logit lens)`)
            && row && row.cells[0].textContent.trim() === String(layer)
            && line && line.textContent.startsWith(`At layer ${layer}:`);
        }""",
        arg=layer,
        timeout=20_000,
    )


def test_the_three_panels_render_and_follow_a_layer_change(dashboard, artifacts):
    page = dashboard
    wait_for_panels_at(page, 3)
    facts = panel_state(page)
    assert facts["vocabRows"] == 11 and facts["layerRows"] == 5, facts  # header + top 10; header + 4 layers
    assert facts["steerButton"] and facts["geometryDots"] > 20, facts
    assert facts["axisLabels"] == ["PC1 / largest |PC1|", "PC2 / largest |PC2|"] and re.search(
        r"PC1 [\d.]+%, PC2 [\d.]+% of the variance", facts["geometryLayer"]
    ), facts
    before = facts["vocabHeading"]
    handle = page.locator(".mlprec-layer .noUi-handle")
    handle.focus()
    handle.press("ArrowLeft")
    wait_for_panels_at(page, 2)
    assert panel_state(page)["vocabHeading"] != before
    page.locator(".mlprec-geometry").scroll_into_view_if_needed()
    full_screenshot(page, artifacts / "insight-panels.png")


def test_clicking_a_c_point_in_the_geometry_view_moves_token(dashboard):
    page = dashboard
    wait_for_panels_at(page, 3)
    dots = page.locator(f".mlprec-geometry path.dot[style*='fill: {C_COLOUR}']")
    assert dots.count() >= 3
    for index in range(1, dots.count()):  # the first C point (not the selected token 0) nothing else covers
        dot = dots.nth(index)
        scroll_to_centre(dot)
        box = dot.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        if dot.evaluate("(el, [x, y]) => document.elementFromPoint(x, y) === el", [x, y]):
            break
    else:
        raise AssertionError("every C point is covered by another mark")
    page.mouse.click(x, y)
    page.wait_for_function(
        "(index) => document.querySelector('.mlprec-token select').value.startsWith(`${index}:`)", arg=index
    )


def test_steering_runs_on_the_button_and_shows_both_sides(dashboard):
    page = dashboard
    page.locator(".mlprec-steer-prompt textarea").fill("<b>I saw</b> an aged man")
    page.locator(".mlprec-steer-prompt textarea").press("Tab")
    page.locator(".mlprec-steer-run").click()
    page.locator(".mlprec-steer-kl").wait_for(timeout=60_000)
    assert page.locator(".mlprec-steer-plain tr").count() == 11
    assert page.locator(".mlprec-steer-steered tr").count() == 11
    assert "<b>I saw</b> an aged man" in page.locator(".mlprec-steer-plain-text").inner_text()
    assert float(page.locator(".mlprec-steer-kl").inner_text()) > 0
    assert page.locator(".mlprec-message .mlprec-error").count() == 0
