"""A class on one server: V visitors open their own links at once against a preheated Voila pool.

    .venv/bin/python benchmarks/bench_serve.py [--visitors 4 8 16] [--no-baseline] [--pages 3]

Model: the GPT-2-small-shaped model of bench_core.py (12 layers, 768 wide, random weights, the tests' BPE),
served from a folder with `voila dashboard.ipynb --preheat_kernel=True --pool_size=V` and the repository's
voila.json (its pool refills 60 s after a page is taken: `pool_fill_delay_s`); one fresh server per round.
Each visitor is a separate Chromium context opening `?layer=L&text_c=<its own line>`; a page is done
when it shows results (tests.browser.READY_JS) *at its link's settings* (its text C in the box, its layer in
Part 2's titles), timed in the page with performance.now() (zero = the navigation start, i.e. the request).

Per round: p50 / p95 / max page time; the PSS (proportional set size, /proc/PID/smaps_rollup) of the
kernels that served the visitors, in total and split into anonymous and file-backed pages (the model's
float32 safetensors stay a memory map of the file: every kernel shares those pages and PSS counts them
once across all of them); the refilled pool's kernels are reported apart. "MB per further visitor" is the
slope of the served kernels' total PSS between rounds. Baseline (same run): one visitor at a time
(``--pages`` of them, each its own link, median), from a warm pool that does not refill meanwhile against a
server without a pool (a kernel started for each request); and the floor: a notebook of one slider served
from a warm pool by the same Voila, timed to the slider on the page, i.e. what Voila's page itself takes on
this machine before any of the dashboard's widgets.

Writes benchmarks/results/serve.json and prints a table; records the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, machine, save  # noqa: E402
from tests.browser import READY_JS, VIEWPORT, VoilaServer, cpu_ticks, launch_chromium, leave  # noqa: E402
from tests.tiny import CORPUS, build_gpt2  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "serve.json"
PAGE_TIMEOUT_S = 600

# Records in the page the first moment it shows results at its link's settings (window.__mlprecDone, ms).
DONE_SCRIPT = """
(() => {
  const expected = %s;
  const ready = %s;
  const check = () => {
    try {
      const area = document.querySelector('.mlprec-text-c textarea');
      const part2 = document.querySelectorAll('.mlprec-section')[1];
      if (ready() && area && area.value === expected.text_c &&
          [...part2.querySelectorAll('text.mainheading')].every(t => t.textContent.includes(`at layer ${expected.layer}`))) {
        window.__mlprecDone = performance.now();
        return;
      }
    } catch (e) {}
    setTimeout(check, 20);
  };
  window.addEventListener('DOMContentLoaded', check);
})();
"""


def link_of(visitor: int) -> dict:
    """Visitor ``visitor``'s own link: a layer and a text C of its own."""
    line = CORPUS[visitor % len(CORPUS)]
    return {"layer": 1 + visitor % 11, "text_c": f"Visitor {visitor}: {line}"}


# Counts the page's websocket traffic (window.__mlprecWs), for the description of a stuck page: messages in
# and out, the largest message in (the widgets' states come as one) and when it and the last one came (ms).
WS_PROBE = """(() => {
  const W = window.WebSocket, seen = {opened: 0, sent: 0, received: 0, largest: 0, largest_at: null, last_at: null};
  window.__mlprecWs = seen;
  window.WebSocket = class extends W {
    constructor(...args) {
      super(...args);
      seen.opened += 1;
      const send = this.send.bind(this);
      this.send = (data) => { seen.sent += 1; send(data); };
      this.addEventListener('message', (e) => {
        const size = e.data.size || e.data.length || e.data.byteLength || 0;
        seen.received += 1; seen.last_at = Math.round(performance.now());
        if (size > seen.largest) { seen.largest = size; seen.largest_at = seen.last_at; }
      });
    }
  };
})();"""

PAGE_TROUBLE: dict = {}  # page -> its console errors, failed requests and error responses (for stuck pages)


