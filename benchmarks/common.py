"""What every benchmark records beside its figures: the machine and its load, and where results go."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine(**facts) -> dict:
    """Platform, CPU count and the load average at the start, plus the benchmark's own ``facts``."""
    return {"platform": platform.platform(), "cpus": os.cpu_count(), **facts, "load_average_at_start": os.getloadavg()}


def save(results: dict, path: Path, started: float, print_table: Callable[[dict], None]) -> None:
    """Add the run's length and end load to ``results["machine"]``, write them as JSON, print the table."""
    results["machine"]["bench_seconds"] = time.perf_counter() - started
    results["machine"]["load_average_at_end"] = os.getloadavg()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"\nwritten to {path.relative_to(ROOT)}")
