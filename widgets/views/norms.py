"""Part 1: the norm of every analysed token's vector at every layer, one heatmap per text."""

from __future__ import annotations

from ipywidgets import GridBox, Layout

from core.texts import TEXT_NAMES

from ..figures import HeatmapFigure, percentile_limits
from .base import View


class NormsView(View):
    title = "Part 1 · Norms through the layers"
    explanation = (
        "How long is each token's vector at each layer? Rows are layers (0 at the bottom), columns the analysed "
        "tokens; colours run from the 5th to the 95th percentile of each text (its colour bar below). Hover a cell "
        "for its value and full token."
    )
    visual_traits = ("norm_percentiles",)

    def build(self):
        self.heatmaps = {
            name: HeatmapFigure(
                f"Norms of text {name}", "Layer", "Token", "Norm", rows_up=True, height=340, min_width=370
            )
            for name in TEXT_NAMES
        }
        grid = GridBox(
            [self.heatmaps[name].widget for name in TEXT_NAMES],
            layout=Layout(grid_template_columns="repeat(auto-fit, minmax(380px, 1fr))", width="100%"),
        )
        return [grid]

    def refresh(self, changed):
        bench = self.bench
        for name, heatmap in self.heatmaps.items():
            if "data" in changed:
                rows = [str(layer) for layer in range(bench.n_layers)]
                heatmap.show(rows, bench.labels(name), bench.norms[name])
            low, high = percentile_limits(bench.norms[name], self.state.norm_percentiles)
            heatmap.limits(low, high)
            heatmap.figure.title = f"Text {name} ({self.vectors})"  # the limits: hover, or the explanation
