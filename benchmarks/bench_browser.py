"""Browser benchmark of the served dashboard (Voila + headless Chromium), not a test.

    .venv/bin/python benchmarks/bench_browser.py [--runs 5] [--steps 20] [--no-large]

For each model served from disk (a tiny 4-layer GPT-2, and a GPT-2-small-shaped one: 12 layers, 768 wide,
12 heads, random weights, the tests' small BPE vocabulary) it measures

(a) page load -> first figures drawn: from navigation start to the moment the status shows `.mlprec-ready`,
    Part 5's heatmap has its cells and Part 2's titles name a layer (checked in the page every animation
    frame, timed with performance.now(), whose zero is the navigation start). One fresh page, hence one
    fresh Voila kernel (Python start, imports, model load, forward passes, analysis), per run.
(b) Layer step -> figures updated: ArrowRight/ArrowLeft on the focused Layer handle, bouncing between the
    first and last layer; timed in the page from the keydown event to the DOM mutation after which
    "part2": all three Part 2 titles say "at layer N", and
    "all_views": also Part 4's main title says so and Part 5's table highlights row N, and
    "last_change": the last DOM mutation inside any view (Parts 1-5 and the panels) (after "all_views", the page is watched until
    it has been still for 500 ms): the time until every view has finished redrawing.
The steps bounce between the first and the last layer, so they mix first visits (baselines computed) and
revisits (memoised). The chance baselines are on (Permutations 1000, the default). The page is at its top
(the controls and Parts 1-2 on screen); the same number of steps is then taken with Part 4 scrolled into view
("part4_in_view"). Parts off screen are laid out and painted only when scrolled to (content-visibility), so
(c) each view is then scrolled into view in turn: ms until the second animation frame after the scroll.
(d) The same steps as in (b), page top, "plain_browser": in a second Chromium that Playwright does not drive
    (benchmarks/plain_browser.py). Playwright watches the network of the pages it drives, so Chromium reports
    every WebSocket frame to it, which a visitor's browser does not do: (d) is the step a visitor sees.
    "plain_browser_network_events": the same driver with DevTools' Network domain on, as Playwright has it:
    the difference to (d) is what that reporting costs.

Writes benchmarks/results/browser.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402
from benchmarks.plain_browser import PlainChromium  # noqa: E402
from tests.browser import READY_JS, VIEWPORT, VoilaServer, launch_chromium, leave  # noqa: E402
from tests.tiny import build_gpt2  # noqa: E402
from widgets.app import VIEWS  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
VIEW_NAMES = list(VIEWS)  # the page's views in order: Parts 1-5 (.mlprec-section) and the panels (.mlprec-extra)

# Installed before any page script: records window.__mlprecReadyAt (ms since navigation start).
READY_PROBE = f"""(() => {{
  if (location.protocol !== 'http:') return;
  const ready = {READY_JS};
  const poll = () => {{
    let ok = false;
    try {{ ok = ready(); }} catch (e) {{}}
    if (ok) window.__mlprecReadyAt = performance.now(); else requestAnimationFrame(poll);
  }};
  requestAnimationFrame(poll);
}})();"""

# Arms one measurement: t0 at the next keydown, then a MutationObserver notes when the views show `layer`.
ARM_STEP = """(layer) => {
  const sections = document.querySelectorAll('.mlprec-section');  // Parts 1-5
  const views = [...document.querySelectorAll('.mlprec-section, .mlprec-extra')];  // every view, in page order
  const probe = {t0: null, part2: null, all: null, last: null, parts: views.map(() => null), done: false};
  window.__mlprecStep = probe;
  const part2 = () => {
    const t = [...sections[1].querySelectorAll('text.mainheading')].map(e => e.textContent);
    return t.length === 3 && t.every(s => s.includes(`at layer ${layer}`));
  };
  const rest = () => {
    const p4 = sections[3].querySelector('text.mainheading');
    // Part 5's table highlights row N: its widget has the class mlprec-at-layer-N (or, in commits before cffa221,
    // which bench_step_ab.py may compare against, the row itself has the class mlprec-current).
    const table = document.querySelector('.mlprec-pairs-table');
    const old = table.querySelector('tr.mlprec-current td');
    const highlighted = table.classList.contains(`mlprec-at-layer-${layer}`) || (old && old.textContent.trim() === String(layer));
    return p4 && p4.textContent.includes(`at layer ${layer}`) && highlighted;
  };
  let quiet = null;
  const settle = () => { probe.done = true; observer.disconnect(); };
  const check = (mutations) => {
    if (probe.t0 === null || probe.done) return;
    const now = performance.now();
    for (const m of mutations) {
      const node = m.target.closest ? m.target : m.target.parentElement;
      const view = node && node.closest('.mlprec-section, .mlprec-extra');
      if (view) { probe.last = now - probe.t0; probe.parts[views.indexOf(view)] = now - probe.t0; }
    }
    if (probe.part2 === null && part2()) probe.part2 = now - probe.t0;
    if (probe.part2 !== null && probe.all === null && rest()) probe.all = now - probe.t0;
    if (probe.all !== null) { clearTimeout(quiet); quiet = setTimeout(settle, 500); }
  };
  const observer = new MutationObserver(check);
  observer.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
  document.addEventListener('keydown', () => { probe.t0 = performance.now(); }, {capture: true, once: true});
}"""


def summary(values: list[float]) -> dict:
    return {
        "runs": [round(v, 4) for v in values],
        "median": round(statistics.median(values), 4),
        "p90": round(float(np.percentile(values, 90)), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def measure_loads(browser, url: str, runs: int, timeout_s: float) -> list[float]:
    """Seconds from navigation start to the first figures drawn, one fresh page (and kernel) per run."""
    seconds = []
    for run in range(runs):
        context = browser.new_context(viewport=dict(VIEWPORT))
        context.add_init_script(READY_PROBE)
        page = context.new_page()
        try:
            page.goto(url, wait_until="commit", timeout=60_000)
            page.wait_for_function("() => window.__mlprecReadyAt !== undefined", timeout=timeout_s * 1000, polling=200)
            seconds.append(page.evaluate("() => window.__mlprecReadyAt") / 1000)
            print(f"  load {run + 1}/{runs}: {seconds[-1]:.2f} s", flush=True)
        finally:
            leave(page)
            context.close()
    return seconds


# Parts off screen are not rendered until scrolled to (content-visibility: auto, widgets/style.py). Scrolls each
# view into view in turn, top to bottom, and returns the ms until the second animation frame after the scroll:
# the frame that lays out and paints what was skipped while it was off screen.
REVEAL_VIEWS = """async () => {
  const views = [...document.querySelectorAll('.mlprec-section, .mlprec-extra')];
  const frame = () => new Promise((done) => requestAnimationFrame(done));
  const times = [];
  for (const view of views) {
    await frame(); await frame();
    const t0 = performance.now();
    view.scrollIntoView({block: 'start'});
    await frame(); await frame();
    times.push(performance.now() - t0);
  }
  window.scrollTo(0, 0);
  return times;
}"""


# The Layer handle's value and maximum; focuses it (the key presses go to the focused element).
READ_LAYER = """() => {
  const handle = document.querySelector('.mlprec-layer .noUi-handle');
  handle.focus();
  return [Number(handle.getAttribute('aria-valuenow')), Number(handle.getAttribute('aria-valuemax'))];
}"""
# Resolves with the probe once the views are still (polled in the page every 20 ms), then 150 ms on: stragglers
# (tooltips, transitions) must not leak into the next step.
STEP_DONE = """() => new Promise((done) => {
  const poll = () => {
    const probe = window.__mlprecStep;
    if (probe.done) setTimeout(() => done(probe), 150); else setTimeout(poll, 20);
  };
  poll();
})"""


def last_change(probe: dict) -> float:
    """ms from the keydown to the last DOM change of any view (at least until all views showed the layer)."""
    return max(probe["last"] or 0, probe["all"])


class LayerStepper:
    """The Layer slider of a loaded page: each ``step()`` presses ArrowRight or ArrowLeft on its handle, bouncing
    between the first and the last layer, and returns the page's probe (ARM_STEP) once the views are still.

    ``page`` evaluates JS functions (a Playwright page, or plain_browser.PlainPage); ``press(key)`` presses a key
    on the handle (Playwright's ``locator.press``, or PlainPage.press on the focused handle).
    """

    def __init__(self, page, press):
        self.page, self.press = page, press
        self.layer, self.last = (int(value) for value in page.evaluate(READ_LAYER))
        self.direction = -1 if self.layer == self.last else 1

    def step(self) -> dict:
        if not 0 <= self.layer + self.direction <= self.last:
            self.direction = -self.direction
        self.layer += self.direction
        self.page.evaluate(ARM_STEP, self.layer)
        self.press("ArrowRight" if self.direction > 0 else "ArrowLeft")
        return self.page.evaluate(STEP_DONE)


def playwright_stepper(page) -> LayerStepper:
    return LayerStepper(page, page.locator(".mlprec-layer .noUi-handle").press)


def measure_steps(browser, url: str, steps: int, timeout_s: float) -> dict:
    """Milliseconds from a Layer key press to the updated views, ``steps`` presses on one page.

    Also returns the dashboard's status line (model, layers, token counts) as ``status``.
    """
    context = browser.new_context(viewport=dict(VIEWPORT))
    context.add_init_script(READY_PROBE)
    page = context.new_page()
    part2, views, settled, parts = [], [], [], []
    status = ""
    try:
        page.goto(url, wait_until="commit", timeout=60_000)
        page.wait_for_function("() => window.__mlprecReadyAt !== undefined", timeout=timeout_s * 1000, polling=200)
        status = page.locator(".mlprec-status").inner_text().strip()
        stepper = playwright_stepper(page)
        page.wait_for_timeout(500)  # let the first render settle
        for _ in range(steps):
            probe = stepper.step()
            part2.append(probe["part2"])
            views.append(probe["all"])
            settled.append(last_change(probe))
            parts.append(probe["parts"])
        print(
            f"  {steps} layer steps: part2 median {statistics.median(part2):.0f} ms, "
            f"last change median {statistics.median(settled):.0f} ms",
            flush=True,
        )
        # The same steps with Part 4 (five painted heatmaps) on screen instead of the page's top.
        page.locator(".mlprec-section").nth(3).scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        scrolled = []
        for _ in range(steps):
            probe = stepper.step()
            scrolled.append(last_change(probe))
        print(f"  {steps} layer steps with Part 4 in view: last change median {statistics.median(scrolled):.0f} ms")
        reveal = page.evaluate(REVEAL_VIEWS)
        print(f"  each view scrolled into view after the steps: drawn within {max(reveal):.0f} ms (the slowest)")
    finally:
        leave(page)
        context.close()
    last_by_view = {name: [step[k] or 0.0 for step in parts] for k, name in enumerate(VIEW_NAMES)}
    return {
        "part2": part2,
        "all_views": views,
        "last_change": settled,
        "by_view": last_by_view,
        "scrolled_to_part4": scrolled,
        "reveal": dict(zip(VIEW_NAMES, reveal, strict=True)),
        "status": status,
    }


def measure_plain_steps(url: str, steps: int, timeout_s: float, network_events: bool = False) -> list[float]:
    """The same Layer steps (page top, ms to the last change of all views) in a Chromium that no DevTools client
    watches the network of (plain_browser.PlainChromium): what a visitor's browser does; with
    ``network_events``, the same driver with the network reporting that Playwright turns on."""
    with PlainChromium(VIEWPORT, network_events) as browser:
        page = browser.page
        page.goto(url)
        page.wait_for(READY_JS, timeout_s)
        page.evaluate("() => new Promise((done) => setTimeout(done, 500))")  # let the first render settle
        stepper = LayerStepper(page, page.press)
        settled = []
        for _ in range(steps):
            probe = stepper.step()
            settled.append(last_change(probe))
    how = "plain browser, network events on" if network_events else "plain browser"
    print(f"  {steps} layer steps, {how}: last change median {statistics.median(settled):.0f} ms", flush=True)
    return settled


def bench_model(browser, label: str, folder: Path, runs: int, steps: int, timeout_s: float) -> dict:
    print(f"{label}: serving {folder}", flush=True)
    log = RESULTS / f"voila-{label}.log"
    with VoilaServer(folder, log, startup_timeout=60, cull_idle_s=20) as server:
        started = time.perf_counter()
        loads = measure_loads(browser, server.url, runs, timeout_s)
        step_ms = measure_steps(browser, server.url, steps, timeout_s)
        plain_ms = measure_plain_steps(server.url, steps, timeout_s)
        reported_ms = measure_plain_steps(server.url, steps, timeout_s, network_events=True)
        wall = time.perf_counter() - started
    return {
        "model_dir": str(folder),
        "page_load_to_first_figures_s": summary(loads),
        "layer_step_to_part2_titles_ms": summary(step_ms["part2"]),
        "layer_step_to_all_views_ms": summary(step_ms["all_views"]),
        "layer_step_to_last_change_ms": summary(step_ms["last_change"]),
        "layer_step_to_last_change_by_view_ms": {view: summary(ms) for view, ms in step_ms["by_view"].items()},
        "layer_step_to_last_change_part4_in_view_ms": summary(step_ms["scrolled_to_part4"]),
        "layer_step_to_last_change_plain_browser_ms": summary(plain_ms),
        "layer_step_to_last_change_plain_browser_network_events_ms": summary(reported_ms),
        "view_scrolled_into_view_to_drawn_ms": {view: round(ms, 1) for view, ms in step_ms["reveal"].items()},
        "status_line": step_ms["status"],
        "wall_s": round(wall, 1),
    }


def machine() -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        version = browser.version
        browser.close()
    return common.machine(python=platform.python_version(), chromium=version, viewport=VIEWPORT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="page loads per model (default 5)")
    parser.add_argument("--steps", type=int, default=20, help="layer steps per model (default 20)")
    parser.add_argument("--no-large", action="store_true", help="skip the GPT-2-small-shaped model")
    parser.add_argument("--only-large", action="store_true", help="only the GPT-2-small-shaped model")
    parser.add_argument("--timeout", type=float, default=240, help="seconds allowed for one page load")
    parser.add_argument("--out", type=Path, default=RESULTS / "browser.json")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"format": 1, "benchmark": "browser", "machine": machine(), "models": {}}
    with tempfile.TemporaryDirectory(prefix="mlprec-bench-") as scratch:
        models = [] if args.only_large else [("tiny-gpt2", "4 layers, 32 wide, 4 heads", {})]
        if not args.no_large:
            models.append(
                (
                    "gpt2-small-shaped",
                    "12 layers, 768 wide, 12 heads, 1024 positions (random weights)",
                    dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024),
                )
            )
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                for label, shape, config in models:
                    started = time.perf_counter()
                    folder = build_gpt2(Path(scratch) / label, **config)
                    print(f"{label}: built in {time.perf_counter() - started:.1f} s", flush=True)
                    result = bench_model(browser, label, folder, args.runs, args.steps, args.timeout)
                    result["shape"] = shape
                    report["models"][label] = result
            finally:
                browser.close()
    report["machine"]["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(
        f"{'model':<20} {'load->figures (s)':>18} {'step->Part 2 (ms)':>26} {'step->last change (ms)':>26} "
        f"{'Part 4 in view (ms)':>20} {'plain browser (ms)':>19}"
    )
    print(
        f"{'':<20} {'median':>18} {'median':>12} {'p90':>13} {'median':>12} {'p90':>13} {'median':>20} {'median':>19}"
    )
    for label, result in report["models"].items():
        load = result["page_load_to_first_figures_s"]
        part2 = result["layer_step_to_part2_titles_ms"]
        views = result["layer_step_to_last_change_ms"]
        in_view = result["layer_step_to_last_change_part4_in_view_ms"]
        plain = result["layer_step_to_last_change_plain_browser_ms"]
        print(
            f"{label:<20} {load['median']:>18.2f} {part2['median']:>12.0f} {part2['p90']:>13.0f} "
            f"{views['median']:>12.0f} {views['p90']:>13.0f} {in_view['median']:>20.0f} {plain['median']:>19.0f}"
        )
    print(f"\nload average at start {report['machine']['load_average_at_start']}, at end {os.getloadavg()}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
