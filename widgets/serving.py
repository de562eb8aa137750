"""Serving from a pool of preheated kernels: the page is built before its visitor arrives, then takes the link.

Voila (``--preheat_kernel=True --pool_size=N``) runs the notebook in N kernels ahead of any request, with
``VOILA_PREHEAT=True`` in their environment; ``voila.utils.get_query_string()`` pauses such a kernel until
a request takes it and returns that request's URL query. Kernels started for one request (no pool) have
``VOILA_PREHEAT=False`` or nothing, and read their query from ``QUERY_STRING`` as usual.
"""

from __future__ import annotations

import os


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
    ``torch_threads()`` threads. In a pool: load and run synchronously on the default settings (the
    query comes later); otherwise nothing: ``Dashboard()`` loads in the background when served, in the
    foreground elsewhere (so ``nbconvert --execute`` saves the finished figures), and takes the page's query."""
    if "VOILA_BASE_URL" in os.environ:
        import torch

        torch.set_num_threads(torch_threads())
    if preheated():
        return {"background": False, "query": ""}
    return {}


def take_visitor_link(app) -> None:
    """In a preheated kernel, wait for the visitor's request and apply its link (``Dashboard.apply_link``);
    later model choices then load in the background. Elsewhere nothing to do: the link went in at build."""
    if not preheated():
        return
    from voila.utils import get_query_string

    query = get_query_string() or ""
    app.session.background = True
    app.apply_link(query)
