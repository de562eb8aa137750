"""Core engine benchmarks: vectorised analysis vs the textbook's direct loop, big inputs, capture overhead.

Run: ``.venv/bin/python benchmarks/bench_core.py`` (about two minutes on 2 cores). Writes
``benchmarks/results/core.json`` and prints a table. Not a test: numbers depend on the machine.

(a) The five parts on the default texts with GPT-2-small shapes (12 layers, d = 768), our code (fastest
    of 30 runs) vs the direct per-element loop of the textbook (one sklearn cosine per element,
    tests/textbook.py; one run), both measured in this run. Two inputs:
      - "gpt2 token counts": random float32 activations with real gpt2's analysed-token counts on the
        default texts (A 28 per SPEC.md; B 18 and C 15 from GPT-2's BPE);
      - "GPT-2-small model": real activations of a GPT-2-small-shaped model with random weights and the
        tests' tiny byte-level BPE, which splits the default texts into more tokens (A 34, B 22, C 21).
    The direct Part 5 loop takes tens of seconds, so it is timed on 2 of the 12 layers and scaled
    linearly to 12 (each layer is the same independent triple loop).
(b) Three texts of 512 tokens, 12 layers, d = 768, every part (Part 4 at one layer: the full 512^3 cube),
    in a fresh subprocess: seconds (first run and median of 3) and the peak resident memory the analysis
    adds (the process's VmHWM after minus before; inputs already allocated). Plus the worst case of the cancellation path (B = A, alpha 1e12).
(c) One forward pass of 512 tokens through the GPT-2-small-shaped model: core.cache.capture (tokenising,
    hooks on every block, copies to CPU float32, token labels) vs the plain forward pass of the same ids,
    interleaved, 9 runs each: medians and fastest runs.
"""

from __future__ import annotations

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
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import machine, save  # noqa: E402
from core import analysis  # noqa: E402
from core.texts import DEFAULT_TEXTS  # noqa: E402
from tests import textbook  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "core.json"
LAYER = 6
DIRECT_LAYERS = (0, 11)  # layers on which the direct Part 5 loop is timed, then scaled to 12
GPT2_COUNTS = {"A": 28, "B": 18, "C": 15}
RUNS_C = 9


def timed(fn, repeat: int = 1, best: bool = False) -> tuple[float, object]:
    """Median (or, if ``best``, fastest) seconds of ``repeat`` calls of ``fn``, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return (min(times) if best else statistics.median(times)), result


def all_parts(XA, XB, XC, layer: int = LAYER, alpha: float = 1.0, seconds: dict | None = None):
    """Every part as the report computes them; ``seconds`` (if given) receives each part's time."""
    seconds = {} if seconds is None else seconds
    parts = {
        "1 norms": lambda: [analysis.norms(X) for X in (XA, XB, XC)],
        "2 target": lambda: analysis.token_average_target(XA[layer], XB[layer], XC[layer], alpha),
        "3 sweep": lambda: analysis.layer_sweep(XA, XB, XC, alpha),
        "4 pairs": lambda: analysis.pair_cosines(XA[layer], XB[layer], XC[layer], alpha),
        "5 max pairs": lambda: analysis.max_pair_cosines(XA, XB, XC, alpha),
    }
    results = []
    for name, part in parts.items():
        start = time.perf_counter()
        results.append(part())
        seconds[name] = time.perf_counter() - start
    return results


