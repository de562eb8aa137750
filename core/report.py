"""The headless report: every part of SPEC.md for one model, three texts and one layer, as JSON.

Format 1 is SPEC.md's object. Format 2 keeps every format-1 field as it is and adds:

    "center": bool,            # mean-centered vectors (core.workbench): then *every* field, format-1 ones
                               # included (norms too), is of the centered vectors
    "token": int,              # the C token of the Part 4 extras (default: the recommended token)
    "top_k": {"k": K, "tokens": [[k, cosine], ...],       # Part 2: the K best C tokens, best first
              "pairs": [[i, j, cosine], ...]},            # Part 4: the K best (A, B) pairs for "token"
    "baselines": null when permutations = 0, else
        {"permutations": N, "seed": S, "seconds": float,
         "part2": Baseline,                     # Part 2 at "layer" vs the permutation null (A, B redrawn)
         "part2_random_directions": Baseline,   # the same statistic vs N random directions
         "per_layer_p_values": [float] * n_layers,   # Part 3: each layer's permutation p-value
         "part4_random_directions": Baseline}   # Part 4's best pair for "token" vs the best of n_A n_B
                                                # random directions, drawn N times
    Baseline = {"observed", "null_mean", "null_p95", "p_value", "percentile", "n"}  (core.baselines)

``read_report`` reads either format and returns the format-2 shape (a format-1 report gets "center":
false and null "token", "top_k" and "baselines"; its "format" stays 1).

Big reports (both formats): "pair_cosines" (Part 4's cube, n_A x n_B x n_C) stays inline as nested lists
when it has at most INLINE_PAIR_LIMIT (1,000,000) cells; above that ``write_report`` saves it beside the
JSON as ``<json name>.pairs.npy`` (numpy .npy, float32, C order, shape [n_A, n_B, n_C]) and the field is

    "pair_cosines": {"npy": "<json name>.pairs.npy", "shape": [n_A, n_B, n_C], "dtype": "float32"}

(the file name is relative to the JSON's folder). ``read_report`` follows the reference and returns the
cube as a read-only memory-mapped float32 array; ``pair_cube(report)`` gives the float32 array either way.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .cache import ActivationCache
from .models import DEFAULT_MODEL, LoadedModel, check_hook, load_model
from .texts import DEFAULT_TEXTS, TEXT_NAMES
from .workbench import Workbench

FORMAT_VERSION = 2  # the newest format written; ReportRequest.format picks the one a report uses
READABLE_FORMATS = (1, 2)
MAX_PERMUTATIONS = 1_000_000
FORMAT1_KEYS = (
    "format", "model", "hook", "layer", "alpha", "skip_first", "n_layers", "tokens", "norms", "mean_cosine",
    "target_cosines", "recommended", "per_layer", "pair_cosines", "max_pair_cosines", "best_pairs", "timings_s",
)  # fmt: skip
FORMAT2_KEYS = (*FORMAT1_KEYS, "center", "token", "top_k", "baselines")


@dataclass
class ReportRequest:
    """What a report is computed for; the defaults reproduce the textbook on gpt2 (format 1).

    The fields after ``skip_first`` only matter to format 2: ``top_k`` rows in each top-k table,
    ``permutations`` in each null (0: no baselines), ``seed`` of the nulls, ``center`` (mean-centering;
    format 2 only, as format 1 cannot say so) and ``token`` (the C token of the Part 4 extras; None: the
    recommended one).
    """

    model: str = DEFAULT_MODEL
    texts: dict = field(default_factory=lambda: dict(DEFAULT_TEXTS))
    layer: int = 6
    alpha: float = 1.0
    hook: str = "mlp_out"
    skip_first: bool = True
    format: int = 1
    top_k: int = 5
    permutations: int = 1000
    seed: int = 0
    center: bool = False
    token: int | None = None

    def check(self) -> None:
        """Raise ValueError for what is wrong before any model is loaded."""
        check_hook(self.hook)
        if self.format not in (1, 2) or isinstance(self.format, bool):
            raise ValueError(f"Report format {self.format!r} cannot be written: choose 1 or 2.")
        if self.format == 1 and self.center:
            raise ValueError("Mean-centering needs report format 2 (format 1 has no field to say so).")
        if self.top_k < 0:
            raise ValueError(f"Top-k {self.top_k} is out of range: ask for 0 or more rows.")
        if not 0 <= self.permutations <= MAX_PERMUTATIONS:
            raise ValueError(
                f"Permutations {self.permutations} is out of range: 0 (no baselines) to {MAX_PERMUTATIONS}."
            )
        if self.seed < 0:
            raise ValueError(f"Seed {self.seed} is out of range: seeds count from 0.")
        if self.token is not None and self.token < 0:
            raise ValueError(f"Token {self.token} is out of range: tokens count from 0.")
        if not math.isfinite(self.alpha):
            raise ValueError(f"Alpha must be a finite number, got {self.alpha}.")
        if self.layer < 0:
            raise ValueError(f"Layer {self.layer} is out of range: layers count from 0.")
        for name in ("A", "B", "C"):
            if not self.texts.get(name, "").strip():
                raise ValueError(f"Text {name} is empty: type a few words.")


def check_layer(layer: int, n_layers: int) -> None:
    if not 0 <= layer < n_layers:
        raise ValueError(f"Layer {layer} is out of range: this model has layers 0 to {n_layers - 1}.")


def check_token(token: int, n_c: int) -> None:
    if not 0 <= token < n_c:
        raise ValueError(f"Token {token} is out of range: text C has {n_c} analysed tokens (0 to {n_c - 1}).")


def build_report(request: ReportRequest, model: LoadedModel | None = None) -> dict:
    """The report object (format ``request.format``); loads ``request.model`` unless ``model`` is given."""
    request.check()
    start = time.perf_counter()
    model = model or load_model(request.model)
    loaded = time.perf_counter()
    check_layer(request.layer, model.n_layers)
    bench = Workbench.build(
        model, ActivationCache(), request.texts, request.hook, request.skip_first, center=request.center
    )
    captured = time.perf_counter()
    report = bench_report(bench, request)
    report["timings_s"] = {
        "load": loaded - start,
        "forward": captured - loaded,
        "analysis": report["timings_s"]["analysis"],
    }
    return report


def bench_report(bench: Workbench, request: ReportRequest) -> dict:
    """The report of results already captured in ``bench`` (texts, hook, skip-first and centering are the
    bench's; layer, alpha, format and the format-2 options come from ``request``); load and forward
    timings are 0."""
    start = time.perf_counter()
    check_layer(request.layer, bench.n_layers)
    if request.format == 2 and request.token is not None:
        check_token(request.token, len(bench.labels("C")))
    layer, alpha = request.layer, request.alpha
    target = bench.target(layer, alpha)
    tokens, cosines = bench.recommendations(alpha)
    pairs = bench.pair_cube(layer, alpha)
    max_pairs, best_pairs = bench.max_pairs(alpha)
    done = time.perf_counter()
    report = {
        "format": 1,
        "model": request.model,
        "hook": request.hook,
        "layer": layer,
        "alpha": float(alpha),
        "skip_first": request.skip_first,
        "n_layers": bench.n_layers,
        "tokens": {name: bench.texts[name].labels for name in TEXT_NAMES},
        "norms": {name: bench.norms[name].tolist() for name in TEXT_NAMES},
        "mean_cosine": target.mean_cosine,
        "target_cosines": target.target_cosines.tolist(),
        "recommended": target.recommended,
        "per_layer": [
            {"layer": index, "token": int(token), "cosine": float(cosine)}
            for index, (token, cosine) in enumerate(zip(tokens, cosines, strict=True))
        ],
        "pair_cosines": pair_cosines_field(pairs),
        "max_pair_cosines": max_pairs.tolist(),
        "best_pairs": best_pairs.tolist(),
        "timings_s": {"load": 0.0, "forward": 0.0, "analysis": done - start},
    }
    if request.format == 2:
        token = target.recommended if request.token is None else request.token
        report.update(format=2, **_format2_fields(bench, request, token))
    return report


def _format2_fields(bench: Workbench, request: ReportRequest, token: int) -> dict:
    """The fields format 2 adds (module docstring) for C token ``token``."""
    layer, alpha, k = request.layer, request.alpha, request.top_k
    indices, values = bench.top_tokens(layer, alpha, k)
    pairs, pair_values = bench.top_pairs(layer, token, alpha, k)
    fields = {
        "center": bench.center,
        "token": int(token),
        "top_k": {
            "k": k,
            "tokens": [[int(i), float(v)] for i, v in zip(indices, values, strict=True)],
            "pairs": [[int(i), int(j), float(v)] for (i, j), v in zip(pairs, pair_values, strict=True)],
        },
        "baselines": None,
    }
    n, seed = request.permutations, request.seed
    if n > 0:
        start = time.perf_counter()
        part2 = bench.baseline(layer, alpha, n, seed)
        per_layer = bench.layer_baselines(alpha, n, seed)
        part4 = bench.pair_baseline(layer, token, alpha, n, seed)
        fields["baselines"] = {
            "permutations": n,
            "seed": seed,
            "seconds": time.perf_counter() - start,
            "part2": part2.permutation.to_dict(),
            "part2_random_directions": part2.random_directions.to_dict(),
            "per_layer_p_values": [b.p_value for b in per_layer],
            "part4_random_directions": part4.to_dict(),
        }
    return fields


def parse_report(report, source: str = "the report") -> dict:
    """A report object of format 1 or 2 in the format-2 shape (module docstring); ValueError otherwise."""
    if not isinstance(report, dict):
        raise ValueError(f"{source} is not a report: expected a JSON object, found {type(report).__name__}.")
    version = report.get("format")
    if isinstance(version, bool) or version not in READABLE_FORMATS:
        found = "no format field" if "format" not in report else f"format {version!r}"
        raise ValueError(f"{source} has {found}: this version reads report formats 1 and 2.")
    keys = FORMAT1_KEYS if version == 1 else FORMAT2_KEYS
    missing = [key for key in keys if key not in report]
    if missing:
        raise ValueError(f"{source} is not a complete format-{version} report: missing {', '.join(missing)}.")
    if version == 1:
        return {**report, "center": False, "token": None, "top_k": None, "baselines": None}
    return dict(report)


def read_report(path: str | os.PathLike) -> dict:
    """Read a report JSON file of format 1 or 2 (``parse_report``); ValueError naming the file otherwise."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        report = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{os.fspath(path)} is not a report: not valid JSON ({err}).") from None
    report = parse_report(report, os.fspath(path))
    report["pair_cosines"] = read_pair_cosines(report["pair_cosines"], path)
    return report


