"""A preheated pool: pages are built before their visitors arrive and still take each visitor's link."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from tests.browser import ROOT, VIEWPORT, VoilaServer, leave, wait_ready
from tests.browser.test_load import set_layer, shows_layer

pytestmark = pytest.mark.browser

POOL = 2


@pytest.fixture(scope="module")
def pool_server(tiny_gpt2_dir, artifacts):
    """``voila dashboard.ipynb --preheat_kernel=True --pool_size=2`` on the tiny GPT-2, its pool warm. It refills
    1 s after a page is taken (voila.json waits 60 s, tested below), so that each test starts from a full pool."""
    server = VoilaServer(
        tiny_gpt2_dir,
        artifacts / "voila-pool-server.log",
        extra_args=["--preheat_kernel=True", f"--pool_size={POOL}", "--VoilaKernelManager.fill_delay=1"],
    )
    server.start()
    try:
        server.wait_pool_warm(POOL)
        yield server
    finally:
        server.stop()


def pooled_pages(server) -> int:
    """How many pages the server has served from its pool so far (Voila logs each)."""
    return server.log_tail(10**8).count("Using pre-heated kernel")


def open_link(browser, url: str):
    context = browser.new_context(viewport=dict(VIEWPORT))
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    return context, page


def close(context, page) -> None:
    leave(page)
    context.close()


def text_c(page) -> str:
    return page.locator(".mlprec-text-c textarea").input_value()


def test_a_warm_pool_serves_a_linked_page_at_the_links_layer_and_text(browser, pool_server):
    link = {"layer": 2, "text_c": "Of shoes and ships and sealing-wax, of cabbages and kings."}
    served = pooled_pages(pool_server)
    context, page = open_link(browser, pool_server.url + "?" + urlencode(link))
    try:
        wait_ready(page)
        assert pooled_pages(pool_server) == served + 1
        assert text_c(page) == link["text_c"]
        assert page.locator(".mlprec-layer .widget-readout").inner_text().strip() == "2"
        page.wait_for_function("() => document.querySelector('.mlprec-count-c').innerText.includes('analysed')")
        assert shows_layer(page, 2)
        assert page.locator(".mlprec-message .mlprec-error").count() == 0
    finally:
        close(context, page)


def test_a_lecture_link_opens_lecture_mode_at_its_step_from_the_pool(browser, pool_server):
    pool_server.wait_pool_warm(POOL)
    context, page = open_link(browser, pool_server.url + "?lecture=1&step=4&layer=1")
    try:
        wait_ready(page)
        page.wait_for_function(
            "() => document.querySelector('.mlprec-lecture-caption')?.innerText.includes('Step 4 of 9')"
        )
        visible = page.evaluate(  # step 4 is Part 3 (the vocabulary panel beside Part 2 is step 3)
            "() => [...document.querySelectorAll('.mlprec-section')].map(s => s.offsetParent !== null)"
        )
        assert visible == [False, False, True, False, False]
        assert page.locator(".mlprec-layer .widget-readout").inner_text().strip() == "1"
    finally:
        close(context, page)


def test_two_visitors_from_the_pool_keep_their_own_settings(browser, pool_server):
    pool_server.wait_pool_warm(POOL)
    links = [
        {"layer": 1, "text_c": "He said, I look for butterflies that sleep among the wheat."},
        {"layer": 3, "text_c": "I make them into mutton-pies, and sell them in the street."},
    ]
    served = pooled_pages(pool_server)
    visitors = [open_link(browser, pool_server.url + "?" + urlencode(link)) for link in links]
    try:
        assert pooled_pages(pool_server) == served + 2
        for (_, page), link in zip(visitors, links, strict=True):
            wait_ready(page)
            assert text_c(page) == link["text_c"]
            assert shows_layer(page, link["layer"])
        first, second = visitors[0][1], visitors[1][1]
        set_layer(first, 2)
        first.wait_for_function("() => document.querySelector('.mlprec-layer .widget-readout').innerText.trim() == '2'")
        first.wait_for_timeout(500)
        assert second.locator(".mlprec-layer .widget-readout").inner_text().strip() == "3"
        assert shows_layer(second, 3) and text_c(second) == links[1]["text_c"]
    finally:
        for context, page in visitors:
            close(context, page)


def test_the_pool_refills_after_the_visitors_page_is_drawn_not_while(browser, tiny_gpt2_dir, artifacts):
    """voila.json's fill delay: a refilling kernel's imports and model load would share the CPU with the pages
    just taken (on 2 cores, 4 visitors at once got their pages in p50 10.5 s instead of 16.5-22 s)."""
    delay = json.loads((ROOT / "voila.json").read_text())["VoilaKernelManager"]["fill_delay"]
    with VoilaServer(
        tiny_gpt2_dir, artifacts / "voila-pool-refill.log", extra_args=["--preheat_kernel=True", "--pool_size=1"]
    ) as server:
        server.wait_pool_warm(1)
        taken = time.monotonic()
        context, page = open_link(browser, server.url + "?" + urlencode({"layer": 1}))
        try:
            wait_ready(page)
            assert shows_layer(page, 1)
            visitors = server.kernel_pids()
            assert time.monotonic() - taken < delay - 5 and len(visitors) == 1  # the visitor's kernel, no refill yet
        finally:
            close(context, page)
        while not set(server.kernel_pids()) - set(visitors):
            assert time.monotonic() - taken < delay + 60, "the pool was never refilled"
            time.sleep(0.25)
        assert time.monotonic() - taken >= delay - 1
