"""Speed of the vocabulary projection, steering and the PCA geometry (GPT-2-small shape, random weights).

The model is `tests/tiny.py:build_gpt2` at GPT-2-small's sizes (12 layers, d = 768), its embedding resized
to GPT-2's 50,257 x 768 (random rows; its output head is tied to it, as GPT-2's is), on the default texts.
Each figure is set against a baseline timed the same way in the same run:

- vocabulary, one layer: the target, mean A and mean B read through the logit lens (top and bottom 10)
  by `core.vocab` on a first visit of each layer (two products with W, the first visit also W beta), on a
  revisit (memoised) and at a new alpha (no product), against the direct way: numpy's W @ ln_f(v) for each
  vector and a full argsort of the 50,257 logits; and the floor, one read of W (torch's `W.sum()` on all its threads);
- vocabulary, all 12 layers: the target's top 10 at every layer for a new alpha from a fresh reader (all
  layers' products in one batched product), with every layer already visited, and memoised, against 12
  separate one-layer readings;
- steering: `core.steer` (plain + steered next-token distributions; then with 20-token continuations)
  against the two plain forward passes it cannot avoid; memoised repeats;
- PCA: `core.geometry.pca_2d` of 1,500 pooled tokens x 768 (random float32) and the projection of the
  tokens, against numpy's SVD of the centered matrix and against scikit-learn's default PCA (2 components,
  its randomized solver at this size); the largest coordinate difference of each from the SVD's; and the
  floor of any exact direct method, its two steps timed alone: the scatter product X_c^T X_c [768, 768] and
  LAPACK's solver for its two leading eigenvectors (`scipy.linalg.eigh(subset_by_index=...)`, whose cost is
  the 768^3 tridiagonal reduction) on one and on two BLAS threads.

Writes benchmarks/results/insight.json.

    .venv/bin/python benchmarks/bench_insight.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import scipy.linalg  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from benchmarks.common import machine, save  # noqa: E402
from core.cache import ActivationCache, tokenize  # noqa: E402
from core.geometry import pca_2d  # noqa: E402
from core.head import output_head  # noqa: E402
from core.models import load_model  # noqa: E402
from core.steer import next_logits, steerer  # noqa: E402
from core.texts import DEFAULT_TEXTS  # noqa: E402
from core.vocab import VocabReader  # noqa: E402
from core.workbench import Workbench  # noqa: E402
from tests.tiny import build_gpt2  # noqa: E402

GPT2_VOCAB = 50_257


def ms(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def summary(values: list[float]) -> dict:
    return {"median_ms": statistics.median(values), "min_ms": min(values), "n": len(values)}


def off_by(coords: np.ndarray, exact: np.ndarray) -> float:
    """Largest coordinate difference after matching each component's sign."""
    signs = np.sign((coords * exact).sum(axis=0))
    return float(np.abs(coords * signs - exact).max())


def direct_reading(W: np.ndarray, ln_f, vectors: np.ndarray, k: int = 10) -> list:
    """The obvious way: one matrix-vector product per vector and a full sort of its logits."""
    out = []
    for v in vectors:
        with torch.no_grad():
            normed = ln_f(torch.as_tensor(v, dtype=torch.float32)).numpy()
        order = np.argsort(W @ normed)
        out.append((order[::-1][:k], order[:k]))
    return out


