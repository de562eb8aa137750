"""Activations kept on disk between sessions: one safetensors file per (model, hook point, text).

Each file holds the tensors ``vectors`` float32 [n_layers, n_tokens, d], ``token_ids`` int64 [n_tokens]
and ``special`` uint8 [n_tokens], and string metadata naming what they are (format version, model
identity, hook, text, JSON lists of labels and readable labels, n_tokens_full). A file is only used when
its metadata matches the request exactly; anything else in the folder is ignored (with a warning when it
sits where an entry belongs, removed when unreadable). Only safetensors files are read or written. The
folder is kept under ``max_bytes`` by removing the least recently used entries (access time, set on
every read).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from .activations import TextActivations
from .models import LoadedModel

FORMAT = "1"  # version of the file layout above
DISK_BYTES = 2 << 30  # 2 GiB of files
ENTRY = re.compile(r"^[0-9a-f]{64}\.safetensors$")


class DiskCacheWarning(UserWarning):
    """A file in the activation folder was ignored (and removed if unreadable)."""


def default_folder() -> Path:
    """``$MLPREC_CACHE_DIR`` if set, else ``~/.cache/mlprec-dashboard/activations``."""
    folder = os.environ.get("MLPREC_CACHE_DIR")
    return Path(folder).expanduser() if folder else Path.home() / ".cache" / "mlprec-dashboard" / "activations"


def model_identity(model: LoadedModel) -> str:
    """``model.key``; for a local folder also a digest of the names, sizes and mtimes (ns) of its
    ``*.safetensors`` files and config.json, so that changed weights never reuse old activations.

    A hub key already names the commit, which fixes the weights.
    """
    if not model.key.startswith("local:"):
        return model.key
    folder = Path(model.key.removeprefix("local:"))
    stamps = []
    for path in sorted([*folder.glob("*.safetensors"), folder / "config.json"]):
        with contextlib.suppress(OSError):
            stat = path.stat()
            stamps.append([path.name, stat.st_size, stat.st_mtime_ns])
    return f"{model.key}#{hashlib.sha256(json.dumps(stamps).encode()).hexdigest()[:16]}"


class DiskStore:
    """A folder of activation files, bounded by ``max_bytes`` (bytes of entry files)."""

    def __init__(self, folder: str | os.PathLike | None = None, max_bytes: int = DISK_BYTES):
        self.folder = Path(folder) if folder is not None else default_folder()
        self.max_bytes = int(max_bytes)
        self.failure: str | None = None  # why the last write failed (read-only folder, quota full...), if it did

    def path(self, model: LoadedModel, text: str, hook: str) -> Path:
        """Where the entry of (model, hook, text) lives: the sha256 of the three, as hex."""
        name = json.dumps([model_identity(model), hook, text], ensure_ascii=True)
        return self.folder / f"{hashlib.sha256(name.encode()).hexdigest()}.safetensors"

    def get(self, model: LoadedModel, text: str, hook: str) -> TextActivations | None:
        """The stored activations of (model, hook, text), or None; never raises."""
        path = self.path(model, text, hook)
        if not path.is_file():
            return None
        expected = {"format": FORMAT, "model": model_identity(model), "hook": hook, "text": text}
        try:
            meta, tensors = _read(path)
        except Exception as err:  # any unreadable file (truncated, not safetensors, bad JSON) is dropped
            with contextlib.suppress(OSError):
                path.unlink()
            _warn(f"Removed the unreadable activation file {path.name} ({type(err).__name__}: {err}).")
            return None
        mismatch = [key for key, value in expected.items() if meta.get(key) != value]
        if mismatch:
            _warn(f"Ignored the activation file {path.name}: its {', '.join(mismatch)} metadata does not match.")
            return None
        try:
            activations = _activations(meta, tensors, model)
        except (KeyError, ValueError):
            _warn(f"Ignored the activation file {path.name}: its tensors or labels are not an activation entry's.")
            return None
        _touch(path)
        return activations

    def put(self, activations: TextActivations, model: LoadedModel) -> None:
        """Store ``activations`` of ``model`` atomically, then evict; a write that fails only warns."""
        path = self.path(model, activations.text, activations.hook)
        tensors = {
            "vectors": np.ascontiguousarray(activations.vectors, dtype=np.float32),
            "token_ids": np.ascontiguousarray(activations.token_ids, dtype=np.int64),
            "special": np.ascontiguousarray(activations.special, dtype=np.uint8),
        }
        meta = {
            "format": FORMAT,
            "model": model_identity(model),
            "hook": activations.hook,
            "text": activations.text,
            "labels": json.dumps(list(activations.labels)),
            "readable": json.dumps(list(activations.readable)),
            "n_tokens_full": str(int(activations.n_tokens_full)),
        }
        temp = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".safetensors")
            os.close(handle)
            save_file(tensors, temp, metadata=meta)
            os.replace(temp, path)
            _touch(path)
        except (OSError, SafetensorError) as err:  # safetensors reports its I/O errors as SafetensorError
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
            self.failure = f"{type(err).__name__}: {err}"
            _warn(f"Could not store activations in {self.folder} ({err}).")
            return
        self.evict()

    def entries(self) -> list[tuple[Path, int, int]]:
        """Entry files as (path, size in bytes, access time in ns), least recently used first."""
        out = []
        with contextlib.suppress(OSError):
            for item in os.scandir(self.folder):
                if ENTRY.match(item.name):
                    with contextlib.suppress(OSError):
                        stat = item.stat()
                        out.append((Path(item.path), stat.st_size, stat.st_atime_ns))
        return sorted(out, key=lambda entry: (entry[2], entry[0].name))

    @property
    def nbytes(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def evict(self) -> None:
        """Remove the least recently used entries until they take at most ``max_bytes``."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        for path, size, _ in entries:
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
            total -= size


def _read(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    with safe_open(str(path), framework="np") as handle:
        meta = handle.metadata() or {}
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    return meta, tensors


def _activations(meta: dict[str, str], tensors: dict[str, np.ndarray], model: LoadedModel) -> TextActivations:
    """TextActivations from a file's metadata and tensors; KeyError or ValueError if they do not fit."""
    vectors, ids, special = tensors["vectors"], tensors["token_ids"], tensors["special"]
    labels, readable = json.loads(meta["labels"]), json.loads(meta["readable"])
    n = ids.size
    if (
        not isinstance(labels, list)
        or not isinstance(readable, list)
        or vectors.ndim != 3
        or vectors.dtype != np.float32
        or ids.dtype != np.int64
        or ids.shape != (n,)
        or special.dtype != np.uint8
        or vectors.shape[:2] != (model.n_layers, n)
        or special.shape != (n,)
        or len(labels) != n
        or len(readable) not in (0, n)
        or not all(isinstance(label, str) for label in labels + readable)
    ):
        raise ValueError("tensors or labels of the wrong type or shape")
    return TextActivations(
        text=meta["text"],
        hook=meta["hook"],
        token_ids=ids,
        labels=tuple(labels),
        special=special.astype(bool),
        vectors=vectors,
        n_tokens_full=int(meta["n_tokens_full"]),
        readable=tuple(readable),
    )


def _touch(path: Path) -> None:
    """Mark ``path`` as used now (access and modification time, ns), for least-recently-used eviction."""
    now = time.time_ns()
    with contextlib.suppress(OSError):
        os.utime(path, ns=(now, now))


def _warn(message: str) -> None:
    warnings.warn(message, DiskCacheWarning, stacklevel=3)
