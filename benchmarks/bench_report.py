"""Big reports: `python -m core report` on three long texts, the cube beside the JSON vs inline.

Each run is a fresh `python -m core report` process (the GPT-2-small-shaped model of bench_core.py, random
weights, saved once to a temporary folder): its peak resident memory (VmHWM at exit: the whole process,
torch and the model included), wall time, the report's own analysis time and sidecar time (computing and
writing Part 4's cube, `timings_s.sidecar`), and the sizes written.

Baselines, same run, same texts:
- "whole": the cube computed whole in memory during the analysis and then saved with `np.save` (what the
  report did before the cube was streamed to its sidecar block by block); alternated with the streamed
  runs, three processes each at ~500 tokens per text.
- "inline": the cube forced inline into the JSON (what every report did before the .pairs.npy sidecar), at
  ~250 tokens per text only: at ~500 it writes ~2.5 GB of JSON and needs ~7 GiB, too much for a machine
  shared with others. It runs last.
Every run starts once the files of the run before are written back to the disk (`os.sync()`): without
that, a run paid for its predecessor's 497 MB of writeback (~2x for the run after the inline baseline).

    .venv/bin/python benchmarks/bench_report.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, machine, save  # noqa: E402
from tests.tiny import CORPUS, build_gpt2  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "report.json"
# (tokens per text, cube): the 500-token case three times each way, alternating (one process each); the inline
# baseline last, since the disk is still writing back its 318 MB of JSON for seconds after it exits.
CASES = ((250, "sidecar"),) + ((500, "sidecar"), (500, "whole")) * 3 + ((250, "inline"),)

CHILD = """
import json, os, sys, time
import core.report
if sys.argv[1] == "inline":
    core.report.INLINE_PAIR_LIMIT = float("inf")
if sys.argv[1] == "whole":
    import numpy as np, core.workbench
    lazy = core.workbench.Workbench.pair_cube
    core.workbench.Workbench.pair_cube = lambda self, layer, alpha: np.asarray(lazy(self, layer, alpha))
from core.__main__ import main
start = time.perf_counter()
code = main(sys.argv[2:])
wall = time.perf_counter() - start
status = open("/proc/self/status").read()
peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
print(json.dumps({"code": code, "wall_s": wall, "peak_mib": peak_kb / 1024}))
"""


def text_of(tokenizer, n_tokens: int, start: int) -> str:
    """Corpus lines from ``start`` on, cut to ``n_tokens`` tokens of ``tokenizer`` (decoded back to text)."""
    lines, k = [], start
    while len(tokenizer(" ".join(lines))["input_ids"]) < n_tokens + 10:
        lines.append(CORPUS[k % len(CORPUS)])
        k += 1
    return tokenizer.decode(tokenizer(" ".join(lines))["input_ids"][:n_tokens])


def run(mode: str, model: Path, texts: dict, out: Path) -> dict:
    args = ["report", "--model", str(model), "--json", str(out)]
    args += [arg for name in "abc" for arg in (f"--text-{name}", texts[name.upper()])]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    os.sync()  # the run before's files written back first: no run pays for another's writeback
    done = subprocess.run([sys.executable, "-c", CHILD, mode, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    report = json.loads(out.read_text()) if out.stat().st_size < 50_000_000 else None
    sidecar = Path(str(out) + ".pairs.npy")
    figures.update(
        json_mb=out.stat().st_size / 1e6,
        sidecar_mb=sidecar.stat().st_size / 1e6 if sidecar.exists() else 0.0,
        analysis_s=report["timings_s"]["analysis"] if report else None,
        sidecar_s=report["timings_s"].get("sidecar") if report else None,
        forward_s=report["timings_s"]["forward"] if report else None,
        tokens={name: len(labels) for name, labels in report["tokens"].items()} if report else None,
    )
    for path in (out, sidecar):
        path.unlink(missing_ok=True)
    return figures


def main() -> None:
    started = time.perf_counter()
    from transformers import AutoTokenizer, GPT2Config

    with tempfile.TemporaryDirectory() as folder:
        c = GPT2Config()
        model = build_gpt2(
            Path(folder) / "model", n_layer=c.n_layer, n_embd=c.n_embd, n_head=c.n_head, n_positions=c.n_positions
        )
        tokenizer = AutoTokenizer.from_pretrained(model)
        results = {"machine": machine(model="GPT-2-small shape, random weights (tests/tiny.py)"), "runs": []}
        for index, (n_tokens, mode) in enumerate(CASES):
            texts = {name: text_of(tokenizer, n_tokens, 3 * k) for k, name in enumerate("ABC")}
            figures = run(mode, model, texts, Path(folder) / f"report-{index}-{mode}-{n_tokens}.json")
            results["runs"].append({"tokens_per_text": n_tokens, "cube": mode, **figures})
    save(results, RESULTS, started, print_table)


def print_table(results: dict) -> None:
    print(
        f"{'tokens':>6} {'cube':>8} {'peak MiB':>9} {'wall s':>7} {'analysis s':>10} {'sidecar s':>9} "
        f"{'JSON MB':>9} {'npy MB':>8}"
    )
    for r in results["runs"]:
        analysis, sidecar = (f"{r[key]:.3f}" if r.get(key) is not None else "-" for key in ("analysis_s", "sidecar_s"))
        print(
            f"{r['tokens_per_text']:>6} {r['cube']:>8} {r['peak_mib']:>9.0f} {r['wall_s']:>7.2f} {analysis:>10} "
            f"{sidecar:>9} {r['json_mb']:>9.1f} {r['sidecar_mb']:>8.1f}"
        )
    print(
        "load average at start / end:",
        results["machine"]["load_average_at_start"],
        results["machine"]["load_average_at_end"],
    )


if __name__ == "__main__":
    main()
