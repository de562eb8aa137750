"""Four visitors at once: one Voila server, four browser contexts, each with its own kernel and state."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.browser import READY_JS, VIEWPORT, VoilaServer, leave

pytestmark = pytest.mark.browser

VISITORS = 4


def kernel_memory_mb(server: VoilaServer) -> dict[int, float]:
    """Resident memory (MB) of each kernel the server started (its child processes running ipykernel)."""
    out = {}
    for pid in server.kernel_pids():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        out[pid] = rss_kb / 1024
    return out


def set_layer(page, layer: int) -> None:
    readout = page.locator(".mlprec-layer .widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(layer))
    page.keyboard.press("Enter")


def shows_layer(page, layer: int) -> bool:
    return page.evaluate(
        """(layer) => [...document.querySelectorAll('.mlprec-section')[1].querySelectorAll('text.mainheading')]
             .every(t => t.textContent.includes(`at layer ${layer}`))""",
        layer,
    )


def test_four_simultaneous_sessions_load_and_interact_independently(browser, tiny_gpt2_dir, artifacts):
    with VoilaServer(tiny_gpt2_dir, artifacts / "voila-load-server.log") as server:
        contexts = [browser.new_context(viewport=dict(VIEWPORT)) for _ in range(VISITORS)]
        pages = [context.new_page() for context in contexts]
        try:
            start = time.perf_counter()
            for page in pages:  # all four requests in flight before any is awaited
                page.goto(server.url, wait_until="commit", timeout=60_000)
            load_s = []
            for page in pages:
                page.wait_for_function(READY_JS, timeout=180_000, polling=100)
                load_s.append(page.evaluate("() => performance.now()") / 1000)
            all_ready_s = time.perf_counter() - start
            memory = kernel_memory_mb(server)
            assert len(memory) >= VISITORS, f"expected a kernel per visitor, found {memory}"

            for layer, page in enumerate(pages):  # each visitor picks a different layer
                set_layer(page, layer)
            for layer, page in enumerate(pages):
                page.wait_for_function(
                    """(layer) => [...document.querySelectorAll('.mlprec-section')[1].querySelectorAll('text.mainheading')]
                         .every(t => t.textContent.includes(`at layer ${layer}`))""",
                    arg=layer,
                    timeout=30_000,
                )
            assert [shows_layer(page, layer) for layer, page in enumerate(pages)] == [True] * VISITORS
            page = pages[0]  # one visitor's error stays theirs
            page.locator(".mlprec-text-a textarea").fill("")
            page.locator(".mlprec-text-a textarea").press("Tab")
            page.locator(".mlprec-message .mlprec-error").wait_for(timeout=30_000)
            assert all(other.locator(".mlprec-message .mlprec-error").count() == 0 for other in pages[1:])
        finally:
            for page in pages:
                leave(page)
            for context in contexts:
                context.close()
    report = {
        "visitors": VISITORS,
        "page_load_s": [round(value, 2) for value in load_s],
        "all_ready_s": round(all_ready_s, 2),
        "kernel_rss_mb": [round(value) for value in memory.values()],
    }
    (artifacts / "load.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    assert max(load_s) < 120
