"""The base of every view: a titled section that redraws itself when the state or the results change."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable

from ipywidgets import HTML, VBox, Widget

from ..state import AppState, Results

log = logging.getLogger(__name__)

Report = Callable[[str], None]


class View:
    """A section of the dashboard: heading, one-line explanation, figures.

    Subclasses set ``title``, ``explanation``, ``slice_traits`` (AppState traits that change what
    they show, cheaply) and ``visual_traits`` (traits that only restyle), build their figures in
    ``build`` and draw in ``refresh(changed)``, where ``changed`` holds trait names or "data".
    An exception while drawing is reported through ``report`` and leaves the other views alone.
    """

    title = ""
    explanation = ""
    slice_traits: tuple[str, ...] = ()
    visual_traits: tuple[str, ...] = ()

    def __init__(self, state: AppState, results: Results, report: Report, caption: str | None = None):
        self.state = state
        self.results = results
        self._report = report
        self.active = True  # an inactive (hidden) view skips its redraws
        if caption is None:  # a section of its own
            heading = HTML(
                f"<h3 class='mlprec-heading'>{html.escape(self.title)}</h3>"
                f"<p class='mlprec-explain'>{html.escape(self.explanation)}</p>"
            )
        else:  # a panel inside another section (Compare)
            heading = HTML(f"<b class='mlprec-caption'>{html.escape(caption)}</b>")
        self.widget = VBox([heading, *self.build()])
        self.widget.add_class("mlprec-section" if caption is None else "mlprec-panel")
        results.observe(lambda change: self.update({"data"}), names="version")
        if self.slice_traits:
            state.observe(lambda change: self.update({change["name"]}), names=list(self.slice_traits))
        if self.visual_traits:
            state.observe(lambda change: self.update({change["name"]}), names=list(self.visual_traits))

    @property
    def bench(self):
        return self.results.bench

    @property
    def layer(self) -> int:
        """The chosen layer, within this view's results (a compared model may have fewer layers)."""
        return min(self.state.layer, self.bench.n_layers - 1)

    @property
    def token(self) -> int:
        """The chosen C token, within this view's results (a compared model may cut C differently)."""
        return min(self.state.token, len(self.bench.labels("C")) - 1)

    @property
    def vectors(self) -> str:
        """What the vectors are, for titles: the hook point and its width, e.g. "mlp_out, 768 dims"."""
        return f"{self.bench.hook}, {self.bench.X('A').shape[-1]} dims"

    def build(self) -> list[Widget]:
        raise NotImplementedError

    def refresh(self, changed: set[str]) -> None:
        raise NotImplementedError

    def update(self, changed: set[str]) -> None:
        """Redraw for ``changed``; report instead of raising."""
        if self.bench is None or not self.active:
            return
        try:
            self.refresh(changed)
        except Exception as err:  # a broken view must not break the others
            log.exception("%s failed to redraw", self.title)
            self._report(f"{self.title} could not be drawn: {err}")
