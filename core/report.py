"""The headless report: every part of SPEC.md for one model, three texts and one layer, as JSON.

Format 1 is SPEC.md's object. Format 2 keeps every format-1 field as it is and adds:

    "center": bool,            # mean-centered vectors (core.workbench): then *every* field, format-1 ones
                               # included (norms too), is of the centered vectors
    "token": int,              # the C token of the Part 4 extras (default: the recommended token)
    "top_k": {"k": K, "tokens": [[k, cosine], ...],       # Part 2: the K best C tokens, best first
              "pairs": [[i, j, cosine], ...]},            # Part 4: the K best (A, B) pairs for "token"
    "baselines": null when permutations = 0, else the permutation tests of core.baselines:
        {"permutations": N, "seed": S, "seconds": float,
         "null_hypothesis": str,                # "A and B are exchangeable: the direction from A to B ..."
         "correction": str,                     # how the corrected p-values are corrected (max-statistic)
         "part2": Baseline,                     # Part 2 at "layer": max_k cos(c_k, target) against N draws
                                                # that split the pooled A and B tokens anew (C never pooled)
         "per_layer_p_values": [float] * n_layers,    # Part 3: each layer's p-value, uncorrected
         "per_layer_p_corrected": [float] * n_layers, # Part 3: corrected over the n_layers layers
         "part5_p_values": [[float] * n_C] * n_layers | null,    # Part 5: each cell's best-pair cosine under
         "part5_p_corrected": [[float] * n_C] * n_layers | null} # the same draws; corrected over the whole
                                                # map; null when the texts are too long for this test
    Baseline = {"observed", "null_mean", "null_p95", "p_value", "percentile", "n"}  (core.baselines)
    Each p-value is (1 + #(null >= observed)) / (1 + N); a corrected p-value is the family-wise one of
    core.baselines.maxt_p_values (the chance that any layer, or any cell, of a true null reaches p <= a is at
    most a). Part 4's best pair for C token k at "layer" is Part 5's cell [layer][k].

Format 2 with ``--vocab K`` also has the vocabulary reading of the target (core.vocab), and with
``--steer S`` the effect of steering with it (core.steer):

    "vocab": {"lens": "logit lens" | "raw",     # raw when the model has no output head
              "k": K,
              "target": [[id, text, logit]] * K,        # tau = m_B + alpha (m_B - m_A) at "layer",
              "target_bottom": [[id, text, logit]] * K, # centered when "center"; text = decode([id])
              "mean_a": [...] * K, "mean_b": [...] * K, # the top K of mean A and mean B
              "per_layer_target": [[[id, text, logit]] * K] * n_layers}
    "steer": {"layer": int, "strength": S, "direction": "target" | "trend", "prompt": str,
              "plain_top": [[id, text, prob]] * 10, "steered_top": [...],   # next token after the prompt
              "kl": float,                              # KL(plain || steered) in nats
              "plain_text": str, "steered_text": str}   # greedy continuations; only when --generate N > 0

``read_report`` reads either format and returns the format-2 shape (a format-1 report gets "center":
false and null "token", "top_k" and "baselines"; its "format" stays 1; "vocab" and "steer" are there only
when the report has them).

Big reports (both formats): "pair_cosines" (Part 4's cube, n_A x n_B x n_C) stays inline as nested lists
when it has at most INLINE_PAIR_LIMIT (1,000,000) cells; above that ``write_report`` saves it beside the
JSON as ``<json name>.pairs.npy`` (numpy .npy, float32, C order, shape [n_A, n_B, n_C]) and the field is

    "pair_cosines": {"npy": "<json name>.pairs.npy", "shape": [n_A, n_B, n_C], "dtype": "float32"}

(the file name is relative to the JSON's folder), and "timings_s" gets "sidecar": the seconds spent computing
the cube and writing it, a block of A tokens at a time (the cube is not part of "analysis" then, and is never
whole in memory). ``read_report`` follows the reference and returns the cube as a read-only memory-mapped
float32 array; ``pair_cube(report)`` gives the float32 array either way.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from . import baselines, steer, vocab
from .analysis import PairCube
from .cache import ActivationCache
from .checks import (
    InputError,
    check_alpha,
    check_hook,
    check_layer,
    check_permutations,
    check_text,
    check_token,
    check_top_k,
)
from .models import DEFAULT_MODEL, LoadedModel, load_model
from .texts import DEFAULT_TEXTS, TEXT_NAMES
from .workbench import Workbench

FORMAT_VERSION = 2  # the newest format written; ReportRequest.format picks the one a report uses
READABLE_FORMATS = (1, 2)
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
    vocab: int | None = None  # K of the vocabulary tables (None: no "vocab" field)
    lens: str = "logit lens"
    steer: float | None = None  # steering strength (None: no "steer" field)
    prompt: str | None = None  # the steering prompt (None: text C)
    generate: int = 20  # tokens of each greedy continuation
    direction: str = "target"

    def check(self) -> None:
        """Raise InputError (a ValueError) for what is wrong before any model is loaded."""
        check_hook(self.hook)
        if self.format not in (1, 2) or isinstance(self.format, bool):
            raise InputError(f"Report format {self.format!r} cannot be written: choose 1 or 2.")
        if self.format == 1 and self.center:
            raise InputError("Mean-centering needs report format 2 (format 1 has no field to say so).")
        check_top_k(self.top_k, most=None)
        check_permutations(self.permutations)
        if self.seed < 0:
            raise InputError(f"Seed {self.seed} is out of range: seeds count from 0.")
        if self.token is not None:
            check_token(self.token)
        check_alpha(self.alpha)
        check_layer(self.layer)
        for name in ("A", "B", "C"):
            check_text(name, self.texts.get(name, ""))
        check_insight_options(self)


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
        report.update(insight_fields(bench, request))
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
        fields["baselines"] = baseline_fields(bench, layer, alpha, n, seed)
    return fields


def baseline_fields(bench: Workbench, layer: int, alpha: float, n: int, seed: int) -> dict:
    """The report's "baselines" object (module docstring) for ``n`` > 0 permutations."""
    start = time.perf_counter()
    tests = bench.layer_tests(alpha, n, seed)
    pairs = bench.pair_tests(alpha, n, seed)
    return {
        "permutations": n,
        "seed": seed,
        "seconds": time.perf_counter() - start,
        "null_hypothesis": baselines.NULL_HYPOTHESIS,
        "correction": baselines.CORRECTION,
        "part2": tests.baselines[layer].to_dict(),
        "per_layer_p_values": tests.family.p_values.tolist(),
        "per_layer_p_corrected": tests.family.p_corrected.tolist(),
        "part5_p_values": None if pairs is None else pairs.p_values.tolist(),
        "part5_p_corrected": None if pairs is None else pairs.p_corrected.tolist(),
    }


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
SIDECAR_BLOCK_ELEMENTS = 1 << 18  # cube cells computed and written at once (1 MiB of float32)


