"""Calibration of the 'Better than chance?' verdicts: how often each says yes when it should not, and when it should.

Run: ``.venv/bin/python benchmarks/calibration.py [--triples 200] [--permutations 999]`` (a few minutes on 2
cores). Writes ``benchmarks/results/calibration.json`` and prints the table that ``benchmarks/README.md`` shows.

Models: the packaged real-weights all-MiniLM-L6-v2 (``core.models.packaged_model()``) and the tests' tiny
GPT-2 (``tests/tiny.py``, random weights, seed 0). Hook ``mlp_out``, first position skipped, alpha 1, no
centering: the app's defaults.

Texts: sentences drawn from one template, "the ADJ NOUN VERB near the NOUN and the NOUN.", with the words of
one of two kinds (KINDS: nature or machines), each word drawn uniformly and independently.
  - Null design (A and B drawn from the same kind of text): a kind at random; A and B are two independent
    sentences of that kind; C a sentence of a kind drawn independently. Nothing about B's direction from A
    is informative, so every verdict that says "better than chance" is a false positive.
  - Alternative design (A and B from two different kinds, C holding words of B's kind): A of one kind, B of
    the other, C a sentence of A's kind whose last two nouns are B's kind. A good test says yes often.
Each design has ``--triples`` triples (seeded: triple i of a design uses random.Random(i) and permutation
seed i).

Verdicts (alpha = 0.05; L0 = the middle layer, fixed in advance):
  - part2_corrected: Part 2's verdict as the app words it: the corrected p of layer L0 (over all layers);
  - part2_at_L0: the uncorrected p of layer L0 alone (valid for one layer chosen in advance);
  - part3_any_corrected: some layer's corrected p < 0.05 (the family-wise error rate over layers);
  - part3_any_uncorrected: some layer's uncorrected p < 0.05 (what marking every p < 0.05 layer would do);
  - part4_corrected: Part 4's verdict as the app words it, for the C token Part 2 recommends at L0: the cell's
    p corrected over the whole Part 5 map;
  - part4_uncorrected: the same cell's uncorrected p;
  - part5_any_corrected / part5_any_uncorrected: some cell of the map below 0.05, corrected / uncorrected.
Each rate comes with its binomial standard error sqrt(r (1 - r) / n).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.common import machine, save  # noqa: E402
from core.cache import ActivationCache  # noqa: E402
from core.models import load_model, packaged_model  # noqa: E402
from core.workbench import Workbench  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "calibration.json"
LEVEL = 0.05
KINDS = {
    "nature": {
        "ADJ": "green quiet wild cold bright deep gentle old calm misty".split(),
        "NOUN": "river forest mountain meadow ocean valley garden flower tree stone cloud rain bird leaf".split(),
        "VERB": "rests flows waits grows shines sleeps sways drifts".split(),
    },
    "machines": {
        "ADJ": "loud metal electric broken fast heavy digital rusty noisy automatic".split(),
        "NOUN": "engine computer factory train machine motor robot printer cable battery server screen truck".split(),
        "VERB": "runs hums stops starts breaks turns clicks buzzes".split(),
    },
}
VERDICTS = (
    "part2_corrected",
    "part2_at_L0",
    "part3_any_corrected",
    "part3_any_uncorrected",
    "part4_corrected",
    "part4_uncorrected",
    "part5_any_corrected",
    "part5_any_uncorrected",
)


def sentence(rng: random.Random, kind: str, last_nouns: str | None = None) -> str:
    """One sentence of ``kind``; its last two nouns are of ``last_nouns`` when given."""
    words = KINDS[kind]
    tail = KINDS[last_nouns or kind]["NOUN"]
    return (
        f"the {rng.choice(words['ADJ'])} {rng.choice(words['NOUN'])} {rng.choice(words['VERB'])} near the "
        f"{rng.choice(tail)} and the {rng.choice(tail)}."
    )


def triple(design: str, index: int) -> dict[str, str]:
    rng = random.Random(index)
    first, second = rng.sample(sorted(KINDS), 2)
    if design == "null":
        kind = rng.choice(sorted(KINDS))
        return {"A": sentence(rng, kind), "B": sentence(rng, kind), "C": sentence(rng, rng.choice(sorted(KINDS)))}
    return {"A": sentence(rng, first), "B": sentence(rng, second), "C": sentence(rng, first, last_nouns=second)}


def verdicts(bench: Workbench, n: int, seed: int) -> dict[str, bool]:
    """Which verdicts say 'better than chance' for one triple."""
    layer = bench.n_layers // 2
    tests = bench.layer_tests(1.0, n, seed).family
    cells = bench.pair_tests(1.0, n, seed)
    token = bench.target(layer, 1.0).recommended
    return {
        "part2_corrected": tests.p_corrected[layer] < LEVEL,
        "part2_at_L0": tests.p_values[layer] < LEVEL,
        "part3_any_corrected": bool((tests.p_corrected < LEVEL).any()),
        "part3_any_uncorrected": bool((tests.p_values < LEVEL).any()),
        "part4_corrected": cells.p_corrected[layer, token] < LEVEL,
        "part4_uncorrected": cells.p_values[layer, token] < LEVEL,
        "part5_any_corrected": bool((cells.p_corrected < LEVEL).any()),
        "part5_any_uncorrected": bool((cells.p_values < LEVEL).any()),
    }


def study(model, triples: int, n: int) -> dict:
    cache = ActivationCache()
    out = {}
    for design in ("null", "alternative"):
        counts = dict.fromkeys(VERDICTS, 0)
        for index in range(triples):
            bench = Workbench.build(model, cache, triple(design, index), "mlp_out", True)
            for name, said_yes in verdicts(bench, n, index).items():
                counts[name] += bool(said_yes)
        out[design] = {
            name: {"rate": count / triples, "se": math.sqrt(count / triples * (1 - count / triples) / triples)}
            for name, count in counts.items()
        }
    return out


def models() -> dict[str, str]:
    from tests.tiny import build_gpt2

    folders = {}
    folder = packaged_model()
    if folder:
        folders["all-MiniLM-L6-v2 (packaged, real weights)"] = folder
    folders["tiny GPT-2 (tests/tiny.py, random weights)"] = str(build_gpt2(tempfile.mkdtemp(prefix="calibration-")))
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triples", type=int, default=200, help="triples per design (default 200)")
    parser.add_argument("--permutations", type=int, default=999, help="permutations per test (default 999)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # many small forward passes: one thread wastes no time waiting on another
    started = time.perf_counter()
    results = {
        "machine": machine(numpy=np.__version__),
        "triples_per_design": args.triples,
        "permutations": args.permutations,
        "level": LEVEL,
        "examples": {design: triple(design, 0) for design in ("null", "alternative")},
        "models": {},
    }
    for name, folder in models().items():
        model = load_model(folder)
        results["models"][name] = {"n_layers": model.n_layers, **study(model, args.triples, args.permutations)}
    save(results, RESULTS, started, print_table)


def print_table(results: dict) -> None:
    n = results["triples_per_design"]
    print(
        f"{n} triples per design, {results['permutations']} permutations, level {results['level']}; "
        f"1-minute load {results['machine']['load_average_at_start'][0]:.2f} at start"
    )
    names = list(results["models"])
    header = "| verdict | " + " | ".join(f"{m}: false positives (null) | {m}: detection (alternative)" for m in names)
    print(header + " |")
    print("|---" * (1 + 2 * len(names)) + "|")
    for verdict in VERDICTS:
        cells = []
        for m in names:
            for design in ("null", "alternative"):
                r = results["models"][m][design][verdict]
                cells.append(f"{r['rate']:.3f} ± {r['se']:.3f}")
        print(f"| {verdict} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
