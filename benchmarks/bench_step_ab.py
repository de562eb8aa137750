"""Interleaved A/B of the Layer step between two commits (Voila + headless Chromium), not a test.

    .venv/bin/python benchmarks/bench_step_ab.py BEFORE AFTER [--steps 30] [--out results/step-ab.json]

On this 2-core machine the same code's step median moves by 20% or more between runs minutes apart, so
two versions measured one after the other cannot be compared. Here both run at once: each commit is checked
out in a temporary git worktree and served by its own Voila (the GPT-2-small-shaped model of
bench_browser.py), one page each, and the Layer steps alternate between the two pages (A B, B A, A B, ...),
so that both see the same machine. Each step is timed exactly as in bench_browser.py (keydown to the last
DOM change of all views, MutationObserver, chance baselines on, bouncing between the first and the last
layer). Writes the steps of both sides, their medians and means, and the difference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402
from benchmarks.bench_browser import READY_PROBE, playwright_stepper, summary  # noqa: E402
from tests.browser import VIEWPORT, VoilaServer, launch_chromium, leave  # noqa: E402
from tests.tiny import build_gpt2  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def checkout(revision: str, folder: Path) -> str:
    """A detached worktree of ``revision`` at ``folder``; returns the full commit id."""
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), revision], cwd=ROOT, check=True, capture_output=True
    )
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=folder, check=True, capture_output=True, text=True
    ).stdout.strip()


class Side:
    """One served commit and its page, stepping through the layers."""

    def __init__(self, browser, server: VoilaServer, timeout_s: float):
        self.context = browser.new_context(viewport=dict(VIEWPORT))
        self.context.add_init_script(READY_PROBE)
        self.page = self.context.new_page()
        self.page.goto(server.url, wait_until="commit", timeout=60_000)
        self.page.wait_for_function("() => window.__mlprecReadyAt !== undefined", timeout=timeout_s * 1000, polling=200)
        self.stepper = playwright_stepper(self.page)
        self.steps: list[float] = []

    def step(self) -> None:
        probe = self.stepper.step()
        self.steps.append(max(probe["last"] or 0, probe["all"]))

    def close(self) -> None:
        leave(self.page)
        self.context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="git revision A (the baseline)")
    parser.add_argument("after", help="git revision B")
    parser.add_argument("--steps", type=int, default=30, help="Layer steps per side (default 30)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed for each page load")
    parser.add_argument("--out", type=Path, default=RESULTS / "step-ab.json")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    report = {"format": 1, "benchmark": "step-ab", "machine": common.machine(viewport=VIEWPORT)}
    with tempfile.TemporaryDirectory(prefix="mlprec-ab-") as scratch:
        scratch = Path(scratch)
        model = build_gpt2(scratch / "gpt2-small-shaped", n_layer=12, n_embd=768, n_head=12, n_positions=1024)
        commits = {
            name: checkout(rev, scratch / name) for name, rev in (("before", args.before), ("after", args.after))
        }
        servers = {
            name: VoilaServer(model, scratch / f"voila-{name}.log", startup_timeout=90, root=scratch / name)
            for name in commits
        }
        try:
            for server in servers.values():
                server.start()
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                sides = {name: Side(browser, server, args.timeout) for name, server in servers.items()}
                for side in sides.values():
                    side.page.wait_for_timeout(3000)  # let each page's first render and warm-up settle
                for round_ in range(args.steps):
                    order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
                    for name in order:
                        sides[name].step()
                for side in sides.values():
                    side.close()
                browser.close()
        finally:
            for server in servers.values():
                server.stop()
            for name in commits:
                subprocess.run(["git", "worktree", "remove", "--force", str(scratch / name)], cwd=ROOT, check=False)
    for name, revision in (("before", args.before), ("after", args.after)):
        report[name] = {"revision": revision, "commit": commits[name], "last_change_ms": summary(sides[name].steps)}
        report[name]["last_change_ms"]["mean"] = round(statistics.mean(sides[name].steps), 4)
    before, after = report["before"]["last_change_ms"], report["after"]["last_change_ms"]
    report["after_minus_before_median_ms"] = round(after["median"] - before["median"], 2)
    report["before_over_after_median"] = round(before["median"] / after["median"], 3)
    report["machine"]["load_average_at_end"] = os.getloadavg()
    report["machine"]["bench_seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for name in ("before", "after"):
        side = report[name]
        print(
            f"{name:<7} {side['revision']:<12} median {side['last_change_ms']['median']:6.1f} ms  "
            f"mean {side['last_change_ms']['mean']:6.1f} ms  p90 {side['last_change_ms']['p90']:6.1f} ms"
        )
    print(f"before / after (medians): {report['before_over_after_median']}x; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