def pair_cosines_field(cube: PairCube | np.ndarray) -> list | PairCube | np.ndarray:
    """The report's "pair_cosines" before writing: nested float lists up to INLINE_PAIR_LIMIT cells, else the
    cube [n_A, n_B, n_C] as it is, not computed yet when it is a ``PairCube`` (``write_report`` streams it to
    the sidecar)."""
    if cube.size <= INLINE_PAIR_LIMIT:
        return np.asarray(cube, dtype=np.float64).tolist()
    return cube


def sidecar_path(json_path: str | os.PathLike) -> str:
    """Where the cube of the report at ``json_path`` goes: ``<json name>.pairs.npy`` in the same folder."""
    return os.fspath(json_path) + SIDECAR_SUFFIX


def save_sidecar(report: dict, json_path: str | os.PathLike) -> dict:
    """``report`` ready for ``json.dump`` at ``json_path``: a cube held as an array is saved to the sidecar and
    replaced by its reference (module docstring); an inline cube leaves the report as it is. For one report
    or one line of a batch; a stale sidecar of an inline report is removed."""
    cube = report["pair_cosines"]
    path = sidecar_path(json_path)
    if isinstance(cube, list):
        if os.path.exists(path):
            os.remove(path)
        return report
    start = time.perf_counter()
    save_npy(cube, path)
    reference = {"npy": os.path.basename(path), "shape": list(cube.shape), "dtype": "float32"}
    timings = {**report["timings_s"], "sidecar": time.perf_counter() - start}
    return {**report, "pair_cosines": reference, "timings_s": timings}


