"""What the server's operator decides through environment variables: models offered, the disk cache, Voila."""

from __future__ import annotations

import os

from core.diskcache import DiskStore
from core.models import DEFAULT_MODEL, packaged_model


def served() -> bool:
    """True inside a kernel started by Voila (it sets VOILA_BASE_URL for its kernels)."""
    return "VOILA_BASE_URL" in os.environ


def starting_model(model: str | None = None) -> str:
    """``model`` if given, else MLPREC_MODEL, else gpt2."""
    return model or os.environ.get("MLPREC_MODEL") or DEFAULT_MODEL


def model_choices(current: str) -> tuple[list[str], bool]:
    """The models offered in the picker, and whether any other name may be typed.

    The operator's MLPREC_MODELS (comma-separated) if set, else the starting model (and distilgpt2
    outside Voila); the installed offline fallback is always offered. Served by Voila, only these
    are allowed unless MLPREC_ALLOW_ANY_MODEL=1, so visitors cannot make the server download
    arbitrary repositories; in JupyterLab any hub id or folder may be typed.
    """
    listed = [name.strip() for name in os.environ.get("MLPREC_MODELS", "").split(",") if name.strip()]
    choices = listed or ([current] if served() else [current, DEFAULT_MODEL, "distilgpt2"])
    fallback = packaged_model()
    if fallback:
        choices.append(fallback)
    free = not served() or os.environ.get("MLPREC_ALLOW_ANY_MODEL", "").lower() in ("1", "true", "yes")
    return list(dict.fromkeys(choices)), free


def disk_store() -> DiskStore | None:
    """The persistent activation store (MLPREC_CACHE_DIR, else ~/.cache/mlprec-dashboard/activations),
    shared by every session of this machine; MLPREC_DISK_CACHE=off keeps activations in memory only."""
    if os.environ.get("MLPREC_DISK_CACHE", "on").lower() in ("off", "0", "false", "no"):
        return None
    return DiskStore()


def page_query(query: str | None) -> str:
    """The link's query: ``query`` if given, else, served by Voila, the page's own (QUERY_STRING)."""
    if query is not None:
        return query
    return os.environ.get("QUERY_STRING", "") if served() else ""
