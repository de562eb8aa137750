"""Part 5: the best pair's similarity for every layer and C token; click a cell to go there."""

from __future__ import annotations

import html

import bqplot as bq
import numpy as np
from ipywidgets import HTML, HBox, Layout

from ..figures import INK, HeatmapFigure, dots, percentile_limits
from ..tables import LEVEL, highlight_layer, layer_row, null_line, p_pair
from .base import View


class SweepView(View):
    title = "Part 5 · Layer-specific recommendations"
    explanation = (
        "For each layer and C token, the highest similarity over all (A, B) pairs. Click a cell to set Layer and "
        "Token; the table lists the best pair of the selected token at every layer. A white dot marks a cell whose best "
        "pair beats chance (p < 0.05 corrected over the whole map; hover it for both p-values)."
    )
    slice_traits = ("layer", "token", "alpha", "permutations")
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
        self.beaten = dots(
            self.heatmap.columns,
            self.heatmap.rows,
            size=36,
            fill="white",
            ring=INK,
            visible=False,
            tooltip=bq.Tooltip(fields=["y", "x", "name"], labels=["Layer", "Token", "Chance"]),
            names_unique=False,
            display_names=False,
        )
        self.beaten.on_element_click(self._dot_clicked)
        self.heatmap.figure.marks = [*self.heatmap.figure.marks, self.beaten]
        self.chance = HTML()
        self.chance.add_class("mlprec-chance-part5")
        self._tests, self._dots = None, []  # the Part 5 test on screen and the (layer, token) of each dot
        # a fixed width: the heatmap is laid out once
        self.table = HTML(layout=Layout(flex="0 0 440px", max_height="420px", overflow="auto"))
        self.table.add_class("mlprec-pairs-table")
        box = HBox([self.heatmap.widget, self.table], layout=Layout(width="100%", flex_flow="row wrap"))
        self.heatmap.widget.layout.flex = "1 1 520px"
        return [box, self.chance]

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

    def _dot_clicked(self, mark, event):
        index = event.get("data", {}).get("index")
        if index is not None and self.bench is not None:
            layer, token = self._dots[int(index)]
            with self.feed.transaction():  # one action: one frame
                self.state.layer, self.state.token = layer, token

    def _mark_beaten(self) -> None:
        """Dots on the drawn cells holding a cell that beats chance after correction, and the chance line."""
        state = self.state
        tests = self.bench.pair_tests(state.alpha, state.permutations) if state.permutations else None
        self._tests = tests
        self._dots = []
        if tests is None:
            self.beaten.visible = False
            self.chance.value = (
                "<div class='mlprec-chance'>Chance baselines are off (Permutations = 0).</div>"
                if not state.permutations
                else "<div class='mlprec-chance'>No chance test for the best pairs: texts this long would need too "
                "many pair cosines (shorten A, B or C).</div>"
            )
            return
        drawn = {}
        for layer, token in zip(*np.nonzero(tests.p_corrected < LEVEL), strict=True):
            cell = self.heatmap.cell(int(layer), int(token))
            if cell not in drawn or tests.p_corrected[layer, token] < tests.p_corrected[drawn[cell]]:
                drawn[cell] = (int(layer), int(token))
        self._dots = list(drawn.values())
        rows, columns = self.heatmap.mark.row, self.heatmap.mark.column
        self.beaten.visible = False
        if drawn:  # bqplot cannot send empty label arrays: an empty set of dots is only hidden
            with self.beaten.hold_sync():
                self.beaten.x = np.array([columns[c] for _, c in drawn], dtype=object)
                self.beaten.y = np.array([rows[r] for r, _ in drawn], dtype=object)
                self.beaten.names = [p_pair(tests.p_corrected[cell], tests.p_values[cell]) for cell in self._dots]
                self.beaten.visible = True
        self.chance.value = (
            f"<div class='mlprec-chance'><b>White dots</b>: {int((tests.p_corrected < LEVEL).sum())} of "
            f"{tests.p_corrected.size} cells beat chance at p < {LEVEL:g}, corrected over the whole map.</div>"
            + null_line(state.permutations)
        )

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
        if changed & {"data", "alpha", "permutations"}:
            self._mark_beaten()
        if changed <= set(self.visual_traits):
            return
        self.heatmap.mark_cell(self.layer, self.token)
        if changed & {"data", "alpha", "permutations", "token"}:
            self.table.value = self._table(best, pairs)
        highlight_layer(self.table, self.layer)

    def _table(self, best, pairs) -> str:
        bench = self.bench
        a, b = bench.labels("A"), bench.labels("B")
        token = self.token
        lines = [
            f"<b>Best pairs for “{html.escape(bench.labels('C')[token])}”</b>",
            "<table class='mlprec-table'><tr><th>Layer</th><th>A token</th><th>B token</th><th>Cosine</th>"
            + ("<th>p corrected</th><th>p</th>" if self._tests is not None else "")
            + "</tr>",
        ]
        for layer in range(bench.n_layers - 1, -1, -1):
            i, j = pairs[layer, token]
            lines.append(
                f"{layer_row(layer)}<td>{layer}</td><td>{html.escape(a[i])}</td><td>{html.escape(b[j])}</td>"
                f"<td>{best[layer, token]:.3f}</td>{self._p_cells(layer, token)}</tr>"
            )
        lines.append("</table>")
        return "".join(lines)

    def _p_cells(self, layer: int, token: int) -> str:
        if self._tests is None:
            return ""
        return f"<td>{self._tests.p_corrected[layer, token]:.3g}</td><td>{self._tests.p_values[layer, token]:.3g}</td>"
