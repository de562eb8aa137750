"""A student reads the 'Better than chance?' lines in Chromium: one verdict per recommendation, worded as its
p-value says, and the same after moving to another layer."""

from __future__ import annotations

import pytest

from tests.browser import full_screenshot, read_text, scroll_to_centre

pytestmark = pytest.mark.browser

PARTS_WITH_ONE_VERDICT = {1: "Part 2", 3: "Part 4"}  # section index -> part; Parts 3 and 5 mark their points


def verdicts(page) -> list[list[dict]]:
    """Per section: each verdict line's p-value (data-p) and text, read with each part scrolled onto the screen."""
    sections = page.locator(".mlprec-section")
    found = []
    for index in range(sections.count()):
        scroll_to_centre(sections.nth(index))
        found.append(
            sections.nth(index).evaluate(
                "s => [...s.querySelectorAll('.mlprec-verdict')].map(v => ({p: Number(v.dataset.p), text: v.innerText}))"
            )
        )
    return found


def assert_worded_from_p(verdict: dict, part: str) -> None:
    p, text = verdict["p"], verdict["text"]
    assert 0 < p <= 1, (part, verdict)
    assert f"p = {p:.3g} " in text, (part, text)
    claim = text.split("→")[1]
    if p < 0.05:
        assert "better than chance" in claim and "not distinguishable" not in claim, (part, text)
    else:
        assert "not distinguishable from chance" in claim and "→ better" not in text, (part, text)
    assert "random target directions" not in text


def check_page(page) -> None:
    found = verdicts(page)
    assert len(found) == 5
    for index, lines in enumerate(found):
        if index in PARTS_WITH_ONE_VERDICT:
            assert len(lines) == 1, (PARTS_WITH_ONE_VERDICT[index], lines)
            assert_worded_from_p(lines[0], PARTS_WITH_ONE_VERDICT[index])
        else:
            assert lines == [], (index, lines)
    sections = page.locator(".mlprec-section")
    assert "corrected over the 4 layers" in read_text(sections.nth(1).locator(".mlprec-verdict"))
    assert "A and B are exchangeable" in read_text(sections.nth(1))
    assert "layers beat chance at p < 0.05, corrected" in read_text(sections.nth(2))
    assert "cells beat chance at p < 0.05, corrected over the whole map" in read_text(sections.nth(4))


def test_each_recommendation_shows_one_verdict_worded_from_its_p_value(dashboard, artifacts):
    page = dashboard
    check_page(page)
    first = verdicts(page)[1][0]["text"]
    handle = page.locator(".mlprec-layer .noUi-handle")
    handle.focus()
    handle.press("ArrowLeft")  # layer 3 -> 2: Part 2's verdict follows the layer
    page.wait_for_function(
        "() => document.querySelectorAll('.mlprec-section')[1].querySelector('.mlprec-verdict')"
        ".textContent.includes('at layer 2')"
    )
    assert verdicts(page)[1][0]["text"] != first
    check_page(page)
    full_screenshot(page, artifacts / "verdicts.png")