def main() -> None:
    started = time.perf_counter()
    results = {"machine": machine(torch=torch.__version__, torch_threads=torch.get_num_threads())}
    with tempfile.TemporaryDirectory() as folder:
        build_gpt2(folder, n_layer=12, n_embd=768, n_head=12, n_positions=1024)
        model = load_model(folder)
        model.model.resize_token_embeddings(GPT2_VOCAB, mean_resizing=False)
        bench = Workbench.build(model, ActivationCache(), dict(DEFAULT_TEXTS), "mlp_out", True)
        head = output_head(model)
        assert tuple(head.W.shape) == (GPT2_VOCAB, 768)
        W = head.W.numpy()
        ln_f = model.model.ln_f
        lens = VocabReader(bench)

        layers = range(bench.n_layers)
        first = [ms(lambda layer=layer: lens.at_layer(layer, 1.0, "logit lens", 10)) for layer in layers]
        again = [ms(lambda layer=layer: lens.at_layer(layer, 1.0, "logit lens", 10)) for layer in layers]
        new_alpha = [ms(lambda layer=layer: lens.at_layer(layer, 1.7, "logit lens", 10)) for layer in layers]
        direct = [ms(lambda layer=layer: direct_reading(W, ln_f, lens.vectors(layer, 1.0))) for layer in layers]
        read_once = [ms(lambda: head.W.sum()) for _ in layers]  # the floor: W (154 MB) streamed from memory once
        results["vocab_one_layer"] = {
            "first_visit": summary(first), "memoised": summary(again), "new_alpha": summary(new_alpha),
            "direct": summary(direct), "read_W_once": summary(read_once),
        }  # fmt: skip

        alphas = [0.5 + 0.25 * i for i in range(8)]
        table = [ms(lambda alpha=alpha: VocabReader(bench).through_layers(alpha, "logit lens", 10)) for alpha in alphas]
        known = [ms(lambda alpha=alpha: lens.through_layers(alpha, "logit lens", 10)) for alpha in alphas]
        table_again = [ms(lambda alpha=alpha: lens.through_layers(alpha, "logit lens", 10)) for alpha in alphas]
        table_direct = [
            ms(lambda alpha=alpha: [direct_reading(W, ln_f, lens.vectors(layer, alpha)[:1]) for layer in layers])
            for alpha in alphas
        ]
        results["vocab_all_layers"] = {
            "first": summary(table), "layers_visited": summary(known), "memoised": summary(table_again),
            "direct_per_layer": summary(table_direct),
        }  # fmt: skip

        prompt = DEFAULT_TEXTS["C"]
        ids = [int(i) for i in tokenize(model, prompt)[0]]
        plain = [ms(lambda: (next_logits(model, head, ids), next_logits(model, head, ids))) for _ in range(7)]
        steer = steerer(bench)
        steered = [ms(lambda s=s: steer.run(prompt, 6, 1.0, 1.0 + s, generate=0)) for s in range(7)]
        cont = [ms(lambda s=s: steer.run(prompt, 6, 1.0, 1.0 + s, generate=20)) for s in range(3)]
        repeat = [ms(lambda: steer.run(prompt, 6, 1.0, 1.0, generate=20)) for _ in range(7)]
        results["steering"] = {
            "prompt_tokens": len(ids),
            "two_plain_passes": summary(plain),
            "steer_next_token": summary(steered),
            "steer_with_20_token_continuations": summary(cont),
            "memoised": summary(repeat),
        }

    X = np.random.default_rng(0).standard_normal((1500, 768)).astype(np.float32)

    def numpy_pca():
        centered = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
        _, _, vt = np.linalg.svd(centered, full_matrices=False)
        return centered @ vt[:2].T

    def sklearn_pca():
        return PCA(n_components=2, random_state=0).fit(X.astype(np.float64)).transform(X.astype(np.float64))

    centered = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
    scatter = centered.T @ centered

    def leading_pair(threads: int):  # LAPACK's solver for the two leading eigenvectors of the formed matrix
        with threadpool_limits(limits=threads, user_api="blas"):
            return scipy.linalg.eigh(scatter, subset_by_index=[766, 767])

    ours = [ms(lambda: pca_2d(X).transform(X)) for _ in range(7)]
    product = [ms(lambda: centered.T @ centered) for _ in range(7)]  # the floor, timed right after ours
    solver = {threads: [ms(lambda threads=threads: leading_pair(threads)) for _ in range(7)] for threads in (1, 2)}
    svd = [ms(numpy_pca) for _ in range(7)]
    default = [ms(sklearn_pca) for _ in range(7)]
    exact = numpy_pca()
    results["pca_1500x768"] = {
        "pca_2d": summary(ours), "numpy_svd": summary(svd), "sklearn_default": summary(default),
        "floor_scatter_product": summary(product), "floor_eigh_one_thread": summary(solver[1]),
        "floor_eigh_two_threads": summary(solver[2]),
        "max_abs_difference_vs_svd": {"pca_2d": off_by(pca_2d(X).transform(X), exact), "sklearn_default": off_by(sklearn_pca(), exact)},
    }  # fmt: skip
    save(results, ROOT / "benchmarks" / "results" / "insight.json", started, print_table)


def print_table(results: dict) -> None:
    m = results["machine"]
    print(
        f"{m['cpus']} CPUs, torch {m['torch']} with {m['torch_threads']} threads; 1-minute load average "
        f"{m['load_average_at_start'][0]:.2f} at start, {m['load_average_at_end'][0]:.2f} at end"
    )
    one, every = results["vocab_one_layer"], results["vocab_all_layers"]
    steering, pca = results["steering"], results["pca_1500x768"]
    rows = [
        ("vocab, one layer (3 vectors, top+bottom 10)", one["first_visit"], one["direct"], "15 ms"),
        ("  memoised revisit", one["memoised"], one["direct"], ""),
        ("  products known (new alpha; layer after table)", one["new_alpha"], one["direct"], ""),
        ("  floor: reading W once", one["read_W_once"], one["direct"], ""),
        ("vocab, 12 layers (target top 10), fresh reader", every["first"], every["direct_per_layer"], "60 ms"),
        ("  new alpha, every layer visited", every["layers_visited"], every["direct_per_layer"], ""),
        ("  memoised", every["memoised"], every["direct_per_layer"], ""),
        ("steer, next token", steering["steer_next_token"], steering["two_plain_passes"], "2 passes"),
        ("steer, + 20-token continuations", steering["steer_with_20_token_continuations"], steering["two_plain_passes"], ""),
        ("  memoised", steering["memoised"], steering["two_plain_passes"], ""),
        ("PCA 1500 x 768", pca["pca_2d"], pca["numpy_svd"], "30 ms"),
        ("  vs scikit-learn's default PCA", pca["pca_2d"], pca["sklearn_default"], ""),
        ("  floor: X_c^T X_c alone [768, 768]", pca["floor_scatter_product"], pca["numpy_svd"], ""),
        ("  floor: LAPACK eigh (2 of 768), 1 thread", pca["floor_eigh_one_thread"], pca["numpy_svd"], ""),
        ("  floor: LAPACK eigh (2 of 768), 2 threads", pca["floor_eigh_two_threads"], pca["numpy_svd"], ""),
    ]  # fmt: skip
    print(f"{'figure':<46}{'ours (ms)':>11}{'baseline (ms)':>15}{'ratio':>9}  bar")
    for name, ours, base, bar in rows:
        ratio = ours["median_ms"] / base["median_ms"]
        print(f"{name:<46}{ours['median_ms']:>11.2f}{base['median_ms']:>15.2f}{ratio:>8.2f}x  {bar}")
    print(f"(medians; steering prompt: {steering['prompt_tokens']} tokens; baselines in the module docstring)")
    off = pca["max_abs_difference_vs_svd"]
    print(
        f"PCA coordinates vs the exact SVD: ours {off['pca_2d']:.1e}, scikit-learn's default {off['sklearn_default']:.1e}"
    )


if __name__ == "__main__":
    main()
