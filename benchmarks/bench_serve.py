"""A class on one server: V visitors open their own links at once against a preheated Voila pool.

    .venv/bin/python benchmarks/bench_serve.py [--visitors 4 8 16] [--no-baseline]

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
slope of the served kernels' total PSS between rounds. Baseline (same run): one visitor's linked page
from the warm pool against the same link on a server without a pool (a kernel started for the request).

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


def open_visitors(browser, url: str, links: list[dict]) -> list:
    visitors = []
    for link in links:  # every request is in flight before any page is awaited
        context = browser.new_context(viewport=dict(VIEWPORT))
        context.add_init_script(DONE_SCRIPT % (json.dumps(link), READY_JS))
        page = context.new_page()
        page.goto(url + "?" + urlencode(link), wait_until="commit", timeout=PAGE_TIMEOUT_S * 1000)
        visitors.append((context, page))
    return visitors


def page_times(visitors: list) -> list[float]:
    times = []
    for _, page in visitors:
        page.wait_for_function("() => window.__mlprecDone !== undefined", timeout=PAGE_TIMEOUT_S * 1000, polling=200)
        times.append(page.evaluate("() => window.__mlprecDone") / 1000)
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
            times = page_times(opened)
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


def solo(browser, model: Path, pool: bool, log_dir: Path) -> tuple[float, float]:
    """One visitor's linked page, from a warm pool of 1 or from a server without a pool: its time (s) and
    the CPU seconds the kernels spent on it (less sensitive than the time to what else runs on the machine)."""
    args = ["--preheat_kernel=True", "--pool_size=1"] if pool else []
    with VoilaServer(model, log_dir / f"serve-solo-{'pool' if pool else 'cold'}.log", extra_args=args) as server:
        if pool:
            server.wait_pool_warm(1, timeout_s=600)
        before = {pid: cpu_ticks(pid) for pid in server.kernel_pids()}
        opened = open_visitors(browser, server.url, [link_of(99)])
        try:
            seconds = page_times(opened)[0]
            ticks = sum(cpu_ticks(pid) - before.get(pid, 0) for pid in server.kernel_pids())
            return round(seconds, 2), round(ticks / os.sysconf("SC_CLK_TCK"), 2)
        finally:
            close(opened)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-visitor pool vs no-pool pages")
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
                (warm, warm_cpu), (cold, cold_cpu) = (
                    solo(browser, model, True, log_dir),
                    solo(browser, model, False, log_dir),
                )
                results["one_visitor"] = {
                    "warm_pool_s": warm,
                    "no_pool_s": cold,
                    "speed_up": round(cold / warm, 1),
                    "warm_pool_kernel_cpu_s": warm_cpu,
                    "no_pool_kernel_cpu_s": cold_cpu,
                    "load_average": os.getloadavg(),
                }
            for visitors in options.visitors:
                try:
                    results["rounds"].append(round_of(browser, model, visitors, log_dir))
                except Exception as err:  # a page that never completes is a result too: say so, keep the rest
                    failed = {"visitors": visitors, "failed": f"{type(err).__name__}: {str(err).splitlines()[0]}"}
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
        print(
            f"one linked page: warm pool {one['warm_pool_s']} s ({one['warm_pool_kernel_cpu_s']} kernel CPU s), "
            f"no pool {one['no_pool_s']} s ({one['no_pool_kernel_cpu_s']} kernel CPU s): {one['speed_up']}x"
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
