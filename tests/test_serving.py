"""A page built before its visitor arrives: the link applied as one run, and the server's faults handled."""

from __future__ import annotations

import resource
import signal
import threading
from urllib.parse import urlencode

import pytest

from core.cache import ActivationCache
from core.diskcache import DiskStore
from widgets import Dashboard
from widgets.serving import preheated, prepare_kernel, take_visitor_link


def test_a_built_app_takes_a_link_in_one_run_with_its_layer_token_and_lecture(tiny_gpt2_dir):
    app = Dashboard(model=str(tiny_gpt2_dir), query="")
    passes = app.session.cache.forward_passes
    versions = app.session.frames
    link = {"text_a": "I saw an aged aged man.", "text_c": "Of shoes and ships and sealing-wax.", "layer": 2}
    app.apply_link(urlencode({**link, "token": 1, "alpha": 0.5, "lecture": 1, "step": 4}))
    state = app.state
    assert (state.text_a, state.text_c, state.layer, state.token, state.alpha) == (*link.values(), 1, 0.5)
    assert app.session.cache.forward_passes == passes + 2  # the two new texts, once each
    assert app.session.frames == versions + 1  # one run published
    assert "at layer 2" in app.views["target"].similarity_figure.title
    assert app.lecture is not None and app.lecture.step == 4
    assert app.messages.area.value == ""


def test_a_links_refusals_come_in_one_message_and_the_rest_applies(tiny_gpt2_dir, monkeypatch):
    monkeypatch.setenv("VOILA_BASE_URL", "/")  # served by Voila: only the operator's models are offered
    app = Dashboard(model=str(tiny_gpt2_dir), query="", background=False)
    app.apply_link("layer=99&hook=evil&model=someone%2Fhuge&text_b=Kings+and+cabbages.")
    assert app.state.text_b == "Kings and cabbages." and app.state.model == str(tiny_gpt2_dir)
    for fragment in ("out of range", "Unknown hook point", "not offered"):
        assert fragment in app.messages.area.value


def test_a_link_with_a_5000_token_text_is_analysed_up_to_the_context_and_says_so(tiny_gpt2_dir):
    app = Dashboard(model=str(tiny_gpt2_dir), query="")
    long_c = " ".join(f"w{k % 97}" for k in range(2500))  # ~5,000 tokens of the tiny BPE, under 20,000 characters
    assert len(app.session.loaded.tokenizer(long_c)["input_ids"]) >= 5000
    app.apply_link(urlencode({"text_c": long_c, "layer": 1}))
    assert app.state.text_c == long_c and app.state.layer == 1
    assert app.state.n_tokens == app.session.loaded.context - 1  # every token the model can take, the first skipped
    assert "longer than the model's context" in app.messages.area.value


def test_the_pool_is_recognised_from_voilas_environment_and_kernels_take_one_thread(monkeypatch):
    import torch

    threads = torch.get_num_threads()
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    monkeypatch.setenv("VOILA_PREHEAT", "True")
    try:
        assert preheated() and prepare_kernel() == {"background": False, "query": ""}
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("VOILA_PREHEAT", "False")  # a kernel started for one request
        monkeypatch.setenv("MLPREC_TORCH_THREADS", "2")
        assert not preheated() and prepare_kernel() == {"background": False}  # the first build in the foreground
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def notices_about_the_store(app) -> int:
    return app.messages.area.value.count("activation store")


def test_a_read_only_cache_folder_leaves_the_app_working_without_the_store_said_once(tiny_gpt2_dir):
    store = DiskStore("/proc/mlprec-activations")  # not writable, even by root
    with pytest.warns(UserWarning, match="Could not store activations"):
        app = Dashboard(model=str(tiny_gpt2_dir), cache=ActivationCache(disk=store))
    assert app.session.cache.disk is None and notices_about_the_store(app) == 1
    assert "memory only" in app.messages.area.value and app.session.feed.frame.bench is not None
    app.controls.texts["C"].value = "Of cabbages and kings."  # the next run: no store, nothing more to say
    assert app.state.text_c == "Of cabbages and kings." and notices_about_the_store(app) == 0


def test_a_full_quota_drops_the_store_once_and_keeps_the_results(tiny_gpt2_dir, tmp_path):
    app = Dashboard(model=str(tiny_gpt2_dir), cache=ActivationCache(disk=DiskStore(tmp_path)))
    assert app.session.cache.disk is not None and app.messages.area.value == ""
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, limits[1]))  # this process may write files of 1 KiB
    try:
        with pytest.warns(UserWarning, match="Could not store activations"):
            app.state.text_c = "He said, I look for butterflies that sleep among the wheat."
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    assert app.session.cache.disk is None and notices_about_the_store(app) == 1
    assert "File too large" in app.messages.area.value
    assert app.session.feed.frame.bench.labels("C")[:2] == [" said", ","] and app.session.cache.forward_passes == 4


