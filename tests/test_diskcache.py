"""The disk store: activations survive a new cache, match exactly, and stale or foreign files never crash."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import core.diskcache
from core.cache import ActivationCache, capture
from core.diskcache import DiskCacheWarning, DiskStore, default_folder, model_identity
from core.texts import DEFAULT_TEXTS
from tests.tiny import CORPUS

TEXT = DEFAULT_TEXTS["C"]


def assert_same(got, want) -> None:
    """Every field of two TextActivations equal, arrays with the same dtype and shape."""
    for field in fields(want):
        a, b = getattr(got, field.name), getattr(want, field.name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, field.name
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b, field.name


@pytest.fixture
def copied_model(tiny_gpt2_dir, tmp_path):
    """The tiny GPT-2 loaded from a private copy of its folder (which a test may change)."""
    from core.models import load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_gpt2_dir, folder)
    return load_model(str(folder))


def test_a_second_cache_reads_the_disk_instead_of_running_a_forward_pass(tiny_gpt2, tmp_path):
    store = DiskStore(tmp_path / "acts")
    first = ActivationCache(disk=store)
    for hook in ("mlp_out", "mlp_neurons"):
        first.get(tiny_gpt2, TEXT, hook)
    assert (first.forward_passes, first.disk_hits, len(store.entries())) == (2, 0, 2)
    second = ActivationCache(disk=store)
    for hook in ("mlp_out", "mlp_neurons"):
        got = second.get(tiny_gpt2, TEXT, hook)
        assert_same(got, capture(tiny_gpt2, TEXT, hook))
        assert second.get(tiny_gpt2, TEXT, hook) is got  # then from memory
    assert (second.forward_passes, second.disk_hits) == (0, 2)


def test_a_long_text_keeps_its_truncation_and_readable_labels(tiny_gpt2, tmp_path):
    long_text = " ".join(CORPUS * 3)
    want = capture(tiny_gpt2, long_text, "resid_post")
    store = DiskStore(tmp_path)
    store.put(want, tiny_gpt2)
    got = store.get(tiny_gpt2, long_text, "resid_post")
    assert got.truncated and got.readable
    assert_same(got, want)


def test_another_hook_text_or_model_misses(tiny_gpt2, copied_model, tmp_path):
    store = DiskStore(tmp_path / "acts")
    store.put(capture(tiny_gpt2, TEXT, "mlp_out"), tiny_gpt2)
    assert store.get(tiny_gpt2, TEXT, "mlp_out") is not None
    assert store.get(tiny_gpt2, TEXT, "attn_out") is None
    assert store.get(tiny_gpt2, DEFAULT_TEXTS["A"], "mlp_out") is None
    assert store.get(copied_model, TEXT, "mlp_out") is None  # same weights, other folder
    cache = ActivationCache(disk=store)
    cache.get(copied_model, TEXT, "mlp_out")
    assert (cache.forward_passes, cache.disk_hits) == (1, 0)


def test_a_changed_model_folder_never_reuses_old_activations(copied_model, tmp_path):
    from core.models import load_model

    folder = Path(copied_model.key.removeprefix("local:"))
    store = DiskStore(tmp_path / "acts")
    ActivationCache(disk=store).get(copied_model, TEXT)
    before = model_identity(copied_model)
    weights = folder / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    reloaded = load_model(str(folder))
    assert reloaded.key == copied_model.key and model_identity(reloaded) != before
    cache = ActivationCache(disk=store)
    cache.get(reloaded, TEXT)
    assert (cache.forward_passes, cache.disk_hits) == (1, 0)
    (folder / "config.json").write_text((folder / "config.json").read_text() + "\n")
    assert store.get(reloaded, TEXT, "mlp_out") is None


def test_a_hub_model_is_identified_by_its_key_alone(tiny_gpt2):
    hub = type("Hub", (), {"key": "hub:gpt2@0123abcd"})()  # only the key of a hub model is read
    assert model_identity(hub) == "hub:gpt2@0123abcd"
    assert model_identity(tiny_gpt2).startswith(tiny_gpt2.key + "#")


def _stored(model, tmp_path) -> tuple[DiskStore, Path]:
    store = DiskStore(tmp_path / "acts")
    store.put(capture(model, TEXT, "mlp_out"), model)
    return store, store.path(model, TEXT, "mlp_out")


def test_a_truncated_file_is_removed_with_a_warning(tiny_gpt2, tmp_path):
    store, path = _stored(tiny_gpt2, tmp_path)
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    with pytest.warns(DiskCacheWarning, match="unreadable"):
        assert store.get(tiny_gpt2, TEXT, "mlp_out") is None
    assert not path.exists()
    cache = ActivationCache(disk=store)
    cache.get(tiny_gpt2, TEXT)  # computed again and stored again
    assert cache.forward_passes == 1 and path.exists()


def test_a_random_file_in_place_of_an_entry_is_removed_with_a_warning(tiny_gpt2, tmp_path):
    store, path = _stored(tiny_gpt2, tmp_path)
    path.write_bytes(os.urandom(1000))
    cache = ActivationCache(disk=store)
    with pytest.warns(DiskCacheWarning, match="unreadable"):
        got = cache.get(tiny_gpt2, TEXT)
    assert cache.forward_passes == 1
    assert_same(got, capture(tiny_gpt2, TEXT, "mlp_out"))


@pytest.mark.parametrize(
    "change",
    [
        {"format": "0"},
        {"model": "local:/elsewhere#0"},
        {"hook": "attn_out"},
        {"text": "another text"},
        {"labels": '"not a list"'},
        {"n_tokens_full": "many"},
    ],
)
def test_a_foreign_safetensors_file_is_ignored_with_a_warning(tiny_gpt2, tmp_path, change):
    store, path = _stored(tiny_gpt2, tmp_path)
    entry = store.get(tiny_gpt2, TEXT, "mlp_out")
    meta = {
        "format": core.diskcache.FORMAT,
        "model": model_identity(tiny_gpt2),
        "hook": "mlp_out",
        "text": TEXT,
        "labels": json.dumps(list(entry.labels)),
        "readable": "[]",
        "n_tokens_full": str(entry.n_tokens_full),
    }
    tensors = {"vectors": entry.vectors, "token_ids": entry.token_ids, "special": entry.special.astype(np.uint8)}
    save_file(tensors, str(path), metadata={**meta, **change})
    with pytest.warns(DiskCacheWarning, match="^Ignored the activation file"):
        assert store.get(tiny_gpt2, TEXT, "mlp_out") is None


def test_wrong_tensors_and_files_without_metadata_are_ignored(tiny_gpt2, tmp_path):
    store, path = _stored(tiny_gpt2, tmp_path)
    save_file({"vectors": np.zeros((2, 2), np.float32)}, str(path))
    with pytest.warns(DiskCacheWarning):
        assert store.get(tiny_gpt2, TEXT, "mlp_out") is None


def test_a_folder_that_cannot_be_written_only_warns(tiny_gpt2, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    cache = ActivationCache(disk=DiskStore(blocked))
    with pytest.warns(DiskCacheWarning, match="^Could not store activations"):
        got = cache.get(tiny_gpt2, TEXT)
    assert cache.forward_passes == 1 and got.vectors.shape[0] == tiny_gpt2.n_layers


def test_other_files_in_the_folder_are_left_alone(tiny_gpt2, tmp_path):
    store, path = _stored(tiny_gpt2, tmp_path)
    stray = store.folder / "notes.txt"
    stray.write_bytes(os.urandom(5000))
    store.max_bytes = path.stat().st_size
    store.evict()
    assert stray.exists() and path.exists() and [entry[0] for entry in store.entries()] == [path]
    assert store.get(tiny_gpt2, TEXT, "mlp_out") is not None


def test_eviction_keeps_the_folder_under_its_budget_dropping_the_least_recently_used(tiny_gpt2, tmp_path):
    texts = CORPUS[:3]
    probe = DiskStore(tmp_path / "probe")
    for text in texts:
        probe.put(capture(tiny_gpt2, text, "mlp_out"), tiny_gpt2)
    sizes = {p.name: size for p, size, _ in probe.entries()}
    size = [sizes[probe.path(tiny_gpt2, text, "mlp_out").name] for text in texts]
    store = DiskStore(tmp_path / "acts", max_bytes=size[0] + size[1] + min(size) // 2)
    cache = ActivationCache(disk=store)
    cache.get(tiny_gpt2, texts[0])
    cache.get(tiny_gpt2, texts[1])
    assert ActivationCache(disk=store).get(tiny_gpt2, texts[0])  # read from disk: now the most recent
    cache.get(tiny_gpt2, texts[2])
    assert store.nbytes <= store.max_bytes
    assert [p for p, _, _ in store.entries()] == [store.path(tiny_gpt2, t, "mlp_out") for t in (texts[0], texts[2])]
    assert not list(store.folder.glob(".tmp-*"))


def test_the_default_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MLPREC_CACHE_DIR", str(tmp_path))
    assert default_folder() == tmp_path and DiskStore().folder == tmp_path
    monkeypatch.delenv("MLPREC_CACHE_DIR")
    assert default_folder() == Path.home() / ".cache" / "mlprec-dashboard" / "activations"


def test_the_module_never_unpickles():
    source = Path(core.diskcache.__file__).read_text()
    assert "pickle" not in source and "torch.load" not in source and "allow_pickle" not in source