# --- big reports: Part 4's cube beside the JSON ---------------------------------------------------------

INLINE_PAIR_LIMIT = 1_000_000  # cells of Part 4's cube kept inline in the JSON; larger cubes go to a sidecar
SIDECAR_SUFFIX = ".pairs.npy"


def pair_cosines_field(cube: np.ndarray) -> list | np.ndarray:
    """The report's "pair_cosines" before writing: nested float lists up to INLINE_PAIR_LIMIT cells, else the
    float32 cube itself [n_A, n_B, n_C] (``write_report`` puts it in the sidecar)."""
    if cube.size <= INLINE_PAIR_LIMIT:
        return cube.astype(np.float64).tolist()
    return np.ascontiguousarray(cube, dtype=np.float32)


def sidecar_path(json_path: str | os.PathLike) -> str:
    """Where the cube of the report at ``json_path`` goes: ``<json name>.pairs.npy`` in the same folder."""
    return os.fspath(json_path) + SIDECAR_SUFFIX


def save_sidecar(report: dict, json_path: str | os.PathLike) -> dict:
    """``report`` ready for ``json.dump`` at ``json_path``: a cube held as an array is saved to the sidecar and
    replaced by its reference (module docstring); an inline cube leaves the report as it is. For one report
    or one line of a batch; a stale sidecar of an inline report is removed."""
    cube = report["pair_cosines"]
    path = sidecar_path(json_path)
    if not isinstance(cube, np.ndarray):
        if os.path.exists(path):
            os.remove(path)
        return report
    np.save(path, cube, allow_pickle=False)
    reference = {"npy": os.path.basename(path), "shape": list(cube.shape), "dtype": "float32"}
    return {**report, "pair_cosines": reference}


