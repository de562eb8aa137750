"""Server-side redraw cost of the dashboard (GPT-2-small shape, random weights, default texts).

Measures, in one run: a Layer change redrawing every view, first visits of each layer (nothing
memoised yet: slices, top-k lists and the chance baselines are computed) and revisits (memoised), the
same with the chance baselines off, a Token change, an Alpha change, and as the baseline what an app
without the tiered cache would do on each change: rerun the forward passes and every part (cache
cleared, then the Apply button's request: one run and one frame). Writes benchmarks/results/widgets.json
with the load average.

    .venv/bin/python benchmarks/bench_widgets.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tiny import build_gpt2  # noqa: E402
from widgets import Dashboard  # noqa: E402


def timed(action, repeats: int) -> list[float]:
    """Milliseconds of each of ``repeats`` calls of action(i)."""
    out = []
    for i in range(repeats):
        start = time.perf_counter()
        action(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        build_gpt2(folder, n_layer=12, n_embd=768, n_head=12, n_positions=1024)
        app = Dashboard(model=folder)
        state = app.state
        n_layers, n_tokens = state.n_layers, state.n_tokens
        step = lambda i: setattr(state, "layer", (state.layer + 1) % n_layers)  # noqa: E731
        first_visits = timed(step, n_layers)
        revisits = timed(step, 3 * n_layers)
        state.permutations = 0
        state.alpha = 0.9  # fresh slices again
        no_baselines = timed(step, n_layers)
        state.permutations, state.alpha = 1000, 1.0
        token = timed(lambda i: setattr(state, "token", (state.token + 1) % n_tokens), 40)
        alpha = timed(lambda i: setattr(state, "alpha", 0.5 + 0.1 * (i % 10)), 20)

        def full_rerun(i):
            app.session.cache.clear()
            app.session.request(["run"])  # what Apply does: a new Workbench (forward passes) and a frame

        baseline = timed(full_rerun, 10)
        passes = app.session.cache.forward_passes
    shapes = {name: len(app.session.feed.frame.bench.labels(name)) for name in "ABC"}
    result = {
        "load_average_at_end": os.getloadavg(),
        "model": "GPT-2-small shape (12 layers, 768 wide), random weights",
        "analysed_tokens": shapes,
        "layer_change_first_visit_ms_median": statistics.median(first_visits),
        "layer_change_revisit_ms_median": statistics.median(revisits),
        "layer_change_first_visit_no_baselines_ms_median": statistics.median(no_baselines),
        "token_change_ms_median": statistics.median(token),
        "alpha_change_ms_median": statistics.median(alpha),
        "baseline_full_rerun_ms_median": statistics.median(baseline),
        "layer_change_speedup_vs_rerun": statistics.median(baseline) / statistics.median(first_visits),
        "forward_passes_in_baseline": passes,
    }
    out = ROOT / "benchmarks" / "results" / "widgets.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    for key, value in result.items():
        print(f"{key:36s} {value:.2f}" if isinstance(value, float) else f"{key:36s} {value}")


if __name__ == "__main__":
    main()
