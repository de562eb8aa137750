"""Lecture mode stepped through in Chromium, one screenshot per step."""

from __future__ import annotations

import pytest

from tests.browser import full_screenshot, wait_ready

pytestmark = pytest.mark.browser


def visible_parts(page) -> list[bool]:
    return page.evaluate("() => [...document.querySelectorAll('.mlprec-section')].map(s => s.offsetParent !== null)")


def test_a_lecturer_steps_through_parts_1_to_5(page, voila_server, artifacts):
    page.goto(voila_server.url + "?lecture=1", wait_until="domcontentloaded", timeout=60_000)
    wait_ready(page)
    for step in range(1, 6):
        page.wait_for_function(
            "(step) => document.querySelector('.mlprec-lecture-caption').innerText.includes(`Step ${step} of 5`)",
            arg=step,
        )
        assert visible_parts(page) == [index == step for index in range(1, 6)]
        section = page.locator(".mlprec-section").nth(step - 1)
        box = section.locator(".bqplot.figure").first.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 150, box  # drawn full size after being hidden
        full_screenshot(page, artifacts / f"lecture-step-{step}.png")
        if step < 5:
            page.locator(".mlprec-lecture-next").click()
    assert page.locator(".mlprec-lecture-next").is_disabled()
    page.locator(".mlprec-lecture-back").click()
    page.wait_for_function("() => document.querySelector('.mlprec-lecture-caption').innerText.includes('Step 4')")
    assert visible_parts(page) == [False, False, False, True, False]
