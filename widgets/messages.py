"""What the app tells the user: the status line, the message area and the offline-model button."""

from __future__ import annotations

import html
from collections.abc import Callable

from ipywidgets import HTML, Button, Layout

from core.checks import HOOK_POINTS
from core.models import packaged_model
from core.texts import TEXT_NAMES


class Messages:
    """``status`` (model, hook, token counts, progress), ``area`` (one message, error or notice) and
    ``fallback`` (offers the installed all-MiniLM-L6-v2 when no model could be loaded).

    ``on_busy`` callbacks hear when loading starts and ends; ``on_fallback`` runs when the button is pressed.
    """

    def __init__(self, on_fallback: Callable[[str], None]):
        self.status = HTML()
        self.status.add_class("mlprec-status")
        self.area = HTML()
        self.area.add_class("mlprec-message")
        self.fallback = Button(icon="life-ring", button_style="warning", layout=Layout(display="none", width="auto"))
        self.fallback.add_class("mlprec-fallback")
        self.fallback.on_click(lambda _: self._use_fallback(on_fallback))
        self.on_busy: list[Callable[[bool], None]] = []

    def tell(self, text: str, kind: str = "error") -> None:
        """Show one message (escaped); kind is "error" or "notice"; "" clears the area."""
        self.area.value = f"<div class='mlprec-{kind}'>{html.escape(text, quote=False)}</div>" if text else ""

    def progress(self, text: str) -> None:
        self.status.value = f"<span class='mlprec-busy'>{html.escape(text, quote=False)}</span>"

    def busy(self, flag: bool) -> None:
        for callback in self.on_busy:
            callback(flag)

    def ready(self, bench, note: str = "") -> None:
        """The status line of ``bench`` (None: no results yet), with ``note`` (e.g. how long the run took)."""
        if bench is None:
            self.status.value = "<span class='mlprec-busy'>No results yet.</span>"
            return
        self.fallback.layout.display = "none"
        model = bench.model
        counts = ", ".join(f"{name} {len(bench.labels(name))}" for name in TEXT_NAMES)
        self.status.value = (
            f"<span class='mlprec-ready'><b>{html.escape(model.name)}</b> · {html.escape(bench.hook)} "
            f"({bench.X('A').shape[-1]} dims: {html.escape(HOOK_POINTS[bench.hook], quote=False)}) · "
            f"{model.n_layers} layers · analysed tokens {counts}{html.escape(note, quote=False)}</span>"
        )

    def no_model(self, name: str) -> None:
        """No model is loaded: say so, and offer the installed model if there is one (and it is not ``name``)."""
        self.status.value = "<span class='mlprec-busy'>No model loaded.</span>"
        fallback = packaged_model()
        if fallback and fallback != name:
            self.fallback.description = "Use the installed all-MiniLM-L6-v2 (BERT, offline) instead"
            self.fallback.layout.display = "flex"

    def _use_fallback(self, on_fallback: Callable[[str], None]) -> None:
        self.fallback.layout.display = "none"
        on_fallback(packaged_model())