def compare_with_direct_loop(XA, XB, XC) -> dict:
    """Part by part: our seconds (fastest of 30, as timeit) and the direct loop's (one run; Part 5 scaled
    from DIRECT_LAYERS)."""
    n_layers = XA.shape[0]
    ours = {
        "1 norms": timed(lambda: [analysis.norms(X) for X in (XA, XB, XC)], 30, True)[0],
        "2 target": timed(lambda: analysis.token_average_target(XA[LAYER], XB[LAYER], XC[LAYER]), 30, True)[0],
        "3 sweep": timed(lambda: analysis.layer_sweep(XA, XB, XC), 30, True)[0],
        "4 pairs": timed(lambda: analysis.pair_cosines(XA[LAYER], XB[LAYER], XC[LAYER]), 30, True)[0],
        "5 max pairs": timed(lambda: analysis.max_pair_cosines(XA, XB, XC), 30, True)[0],
    }
    ours["all five"] = timed(lambda: all_parts(XA, XB, XC), 30, True)[0]
    direct = {
        "1 norms": timed(lambda: [textbook.norms(X) for X in (XA, XB, XC)])[0],
        "2 target": timed(lambda: textbook.token_average_target(XA[LAYER], XB[LAYER], XC[LAYER]))[0],
        "3 sweep": timed(lambda: textbook.layer_sweep(XA, XB, XC))[0],
        "4 pairs": timed(lambda: textbook.pair_cosines(XA[LAYER], XB[LAYER], XC[LAYER]))[0],
    }
    sub = [layer for layer in DIRECT_LAYERS if layer < n_layers]
    part5, (M_ref, pairs_ref, _) = timed(lambda: textbook.max_pair_cosines(XA[sub], XB[sub], XC[sub]))
    direct["5 max pairs"] = part5 * n_layers / len(sub)
    direct["all five"] = sum(direct.values())
    M, _ = analysis.max_pair_cosines(XA[sub], XB[sub], XC[sub])
    return {
        "shapes": {"A": list(XA.shape), "B": list(XB.shape), "C": list(XC.shape)},
        "direct_part5_measured_layers": sub,
        "max_abs_error_part5": float(np.abs(M - M_ref).max()),
        "ours_s": ours,
        "direct_s": direct,
        "speedup": {part: direct[part] / ours[part] for part in ours},
    }


def build_gpt2_small(folder: Path):
    from core.models import load_model
    from tests.tiny import build_gpt2

    build_gpt2(folder, n_layer=12, n_embd=768, n_head=12, n_positions=1024)
    return load_model(str(folder))


def benchmark_a(model) -> dict:
    from core.cache import ActivationCache
    from core.texts import analyse_texts

    rng = np.random.default_rng(0)
    counts = {name: rng.normal(size=(12, n, 768)).astype(np.float32) for name, n in GPT2_COUNTS.items()}
    texts = analyse_texts(model, ActivationCache(), DEFAULT_TEXTS)
    real = {name: texts[name].X for name in "ABC"}
    return {
        "gpt2 token counts (random activations)": compare_with_direct_loop(*counts.values()),
        "GPT-2-small model, tiny BPE (real activations)": compare_with_direct_loop(*(real[n] for n in "ABC")),
    }


# Peak memory is the high-water mark of this process's own resident set (VmHWM; ru_maxrss would carry
# over the parent's size through fork and exec).
_CHILD = r"""
import json, statistics, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from benchmarks.bench_core import all_parts

def peak_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

n, same, alpha = int(sys.argv[2]), sys.argv[3] == "same", float(sys.argv[4])
rng = np.random.default_rng(0)
XA, XB, XC = (rng.normal(size=(12, n, 768)).astype(np.float32) for _ in range(3))
if same:
    XB = XA
before = peak_mib()
times, parts = [], {}
for _ in range(3):
    start = time.perf_counter()
    result = all_parts(XA, XB, XC, alpha=alpha, seconds=parts)
    times.append(time.perf_counter() - start)
    del result
after = peak_mib()
print(json.dumps({"first_s": times[0], "median_s": statistics.median(times), "last_run_parts_s": parts,
                  "inputs_mib": 3 * XA.nbytes / 2**20, "peak_added_mib": after - before, "peak_rss_mib": after}))
"""


def benchmark_b() -> dict:
    out = {}
    for name, args in {
        "3 x 512 tokens, alpha 1": ("512", "distinct", "1.0"),
        "3 x 512 tokens, B = A, alpha 1e12 (every diagonal pair recomputed exactly)": ("512", "same", "1e12"),
    }.items():
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, str(ROOT), *args], capture_output=True, text=True, check=True
        )
        out[name] = json.loads(child.stdout)
    return out


