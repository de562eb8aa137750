"""Serving from a pool of preheated kernels: the page is built before its visitor arrives, then takes the link.

Voila (``--preheat_kernel=True --pool_size=N``) runs the notebook in N kernels ahead of any request, with
``VOILA_PREHEAT=True`` in their environment; ``voila.utils.get_query_string()`` pauses such a kernel until
a request takes it and returns that request's URL query. The link is then applied while the browser loads
the page's scripts, and the page's request for the widgets' states is answered once it is applied. Kernels
started for one request (no pool) have ``VOILA_PREHEAT=False`` or nothing, and read their query from
``QUERY_STRING`` as usual.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

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
    """Served by Voila. In a preheated kernel: wait for the visitor's request, then apply its link
    (``Dashboard.apply_link``) in a thread while Voila sends the page, and hold the widgets' states
    (``answer_states_after``) until the link is applied: the browser loads its scripts meanwhile, and the
    page starts at the link's settings with no update in flight. Once the page has its states (or at once,
    served without a pool), later model choices load in the background while the page shows progress,
    and the other layers are computed ahead. Elsewhere nothing to do."""
    if preheated():
        from voila.utils import get_query_string

        query = get_query_string() or ""
        link = threading.Thread(target=app.apply_link, args=(query,), daemon=True, name="mlprec-link")
        link.start()
        answer_states_after(link, then=app.session.go_background)
    elif served():
        app.session.go_background()


def answer_states_after(work: threading.Thread, then: Callable[[], None]) -> None:
    """Hold this kernel's answer to the page's one request for every widget's state (ipywidgets' control
    comm, "request_states") until ``work`` has finished, then answer as ipywidgets does and call ``then``
    (once, however often the page asks).

    Widgets changed while the browser builds its models from those states can lose an update (one that
    falls between the states it got and the model it builds); changed before the answer, they cannot.
    The browser waits 4 s for the answer, then asks widget by widget; those requests are answered after
    ``work`` too (a held page took 9.7 s instead of ~3, and showed the link's settings).
    Outside a kernel: wait for ``work`` and call ``then``.
    """
    from ipywidgets import Widget
    from ipywidgets.comm import get_comm_manager

    manager = get_comm_manager()
    if manager is None:
        work.join()
        then()
        return

    answered = threading.Event()

    def opened(comm, msg) -> None:
        Widget.handle_control_comm_opened(comm, msg)

        def answer(msg) -> None:
            work.join()
            Widget._handle_control_comm_msg(msg)
            if not answered.is_set():
                answered.set()
                then()

        comm.on_msg(answer)

    manager.register_target("jupyter.widget.control", opened)
