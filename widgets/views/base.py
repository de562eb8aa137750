"""The base of every view: a titled section that redraws itself once per Frame that concerns it."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable

from ipywidgets import HTML, VBox, Widget

from ..session import Feed
from ..state import AppState

log = logging.getLogger(__name__)

Tell = Callable[[str], None]


class View:
    """A section of the dashboard: heading, one-line explanation, figures.

    Subclasses set ``title``, ``explanation``, ``slice_traits`` (AppState traits that change what
    they show, cheaply) and ``visual_traits`` (traits that only restyle), build their figures in
    ``build`` and draw in ``refresh(changed)``, where ``changed`` holds "data" (new results) and trait
    names. The view subscribes to ``feed`` (widgets.session.Feed): one refresh per Frame that changes
    any of those. ``refreshes`` counts them. An exception while drawing is told through ``tell``
    and leaves the other views alone.
    """

    title = ""
    explanation = ""
    slice_traits: tuple[str, ...] = ()
    visual_traits: tuple[str, ...] = ()

    def __init__(self, state: AppState, feed: Feed, tell: Tell, caption: str | None = None):
        self.state = state
        self.feed = feed
        self._tell = tell
        self.refreshes = 0
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
        feed.subscribe(self.update, {"data", *self.slice_traits, *self.visual_traits})
        if type(self).warm is not View.warm:
            feed.warmers.append(self.warm)

    @property
    def bench(self):
        return self.feed.frame.bench

    @property
    def layer(self) -> int:
        """The frame's layer, within this view's results (a compared model may have fewer layers)."""
        return min(self.feed.frame.layer, self.bench.n_layers - 1)

    @property
    def token(self) -> int:
        """The frame's C token, within this view's results (a compared model may cut C differently)."""
        return min(self.feed.frame.token, len(self.bench.labels("C")) - 1)

    @property
    def vectors(self) -> str:
        """What the vectors are, for titles: the hook point and its width, e.g. "mlp_out, 768 dims"."""
        return f"{self.bench.hook}, {self.bench.X('A').shape[-1]} dims"

    def build(self) -> list[Widget]:
        raise NotImplementedError

    def refresh(self, changed: set[str]) -> None:
        raise NotImplementedError

    def warm(self, bench, layer: int) -> None:
        """Compute (memoise in ``bench``) what this view will show at ``layer``; called ahead, in a thread."""

    def update(self, changed: set[str]) -> None:
        """Redraw for ``changed``; tell instead of raising."""
        if self.bench is None or not self.active:
            return
        self.refreshes += 1
        try:
            self.refresh(changed)
        except Exception as err:  # a broken view must not break the others
            log.exception("%s failed to redraw", self.title)
            self._tell(f"{self.title} could not be drawn: {err}")
