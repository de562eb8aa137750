"""Part 2: the token-average target vector and each C token's similarity to it."""

from __future__ import annotations

import bqplot as bq
import numpy as np
from ipywidgets import HTML, GridBox, HBox, Layout, VBox

from ..figures import (
    ACCENT,
    INK,
    LINE_PX,
    SELECTED,
    SLANT_SIN,
    SLANTED,
    SLANTED_LABEL_PX,
    TITLE_FONT,
    PaintedDots,
    axis_labels,
    dots,
    figure,
    nice_ticks,
    padded,
    set_ticks,
)
from ..tables import RankedList, null_line, verdict_line
from ..textfit import fit_quoted, tick_step
from .base import View

SIMILARITY_WIDTH = 760  # px, the similarity figure at its narrowest: every label of a 30-token text C
TOKENS_MARGIN = {"top": 44, "bottom": 100, "left": 70, "right": 20}  # room for the slanted token labels
LEGEND_ROOM = 0.6  # headroom above the mean vectors, a fraction of their range: the legend sits there


class TargetView(View):
    title = "Part 2 · Token-average target vector"
    explanation = (
        "Average each text's vectors at the chosen layer; the target extrapolates A → B one step further "
        "(B + α(B − A)). The C token closest (cosine) to the target is the recommendation. Click a C token to select it."
    )
    slice_traits = ("layer", "alpha", "token", "top_k", "permutations")

    def build(self):
        dims, values = bq.LinearScale(), bq.LinearScale()
        self.values = values
        self.means = bq.Lines(
            x=np.zeros(1),
            y=np.zeros((2, 1)),
            scales={"x": dims, "y": values},
            colors=["#1f77b4", "#d62728"],
            labels=["Mean vector A", "Mean vector B"],
            display_legend=True,
            stroke_width=1,
        )
        self.means_figure = figure(
            "Mean vectors",
            marks=[self.means],
            axes=[
                bq.Axis(scale=dims, label="Embedding dimension"),
                bq.Axis(scale=values, side="left", label="Value", label_offset="55px", tick_format=".2~g"),
            ],
            legend_location="top-right",
            min_width=460,
        )
        sx, sy = bq.LinearScale(), bq.LinearScale()
        self.scatter = PaintedDots(sx, sy, [("#2a9d8f", "#14544c")])  # one dot per dimension
        self.scatter_figure = figure(
            "Mean A vs mean B",
            marks=[self.scatter.mark],
            axes=[
                bq.Axis(scale=sx, label="Mean vector A", tick_format=".2~g"),
                bq.Axis(scale=sy, side="left", label="Mean vector B", label_offset="55px", tick_format=".2~g"),
            ],
            min_width=460,
        )
        self.tokens = tokens = bq.OrdinalScale()
        self.cos = cos = bq.LinearScale()
        self.similarity = dots(
            tokens,
            cos,
            size=140,
            fill="#b07aa1",
            ring=INK,
            tooltip=bq.Tooltip(fields=["x", "y"], labels=["Token", "Similarity"], formats=["", ".3f"]),
        )
        self.similarity.on_element_click(self._clicked)
        self.best = dots(tokens, cos, size=300, fill=ACCENT, marker="diamond")
        self.selected = dots(tokens, cos, size=420, fill="transparent", ring=SELECTED)
        self._token_axis = bq.Axis(
            scale=tokens, label="Token of text C", label_offset=f"{TOKENS_MARGIN['bottom'] - 12}px", tick_style=SLANTED
        )
        self.similarity_figure = figure(
            "Similarity of each C token to the target",
            height=320,
            marks=[self.similarity, self.best, self.selected],
            axes=[
                self._token_axis,
                bq.Axis(scale=cos, side="left", label="Cosine similarity", tick_format=".2f"),
            ],
            fig_margin=dict(TOKENS_MARGIN),
            min_width=SIMILARITY_WIDTH,
        )
        top = GridBox(
            [self.means_figure, self.scatter_figure],
            layout=Layout(grid_template_columns="repeat(auto-fit, minmax(460px, 1fr))", width="100%"),
        )
        self.ranking = RankedList("Best C tokens", self._picked, "mlprec-top-tokens")
        self.chance = HTML()
        self.chance.add_class("mlprec-chance-part2")
        self.similarity_figure.layout.flex = f"1 1 {SIMILARITY_WIDTH}px"
        side = VBox([self.ranking.widget], layout=Layout(width="250px", min_width="220px"))
        row = HBox([self.similarity_figure, side], layout=Layout(width="100%", flex_flow="row wrap"))
        return [top, row, self.chance]

    def _picked(self, token):
        self.state.token = int(token)

    def _clicked(self, mark, event):
        index = event.get("data", {}).get("index")
        if index is not None:
            self.state.token = int(index)

    def refresh(self, changed):
        bench, state = self.bench, self.state
        result = bench.target(self.layer, state.alpha)
        labels = np.asarray(axis_labels(bench.labels("C")), dtype=object)
        if changed & {"data", "layer", "alpha"}:
            with self.means.hold_sync():
                self.means.x = np.arange(len(result.mean_a))  # an unchanged array is not re-sent (traittypes)
                self.means.y = np.vstack([result.mean_a, result.mean_b])
            padded(self.values, self.means.y, low=0.05, high=LEGEND_ROOM)
            self.means_figure.axes[1].tick_values = nice_ticks(self.values)
            for axis, values in zip(self.scatter_figure.axes, (result.mean_a, result.mean_b), strict=True):
                padded(axis.scale, values, low=0.08, high=0.08)  # the first ticks stay clear of the corner
                axis.tick_values = nice_ticks(axis.scale)
            self.scatter.show((result.mean_a, result.mean_b))
            self.means_figure.title = f"Mean vectors at layer {self.layer} ({self.vectors})"
            self.scatter_figure.title = f"Mean A vs mean B at layer {self.layer} (S_AB = {result.mean_cosine:.2f})"
            self.tokens.domain = list(labels)
            padded(self.cos, result.target_cosines)
            width = SIMILARITY_WIDTH - TOKENS_MARGIN["left"] - TOKENS_MARGIN["right"]
            set_ticks(
                self._token_axis, list(labels), tick_step(len(labels), width, LINE_PX / SLANT_SIN), SLANTED_LABEL_PX
            )
            with self.similarity.hold_sync():
                self.similarity.x = labels
                self.similarity.y = result.target_cosines
            k = result.recommended
            with self.best.hold_sync():
                self.best.x = labels[k : k + 1]
                self.best.y = result.target_cosines[k : k + 1]
            self.similarity_figure.title = fit_quoted(
                f"Similarity to the target at layer {self.layer}: recommended “{{}}” ({result.target_cosines[k]:.3f})",
                [bench.labels("C")[k]],
                SIMILARITY_WIDTH - 10,
                TITLE_FONT,
            )
        token = self.token
        with self.selected.hold_sync():
            self.selected.x = labels[token : token + 1]
            self.selected.y = result.target_cosines[token : token + 1]
        indices, values = bench.top_tokens(self.layer, state.alpha, state.top_k)
        words = bench.labels("C")
        self.ranking.show(
            [
                (f"{rank}. “{words[k]}”  {value:.3f}", int(k))
                for rank, (k, value) in enumerate(zip(indices, values, strict=True), 1)
            ],
            selected=token,
            heading=f"Best {len(indices)} C tokens at layer {self.layer}",
        )
        if changed & {"data", "layer", "alpha", "permutations"}:
            self.chance.value = self._chance()

    def warm(self, bench, layer):
        state = self.state
        bench.target(layer, state.alpha)
        bench.top_tokens(layer, state.alpha, state.top_k)
        if state.permutations:
            bench.layer_tests(state.alpha, state.permutations)

    def _chance(self) -> str:
        state, bench = self.state, self.bench
        if state.permutations == 0:
            return "<div class='mlprec-chance'>Chance baselines are off (Permutations = 0).</div>"
        tests = bench.layer_tests(state.alpha, state.permutations)
        layer, n = self.layer, state.permutations
        result = tests.baselines[layer]
        word = bench.labels("C")[bench.target(layer, state.alpha).recommended]
        return verdict_line(
            f"“{word}” at layer {layer} (cosine {result.observed:.3f})",
            float(tests.family.p_corrected[layer]),
            f"corrected over the {bench.n_layers} layers",
            f"At this layer alone p = {result.p_value:.3g}; the {n} re-splits reach {result.null_mean:.3f} on "
            f"average, {result.null_p95:.3f} at their 95th percentile.",
            n,
        ) + null_line(n)
