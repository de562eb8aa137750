"""The picture every lecturer draws on the board: A -> B -> target in the plane of the first two principal
components of the three texts' tokens at the layer (core.geometry)."""

from __future__ import annotations

import bqplot as bq
import numpy as np
from ipywidgets import HTML

from core.companions import companion
from core.geometry import GeometryFits

from ..figures import ACCENT, INK, SELECTED, PaintedDots, dots, figure
from .extra import ExtraView

COLOURS = {"A": "#1f77b4", "B": "#d62728", "C": "#9467bd"}
HEAD = 0.035  # arrowhead length, as a fraction of the axes' spans
LABEL_ROOM = (0.07, 0.08)  # a mean's name needs this fraction of the x and y axes (~60 x 20 px at 1024 px wide)
FRAME_X, FRAME_Y = (-1.08, 1.08), (-1.08, 1.2)  # the plot's fixed limits; room above for the means' names
TICKS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
CLOUD_CELLS = (200, 64)  # A's and B's tokens are painted in cells of about 4-6 x 5 px of the 320 px high plot


def names_fit(points: np.ndarray, spans: tuple[float, float]) -> bool:
    """Whether the names beside ``points`` [m, 2] stay apart: no two points closer than LABEL_ROOM in both
    axis fractions (``spans`` = the axes' x and y widths)."""
    apart = np.abs(points[:, None, :] - points[None, :, :]) / np.asarray(spans, dtype=np.float64)
    close = (apart < np.asarray(LABEL_ROOM)).all(axis=2)
    return not close[np.triu_indices(len(points), k=1)].any()


def largest_values(points: dict[str, np.ndarray], means: np.ndarray) -> np.ndarray:
    """Each principal component's largest |value| over the tokens ``points`` (text -> [n, 2]) and the ``means``
    [3, 2]: the plot's unit per axis [2] (1 where every value is 0), so that everything fits the fixed frame."""
    largest = np.abs(np.vstack([*points.values(), means])).max(axis=0)
    return np.where(largest > 0, largest, 1.0)


