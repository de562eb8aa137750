"""Faults a class brings to one server: visitors who leave mid-run, two visitors picking models at once.

Each story runs its own Voila server on the tiny GPT-2 and reads the server's side too: its kernels (processes)
and its log, which must hold no traceback and no aborted kernel.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from tests.browser import VIEWPORT, VoilaServer, leave, wait_ready
from tests.browser.test_load import shows_layer
from tests.browser.test_pool import pooled_pages
from tests.tiny import build_gpt2

pytestmark = pytest.mark.browser

SETTINGS = "Model, hook point, chance baselines and colours"


def open_page(browser, url: str, wait_until: str = "domcontentloaded"):
    context = browser.new_context(viewport=dict(VIEWPORT))
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(url, wait_until=wait_until, timeout=60_000)
    return context, page


def pick_model(page, name: str) -> None:
    """Open the settings and choose ``name`` in the model picker (the operator's list, served)."""
    page.get_by_text(SETTINGS).click()
    page.locator(".mlprec-model select").select_option(label=name)


def status(page) -> str:
    return page.locator(".mlprec-status").inner_text()


def errors(page) -> list[str]:
    return page.locator(".mlprec-message .mlprec-error").all_inner_texts()


def kernel_id(pid: int) -> str:
    """The Jupyter id of the kernel process ``pid`` (its connection file is kernel-<id>.json)."""
    command = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    return next(re.search(r"kernel-([0-9a-f-]+)\.json", part).group(1) for part in command if "kernel-" in part)


def page_kernel_id(page) -> str:
    """The id of the kernel behind a loaded page (Voila writes it into the page's configuration)."""
    return page.evaluate("() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")


def wait_new_kernels(server: VoilaServer, known: set[int], count: int, timeout_s: float = 30) -> list[int]:
    """Wait until the server runs ``count`` kernels besides ``known``; their process ids."""
    deadline = time.monotonic() + timeout_s
    while len(new := set(server.kernel_pids()) - known) < count:
        assert time.monotonic() < deadline, f"no new kernel within {timeout_s:.0f} s:\n{server.log_tail()}"
        time.sleep(0.2)
    return sorted(new)


def wait_gone(server: VoilaServer, pids: set[int], timeout_s: float) -> None:
    """Wait until none of ``pids`` is one of the server's kernels; fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while pids & set(server.kernel_pids()):
        assert time.monotonic() < deadline, f"kernels {pids} still run after {timeout_s:.0f} s:\n{server.log_tail()}"
        time.sleep(0.5)


def assert_clean_log(server: VoilaServer) -> None:
    """No traceback, and no kernel that aborted (torch: "terminate called without an active exception")."""
    log = server.log_tail(10**8)
    assert "Traceback" not in log and "terminate called" not in log, log[-6000:]


def test_visitors_who_leave_mid_load_leave_a_healthy_server(browser, tiny_gpt2_dir, minilm_dir, artifacts):
    """One visitor gives up while the page is still being built, another closes the tab while a model loads
    (the browser tells Voila, which shuts the kernel down), a third vanishes without a word (a crashed
    browser, a lost network; this one and the first are culled when idle); a fourth visitor then gets a
    complete page, and only their kernel is left."""
    with VoilaServer(tiny_gpt2_dir, artifacts / "voila-left-server.log", cull_idle_s=15, cull_interval_s=5) as server:
        leaving = [open_page(browser, server.url, wait_until="commit") for _ in range(2)]  # built side by side
        staying = set(wait_new_kernels(server, set(), 2))
        impatient, page = open_page(browser, server.url, wait_until="commit")
        [gave_up_pid] = wait_new_kernels(server, staying, 1)  # it runs the notebook for a page that will not wait
        gave_up = kernel_id(gave_up_pid)
        page.close(run_before_unload=True)
        impatient.close()
        for _, page in leaving:
            wait_ready(page)
        closed, vanished = (page_kernel_id(page) for _, page in leaving)
        assert {kernel_id(pid) for pid in staying} == {closed, vanished}
        left_pids = staying | {gave_up_pid}
        (closing, page), (vanishing, other) = leaving
        pick_model(page, str(minilm_dir))  # all-MiniLM-L6-v2 loads in the kernel's background thread
        page.locator(".mlprec-status .mlprec-busy").wait_for(timeout=30_000)
        page.close(run_before_unload=True)  # closing the tab: Voila's beforeunload asks the server to shut down
        closing.close()
        pick_model(other, str(minilm_dir))
        other.locator(".mlprec-status .mlprec-busy").wait_for(timeout=30_000)
        vanishing.close()  # gone without beforeunload

        context, page = open_page(browser, server.url)
        try:
            wait_ready(page)
            assert str(tiny_gpt2_dir) in status(page) and errors(page) == []
            wait_gone(server, left_pids, timeout_s=60)
            assert len(server.kernel_pids()) == 1, "the last visitor's kernel is the only one left"
            assert str(tiny_gpt2_dir) in status(page) and errors(page) == []
        finally:
            leave(page)
            context.close()
        log = server.log_tail(10**8)
    assert f"Kernel shutdown: {closed}" in log and f"({closed}) with 0 connections" not in log, "not shut down on close"
    assert f"({vanished}) with 0 connections" in log, "the vanished page's kernel was not culled"
    assert f"({gave_up}) with 0 connections" in log, "the abandoned page's kernel was not culled"
    assert "403 POST /voila/api/shutdown" not in log
    assert_clean_log(server)


@pytest.fixture(scope="module")
def second_gpt2_dir(tmp_path_factory):
    """Another tiny GPT-2 in its own folder: 2 layers, other weights (seed 1)."""
    return build_gpt2(tmp_path_factory.mktemp("second-gpt2"), seed=1, n_layer=2)


def wait_model(page, name: str, layers: int) -> None:
    """Wait until the page's status line says ``name`` (with its ``layers``) is ready."""
    page.locator(".mlprec-status .mlprec-ready").filter(has_text=name).wait_for(timeout=90_000)
    assert f"{layers} layers" in status(page), status(page)


@pytest.mark.parametrize("pool", [0, 2], ids=["one-kernel-per-page", "preheated-pool"])
def test_two_visitors_picking_models_at_once_each_end_on_their_own(
    browser, tiny_gpt2_dir, second_gpt2_dir, minilm_dir, artifacts, tmp_path, pool
):
    from core.cache import capture
    from core.diskcache import DiskStore
    from core.models import load_model
    from core.texts import DEFAULT_TEXTS

    store = tmp_path / "activations"
    env = {
        "MLPREC_MODELS": f"{tiny_gpt2_dir},{second_gpt2_dir}",  # the packaged MiniLM is offered too
        "MLPREC_DISK_CACHE": "on",
        "MLPREC_CACHE_DIR": str(store),
    }
    args = ["--preheat_kernel=True", f"--pool_size={pool}"] if pool else []
    log = artifacts / f"voila-two-models-{pool}-server.log"
    picks = {str(second_gpt2_dir): 2, str(minilm_dir): 6}  # model: its layers
    with VoilaServer(tiny_gpt2_dir, log, extra_env=env, extra_args=args) as server:
        if pool:
            server.wait_pool_warm(pool)
        visitors = [open_page(browser, server.url, wait_until="commit") for _ in picks]
        try:
            for _, page in visitors:
                wait_ready(page)
                page.get_by_text(SETTINGS).click()
            assert pooled_pages(server) == (2 if pool else 0)
            pickers = [page.locator(".mlprec-model select") for _, page in visitors]
            for picker, name in zip(pickers, picks, strict=True):  # both choices sent before either is awaited
                picker.select_option(label=name)
            for (_, page), (name, layers) in zip(visitors, picks.items(), strict=True):
                wait_model(page, name, layers)
            first, second = (page for _, page in visitors)
            assert str(minilm_dir) not in status(first) and str(second_gpt2_dir) not in status(second)
            assert shows_layer(first, 1)  # the default layer 3 pulled into the 2-layer model's range
            assert shows_layer(second, 3)
            assert errors(first) == [] and errors(second) == []
        finally:
            for context, page in visitors:
                leave(page)
                context.close()
        assert_clean_log(server)

    disk = DiskStore(store)
    entries = sorted(path.name for path in store.iterdir())
    assert len(entries) == 9 and all(not name.startswith(".tmp-") for name in entries), entries
    for folder in (tiny_gpt2_dir, second_gpt2_dir, minilm_dir):  # the starting model and both picks
        model = load_model(str(folder))
        for text in DEFAULT_TEXTS.values():
            stored = disk.get(model, text, "mlp_out")
            assert stored is not None, f"no entry for {folder.name}: {text!r}"
            np.testing.assert_allclose(stored.vectors, capture(model, text).vectors, rtol=1e-5, atol=1e-6)