def test_a_served_page_is_built_before_the_browser_asks_and_later_loads_go_to_the_background(
    tiny_gpt2_dir, monkeypatch
):
    """Widgets changed by a thread while the browser fetches their states can lose an update (a page stuck
    on "Loading…"): served, the first build is done when the notebook's cell returns."""
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    import torch

    threads = torch.get_num_threads()
    try:
        app = Dashboard(model=str(tiny_gpt2_dir), query="", **prepare_kernel())
    finally:
        torch.set_num_threads(threads)
    assert app.session.frames == 1 and app.session.feed.frame.bench is not None
    assert not app.session.background
    take_visitor_link(app)
    assert app.session.background  # a model picked later loads in a thread, the page showing progress
    warmer = next(thread for thread in threading.enumerate() if thread.name == "mlprec-warm")
    warmer.join(30)  # and the other layers are computed ahead, while the visitor looks at the first
    bench = app.session.feed.frame.bench
    assert ("layer_tests", app.state.alpha, app.state.permutations, 0) in bench._memo


def test_a_kernel_shut_down_while_a_model_loads_exits_cleanly(tiny_gpt2_dir, minilm_dir):
    """A closed tab's kernel is shut down while its page loads another model in the background: the process
    must end normally, not abort ("terminate called without an active exception", torch inside a thread
    when the interpreter ends)."""
    import subprocess
    import sys

    script = (
        "from widgets import Dashboard\n"
        f"app = Dashboard(model={str(tiny_gpt2_dir)!r}, background=True)\n"
        "app.wait()\n"
        f"app.state.model = {str(minilm_dir)!r}  # the load runs in a thread; the interpreter ends now\n"
        "assert not app.wait(timeout=0), 'the load should still run'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "terminate called" not in done.stderr


PAGE_ASKS_FOR_STATES = """
import threading, time
import ipywidgets
from widgets.serving import answer_states_after

slider = ipywidgets.IntSlider(value=1)
answered = []
def link():  # a visitor's link, applied in a thread while Voila sends the page
    time.sleep(1.5)
    slider.value = 7
work = threading.Thread(target=link)
work.start()
answer_states_after(work, then=lambda: answered.append(time.monotonic()))
print(slider.model_id, time.monotonic())
"""


def test_a_pooled_page_gets_its_widgets_states_once_the_link_is_applied():
    """The browser's widget manager asks the kernel once for every widget's state (ipywidgets' control comm,
    "request_states"). In a pooled kernel the answer waits for the link's run, so the page starts at the link's
    settings and no update is in flight while it builds its models. A real kernel, sent the messages the
    browser's widget manager sends, asked before the link is done."""
    import time
    import uuid

    from jupyter_client.manager import start_new_kernel

    from tests.browser import ROOT

    manager, client = start_new_kernel(startup_timeout=60, cwd=str(ROOT))
    try:
        printed = []

        def run(code: str) -> list[str]:  # the words the code prints
            client.execute_interactive(code, output_hook=printed.append, timeout=60)
            return [m["content"]["text"] for m in printed if m["msg_type"] == "stream"][-1].split()

        model_id, started = run(PAGE_ASKS_FOR_STATES)
        comm = uuid.uuid4().hex
        session = client.session
        client.shell_channel.send(
            session.msg(
                "comm_open",
                {"comm_id": comm, "target_name": "jupyter.widget.control", "data": {}},
                metadata={"version": "1.0.0"},
            )
        )
        for _ in range(2):  # a page that asks twice (a reconnection) gets two answers; the warm-up starts once
            client.shell_channel.send(session.msg("comm_msg", {"comm_id": comm, "data": {"method": "request_states"}}))
        answers = []
        deadline = time.monotonic() + 30
        while len(answers) < 2 and time.monotonic() < deadline:
            message = client.get_iopub_msg(timeout=30)
            data = message["content"].get("data", {}) if message["msg_type"] == "comm_msg" else {}
            if data.get("method") == "update_states":
                answers.append(data["states"][model_id]["state"]["value"])
        assert answers == [7, 7]  # asked at once, answered with the link's value
        calls, waited = run(f"print(len(answered), answered[0] - {started})")
        assert int(calls) == 1 and float(waited) >= 1.4  # once, after the link
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