def save_npy(cube: PairCube | np.ndarray, path: str | os.PathLike) -> None:
    """Save ``cube`` as a float32 .npy file at ``path``; a ``PairCube`` is computed block by block as it is
    written, so it is never whole in memory."""
    if not isinstance(cube, PairCube):
        np.save(path, np.asarray(cube, dtype=np.float32), allow_pickle=False)
        return
    with open(path, "wb") as out:
        header = {"descr": np.lib.format.dtype_to_descr(cube.dtype), "fortran_order": False, "shape": cube.shape}
        np.lib.format.write_array_header_1_0(out, header)
        for block in cube.blocks(SIDECAR_BLOCK_ELEMENTS):
            out.write(block.data)


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
    if isinstance(cube, list):
        return report
    return {**report, "pair_cosines": np.asarray(cube, dtype=np.float64).tolist()}


def pair_cube(report: dict) -> np.ndarray:
    """Part 4's cube of a report (built or read), inline or from its sidecar, as float32 [n_A, n_B, n_C]."""
    return np.asarray(report["pair_cosines"], dtype=np.float32)



# --- vocabulary projection and steering (format 2, --vocab / --steer) ----------------------------


def check_insight_options(request: ReportRequest) -> None:
    """Raise ValueError for a bad --vocab, --lens, --steer, --generate or --direction before loading a model."""
    if request.format == 1 and (request.vocab is not None or request.steer is not None):
        raise ValueError("Vocabulary tables and steering need report format 2.")
    if request.vocab is not None and not 1 <= request.vocab <= 1000:
        raise ValueError(f"--vocab {request.vocab} is out of range: ask for 1 to 1000 tokens.")
    vocab.check_lens(request.lens)
    if request.steer is not None:
        steer.check_strength(request.steer)
        steer.check_generate(request.generate)
        steer.check_direction(request.direction)
        if request.prompt is not None and not request.prompt.strip():
            raise ValueError("The steering prompt is empty: type a few words, or leave out --prompt to use text C.")
    if request.vocab is not None and request.hook not in vocab.D_MODEL_HOOKS:
        raise ValueError(
            f"--vocab reads vectors of the residual stream: {request.hook} has no d_model space, use one of "
            f"{', '.join(vocab.D_MODEL_HOOKS)}."
        )
    if request.steer is not None:
        steer.check_steer_hook(request.hook)


def insight_fields(bench: Workbench, request: ReportRequest) -> dict:
    """The "vocab" and "steer" fields the request asks for (module docstring)."""
    fields = {}
    if request.vocab is not None:
        fields["vocab"] = vocab_field(bench, request.layer, request.alpha, request.lens, request.vocab)
    if request.steer is not None:
        fields["steer"] = steer_field(bench, request)
    return fields


def vocab_field(bench: Workbench, layer: int, alpha: float, lens: str, k: int) -> dict:
    reader = vocab.reader(bench)
    readings = reader.at_layer(layer, alpha, lens, k)
    return {
        "lens": reader.lens_used(lens),
        "k": k,
        "target": [list(entry) for entry in readings["target"].top],
        "target_bottom": [list(entry) for entry in readings["target"].bottom],
        "mean_a": [list(entry) for entry in readings["mean_a"].top],
        "mean_b": [list(entry) for entry in readings["mean_b"].top],
        "per_layer_target": [[list(entry) for entry in row] for row in reader.through_layers(alpha, lens, k)],
    }


def steer_field(bench: Workbench, request: ReportRequest) -> dict:
    prompt = request.prompt if request.prompt is not None else request.texts["C"]
    result = steer.steerer(bench).run(
        prompt, request.layer, request.alpha, request.steer, request.direction, request.generate
    )
    fields = {
        "layer": result.layer,
        "strength": result.strength,
        "direction": result.direction,
        "prompt": result.prompt,
        "plain_top": [list(entry) for entry in result.plain_top],
        "steered_top": [list(entry) for entry in result.steered_top],
        "kl": result.kl,
    }
    if request.generate > 0:
        fields.update(plain_text=result.plain_text, steered_text=result.steered_text)
    return fields
