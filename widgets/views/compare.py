"""Compare: Parts 3 and 5 for the model in use and a second model, side by side, on the same texts."""

from __future__ import annotations

import html

from ipywidgets import HTML, GridBox, Layout, VBox

from ..session import Feed
from ..state import AppState
from .base import Tell
from .layers import LayersView
from .sweep import SweepView

EXPLANATION = (
    "Pick a second model (for example distilgpt2 beside gpt2): its recommendations through the layers and its "
    "max-pair map sit beside the first model's, on the same texts, hook point and α. Both models' activations stay "
    "in the cache."
)


class CompareView:
    """A section with the compare picker, a status line, and Parts 3 and 5 for both models in two columns.

    ``feed`` carries the frames of the model in use, ``compared`` those of the second model (a frame
    without results hides the panels).
    """

    title = "Compare · Parts 3 and 5 for two models"

    def __init__(self, state: AppState, feed: Feed, compared: Feed, tell: Tell, picker):
        self.state = state
        self._feeds, self._tell = (feed, compared), tell
        self.status = HTML()
        self.status.add_class("mlprec-compare-status")
        self.first: list[LayersView | SweepView] = []  # built when a second model is first shown (~140 widgets,
        self.second: list[LayersView | SweepView] = []  # 6 figures that a page would otherwise load unseen)
        self.grid = GridBox(
            [], layout=Layout(grid_template_columns="repeat(auto-fit, minmax(560px, 1fr))", width="100%")
        )
        heading = HTML(
            f"<h3 class='mlprec-heading'>{html.escape(self.title)}</h3>"
            f"<p class='mlprec-explain'>{html.escape(EXPLANATION)}</p>"
        )
        self.widget = VBox([heading, picker, self.status, self.grid])
        self.widget.add_class("mlprec-compare")
        self.show(None)
        compared.subscribe(lambda _: self.show(compared.frame.bench), {"data"})

    def _build(self) -> None:
        """Parts 3 and 5 for both models, in two columns."""
        (feed, compared), tell = self._feeds, self._tell
        self.first = [LayersView(self.state, feed, tell, "Model in use"), SweepView(self.state, feed, tell, "")]
        self.second = [
            LayersView(self.state, compared, tell, "Compared model"),
            SweepView(self.state, compared, tell, ""),
        ]
        for view in self.first + self.second:
            view.active = False
        self.grid.children = [VBox([view.widget for view in column]) for column in (self.first, self.second)]

    def show(self, bench) -> None:
        """Show the comparison with ``bench``, the second model's results (None: hide the panels)."""
        if bench is not None and not self.first:
            self._build()
        self.grid.layout.display = None if bench is not None else "none"
        for view in self.first + self.second:  # hidden views skip their redraws; shown again, they catch up
            was = view.active
            view.active = bench is not None
            if view.active and not was:
                view.update({"data"})
        text = "No second model chosen."
        if bench is not None:
            text = (
                f"Comparing with “{bench.model.name}”. {bench.n_layers} layers, {bench.X('A').shape[-1]} dims; "
                f"analysed C tokens: {len(bench.labels('C'))}."
            )
        self.status.value = f"<span class='mlprec-count'>{html.escape(text, quote=False)}</span>"
