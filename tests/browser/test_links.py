"""A link reproduces the app's state in a fresh browser; hostile query values are refused cleanly."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.browser import wait_ready
from tests.browser.test_served_dashboard import titles

pytestmark = pytest.mark.browser


def open_app(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    wait_ready(page)


def test_the_apps_own_link_reopens_the_same_view_in_a_fresh_browser(dashboard, browser, voila_server):
    page = dashboard
    area = page.locator(".mlprec-text-c textarea")
    area.fill("Of shoes and ships and sealing-wax, of cabbages and kings.")
    area.press("Tab")
    page.wait_for_function("() => document.querySelector('.mlprec-count-c').innerText.includes('analysed')")
    readout = page.locator(".mlprec-layer .widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("1")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.mlprec-section')[1].querySelectorAll('text.mainheading')]"
        ".every(t => t.textContent.includes('at layer 1'))"
    )
    page.locator(".mlprec-link-button").click()
    page.wait_for_function("() => document.querySelector('.mlprec-link input').value.includes('layer=1')")
    link = page.locator(".mlprec-link input").input_value()
    assert link.startswith(voila_server.url + "?")

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    fresh = context.new_page()
    try:
        open_app(fresh, link)
        assert fresh.locator(".mlprec-text-c textarea").input_value() == area.input_value()
        assert fresh.locator(".mlprec-layer .widget-readout").inner_text().strip() == "1"
        assert titles(fresh, 2) == titles(page, 2)
        assert fresh.locator(".mlprec-message .mlprec-error").count() == 0
    finally:
        fresh.goto("about:blank")
        context.close()


def test_hostile_query_values_are_refused_with_one_message_and_the_app_works(page, voila_server):
    query = "&".join(
        [
            "layer=abc",
            "alpha=nan",
            "hook=evil",
            "token=999",
            "model=someone%2Fhuge-model",
            "text_b=" + quote('<img src=x onerror="window.__xss=1">'),
            "unknown=1",
        ]
    )
    open_app(page, voila_server.url + "?" + query)
    message = page.locator(".mlprec-message .mlprec-error").inner_text()
    for part in (
        "not a whole number",
        "not a finite number",
        "Unknown hook point",
        "out of range",
        "not offered on this server",
        "is unknown",
    ):
        assert part in message, message
    assert page.evaluate("() => window.__xss") is None  # the onerror handler never ran
    assert page.locator(".mlprec-text-b textarea").input_value().startswith("<img src=x")
    assert page.locator(".mlprec-app img").count() == 0
    assert "Traceback" not in page.content()
