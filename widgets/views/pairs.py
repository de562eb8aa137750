"""Part 4: cosine of every (A token, B token) analogy target with one C token."""

from __future__ import annotations

import html

import numpy as np
from ipywidgets import HTML, GridBox, HBox, Layout, VBox

from core.analysis import best_pair
from core.baselines import best_pair_floor

from ..figures import HeatmapFigure
from ..tables import RankedList, null_line, verdict_line
from .base import View

OVERVIEW_TOKENS = 4


def overview_tokens(n_tokens: int) -> list[int]:
    """The textbook's evenly spaced C tokens: linspace(0, n - 1, 4) as integers."""
    return [int(k) for k in np.linspace(0, n_tokens - 1, OVERVIEW_TOKENS).astype(int)]


class PairsView(View):
    title = "Part 4 · Recommending specific pairs"
    explanation = (
        "For every token a of A and b of B, the target b + α(b − a) is compared with one C token: rows are A tokens, "
        "columns B tokens, the square marks the best pair (the list beside it gives the best pairs' values; "
        "Export has every cell). Below, the textbook's four evenly spaced C tokens (same colours; their best pair "
        "ringed in green and named under each)."
    )
    slice_traits = ("layer", "alpha", "token", "top_k", "permutations")
    visual_traits = ("pair_limits",)

    def build(self):
        self.main = HeatmapFigure(
            "",
            "Token of text A",
            "Token of text B",
            "Cosine",
            rows_up=False,
            height=460,
            marker=True,
            painted=True,
            min_width=600,
        )  # painted: a Layer step sends one small picture, not two SVG nodes per (A, B) cell
        self.overview = [
            HeatmapFigure(
                "", "A", "B", "Cosine", rows_up=False, height=340, colorbar=False, painted=True, min_width=300
            )
            for _ in range(OVERVIEW_TOKENS)  # their best pair is ringed inside the picture
        ]
        # Each thumbnail's title is its C token; the best pair, which changes with the layer, is named in a line
        # of text under it: a changed figure title makes bqplot measure the page again (a forced layout).
        self.overview_pairs = [HTML() for _ in self.overview]
        for caption in self.overview_pairs:
            caption.add_class("mlprec-thumbnail-pair")
        grid = GridBox(
            [
                VBox([heatmap.widget, caption])
                for heatmap, caption in zip(self.overview, self.overview_pairs, strict=True)
            ],
            layout=Layout(grid_template_columns="repeat(auto-fit, minmax(300px, 1fr))", width="100%"),
        )
        self.ranking = RankedList("Best (A, B) pairs", self._picked, "mlprec-top-pairs", rows=8)
        self.chance = HTML()
        self.chance.add_class("mlprec-chance-part4")
        self.main.widget.layout.flex = "1 1 600px"
        side = VBox([self.ranking.widget], layout=Layout(width="270px", min_width="230px"))
        return [HBox([self.main.widget, side], layout=Layout(width="100%", flex_flow="row wrap")), self.chance, grid]

    def _picked(self, pair) -> None:
        """A row of the top-k list: ring that pair in the main heatmap."""
        self.main.mark_cell(*pair, which="picked")

    def _draw(self, heatmap: HeatmapFigure, token: int, rows, columns, caption: HTML | None = None) -> None:
        """One heatmap of the pair cosines with C token ``token``; the main one (no ``caption``) names the layer
        and the best pair in its title, a thumbnail names its token there and the best pair in ``caption``."""
        bench, state = self.bench, self.state
        matrix = bench.pair_matrix(self.layer, token, state.alpha)
        i, j = best_pair(matrix)
        if heatmap.markers:
            heatmap.show(rows, columns, matrix)
            heatmap.mark_cell(i, j)
        else:
            heatmap.show(rows, columns, matrix, ring=(i, j))
        words = bench.labels("C")[token], bench.labels("A")[i], bench.labels("B")[j]
        if caption is None:
            template = f"Similarity with “{{}}” at layer {self.layer}: best pair (“{{}}”, “{{}}”) = {matrix[i, j]:.3f}"
            heatmap.set_title(template, *words)
            return
        heatmap.set_title("“{}”", words[0])
        a, b = (html.escape(word, quote=False) for word in words[1:])
        caption.value = f"best pair (“{a}”, “{b}”) = {matrix[i, j]:.3f}"

    def _rank(self, rows, columns) -> None:
        bench, state = self.bench, self.state
        pairs, values = bench.top_pairs(self.layer, self.token, state.alpha, state.top_k)
        self.main.hide_marker("picked")
        self.ranking.show(
            [
                (f"{rank}. “{rows[i]}” → “{columns[j]}”  {value:.3f}", (int(i), int(j)))
                for rank, ((i, j), value) in enumerate(zip(pairs, values, strict=True), 1)
            ],
            heading=f"Best {len(values)} pairs for “{bench.labels('C')[self.token]}”",
        )
        self.chance.value = self._chance()

    def _chance(self) -> str:
        bench, state = self.bench, self.state
        if state.permutations == 0:
            return "<div class='mlprec-chance'>Chance baselines are off (Permutations = 0).</div>"
        tests = bench.pair_tests(state.alpha, state.permutations)
        if tests is None:
            return (
                "<div class='mlprec-chance'>No chance test for the best pairs: texts this long would need too many "
                "pair cosines (shorten A, B or C).</div>"
            )
        layer, token = self.layer, self.token
        matrix = bench.pair_matrix(layer, token, state.alpha)
        i, j = best_pair(matrix)
        a, b = bench.labels("A")[i], bench.labels("B")[j]
        floor = best_pair_floor(len(bench.labels("A")), len(bench.labels("B")))
        return verdict_line(
            f"best pair (“{a}”, “{b}”) for “{bench.labels('C')[token]}” at layer {layer} (cosine {matrix[i, j]:.3f})",
            float(tests.p_corrected[layer, token]),
            f"corrected over all {tests.p_corrected.size} cells of Part 5's map",
            f"For this cell alone p = {tests.p_values[layer, token]:.3g}. This test rarely goes below "
            f"p ≈ {floor:.2f} here: every re-split that keeps the best pair's two tokens on their sides reaches it.",
            state.permutations,
        ) + null_line(state.permutations)

    def warm(self, bench, layer):
        state = self.state
        token = min(state.token, len(bench.labels("C")) - 1)
        for k in {token, *overview_tokens(len(bench.labels("C")))}:
            bench.pair_matrix(layer, k, state.alpha)
        bench.top_pairs(layer, token, state.alpha, state.top_k)
        if state.permutations:
            bench.pair_tests(state.alpha, state.permutations)

    def refresh(self, changed):
        limits = self.state.pair_limits
        for heatmap in (self.main, *self.overview):
            heatmap.limits(*limits)
        if changed <= set(self.visual_traits):
            return
        rows, columns = self.bench.labels("A"), self.bench.labels("B")
        self._draw(self.main, self.token, rows, columns)
        self._rank(rows, columns)
        if changed & {"data", "layer", "alpha"}:
            tokens = overview_tokens(len(self.bench.labels("C")))
            for heatmap, caption, token in zip(self.overview, self.overview_pairs, tokens, strict=True):
                self._draw(heatmap, token, rows, columns, caption)
