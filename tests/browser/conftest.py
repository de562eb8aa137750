"""Fixtures for the browser tests: one Voila server and one Chromium per session, a fresh page per test.

Every test that uses ``page`` leaves a screenshot in test-artifacts/ when it fails
(test-artifacts/failed-<test name>.png), next to the server's log (test-artifacts/voila-server.log).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, VIEWPORT, VoilaServer, full_screenshot, launch_chromium, leave, wait_ready


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (``item.rep_setup``, ``item.rep_call``) for the page fixture."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def voila_server(tiny_gpt2_dir, artifacts):
    """``voila dashboard.ipynb`` serving the tiny GPT-2; yields the server (``.url``), stops it at the end."""
    server = VoilaServer(tiny_gpt2_dir, artifacts / "voila-server.log", startup_timeout=60)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, request, artifacts):
    """A page in a new 1280x800 context; a screenshot is kept if the test fails."""
    context = browser.new_context(viewport=dict(VIEWPORT))
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    try:
        yield page
    finally:
        node = request.node
        failed = any(
            getattr(node, f"rep_{when}", None) is not None and getattr(node, f"rep_{when}").failed
            for when in ("setup", "call")
        )
        if failed:
            name = re.sub(r"[^\w.-]+", "_", node.name)
            try:
                full_screenshot(page, artifacts / f"failed-{name}.png")
            except Exception as err:  # a broken page must not hide the test's own failure
                print(f"could not save a screenshot of the failed test: {err}")
        leave(page)  # Voila shuts the page's kernel down on beforeunload
        context.close()


@pytest.fixture
def dashboard(page, voila_server):
    """The served dashboard, loaded, with its first results on screen."""
    page.goto(voila_server.url, wait_until="domcontentloaded", timeout=60_000)
    try:
        wait_ready(page, timeout_s=120)
    except Exception as err:
        raise AssertionError(
            f"The dashboard did not show results: {err}\n--- server log ---\n{voila_server.log_tail(4000)}"
        ) from None
    return page
