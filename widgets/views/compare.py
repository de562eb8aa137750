"""Compare: Parts 3 and 5 for the model in use and a second model, side by side, on the same texts."""

from __future__ import annotations

import html

from ipywidgets import HTML, GridBox, Layout, VBox

from ..state import AppState, Results
from .base import Report
from .layers import LayersView
from .sweep import SweepView

EXPLANATION = (
    "Pick a second model (for example distilgpt2 beside gpt2): its recommendations through the layers and its "
    "max-pair map sit beside the first model's, on the same texts, hook point and α. Both models' activations stay "
    "in the cache."
)


class CompareView:
    """A section with the compare picker, a status line, and Parts 3 and 5 for both models in two columns."""

    title = "Compare · Parts 3 and 5 for two models"

    def __init__(self, state: AppState, results: Results, compared: Results, report: Report, picker):
        self.state = state
        self.status = HTML()
        self.status.add_class("mlprec-compare-status")
        self.first = [LayersView(state, results, report, "Model in use"), SweepView(state, results, report, "")]
        self.second = [
            LayersView(state, compared, report, "Compared model"),
            SweepView(state, compared, report, ""),
        ]
        self.columns = [VBox([view.widget for view in column]) for column in (self.first, self.second)]
        self.grid = GridBox(
            self.columns, layout=Layout(grid_template_columns="repeat(auto-fit, minmax(560px, 1fr))", width="100%")
        )
        heading = HTML(
            f"<h3 class='mlprec-heading'>{html.escape(self.title)}</h3>"
            f"<p class='mlprec-explain'>{html.escape(EXPLANATION)}</p>"
        )
        self.widget = VBox([heading, picker, self.status, self.grid])
        self.widget.add_class("mlprec-compare")
        self.show(None)

    def show(self, model_name: str | None, note: str = "") -> None:
        """Show the comparison with ``model_name`` (None: hide the panels)."""
        self.grid.layout.display = None if model_name else "none"
        for view in self.first + self.second:
            was = view.active
            view.active = bool(model_name)
            if view.active and not was:
                view.update({"data"})
        text = f"Comparing with “{model_name}”. {note}" if model_name else "No second model chosen."
        self.status.value = f"<span class='mlprec-count'>{html.escape(text, quote=False)}</span>"
