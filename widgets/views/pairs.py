"""Part 4: cosine of every (A token, B token) analogy target with one C token."""

from __future__ import annotations

import numpy as np
from ipywidgets import GridBox, Layout

from core.analysis import best_pair

from ..figures import HeatmapFigure
from .base import View

OVERVIEW_TOKENS = 4


def overview_tokens(n_tokens: int) -> list[int]:
    """The textbook's evenly spaced C tokens: linspace(0, n - 1, 4) as integers."""
    return [int(k) for k in np.linspace(0, n_tokens - 1, OVERVIEW_TOKENS).astype(int)]


class PairsView(View):
    title = "Part 4 · Recommending specific pairs"
    explanation = (
        "For every token a of A and b of B, the target b + α(b − a) is compared with one C token: rows are A tokens, "
        "columns B tokens, the square marks the best pair. Below, the textbook's four evenly spaced C tokens."
    )
    slice_traits = ("layer", "alpha", "token")
    visual_traits = ("pair_limits",)

    def build(self):
        self.main = HeatmapFigure(
            "", "Token of text A", "Token of text B", "Cosine", rows_up=False, height=460, marker=True
        )
        self.overview = [
            HeatmapFigure("", "A", "B", "Cosine", rows_up=False, height=340, colorbar=False, marker=True)
            for _ in range(OVERVIEW_TOKENS)
        ]
        grid = GridBox(
            [heatmap.figure for heatmap in self.overview],
            layout=Layout(grid_template_columns="repeat(auto-fit, minmax(300px, 1fr))", width="100%"),
        )
        return [self.main.figure, grid]

    def _draw(self, heatmap: HeatmapFigure, token: int, rows, columns, long_title: bool) -> None:
        bench, state = self.bench, self.state
        matrix = bench.pair_matrix(state.layer, token, state.alpha)
        i, j = best_pair(matrix)
        heatmap.show(rows, columns, matrix)
        heatmap.mark_cell(i, j)
        word = bench.labels("C")[token]
        pair = f"(“{bench.labels('A')[i]}”, “{bench.labels('B')[j]}”)"
        if long_title:
            heatmap.figure.title = (
                f"Similarity with “{word}” at layer {state.layer}: best pair {pair} = {matrix[i, j]:.3f}"
            )
        else:
            heatmap.figure.title = f"“{word}”: {pair}"

    def refresh(self, changed):
        limits = self.state.pair_limits
        for heatmap in (self.main, *self.overview):
            heatmap.limits(*limits)
        if changed <= set(self.visual_traits):
            return
        rows, columns = self.bench.labels("A"), self.bench.labels("B")
        self._draw(self.main, self.state.token, rows, columns, long_title=True)
        if changed & {"data", "layer", "alpha"}:
            for heatmap, token in zip(self.overview, overview_tokens(len(self.bench.labels("C"))), strict=True):
                self._draw(heatmap, token, rows, columns, long_title=False)
