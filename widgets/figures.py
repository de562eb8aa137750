"""bqplot building blocks shared by the views: token axes, heatmaps with markers, figure layout."""

from __future__ import annotations

from collections.abc import Sequence

import bqplot as bq
import numpy as np
from bqplot.traits import array_dimension_bounds, array_serialization
from ipywidgets import Layout, VBox
from traittypes import Array

from .raster import HEATMAP_COLOURS, NULL_COLOUR, PixelImage, ramp, rgb, ringed
from .textfit import abbreviate, fit_quoted, tick_step

MAX_CELLS = 20_000  # GridHeatMap draws one SVG rect per cell: beyond this, blocks are pooled
ACCENT = "#1f9e89"  # marks the best / recommended element
SELECTED = "#ff7f0e"  # marks the user's current choice
INK = "var(--jp-content-font-color1, #000000)"  # the theme's text colour: rings and labels that must show on any background

TICK_FONT = 11  # px, tick labels of the heatmaps
TITLE_FONT = 15  # px, the figure titles (style.py)
LINE_PX = 15  # room one line of tick text needs across its direction
SLANT_SIN = 0.7071  # sin(45°): column labels are turned 45°
MARGIN = {"top": 44, "bottom": 100, "left": 100, "right": 20}  # heatmaps' margins, room for the tick labels
ROW_LABEL_PX = MARGIN["left"] - 40  # a row label's width, left of the axis (the axis label needs the rest)
SLANTED_LABEL_PX = (MARGIN["bottom"] - 40) / SLANT_SIN - 12  # a 45° column label's length, above the axis label
COLORBAR_HEIGHT = 62
# Column labels turned 45° about their end, which sits under the tick: they hang down-left, never into the plot.
SLANTED = {
    "font-size": f"{TICK_FONT}px",
    "text-anchor": "end",
    "transform-box": "fill-box",
    "transform-origin": "100% 50%",
    "transform": "rotate(-45deg)",
}


def axis_labels(labels: Sequence[str]) -> list[str]:
    """Labels made unique for an OrdinalScale: repeats get zero-width spaces, so they still read the same.

    Empty labels become a visible placeholder. [n] -> [n].
    """
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        text = label if label.strip() else repr(label)
        count = seen.get(text, 0)
        seen[text] = count + 1
        out.append(text + "\u200b" * count)
    return out


