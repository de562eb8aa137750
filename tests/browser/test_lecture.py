"""Lecture mode stepped through in Chromium, one screenshot per step."""

from __future__ import annotations

import pytest

from tests.browser import full_screenshot, wait_ready

pytestmark = pytest.mark.browser


SECTIONS = ".mlprec-section, .mlprec-extra"  # the five parts and the panels beside them, in page order
STEPS = 9


def visible_parts(page) -> list[bool]:
    return page.evaluate(f"() => [...document.querySelectorAll('{SECTIONS}')].map(s => s.offsetParent !== null)")


def test_a_lecturer_steps_through_every_section(page, voila_server, artifacts):
    page.goto(voila_server.url + "?lecture=1", wait_until="domcontentloaded", timeout=60_000)
    wait_ready(page)
    for step in range(1, STEPS + 1):
        page.wait_for_function(
            "(step) => document.querySelector('.mlprec-lecture-caption').innerText.includes(`Step ${step} of 9`)",
            arg=step,
        )
        assert visible_parts(page) == [index == step for index in range(1, STEPS + 1)]
        section = page.locator(SECTIONS).nth(step - 1)
        figures = section.locator(".bqplot.figure")
        if figures.count():  # drawn full size after being hidden
            box = figures.first.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 150, box
        else:  # the vocabulary and steering panels are tables
            assert section.bounding_box()["height"] > 100
        full_screenshot(page, artifacts / f"lecture-step-{step}.png")
        if step < STEPS:
            page.locator(".mlprec-lecture-next").click()
    assert page.locator(".mlprec-lecture-next").is_disabled()
    page.locator(".mlprec-lecture-back").click()
    page.wait_for_function("() => document.querySelector('.mlprec-lecture-caption').innerText.includes('Step 8')")
    assert visible_parts(page) == [index == 8 for index in range(1, STEPS + 1)]
