"""Binder's postBuild: offline it says so and succeeds; with a model at hand it warms the activation store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.cache import ActivationCache
from core.diskcache import DiskStore
from core.gallery import EXAMPLES
from core.models import load_model
from core.workbench import Workbench
from tests.conftest import ROOT


def post_build(tmp_path: Path, **env) -> subprocess.CompletedProcess:
    """Run ./postBuild as repo2docker does (bash, from the repository, this environment's python first)."""
    environment = dict(os.environ)
    environment.pop("MLPREC_MODEL", None)
    environment.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}",
        PYTHONPATH=str(ROOT),
        HF_HOME=str(tmp_path / "hf-home"),  # an empty Hugging Face cache
        MLPREC_CACHE_DIR=str(tmp_path / "store"),
        MLPREC_DISK_CACHE="on",
        **env,
    )
    return subprocess.run(
        ["bash", str(ROOT / "postBuild")], env=environment, capture_output=True, text=True, timeout=300
    )


def test_post_build_offline_says_so_and_succeeds(tmp_path):
    done = post_build(tmp_path, HF_HUB_OFFLINE="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("offline or unavailable, nothing warmed: Cannot reach the Hugging Face hub")
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_post_build_warms_the_store_so_gallery_pages_read_from_disk(tmp_path, tiny_gpt2_dir):
    done = post_build(tmp_path, HF_HUB_OFFLINE="1", MLPREC_MODEL=str(tiny_gpt2_dir))
    assert done.returncode == 0, done.stderr
    texts = {text for example in EXAMPLES.values() for text in example.texts.values()}
    assert f"{len(texts)} gallery texts stored" in done.stdout
    cache = ActivationCache(disk=DiskStore(tmp_path / "store"))
    model = load_model(str(tiny_gpt2_dir))
    for example in EXAMPLES.values():
        Workbench.build(model, cache, example.texts, "mlp_out", True)
    assert (cache.forward_passes, cache.disk_hits) == (0, len(texts))