def blocks(n: int, count: int) -> list[tuple[int, int]]:
    """``range(n)`` cut into ``count`` contiguous (start, stop) blocks of near-equal size."""
    edges = np.linspace(0, n, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def block_max(values: np.ndarray, row_blocks, column_blocks) -> np.ndarray:
    """Maximum of ``values`` [R, C] over each (row block, column block): [len(row_blocks), len(column_blocks)]."""
    if len(row_blocks) == values.shape[0] and len(column_blocks) == values.shape[1]:
        return values
    rows = np.maximum.reduceat(values, [a for a, _ in row_blocks], axis=0)
    return np.maximum.reduceat(rows, [a for a, _ in column_blocks], axis=1)


def block_labels(labels: Sequence[str], spans) -> list[str]:
    """One label per block: the token itself, or "first…last" for a block of several."""
    return [labels[a] if b - a == 1 else f"{labels[a]}…{labels[b - 1]}" for a, b in spans]


def _find(spans, index: int) -> int:
    return int(np.searchsorted([b for _, b in spans], index, side="right"))


def dots(x_scale, y_scale, *, size: int, fill: str, ring: str | None = None, marker: str = "circle", **kwargs):
    """A Scatter with placeholder data: filled with ``fill``, or a ring of colour ``ring`` when
    ``fill`` is "transparent". ``kwargs`` go to bq.Scatter (tooltip, visible...)."""
    ordinal = isinstance(x_scale, bq.OrdinalScale)
    return bq.Scatter(
        x=np.array(["0"], dtype=object) if ordinal else np.zeros(1),
        y=np.array(["0"], dtype=object) if isinstance(y_scale, bq.OrdinalScale) else np.zeros(1),
        scales={"x": x_scale, "y": y_scale},
        marker=marker,
        default_size=size,
        colors=[fill],
        stroke=ring,
        **{"stroke_width": 3 if ring and fill == "transparent" else 1, **kwargs},
    )


def figure(title: str = "", height: int = 300, min_width: int = 260, **kwargs) -> bq.Figure:
    """A figure sized for a 1280x800 projector; ``kwargs`` go to bq.Figure."""
    kwargs.setdefault("fig_margin", {"top": 50, "bottom": 70, "left": 70, "right": 20})
    return bq.Figure(
        title=title,
        layout=Layout(width="100%", height=f"{height}px", min_width=f"{min_width}px"),
        padding_y=0,
        **kwargs,
    )


class TokenGrid(bq.GridHeatMap):
    """A GridHeatMap whose colours stay 2-D: bqplot squeezes them, which breaks a single row or column."""

    color = (
        Array(None, allow_none=True)
        .tag(sync=True, scaled=True, rtype="Color", atype="bqplot.ColorAxis", **array_serialization)
        .valid(array_dimension_bounds(2, 2))
    )


class PaintedDots:
    """Many points (a mean vector's hundreds of dimensions, a text's tokens) painted as one image instead of one
    SVG node each.

    The plot area of scales ``x`` and ``y`` is cut into a grid of ``cells`` (columns, rows; about 3.5 px each
    by default); a cell holding a point of group k is painted in ``colours[k]`` = (colour, dark): the colour
    where one point falls, darker where several do (up to ``dark`` from 4 points on), later groups on top.
    A PixelImage over the scales' limits, so a Layer step sends one small PNG. Set the scales' limits, then
    ``show``. No hover.
    """

    def __init__(self, x: bq.LinearScale, y: bq.LinearScale, colours, cells: tuple[int, int] = (150, 55)):
        self.x, self.y = x, y
        self.colours = [(rgb(colour), rgb(dark)) for colour, dark in colours]
        self.cells = cells
        self.image = PixelImage(x, y)
        self.mark = self.image.mark

    def show(self, *groups: tuple[np.ndarray, np.ndarray]) -> None:
        """Paint each group's points (x [n], y [n]) within the scales' current limits, one group per colour."""
        x_limits, y_limits = (self.x.min, self.x.max), (self.y.min, self.y.max)
        columns, rows = self.cells
        pixels = np.zeros((rows, columns, 4), np.uint8)
        for (x, y), (colour, dark) in zip(groups, self.colours, strict=True):
            counts, _, _ = np.histogram2d(y, x, bins=(rows, columns), range=(y_limits, x_limits))
            counts = counts[::-1]  # first row on top
            here = counts > 0
            shade = (np.minimum(counts[here], 4) - 1)[:, None] / 3  # [cells with a point, 1]
            pixels[here, :3] = np.floor(colour + (dark - colour) * shade + 0.5)
            pixels[here, 3] = 255
        self.image.show(pixels, x_limits, y_limits)


class ColorBar:
    """A horizontal colour bar drawn as a figure of its own, under a heatmap and aligned with its plot.

    (bqplot's ColorAxis is drawn outside the plot area, where its numbers get cut.) The strip is painted once
    (HEATMAP_COLOURS from left to right); ``limits`` only moves the numbers of its axis.
    """

    STEPS = 256

    def __init__(self, label: str, left: int, right: int, min_width: int):
        self.values = bq.LinearScale(min=0.0, max=1.0)
        colours = ramp(np.linspace(0.0, 1.0, self.STEPS)[None, :], 0.0, 1.0)
        self.strip = PixelImage(bq.LinearScale(min=0.0, max=1.0), bq.LinearScale(min=0.0, max=1.0), colours).mark
        self.axis = bq.Axis(
            scale=self.values,
            num_ticks=5,
            tick_format=".3g",
            label=label,
            label_offset="34px",
            grid_lines="none",
            tick_style={"font-size": f"{TICK_FONT}px"},
        )
        self.figure = figure(
            height=COLORBAR_HEIGHT,
            min_width=min_width,
            marks=[self.strip],
            axes=[self.axis],
            fig_margin={"top": 4, "bottom": COLORBAR_HEIGHT - 22, "left": left, "right": right},
        )
        self.figure.add_class("mlprec-colorbar")

    def limits(self, low: float, high: float) -> None:
        with self.values.hold_sync():
            self.values.min, self.values.max = float(low), float(high)


class HeatmapFigure:
    """A GridHeatMap with text labels on both axes, a colour bar under it and optional marker cells.

    ``rows_up`` puts the first row at the bottom (layers); otherwise at the top (tokens).
    Hover shows row, column and value under the given names, with the full tokens. Tick labels are
    thinned and abbreviated so that they never overlap or leave the figure at ``min_width`` or wider;
    column labels are turned 45° and hang from their tick. ``widget`` holds the figure and its colour bar.
    ``painted`` draws the cells as one kernel-coloured image instead (PixelImage: much faster to redraw, but
    no hover and no clicks), for heatmaps that change with every Layer step.
    """

    def __init__(
        self,
        title: str,
        row_name: str,
        column_name: str,
        value_name: str,
        rows_up: bool,
        height: int = 300,
        colorbar: bool = True,
        marker: bool = False,
        painted: bool = False,
        min_width: int = 300,
    ):
        self.rows_up = rows_up
        self.height, self.min_width = height, min_width
        self.rows = bq.OrdinalScale()
        self.columns = bq.OrdinalScale()
        self.colors = bq.ColorScale(colors=list(HEATMAP_COLOURS), min=0.0, max=1.0)
        if painted:  # the ordinal scales above only carry the axes and markers, aligned with these
            self.cell_x, self.cell_y = bq.LinearScale(min=-0.5, max=0.5), bq.LinearScale(min=-0.5, max=0.5)
            self.image = PixelImage(self.cell_x, self.cell_y)
            self.mark = self.image.mark
        else:
            self.mark = TokenGrid(
                row=np.array(["0"]),
                column=np.array(["0"]),
                color=np.zeros((1, 1)),
                scales={"row": self.rows, "column": self.columns, "color": self.colors},
                tooltip=bq.Tooltip(
                    fields=["row", "column", "color"],
                    labels=[row_name, column_name, value_name],
                    formats=["", "", ".3f"],
                ),
                stroke="transparent",
                null_color=NULL_COLOUR,
            )
        self.painted = painted
        self.shown: np.ndarray | None = None  # what is drawn [drawn rows, drawn columns], row 0 first
        self.ring: tuple[int, int] | None = None  # the drawn cell ringed inside a painted grid's picture
        # A painted grid's axes and markers sit on its own cell scales: bqplot places ordinal positions with
        # padding of its own, off the painted cells by up to half a cell.
        along_x, along_y = (self.cell_x, self.cell_y) if painted else (self.columns, self.rows)
        self.column_axis = bq.Axis(
            scale=along_x,
            label=column_name,
            label_offset=f"{MARGIN['bottom'] - 12}px",
            tick_style=SLANTED,
            grid_lines="none",
        )
        self.row_axis = bq.Axis(
            scale=along_y,
            side="left",
            label=row_name,
            label_offset=f"{MARGIN['left'] - 14}px",
            tick_style={"font-size": f"{TICK_FONT}px"},
            grid_lines="none",
        )
        marks = [self.mark]
        self.markers: dict[str, bq.Scatter] = {}
        if marker:
            for name, shape, colour in (("best", "square", ACCENT), ("picked", "circle", SELECTED)):
                size = 120 if name == "best" else 160
                self.markers[name] = dots(
                    along_x, along_y, size=size, fill="transparent", ring=colour, marker=shape, visible=False
                )
            marks.extend(self.markers.values())
        self.marker = self.markers.get("best")
        self.figure = figure(
            title,
            height=height,
            min_width=min_width,
            marks=marks,
            axes=[self.column_axis, self.row_axis],
            fig_margin=dict(MARGIN),
        )
        self.colorbar = ColorBar(value_name, MARGIN["left"], MARGIN["right"], min_width) if colorbar else None
        parts = [self.figure] + ([self.colorbar.figure] if self.colorbar else [])
        self.widget = VBox(parts, layout=Layout(width="100%", min_width=f"{min_width}px"))

    @property
    def plot_size(self) -> tuple[float, float]:
        """The plot area's smallest width and its height, in pixels."""
        return (
            self.min_width - MARGIN["left"] - MARGIN["right"],
            self.height - MARGIN["top"] - MARGIN["bottom"],
        )

    def show(
        self, rows: Sequence[str], columns: Sequence[str], values: np.ndarray, ring: tuple[int, int] | None = None
    ) -> None:
        """Draw ``values`` [len(rows), len(columns)] with the given labels (repeats allowed).

        Beyond MAX_CELLS cells (one SVG rect each), contiguous blocks of rows and columns are shown as
        one cell holding their maximum, labelled "first…last". A painted grid can ring the drawn cell holding
        data cell ``ring`` (row, column) inside its picture, in ACCENT: a marker that costs no message.
        """
        values = np.asarray(values, dtype=np.float64)
        self.row_blocks = blocks(len(rows), self._plan(len(rows), len(columns))[0])
        self.column_blocks = blocks(len(columns), self._plan(len(rows), len(columns))[1])
        pooled = block_max(values, self.row_blocks, self.column_blocks)
        self.shown = pooled
        self.ring = None if ring is None else self.cell(*ring)  # the drawn cell, row 0 first
        rows = axis_labels(block_labels(rows, self.row_blocks))
        columns = axis_labels(block_labels(columns, self.column_blocks))
        self._row_labels, self._column_labels = rows, columns
        width, height = self.plot_size
        row_step, column_step = (
            tick_step(len(rows), height, LINE_PX),
            tick_step(len(columns), width, LINE_PX / SLANT_SIN),
        )
        if self.painted:
            self._paint(pooled)
            set_cell_ticks(self.row_axis, rows, row_step, ROW_LABEL_PX, flip=not self.rows_up)
            set_cell_ticks(self.column_axis, columns, column_step, SLANTED_LABEL_PX, flip=False)
            return
        self._grid(pooled, rows, columns)
        # A vertical OrdinalScale puts the first domain entry at the bottom.
        self.rows.domain = rows if self.rows_up else rows[::-1]
        self.columns.domain = columns
        set_ticks(self.row_axis, rows, row_step, ROW_LABEL_PX)
        set_ticks(self.column_axis, columns, column_step, SLANTED_LABEL_PX)

    def _paint(self, values: np.ndarray) -> None:
        """Colour ``values`` [R, C] (row 0 first) in the kernel at the current limits; cell (i, j) is centred
        on (j, i) of the cell scales (row i at R - 1 - i when rows run down)."""
        rows, columns = values.shape
        pixels = ramp(values[::-1] if self.rows_up else values, self.colors.min, self.colors.max)  # top row first
        if self.ring is not None:
            row, column = self.ring
            pixels = ringed(pixels, (rows - 1 - row if self.rows_up else row, column), ACCENT)
        self.image.show(pixels, (-0.5, columns - 0.5), (-0.5, rows - 0.5))
        for scale, n in ((self.cell_x, columns), (self.cell_y, rows)):
            if (scale.min, scale.max) != (-0.5, n - 0.5):
                with scale.hold_sync():
                    scale.min, scale.max = -0.5, n - 0.5

    def _grid(self, pooled: np.ndarray, rows: list[str], columns: list[str]) -> None:
        with self.mark.hold_sync():  # colours first: bqplot checks rows and columns against them
            self.mark.color = pooled
            if list(self.mark.row) != rows:  # labels are re-sent only when they change
                self.mark.row = np.asarray(rows, dtype=object)
            if list(self.mark.column) != columns:
                self.mark.column = np.asarray(columns, dtype=object)

    @staticmethod
    def _plan(n_rows: int, n_columns: int) -> tuple[int, int]:
        """How many row and column blocks to draw so that at most MAX_CELLS cells remain."""
        if n_rows * n_columns <= MAX_CELLS:
            return n_rows, n_columns
        row_blocks = min(n_rows, max(int(MAX_CELLS**0.5), MAX_CELLS // n_columns))
        return row_blocks, min(n_columns, MAX_CELLS // row_blocks)

    def cell(self, row: int, column: int) -> tuple[int, int]:
        """The drawn cell (row block, column block) holding data cell (row, column)."""
        return _find(self.row_blocks, row), _find(self.column_blocks, column)

    def data_ranges(self, row_block: int, column_block: int) -> tuple[range, range]:
        """The data rows and columns behind a drawn cell."""
        return range(*self.row_blocks[row_block]), range(*self.column_blocks[column_block])

    def limits(self, low: float, high: float) -> None:
        """Colour limits; a degenerate range is widened so the scale stays valid. A painted grid is
        repainted when they change."""
        if not high > low:
            high = low + 1e-6
        if (self.colors.min, self.colors.max) == (float(low), float(high)):
            return
        with self.colors.hold_sync():
            self.colors.min = float(low)
            self.colors.max = float(high)
        if self.colorbar:
            self.colorbar.limits(low, high)
        if self.painted and self.shown is not None:
            self._paint(self.shown)

    def set_title(self, template: str, *words: str) -> None:
        """Title ``template.format(*words)``, the quoted words abbreviated until it fits the figure."""
        self.figure.title = fit_quoted(template, words, self.min_width - 10, TITLE_FONT)

    def mark_cell(self, row: int, column: int, which: str = "best") -> None:
        """Put marker ``which`` ("best": a square, "picked": a ring) on the drawn cell holding (row, column)."""
        row_block, column_block = self.cell(row, column)
        marker = self.markers[which]
        with marker.hold_sync():
            if self.painted:
                marker.x = np.array([float(column_block)])
                marker.y = np.array([float(self._row_position(row_block))])
            else:
                marker.x = np.array([self._column_labels[column_block]], dtype=object)
                marker.y = np.array([self._row_labels[row_block]], dtype=object)
            marker.visible = True

    def hide_marker(self, which: str) -> None:
        self.markers[which].visible = False

    def marked_cell(self, which: str = "best") -> tuple[int, int] | None:
        """The drawn cell (row block, column block) marker ``which`` is on; None while it is hidden."""
        marker = self.markers[which]
        if not marker.visible:
            return None
        if self.painted:
            return self._row_position(int(marker.y[0])), int(marker.x[0])
        return self._row_labels.index(marker.y[0]), self._column_labels.index(marker.x[0])

    def _row_position(self, row_block: int) -> int:
        """Where drawn row ``row_block`` sits on a painted grid's row scale (and back: it is its own inverse)."""
        return row_block if self.rows_up else len(self._row_labels) - 1 - row_block


def ordinal_ticks(count: int, num_ticks: int | None) -> list[int]:
    """The positions bqplot labels on an ordinal axis of ``count`` entries: it ignores ``tick_values`` there
    and, when ``num_ticks`` is below ``count``, labels every floor(count / (num_ticks - 1))-th entry."""
    if num_ticks is None or count <= num_ticks:
        return list(range(count))
    return list(range(0, count, count // (num_ticks - 1)))


def set_ticks(axis: bq.Axis, labels: Sequence[str], step: int, max_px: float) -> None:
    """Label at most every ``step``-th entry of an ordinal axis, each abbreviated to ``max_px`` (the full label
    stays in the scale's domain, so hovering a cell shows it)."""
    axis.num_ticks = max(2, len(labels) // step + 1) if step > 1 else None
    short = {label: abbreviate(label, max_px, TICK_FONT) for label in labels}
    axis.tick_labels = {label: text for label, text in short.items() if text != label} or None


def set_cell_ticks(axis: bq.Axis, labels: Sequence[str], step: int, max_px: float, flip: bool) -> None:
    """The ticks of a painted grid's cell axis: the entries set_ticks would label, at their cell centres
    (0 to n - 1; ``flip``: entry k at n - 1 - k), abbreviated to ``max_px``. Re-sent only when they change."""
    n = len(labels)
    entries = ordinal_ticks(n, max(2, n // step + 1) if step > 1 else None)
    positions = [n - 1 - k if flip else k for k in entries]
    texts = {
        str(position): abbreviate(labels[k], max_px, TICK_FONT) for position, k in zip(positions, entries, strict=True)
    }
    if axis.tick_labels != texts or list(axis.tick_values if axis.tick_values is not None else []) != positions:
        with axis.hold_sync():
            axis.tick_values = np.asarray(positions, dtype=np.float64)
            axis.tick_labels = texts


def padded(scale: bq.LinearScale, values: np.ndarray, low: float = 0.1, high: float = 0.2) -> None:
    """Fit ``scale`` to ``values`` with room below and above (fractions of their range) for markers and labels."""
    lo, hi = float(np.min(values)), float(np.max(values))
    span = hi - lo or max(abs(hi), 1e-3)
    hold_range(scale, lo - low * span, hi + high * span)


KEEP_FILL = 0.7  # a scale's range stays while what it must show fills at least this fraction of it
SLACK = 0.1  # a changed range reaches this fraction of its width beyond what it must show, on each side


def hold_range(scale: bq.LinearScale, low: float, high: float) -> None:
    """Make ``scale`` show [low, high]; its current range stays when it already does and is at most 1 / KEEP_FILL
    as wide, so that stepping through layers moves the marks, not the axes (a changed range also redraws every
    mark and axis on the scale in the browser)."""
    if scale.min is not None and scale.max is not None:
        if scale.min <= low and high <= scale.max and high - low >= KEEP_FILL * (scale.max - scale.min):
            return
    slack = SLACK * (high - low)
    with scale.hold_sync():
        scale.min = low - slack
        scale.max = high + slack


def nice_ticks(scale: bq.LinearScale, count: int = 5) -> np.ndarray:
    """About ``count`` round tick values (1, 2, 2.5 or 5 times a power of ten apart) within the scale's limits."""
    low, high = scale.min, scale.max
    power = 10.0 ** np.floor(np.log10((high - low) / count))
    step = min((m * power for m in (1, 2, 2.5, 5, 10)), key=lambda step: abs((high - low) / step - count))
    return np.arange(np.ceil(low / step), np.floor(high / step) + 1) * step


def percentile_limits(values: np.ndarray, percentiles: tuple[float, float]) -> tuple[float, float]:
    """Colour limits at the given percentiles of ``values`` (any shape)."""
    low, high = np.percentile(np.asarray(values, dtype=np.float64), percentiles)
    return float(low), float(high)