def watch(page) -> None:
    """Note what goes wrong in ``page`` (console errors, failed requests, HTTP errors) in PAGE_TROUBLE."""
    trouble = PAGE_TROUBLE.setdefault(page, [])
    page.on("console", lambda m: m.type == "error" and trouble.append(f"console: {m.text[:300]}"))
    page.on("requestfailed", lambda r: trouble.append(f"failed: {r.url[-120:]} {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and trouble.append(f"HTTP {r.status}: {r.url[-120:]}"))


def open_page(browser, url: str, done_script: str) -> tuple:
    """A visitor of its own (a fresh context) opening ``url``; ``done_script`` sets window.__mlprecDone."""
    context = browser.new_context(viewport=dict(VIEWPORT))
    context.add_init_script(done_script)
    context.add_init_script(WS_PROBE)
    page = context.new_page()
    watch(page)
    page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_S * 1000)
    return context, page


def open_visitors(browser, url: str, links: list[dict]) -> list:
    # every request is in flight before any page is awaited
    return [
        open_page(browser, url + "?" + urlencode(link), DONE_SCRIPT % (json.dumps(link), READY_JS)) for link in links
    ]


# What a page that never completed shows: how far it got (HTML, Voila's kernel connection, widgets, results).
STUCK_PAGE_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const config = document.getElementById('jupyter-config-data');
  const sections = document.querySelectorAll('.mlprec-section');
  return {
    ready_state: document.readyState,
    html_end_ms: nav ? Math.round(nav.responseEnd) : null,
    kernel_id: config ? JSON.parse(config.textContent).kernelId : null,
    widget_nodes: document.querySelectorAll('.jupyter-widgets').length,
    sections: sections.length,
    status: document.querySelector('.mlprec-status')?.innerText.slice(0, 200) ?? null,
    text_c: document.querySelector('.mlprec-text-c textarea')?.value.slice(0, 80) ?? null,
    part2_titles: sections.length > 1 ? [...sections[1].querySelectorAll('text.mainheading')].map(t => t.textContent) : [],
    body: document.body ? document.body.innerText.slice(0, 300) : null,
    websocket: window.__mlprecWs ?? null,
  };
}"""


def page_times(visitors: list, log_dir: Path | None = None) -> list[float]:
    """Each page's time (s). A page not done within PAGE_TIMEOUT_S of the first wait raises a TimeoutError
    that describes every page not done (STUCK_PAGE_JS) and saves its screenshot in ``log_dir``."""
    times, stuck, deadline = [], [], time.monotonic() + PAGE_TIMEOUT_S
    for visitor, (_, page) in enumerate(visitors):
        try:
            left_ms = max(1000, (deadline - time.monotonic()) * 1000)
            page.wait_for_function("() => window.__mlprecDone !== undefined", timeout=left_ms, polling=200)
            times.append(page.evaluate("() => window.__mlprecDone") / 1000)
        except Exception as err:  # Playwright's TimeoutError
            seen = {"visitor": visitor, "error": str(err).splitlines()[0], "trouble": PAGE_TROUBLE.get(page, [])[-12:]}
            try:
                seen.update(page.evaluate(STUCK_PAGE_JS))
                if log_dir is not None:
                    page.screenshot(path=str(log_dir / f"serve-stuck-{len(visitors)}-{visitor}.png"), timeout=30_000)
            except Exception as inner:
                seen["inspect_error"] = str(inner).splitlines()[0]
            stuck.append(seen)
    if stuck:
        raise TimeoutError(f"{len(stuck)} of {len(visitors)} pages not done in {PAGE_TIMEOUT_S} s: {json.dumps(stuck)}")
    return times


def close(visitors: list) -> None:
    for context, page in visitors:
        leave(page)
        context.close()


def kernel_memory(server: VoilaServer, served_ids: set[str]) -> dict:
    """PSS (MB) of the server's kernels, served ones and the rest (the refilled pool), by kind of page."""
    out = {"served": [], "pool": []}
    for pid in server.kernel_pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_text()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        fields = {m[0]: int(m[1]) / 1024 for m in re.findall(r"^(\w+):\s+(\d+) kB", rollup, re.M)}
        kernel_id = re.search(r"kernel-([0-9a-f-]+)\.json", cmdline)
        group = "served" if kernel_id and kernel_id[1] in served_ids else "pool"
        out[group].append({k: round(fields.get(k, 0.0), 1) for k in ("Pss", "Pss_Anon", "Pss_File", "Rss")})
    return out


