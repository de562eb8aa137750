"""Part 3: the recommended C token and its similarity at every layer."""

from __future__ import annotations

import bqplot as bq
import numpy as np

from ..figures import SELECTED, figure, padded
from .base import View


class LayersView(View):
    title = "Part 3 · Recommendations through the layers"
    explanation = (
        "Repeat Part 2 at every layer: each point is the best C token at that layer (its text above the point). "
        "The ringed point is the current layer; click a point to move there."
    )
    slice_traits = ("layer", "alpha")

    def build(self):
        self.layers, self.cos = layers, cos = bq.LinearScale(), bq.LinearScale()
        self.points = bq.Scatter(
            x=np.zeros(1),
            y=np.zeros(1),
            scales={"x": layers, "y": cos},
            marker="circle",
            default_size=200,
            colors=["#e7a3a3"],
            stroke="black",
            tooltip=bq.Tooltip(fields=["x", "y"], labels=["Layer", "Similarity"], formats=["d", ".3f"]),
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
        )
        self.current = bq.Scatter(
            x=np.zeros(1),
            y=np.zeros(1),
            scales={"x": layers, "y": cos},
            marker="circle",
            default_size=520,
            colors=["transparent"],
            stroke=SELECTED,
            stroke_width=3,
        )
        self._layer_axis = bq.Axis(scale=layers, label="Transformer layer", tick_format="d")
        self.figure = figure(
            "Recommended token at each layer",
            height=300,
            marks=[self.points, self.labels, self.current],
            axes=[
                self._layer_axis,
                bq.Axis(scale=cos, side="left", label="Cosine similarity", tick_format=".2f"),
            ],
        )
        return [self.figure]

    def _clicked(self, mark, event):
        index = event.get("data", {}).get("index")
        if index is not None:
            self.state.layer = int(index)

    def refresh(self, changed):
        tokens, cosines = self.bench.recommendations(self.state.alpha)
        if changed & {"data", "alpha"}:
            layers = np.arange(len(tokens), dtype=np.float64)
            words = [self.bench.labels("C")[k] for k in tokens]
            with self.points.hold_sync():
                self.points.x, self.points.y = layers, cosines
            with self.labels.hold_sync():
                self.labels.x, self.labels.y, self.labels.text = layers, cosines, words
            with self.layers.hold_sync():
                self.layers.min, self.layers.max = -0.5, len(layers) - 0.5
            self._layer_axis.tick_values = layers
            padded(self.cos, cosines)
            self.figure.title = f"Recommended token at each layer ({self.vectors})"
        layer = self.state.layer
        with self.current.hold_sync():
            self.current.x = np.array([float(layer)])
            self.current.y = cosines[layer : layer + 1]