def write_report(report: dict, json_path: str | os.PathLike) -> None:
    """Write ``report`` as JSON to ``json_path`` (UTF-8), its cube to the sidecar when it is too big to inline."""
    with open(json_path, "w", encoding="utf-8") as out:
        json.dump(save_sidecar(report, json_path), out, ensure_ascii=False)


def read_pair_cosines(field, json_path: str | os.PathLike):
    """The "pair_cosines" of the report at ``json_path``: inline lists as they are, a sidecar reference as the
    memory-mapped float32 cube; ValueError when the sidecar is missing or does not match its reference."""
    if not isinstance(field, dict):
        return field
    name, shape = field.get("npy"), field.get("shape")
    if not isinstance(name, str) or os.path.basename(name) != name or field.get("dtype") != "float32":
        raise ValueError(f"{os.fspath(json_path)} has a pair_cosines reference this version cannot read: {field!r}.")
    path = os.path.join(os.path.dirname(os.path.abspath(json_path)), name)
    try:
        cube = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{os.fspath(json_path)} refers to {name}, which cannot be read ({err}).") from None
    if cube.dtype != np.float32 or list(cube.shape) != list(shape or []):
        raise ValueError(
            f"{name} holds {cube.dtype} {list(cube.shape)}, not the float32 {shape} that {os.fspath(json_path)} names."
        )
    return cube


def with_inline_pairs(report: dict) -> dict:
    """``report`` with its cube as nested lists whatever its size, for a single-file download (the app's
    export); a big cube makes a big JSON."""
    cube = report["pair_cosines"]
    if not isinstance(cube, np.ndarray):
        return report
    return {**report, "pair_cosines": cube.astype(np.float64).tolist()}


def pair_cube(report: dict) -> np.ndarray:
    """Part 4's cube of a report (built or read), inline or from its sidecar, as float32 [n_A, n_B, n_C]."""
    return np.asarray(report["pair_cosines"], dtype=np.float32)