def served_ids(server: VoilaServer) -> set[str]:
    return set(re.findall(r"Using pre-heated kernel: ([0-9a-f-]+)", server.log_tail(10**8)))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def round_of(browser, model: Path, visitors: int, log_dir: Path) -> dict:
    """One server with a pool of ``visitors``, warmed; then every visitor at once."""
    load_start = os.getloadavg()
    args = ["--preheat_kernel=True", f"--pool_size={visitors}"]
    with VoilaServer(model, log_dir / f"serve-{visitors}.log", extra_args=args, cull_idle_s=3600) as server:
        warm_s = server.wait_pool_warm(visitors, timeout_s=1200)
        start = time.perf_counter()
        opened = open_visitors(browser, server.url, [link_of(k) for k in range(visitors)])
        try:
            times = page_times(opened, log_dir)
            all_done = time.perf_counter() - start
            memory = kernel_memory(server, served_ids(server))
        finally:
            close(opened)
    served = memory["served"]
    return {
        "visitors": visitors,
        "pool_warm_s": round(warm_s, 1),
        "page_s": [round(t, 2) for t in times],
        "p50_s": round(statistics.median(times), 2),
        "p95_s": round(percentile(times, 0.95), 2),
        "max_s": round(max(times), 2),
        "all_done_s": round(all_done, 2),
        "served_kernels": len(served),
        "served_pss_mb": round(sum(k["Pss"] for k in served)),
        "served_pss_anon_mb": round(sum(k["Pss_Anon"] for k in served)),
        "served_pss_file_mb": round(sum(k["Pss_File"] for k in served)),
        "served_rss_mb_each": [round(k["Rss"]) for k in served],
        "refilled_pool_kernels": len(memory["pool"]),
        "refilled_pool_pss_mb": round(sum(k["Pss"] for k in memory["pool"])),
        "load_average": {"start": load_start, "end": os.getloadavg()},
    }


# The floor: a notebook of one slider, served the same way. Records when the slider is on the page (ms).
FLOOR_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "floor",
            "metadata": {},
            "outputs": [],
            "source": "import ipywidgets\nipywidgets.IntSlider(description='Layer').add_class('mlprec-floor')",
        }
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}
FLOOR_SCRIPT = """
(() => {
  const check = () => {
    if (document.querySelector('.mlprec-floor .noUi-handle')) { window.__mlprecDone = performance.now(); return; }
    setTimeout(check, 20);
  };
  window.addEventListener('DOMContentLoaded', check);
})();
"""