def benchmark_c(model) -> dict:
    from core.cache import capture, hooked

    ids = []
    while len(ids) < 512:
        ids += model.tokenizer(" " + " ".join(textbook_corpus()))["input_ids"]
    text = model.tokenizer.decode(ids[:512])
    ids = torch.as_tensor(model.tokenizer(text)["input_ids"])[None, :]
    mask = torch.ones_like(ids)

    def plain():
        with torch.inference_mode():
            model.model(input_ids=ids, attention_mask=mask)

    def hooks_only():
        with hooked(model, "mlp_out"), torch.inference_mode():
            model.model(input_ids=ids, attention_mask=mask)

    runs = {"plain": [], "hooks only": [], "capture": []}
    calls = {"plain": plain, "hooks only": hooks_only, "capture": lambda: capture(model, text, "mlp_out")}
    for name in calls:  # warm-up
        calls[name]()
    for _ in range(RUNS_C):
        for name, call in calls.items():
            runs[name].append(timed(call)[0])
    medians = {name: statistics.median(times) for name, times in runs.items()}
    fastest = {name: min(times) for name, times in runs.items()}
    return {
        "tokens": int(ids.shape[1]),
        "median_s": medians,
        "min_s": fastest,
        "runs_s": runs,
        "overhead_pct": {
            "capture vs plain (medians)": 100 * (medians["capture"] / medians["plain"] - 1),
            "hooks only vs plain (medians)": 100 * (medians["hooks only"] / medians["plain"] - 1),
            "capture vs plain (fastest runs)": 100 * (fastest["capture"] / fastest["plain"] - 1),
        },
    }


def textbook_corpus() -> list[str]:
    from tests.tiny import CORPUS

    return list(CORPUS)


def main() -> None:
    torch.manual_seed(0)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model = build_gpt2_small(Path(tmp) / "gpt2-small-shaped")
        results = {
            "machine": machine(torch_threads=torch.get_num_threads(), torch=torch.__version__),
            "a_direct_loop": benchmark_a(model),
            "b_3x512": benchmark_b(),
            "c_capture_overhead": benchmark_c(model),
        }
    save(results, RESULTS, started, print_table)


def print_table(results: dict) -> None:
    machine = results["machine"]
    print(
        f"{machine['cpus']} CPUs, torch {machine['torch']} with {machine['torch_threads']} threads; 1-minute load "
        f"average {machine['load_average_at_start'][0]:.2f} at start, {machine['load_average_at_end'][0]:.2f} at end "
        "(other work on the machine makes every number below unreliable)"
    )
    print("(a) five parts on the default texts, GPT-2-small shapes, vs the direct loop (Part 5 direct: 2 layers x 6)")
    for name, r in results["a_direct_loop"].items():
        shapes = " ".join(f"{k}{v[1]}" for k, v in r["shapes"].items())
        print(f"  {name}  [{shapes}, 12 layers, d 768]  max |M - M_direct| = {r['max_abs_error_part5']:.1e}")
        print(f"    {'part':<12}{'ours (ms)':>12}{'direct (s)':>12}{'speed-up':>12}")
        for part in r["ours_s"]:
            print(
                f"    {part:<12}{1e3 * r['ours_s'][part]:>12.3f}{r['direct_s'][part]:>12.2f}{r['speedup'][part]:>11.0f}x"
            )
    print("(b) 3 texts x 512 tokens, 12 layers, d 768, all five parts (bar 2 s and 3 GiB; aim 0.5 s)")
    for name, r in results["b_3x512"].items():
        print(
            f"  {name}: first {r['first_s']:.2f} s, median of 3 {r['median_s']:.2f} s, "
            f"peak memory added {r['peak_added_mib']:.0f} MiB (inputs {r['inputs_mib']:.0f} MiB)"
        )
        print("    last run by part: " + ", ".join(f"{k} {v:.3f} s" for k, v in r["last_run_parts_s"].items()))
    c = results["c_capture_overhead"]
    m, f, o = c["median_s"], c["min_s"], c["overhead_pct"]
    print(
        f"(c) forward pass of {c['tokens']} tokens, GPT-2-small shape, {RUNS_C} interleaved runs (bar: overhead < 5%)"
    )
    print(f"  median: plain {m['plain']:.3f} s, hooks only {m['hooks only']:.3f} s, capture {m['capture']:.3f} s")
    print(f"  fastest: plain {f['plain']:.3f} s, hooks only {f['hooks only']:.3f} s, capture {f['capture']:.3f} s")
    print(
        f"  overhead of capture: {o['capture vs plain (medians)']:+.1f}% (medians), "
        f"{o['capture vs plain (fastest runs)']:+.1f}% (fastest runs); hooks only {o['hooks only vs plain (medians)']:+.1f}%"
    )


if __name__ == "__main__":
    main()
