"""Serving from a pool of preheated kernels: the page is built before its visitor arrives, then takes the link.

Voila (``--preheat_kernel=True --pool_size=N``) runs the notebook in N kernels ahead of any request, with
``VOILA_PREHEAT=True`` in their environment; ``voila.utils.get_query_string()`` pauses such a kernel until
a request takes it and returns that request's URL query. Kernels started for one request (no pool) have
``VOILA_PREHEAT=False`` or nothing, and read their query from ``QUERY_STRING`` as usual.
"""

from __future__ import annotations

import os

from .environment import served


def preheated() -> bool:
    """True in a kernel of Voila's preheated pool (its notebook runs before any visitor has asked)."""
    return os.environ.get("VOILA_PREHEAT", "False") == "True"


def torch_threads() -> int:
    """Torch's intra-op threads for a kernel served by Voila: MLPREC_TORCH_THREADS, else 1. A server holds
    more kernels than cores; with several threads each, their threads wait on each other and a forward
    pass on a busy 2-core machine takes seconds instead of tens of milliseconds."""
    value = os.environ.get("MLPREC_TORCH_THREADS", "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def prepare_kernel() -> dict:
    """Set this kernel up and return its Dashboard keyword arguments. Served by Voila, torch gets
    ``torch_threads()`` threads and the first build runs in the foreground: the page's widgets reach
    the browser finished. (Built in a thread instead, the widgets change while the browser is still
    fetching their states, and an update that falls between the state it got and the model it builds
    is lost: with four pages opened at once, one page stayed on "Loading…".) In a pool the query comes
    later (``take_visitor_link``). Elsewhere nothing: ``Dashboard()`` takes its own defaults."""
    if not (served() or preheated()):
        return {}
    import torch

    torch.set_num_threads(torch_threads())
    return {"background": False, "query": ""} if preheated() else {"background": False}


def take_visitor_link(app) -> None:
    """Served by Voila: in a preheated kernel, wait for the visitor's request and apply its link
    (``Dashboard.apply_link``, in the foreground like the first build); then later model choices load
    in the background while the page shows progress. Elsewhere nothing to do.

    (Applied in a thread while Voila sends the page, with the page's request for the widgets' states held
    until it is done, a lone linked page came ~0.2 s sooner; but the browser waits only 4 s for that answer
    before it falls back to asking widget by widget, and with 16 visitors at once one page never completed.)"""
    if preheated():
        from voila.utils import get_query_string

        app.apply_link(get_query_string() or "")
    if preheated() or served():
        app.session.go_background()
