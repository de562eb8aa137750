"""Speed of the chance tests: Parts 2, 3 and 5 with their family-wise corrections, 1000 permutations, every layer.

Run: ``.venv/bin/python benchmarks/bench_baselines.py`` (about a minute on 2 quiet cores). Writes
``benchmarks/results/baselines.json`` and prints a table. Not a test: numbers depend on the machine and its load.

What is timed (median of several runs, wall clock, both sides the same way): everything a report's
"baselines" section and the app's verdicts need, from the three texts' vectors [L, n, d]:
  - ours: ``core.baselines.target_statistics`` and ``pair_statistics`` (the observed split and 1000 draws
    at every layer) and ``family_test`` on each (uncorrected and max-statistic corrected p-values);
  - baseline, measured in the same run: the per-permutation loop a user would write with the project's own
    vectorised functions: for each of the same 1000 draws, ``core.analysis.layer_sweep`` (Parts 2-3, every
    layer) and ``core.analysis.max_pair_cosines`` (Part 5, every layer) on the drawn A and B rows, then the
    same ``family_test`` corrections. Its results are compared with ours (largest difference printed).
Inputs: "default texts, gpt2 token counts": random float32 activations of real gpt2's analysed-token counts
on the default texts (A 28, B 18, C 15; see bench_core.py), 12 layers, d = 768; and "default texts,
all-MiniLM-L6-v2": the packaged real-weights model's ``mlp_out`` vectors of the default texts (6 layers, d = 384).
The bar: 50 ms on 2 cores for the first input.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.common import machine, save  # noqa: E402
from core import analysis, baselines  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "baselines.json"
N_PERMUTATIONS = 1000
BAR_S = 0.050


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median wall seconds of ``repeat`` calls of ``fn`` and its last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def ours(XA, XB, XC) -> dict:
    """Parts 2-3 and 5, observed and permuted, corrected: the arrays of both families."""
    target = baselines.family_test(*baselines.target_statistics(XA, XB, XC, 1.0, N_PERMUTATIONS, 0))
    pairs = baselines.family_test(*baselines.pair_statistics(XA, XB, XC, 1.0, N_PERMUTATIONS, 0))
    return {"target": target, "pairs": pairs}


def loop(XA, XB, XC) -> dict:
    """The same tests one permutation at a time through core.analysis (what a user would write)."""
    pool = np.concatenate([XA, XB], axis=1)
    idx_a, idx_b = baselines.permutation_draws(XA.shape[1], XB.shape[1], N_PERMUTATIONS, 0)
    target = np.empty((len(pool), N_PERMUTATIONS))
    pairs = np.empty((len(pool), XC.shape[1], N_PERMUTATIONS))
    for r, (a, b) in enumerate(zip(idx_a, idx_b, strict=True)):
        target[:, r] = analysis.layer_sweep(pool[:, a], pool[:, b], XC).max(axis=1)
        pairs[:, :, r] = analysis.max_pair_cosines(pool[:, a], pool[:, b], XC)[0]
    return {
        "target": baselines.family_test(analysis.layer_sweep(XA, XB, XC).max(axis=1), target),
        "pairs": baselines.family_test(analysis.max_pair_cosines(XA, XB, XC)[0], pairs),
    }


def inputs() -> dict[str, tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(0)
    out = {
        "default texts, gpt2 token counts (random activations)": tuple(
            rng.standard_normal((12, n, 768), dtype=np.float32) for n in (28, 18, 15)
        )
    }
    from core.cache import ActivationCache
    from core.models import load_model, packaged_model
    from core.texts import DEFAULT_TEXTS
    from core.workbench import Workbench

    folder = packaged_model()
    if folder:
        bench = Workbench.build(load_model(folder), ActivationCache(), DEFAULT_TEXTS, "mlp_out", True)
        out["default texts, all-MiniLM-L6-v2 (real activations)"] = tuple(bench.X(name) for name in "ABC")
    return out


def benchmark(XA, XB, XC) -> dict:
    ours(XA, XB, XC)  # warm-up
    ours_s, mine = timed(lambda: ours(XA, XB, XC), 15)
    parts = {
        "parts_2_3_s": timed(lambda: baselines.target_statistics(XA, XB, XC, 1.0, N_PERMUTATIONS, 0), 15)[0],
        "part_5_s": timed(lambda: baselines.pair_statistics(XA, XB, XC, 1.0, N_PERMUTATIONS, 0), 15)[0],
    }
    loop_s, theirs = timed(lambda: loop(XA, XB, XC), 1)
    difference = max(
        float(np.abs(getattr(mine[f], name) - getattr(theirs[f], name)).max())
        for f in ("target", "pairs")
        for name in ("observed", "p_values", "p_corrected")
    )
    return {
        "shapes": {name: list(X.shape) for name, X in zip("ABC", (XA, XB, XC), strict=True)},
        "permutations": N_PERMUTATIONS,
        "ours_s": ours_s,
        **parts,
        "loop_s": loop_s,
        "speed_up": loop_s / ours_s,
        "max_abs_difference_vs_loop": difference,
        "bar_s": BAR_S,
    }


def main() -> None:
    import torch

    started = time.perf_counter()
    results = {"machine": machine(numpy=np.__version__, torch_threads=torch.get_num_threads())}
    results["inputs"] = {name: benchmark(*X) for name, X in inputs().items()}
    save(results, RESULTS, started, print_table)


def print_table(results: dict) -> None:
    machine = results["machine"]
    print(
        f"{machine['cpus']} CPUs, numpy {machine['numpy']}, torch threads {machine['torch_threads']}; 1-minute load "
        f"average {machine['load_average_at_start'][0]:.2f} at start, {machine['load_average_at_end'][0]:.2f} at end"
    )
    print(f"Parts 2, 3 and 5 with family-wise correction, {N_PERMUTATIONS} permutations, every layer")
    print(
        f"  {'input':<56}{'ours (ms)':>10}{'2-3 (ms)':>10}{'5 (ms)':>9}{'loop (s)':>10}{'speed-up':>10}{'max diff':>10}"
    )
    for name, r in results["inputs"].items():
        shapes = " ".join(f"{k}{v[1]}" for k, v in r["shapes"].items())
        label = f"{name} [{shapes}, L {r['shapes']['A'][0]}, d {r['shapes']['A'][2]}]"
        print(
            f"  {label[:56]:<56}{r['ours_s'] * 1e3:>10.1f}{r['parts_2_3_s'] * 1e3:>10.1f}{r['part_5_s'] * 1e3:>9.1f}"
            f"{r['loop_s']:>10.2f}{r['speed_up']:>9.0f}x{r['max_abs_difference_vs_loop']:>10.1e}"
        )


if __name__ == "__main__":
    main()
