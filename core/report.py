"""The headless report: every part of SPEC.md for one model, three texts and one layer, as JSON."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .cache import ActivationCache
from .models import DEFAULT_MODEL, LoadedModel, check_hook, load_model
from .texts import DEFAULT_TEXTS, TEXT_NAMES
from .workbench import Workbench

FORMAT_VERSION = 1


@dataclass
class ReportRequest:
    """What a report is computed for; the defaults reproduce the textbook on gpt2."""

    model: str = DEFAULT_MODEL
    texts: dict = field(default_factory=lambda: dict(DEFAULT_TEXTS))
    layer: int = 6
    alpha: float = 1.0
    hook: str = "mlp_out"
    skip_first: bool = True

    def check(self) -> None:
        """Raise ValueError for what is wrong before any model is loaded."""
        check_hook(self.hook)
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


def build_report(request: ReportRequest, model: LoadedModel | None = None) -> dict:
    """The report object of SPEC.md (format 1); loads ``request.model`` unless ``model`` is given."""
    request.check()
    start = time.perf_counter()
    model = model or load_model(request.model)
    loaded = time.perf_counter()
    check_layer(request.layer, model.n_layers)
    bench = Workbench.build(model, ActivationCache(), request.texts, request.hook, request.skip_first)
    captured = time.perf_counter()
    layer, alpha = request.layer, request.alpha
    target = bench.target(layer, alpha)
    tokens, cosines = bench.recommendations(alpha)
    pairs = bench.pair_cube(layer, alpha)
    max_pairs, best_pairs = bench.max_pairs(alpha)
    done = time.perf_counter()
    return {
        "format": FORMAT_VERSION,
        "model": request.model,
        "hook": request.hook,
        "layer": layer,
        "alpha": float(alpha),
        "skip_first": request.skip_first,
        "n_layers": model.n_layers,
        "tokens": {name: bench.texts[name].labels for name in TEXT_NAMES},
        "norms": {name: bench.norms[name].tolist() for name in TEXT_NAMES},
        "mean_cosine": target.mean_cosine,
        "target_cosines": target.target_cosines.tolist(),
        "recommended": target.recommended,
        "per_layer": [
            {"layer": index, "token": int(token), "cosine": float(cosine)}
            for index, (token, cosine) in enumerate(zip(tokens, cosines, strict=True))
        ],
        "pair_cosines": pairs.astype(np.float64).tolist(),
        "max_pair_cosines": max_pairs.tolist(),
        "best_pairs": best_pairs.tolist(),
        "timings_s": {"load": loaded - start, "forward": captured - loaded, "analysis": done - captured},
    }
