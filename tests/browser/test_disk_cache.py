"""Reopening the dashboard: the second page load reads the activations from disk instead of running the model."""

from __future__ import annotations

import json
import re

import pytest

from tests.browser import READY_JS, VIEWPORT, VoilaServer, leave

pytestmark = pytest.mark.browser


def load(browser, url: str) -> tuple[float, str]:
    """Open the app in a fresh context; seconds from navigation start to results, and the status line."""
    context = browser.new_context(viewport=dict(VIEWPORT))
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit", timeout=60_000)
        page.wait_for_function(READY_JS, timeout=120_000, polling=100)
        seconds = page.evaluate("() => performance.now()") / 1000
        return seconds, page.locator(".mlprec-status").inner_text()
    finally:
        leave(page)
        context.close()


def test_the_second_page_load_of_the_same_texts_skips_the_forward_pass(browser, tiny_gpt2_dir, artifacts, tmp_path):
    env = {"MLPREC_DISK_CACHE": "on", "MLPREC_CACHE_DIR": str(tmp_path / "activations")}
    with VoilaServer(tiny_gpt2_dir, artifacts / "voila-disk-server.log", extra_env=env) as server:
        first_s, first = load(browser, server.url)
        second_s, second = load(browser, server.url)
    assert re.search(r"\(3 forward passes, 0 texts from the disk cache\)", first), first
    assert re.search(r"\(0 forward passes, 3 texts from the disk cache\)", second), second
    assert len(list((tmp_path / "activations").glob("*.safetensors"))) == 3
    (artifacts / "disk-cache.json").write_text(json.dumps({"first_load_s": first_s, "second_load_s": second_s}))
    print(f"page loads: first {first_s:.2f} s, second {second_s:.2f} s")
