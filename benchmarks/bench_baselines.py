"""Null-baseline benchmarks: the vectorised permutation null vs the direct per-permutation loop.

Run: ``.venv/bin/python benchmarks/bench_baselines.py`` (about a minute on 2 cores). Writes
``benchmarks/results/baselines.json`` and prints a table. Not a test: numbers depend on the machine.

Inputs are random float32 activations (seed 0) of the right shapes, 12 layers, d = 768:
  - "default texts, GPT-2-small shape": A 28, B 18, C 15 analysed tokens, real gpt2's counts on the
    default texts (as in bench_core.py: SPEC.md gives A 29 tokens, the first skipped; GPT-2's BPE splits B
    into 19 tokens and C into 16);
  - "3 x 512 tokens": A, B and C of 512 analysed tokens each.
For each: 1000 permutations of Part 2's statistic (core.baselines) at one layer (``permutation_null``) and
at all 12 layers with shared draws (``permutation_null_layers``), median of several runs, against the
direct loop over permutations, timed in the same run: for each permutation, the means of its A and B rows,
the target, the cosine of every C token (numpy, vectorised within one permutation) and the max, from the
same index draws (drawing included on both sides). Also the largest difference between the two, and the
other nulls a report computes (random directions for Part 2; the best-pair null for Part 4 with n_A n_B
pairs) and their total (the "baselines" of a format-2 report: Part 2 at one layer, both nulls, the
per-layer p-values and the Part 4 pair null).
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
N_LAYERS, WIDTH, LAYER = 12, 768, 6
INPUTS = {
    "default texts, GPT-2-small shape": {"A": 28, "B": 18, "C": 15},
    "3 x 512 tokens": {"A": 512, "B": 512, "C": 512},
}


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Median seconds of ``repeat`` calls of ``fn`` and its last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def direct_loop(XA, XB, XC, alpha: float, n: int, seed: int) -> np.ndarray:
    """The permutation null one permutation at a time: XA [L, n_A, d]... -> [L, n]."""
    pool = np.concatenate([XA, XB, XC], axis=1).astype(np.float64)
    C = np.asarray(XC, dtype=np.float64)
    idx_a, idx_b = baselines.permutation_draws(pool.shape[1], XA.shape[1], XB.shape[1], n, seed)
    null = np.empty((len(pool), n))
    for layer in range(len(pool)):
        for r in range(n):
            mean_a = pool[layer, idx_a[r]].mean(axis=0)
            mean_b = pool[layer, idx_b[r]].mean(axis=0)
            target = mean_b + alpha * (mean_b - mean_a)
            null[layer, r] = analysis.cosines(C[layer], target).max()
    return null


def benchmark(counts: dict[str, int]) -> dict:
    rng = np.random.default_rng(0)
    XA, XB, XC = (rng.standard_normal((N_LAYERS, counts[name], WIDTH), dtype=np.float32) for name in "ABC")
    A, B, C = XA[LAYER], XB[LAYER], XC[LAYER]
    small = counts["A"] < 100
    repeat = 20 if small else 3
    n_pairs = counts["A"] * counts["B"]
    baselines.permutation_null(A, B, C, 1.0, N_PERMUTATIONS, 0)  # warm-up
    ours_layer, null_layer = timed(lambda: baselines.permutation_null(A, B, C, 1.0, N_PERMUTATIONS, 0), repeat)
    ours_all, null_all = timed(lambda: baselines.permutation_null_layers(XA, XB, XC, 1.0, N_PERMUTATIONS, 0), repeat)
    direct_layer, loop_layer = timed(lambda: direct_loop(XA[LAYER : LAYER + 1], XB[LAYER : LAYER + 1], XC[LAYER : LAYER + 1], 1.0, N_PERMUTATIONS, 0))  # fmt: skip
    direct_all, loop_all = timed(lambda: direct_loop(XA, XB, XC, 1.0, N_PERMUTATIONS, 0))
    directions, _ = timed(lambda: baselines.random_direction_null(C, N_PERMUTATIONS, 0), repeat)
    pair_null, _ = timed(lambda: baselines.pair_random_direction_null(C, n_pairs, 0, N_PERMUTATIONS, 0), repeat)
    return {
        "shapes": {name: [N_LAYERS, counts[name], WIDTH] for name in "ABC"},
        "permutations": N_PERMUTATIONS,
        "runs_for_medians": repeat,
        "max_abs_difference_vs_direct": float(
            max(np.abs(null_layer - loop_layer[0]).max(), np.abs(null_all - loop_all).max())
        ),
        "permutation_one_layer_s": {"ours": ours_layer, "direct": direct_layer, "ratio": direct_layer / ours_layer},
        "permutation_all_layers_s": {"ours": ours_all, "direct": direct_all, "ratio": direct_all / ours_all},
        "random_directions_one_layer_s": directions,
        "pair_null_s": {"pairs": n_pairs, "draws": N_PERMUTATIONS, "seconds": pair_null},
        "report_baselines_total_s": ours_layer + directions + ours_all + pair_null,
    }


def main() -> None:
    started = time.perf_counter()
    results = {
        "machine": machine(numpy=np.__version__),
        "inputs": {name: benchmark(counts) for name, counts in INPUTS.items()},
    }
    save(results, RESULTS, started, print_table)


def print_table(results: dict) -> None:
    machine = results["machine"]
    print(
        f"{machine['cpus']} CPUs, numpy {machine['numpy']}; 1-minute load average "
        f"{machine['load_average_at_start'][0]:.2f} at start, {machine['load_average_at_end'][0]:.2f} at end"
    )
    print(f"Permutation null of Part 2, {N_PERMUTATIONS} permutations, vs the direct per-permutation loop")
    for name, r in results["inputs"].items():
        shapes = " ".join(f"{k}{v[1]}" for k, v in r["shapes"].items())
        print(f"  {name}  [{shapes}, {N_LAYERS} layers, d {WIDTH}]  max |ours - direct| = {r['max_abs_difference_vs_direct']:.1e}")  # fmt: skip
        print(f"    {'':<14}{'ours (ms)':>12}{'direct (s)':>12}{'speed-up':>12}")
        for label, key in (("one layer", "permutation_one_layer_s"), ("all 12 layers", "permutation_all_layers_s")):
            t = r[key]
            print(f"    {label:<14}{t['ours'] * 1e3:>12.1f}{t['direct']:>12.2f}{t['ratio']:>11.0f}x")
        pair = r["pair_null_s"]
        print(
            f"    random directions (Part 2) {r['random_directions_one_layer_s'] * 1e3:.1f} ms; pair null (Part 4, "
            f"{pair['pairs']} pairs x {pair['draws']} draws) {pair['seconds'] * 1e3:.1f} ms; all of a report's "
            f"baselines {r['report_baselines_total_s'] * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
