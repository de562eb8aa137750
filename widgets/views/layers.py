"""Part 3: the recommended C token and its similarity at every layer."""

from __future__ import annotations

import bqplot as bq
import numpy as np
from ipywidgets import HTML

from ..figures import INK, SELECTED, TICK_FONT, dots, figure, padded
from ..tables import LEVEL, null_line, p_pair
from ..textfit import abbreviate
from .base import View

FILLED = "#e7a3a3"
LAYERS_WIDTH = 520  # px, the figure at its narrowest (a Compare column)


class LayersView(View):
    title = "Part 3 · Recommendations through the layers"
    explanation = (
        "Repeat Part 2 at every layer: each point is the best C token at that layer (its text above the point). "
        "The ringed point is the current layer; click a point to move there. Filled points beat chance "
        "(p < 0.05 after correcting for testing every layer); hollow ones do not. Hover a point for its p-values."
    )
    slice_traits = ("layer", "alpha", "permutations")

    def build(self):
        self.layers, self.cos = layers, cos = bq.LinearScale(), bq.LinearScale()
        self.points = dots(
            layers,
            cos,
            size=200,
            fill=FILLED,
            ring=INK,
            stroke_width=2,
            tooltip=bq.Tooltip(
                fields=["x", "y", "name"], labels=["Layer", "Similarity", "Chance"], formats=["d", ".3f", ""]
            ),
            names_unique=False,
            display_names=False,
        )
        self.points.on_element_click(self._clicked)
        self.labels = bq.Label(
            x=np.zeros(1),
            y=np.zeros(1),
            text=[""],
            scales={"x": layers, "y": cos},
            y_offset=-18,
            align="middle",
            font_weight="bold",
            default_size=13,
            colors=[INK],
        )
        self.current = dots(layers, cos, size=520, fill="transparent", ring=SELECTED)
        self._layer_axis = bq.Axis(scale=layers, label="Transformer layer", tick_format="d")
        self.figure = figure(
            "Recommended token at each layer",
            height=300,
            min_width=LAYERS_WIDTH,
            marks=[self.points, self.labels, self.current],
            axes=[
                self._layer_axis,
                bq.Axis(scale=cos, side="left", label="Cosine similarity", tick_format=".2f"),
            ],
        )
        self.chance = HTML()
        self.chance.add_class("mlprec-chance-part3")
        return [self.figure, self.chance]

    def _clicked(self, mark, event):
        index = event.get("data", {}).get("index")
        if index is not None:
            self.state.layer = int(index)

    def _chance(self, cosines) -> None:
        state = self.state
        if state.permutations == 0:
            self.points.colors = [FILLED]
            self.points.names = None
            self.chance.value = "<div class='mlprec-chance'>Chance baselines are off (Permutations = 0).</div>"
            return
        family = self.bench.layer_tests(state.alpha, state.permutations).family
        beaten = family.p_corrected < LEVEL
        with self.points.hold_sync():
            self.points.colors = [FILLED if filled else "transparent" for filled in beaten]
            self.points.names = [p_pair(c, u) for c, u in zip(family.p_corrected, family.p_values, strict=True)]
        self.chance.value = (
            f"<div class='mlprec-chance'><b>Filled points</b>: {int(beaten.sum())} of {len(beaten)} layers beat "
            f"chance at p < {LEVEL:g}, corrected over the {len(beaten)} layers (hover a point for its corrected "
            "and uncorrected p-values).</div>" + null_line(state.permutations)
        )

    def refresh(self, changed):
        tokens, cosines = self.bench.recommendations(self.state.alpha)
        if changed & {"data", "alpha"}:
            layers = np.arange(len(tokens), dtype=np.float64)
            room = (LAYERS_WIDTH - 90) / len(tokens) - 4  # each point's label stays within its column
            words = [abbreviate(self.bench.labels("C")[k], room, TICK_FONT + 2) for k in tokens]
            with self.points.hold_sync():
                self.points.x, self.points.y = layers, cosines
            with self.labels.hold_sync():
                self.labels.x, self.labels.y, self.labels.text = layers, cosines, words
            with self.layers.hold_sync():
                self.layers.min, self.layers.max = -0.5, len(layers) - 0.5
            self._layer_axis.tick_values = layers
            padded(self.cos, cosines)
            self.figure.title = f"Recommended token at each layer ({self.vectors})"
        if changed & {"data", "alpha", "permutations"}:
            self._chance(cosines)
        layer = self.layer
        with self.current.hold_sync():
            self.current.x = np.array([float(layer)])
            self.current.y = cosines[layer : layer + 1]