def arrow_segments(points: np.ndarray, spans: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Line segments drawing arrows along ``points`` [m, 2] (m - 1 shafts, two head strokes each), heads sized
    in axis fractions (``spans`` = x and y span): x and y as [3 (m - 1), 2]."""
    scale = np.asarray(spans, dtype=np.float64)
    xs, ys = [], []
    for start, end in zip(points[:-1], points[1:], strict=True):
        xs.append([start[0], end[0]])
        ys.append([start[1], end[1]])
        direction = (end - start) / scale
        length = np.linalg.norm(direction)
        if length == 0:
            continue
        direction /= length
        for angle in (2.6, -2.6):  # about 150 degrees back from the tip on either side
            c, s = np.cos(angle), np.sin(angle)
            back = np.array([c * direction[0] - s * direction[1], s * direction[0] + c * direction[1]])
            tip = end + HEAD * back * scale
            xs.append([end[0], tip[0]])
            ys.append([end[1], tip[1]])
    return np.asarray(xs), np.asarray(ys)


class GeometryView(ExtraView):
    title = "Geometry · A → B → target"
    explanation = (
        "Every analysed token of A, B and C at the chosen layer, in the plane of their first two principal "
        "components (exact PCA); mean A (blue), mean B (red) and the target (green) are the diamonds, with arrows "
        "A → B → target (named beside them unless they lie too close; hover names them too); the line above the plot "
        "gives the layer and each axis' share of the variance. Each axis is divided by its largest absolute value at the layer, so the frame "
        "stays put while you step through the layers. A's and B's tokens are painted as small squares; C's are "
        "dots: hover one for its token, click it to select it. The recommended C token is ringed in green, the "
        "selected one in orange."
    )
    css_class = "mlprec-geometry"
    slice_traits = ("layer", "alpha", "token")

    def build(self):
        self.x, self.y = bq.LinearScale(min=FRAME_X[0], max=FRAME_X[1]), bq.LinearScale(min=FRAME_Y[0], max=FRAME_Y[1])
        # A's and B's tokens: one painted image (a Layer step moves them without one SVG node per token);
        # C's: SVG dots, which name their token on hover and select it on a click.
        self.cloud = PaintedDots(self.x, self.y, [(COLOURS[name], COLOURS[name]) for name in "AB"], CLOUD_CELLS)
        self.c_points = bq.Scatter(
            x=np.zeros(1),
            y=np.zeros(1),
            names=[""],
            display_names=False,
            scales={"x": self.x, "y": self.y},
            colors=[COLOURS["C"]],
            default_size=60,
            opacities=[0.75],
            tooltip=bq.Tooltip(fields=["name"], labels=["Token"]),
        )
        self.c_points.on_element_click(self._clicked)
        self.arrows = bq.Lines(
            x=np.zeros((1, 2)),
            y=np.zeros((1, 2)),
            scales={"x": self.x, "y": self.y},
            colors=[INK],
            stroke_width=2,
        )
        self.means = bq.Scatter(
            x=np.zeros(3),
            y=np.zeros(3),
            scales={"x": self.x, "y": self.y},
            colors=[COLOURS["A"], COLOURS["B"], ACCENT],
            default_size=260,
            marker="diamond",
            stroke="black",
            names=["mean A", "mean B", "target"],
            display_names=True,
            tooltip=bq.Tooltip(fields=["name"], labels=["Vector"]),
        )
        self.recommended = dots(self.x, self.y, size=420, fill="transparent", ring=ACCENT)
        self.selected = dots(self.x, self.y, size=640, fill="transparent", ring=SELECTED)
        self.x_axis = bq.Axis(scale=self.x, label="PC1 / largest |PC1|", tick_values=TICKS, tick_format=".2~g")
        self.y_axis = bq.Axis(
            scale=self.y,
            side="left",
            label="PC2 / largest |PC2|",
            label_offset="50px",
            tick_values=TICKS,
            tick_format=".2~g",
        )
        self.figure = figure(
            "A → B → target",
            height=440,
            # the painted cloud and the rings first: drawn under the C dots, they leave every dot clickable
            marks=[
                self.cloud.mark,
                self.recommended,
                self.selected,
                self.c_points,
                self.arrows,
                self.means,
            ],
            axes=[self.x_axis, self.y_axis],
        )
        self.key = HTML()  # above the plot, not in it: a legend inside the fixed frame would cover its corner's points
        self.show_key("")
        return [self.key, self.figure]

    def show_key(self, layer_line: str) -> None:
        """The line above the plot: ``layer_line`` (the layer and the axes' shares of the variance: in the title,
        their change with every Layer step would make bqplot measure the page again), then the marks' key."""
        self.key.value = (
            "<div class='mlprec-geometry-key'>"
            + (f"<span class='mlprec-geometry-layer'>{layer_line}</span>" if layer_line else "")
            + "".join(
                f"<span><span style='color:{COLOURS[name]}'>{symbol}</span> Text {name}</span>"
                for name, symbol in (("A", "■"), ("B", "■"), ("C", "●"))
            )
            + "<span>"
            + "".join(f"<span style='color:{colour}'>◆</span>" for colour in (COLOURS["A"], COLOURS["B"], ACCENT))
            + " mean A, mean B, target</span></div>"
        )

    def warm(self, bench, layer):
        companion(bench, GeometryFits).fit(layer)

    def refresh(self, changed):
        bench, state = self.bench, self.state
        fit = companion(bench, GeometryFits).at(self.layer, state.alpha)
        unit = largest_values(fit.points, fit.means)
        points = {name: values / unit for name, values in fit.points.items()}
        means = fit.means / unit
        spans = (FRAME_X[1] - FRAME_X[0], FRAME_Y[1] - FRAME_Y[0])
        if changed & {"data", "layer", "alpha"}:
            self.cloud.show(*(points[name].T for name in "AB"))
            with self.c_points.hold_sync():
                self.c_points.x, self.c_points.y = points["C"][:, 0], points["C"][:, 1]
                self.c_points.names = list(bench.labels("C"))
            with self.means.hold_sync():
                self.means.x, self.means.y = means[:, 0], means[:, 1]
                self.means.display_names = names_fit(means, spans)
            xs, ys = arrow_segments(means, spans)
            with self.arrows.hold_sync():
                self.arrows.x, self.arrows.y = xs, ys
            first, second = fit.explained * 100
            self.figure.title = f"A → B → target ({self.vectors}, α = {state.alpha:g})"
            self.show_key(f"At layer {self.layer}: PC1 {first:.1f}%, PC2 {second:.1f}% of the variance")
            k = bench.target(self.layer, state.alpha).recommended
            with self.recommended.hold_sync():
                self.recommended.x = points["C"][k : k + 1, 0]
                self.recommended.y = points["C"][k : k + 1, 1]
        token = self.token
        with self.selected.hold_sync():
            self.selected.x = points["C"][token : token + 1, 0]
            self.selected.y = points["C"][token : token + 1, 1]

    def _clicked(self, mark, event):
        """A click on a C point selects that token."""
        index = event.get("data", {}).get("index")
        if index is not None:
            self.state.token = int(index)