def solo_pages(browser, model: Path, pool: bool, log_dir: Path, pages: int, notebook: Path | None = None) -> dict:
    """``pages`` visitors, one after the other, each with its own link (``notebook``: the floor notebook, no
    link), from a warm pool of ``pages`` (it does not refill meanwhile) or from a server without a pool (a
    kernel started per request). Returns each page's time (s) and the CPU seconds the kernels spent on it
    (less sensitive than the time to what else runs on the machine)."""
    args = ["--preheat_kernel=True", f"--pool_size={pages}", "--VoilaKernelManager.fill_delay=3600"] if pool else []
    name = f"serve-solo-{'floor' if notebook else 'pool' if pool else 'cold'}.log"
    server = VoilaServer(model, log_dir / name, extra_args=args, notebook=notebook or "dashboard.ipynb")
    times, cpu = [], []
    with server:
        if pool:
            server.wait_pool_warm(pages, timeout_s=900)
        for visitor in range(pages):
            time.sleep(2)
            before = {pid: cpu_ticks(pid) for pid in server.kernel_pids()}
            if notebook:
                opened = [open_page(browser, server.url, FLOOR_SCRIPT)]
            else:
                opened = open_visitors(browser, server.url, [link_of(90 + visitor)])
            try:
                times.append(round(page_times(opened)[0], 2))
                ticks = sum(cpu_ticks(pid) - before.get(pid, 0) for pid in server.kernel_pids())
                cpu.append(round(ticks / os.sysconf("SC_CLK_TCK"), 2))
            finally:
                close(opened)
    return {"page_s": times, "median_s": statistics.median(times), "kernel_cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-visitor pages (pool, no pool, floor)")
    parser.add_argument("--pages", type=int, default=3, help="one-visitor pages of each kind, one after the other")
    options = parser.parse_args()
    started = time.perf_counter()
    from playwright.sync_api import sync_playwright
    from transformers import GPT2Config

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        c = GPT2Config()
        model = build_gpt2(
            Path(folder) / "model", n_layer=c.n_layer, n_embd=c.n_embd, n_head=c.n_head, n_positions=c.n_positions
        )
        browser = launch_chromium(playwright)
        log_dir = ROOT / "test-artifacts"
        results = {
            "machine": machine(model="GPT-2-small shape, random weights (tests/tiny.py)"),
            "pool_fill_delay_s": json.loads((ROOT / "voila.json").read_text())["VoilaKernelManager"]["fill_delay"],
            "rounds": [],
        }
        try:
            if not options.no_baseline:
                floor_notebook = Path(folder) / "floor.ipynb"
                floor_notebook.write_text(json.dumps(FLOOR_NOTEBOOK))
                warm = solo_pages(browser, model, True, log_dir, options.pages)
                cold = solo_pages(browser, model, False, log_dir, options.pages)
                floor = solo_pages(browser, model, True, log_dir, options.pages, notebook=floor_notebook)
                results["one_visitor"] = {
                    "warm_pool": warm,
                    "no_pool": cold,
                    "speed_up": round(cold["median_s"] / warm["median_s"], 1),
                    "floor_one_slider_warm_pool": floor,
                    "load_average": os.getloadavg(),
                }
            for visitors in options.visitors:
                try:
                    results["rounds"].append(round_of(browser, model, visitors, log_dir))
                except Exception as err:  # a page that never completes is a result too: say so, keep the rest
                    failed = {"visitors": visitors, "failed": f"{type(err).__name__}: {str(err)[:20000]}"}
                    results.setdefault("failed_rounds", []).append({**failed, "load_average": os.getloadavg()})
                    continue
                print(results["rounds"][-1], flush=True)
        finally:
            browser.close()
    rounds = results["rounds"]
    for before, after in zip(rounds, rounds[1:], strict=False):
        after["pss_mb_per_further_visitor"] = round(
            (after["served_pss_mb"] - before["served_pss_mb"]) / (after["visitors"] - before["visitors"])
        )
    save(results, RESULTS, started, print_table)


def print_table(results: dict) -> None:
    if "one_visitor" in results:
        one = results["one_visitor"]
        warm, cold, floor = one["warm_pool"], one["no_pool"], one["floor_one_slider_warm_pool"]
        print(
            f"one linked page (median of {len(warm['page_s'])}): warm pool {warm['median_s']} s {warm['page_s']}, "
            f"no pool {cold['median_s']} s {cold['page_s']}: {one['speed_up']}x; "
            f"floor (a one-slider notebook, warm pool) {floor['median_s']} s {floor['page_s']}"
        )
    print(
        f"{'V':>3} {'p50 s':>6} {'p95 s':>6} {'max s':>6} {'PSS MB':>7} {'anon':>6} {'file':>6} {'+MB/visitor':>11} {'load end':>20}"
    )
    for r in results["rounds"]:
        load = ", ".join(f"{x:.1f}" for x in r["load_average"]["end"])
        print(
            f"{r['visitors']:>3} {r['p50_s']:>6} {r['p95_s']:>6} {r['max_s']:>6} {r['served_pss_mb']:>7} "
            f"{r['served_pss_anon_mb']:>6} {r['served_pss_file_mb']:>6} {r.get('pss_mb_per_further_visitor', '-'):>11} {load:>20}"
        )


if __name__ == "__main__":
    main()
