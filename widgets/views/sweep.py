"""Part 5: the best pair's similarity for every layer and C token; click a cell to go there."""

from __future__ import annotations

import html

import numpy as np
from ipywidgets import HTML, HBox, Layout

from ..figures import HeatmapFigure, percentile_limits
from .base import View


class SweepView(View):
    title = "Part 5 · Layer-specific recommendations"
    explanation = (
        "For each layer and C token, the highest similarity over all (A, B) pairs. Click a cell to set Layer and "
        "Token; the table lists the best pair of the selected token at every layer."
    )
    slice_traits = ("layer", "token", "alpha")
    visual_traits = ("sweep_percentiles",)

    def build(self):
        self.heatmap = HeatmapFigure(
            "Max similarity to the target",
            "Layer",
            "Token of text C",
            "Max cosine",
            rows_up=True,
            height=460,
            marker=True,
            min_width=520,
        )
        self.heatmap.mark.on_element_click(self._clicked)
        self.table = HTML(layout=Layout(min_width="260px", max_height="420px", overflow="auto"))
        self.table.add_class("mlprec-pairs-table")
        box = HBox([self.heatmap.widget, self.table], layout=Layout(width="100%", flex_flow="row wrap"))
        self.heatmap.widget.layout.flex = "1 1 520px"
        return [box]

    def _clicked(self, mark, event):
        cell = event.get("data", {})
        row, column = cell.get("rowNum"), cell.get("columnNum")
        if row is None or column is None or self.bench is None:
            return
        layers, tokens = self.heatmap.data_ranges(int(row), int(column))
        best, _ = self.bench.max_pairs(self.state.alpha)
        layer = layers.start
        token = tokens.start + int(np.argmax(best[layer, tokens.start : tokens.stop]))  # a pooled cell: its best token
        with self.feed.transaction():  # one action: one frame
            self.state.layer = layer
            self.state.token = token

    def refresh(self, changed):
        bench, state = self.bench, self.state
        best, pairs = bench.max_pairs(state.alpha)
        rows = [str(layer) for layer in range(bench.n_layers)]
        columns = bench.labels("C")
        if changed & {"data", "alpha"}:
            self.heatmap.show(rows, columns, best)
            self.heatmap.figure.title = f"Max similarity to the target ({self.vectors})"
        if changed & {"data", "alpha", "sweep_percentiles"}:
            self.heatmap.limits(*percentile_limits(best, state.sweep_percentiles))
        if changed <= set(self.visual_traits):
            return
        self.heatmap.mark_cell(self.layer, self.token)
        self.table.value = self._table(best, pairs)

    def _table(self, best, pairs) -> str:
        bench = self.bench
        a, b = bench.labels("A"), bench.labels("B")
        token = self.token
        lines = [
            f"<b>Best pairs for “{html.escape(bench.labels('C')[token])}”</b>",
            "<table class='mlprec-table'><tr><th>Layer</th><th>A token</th><th>B token</th><th>Cosine</th></tr>",
        ]
        for layer in range(bench.n_layers - 1, -1, -1):
            i, j = pairs[layer, token]
            mark = " class='mlprec-current'" if layer == self.layer else ""
            lines.append(
                f"<tr{mark}><td>{layer}</td><td>{html.escape(a[i])}</td><td>{html.escape(b[j])}</td>"
                f"<td>{best[layer, token]:.3f}</td></tr>"
            )
        lines.append("</table>")
        return "".join(lines)
