"""Heatmaps painted in the kernel: values -> colours of a ramp -> one PNG, shown by a bqplot Image mark.

bqplot's own HeatMap fills a canvas cell by cell and encodes it as PNG in the browser on every redraw (about
35 ms of Chromium's main thread per Layer step for Part 4's five heatmaps and Part 2's scatter). Here the
kernel does that in about a millisecond per picture and the browser only swaps the picture. The PNG travels
as a data URL, so the figure exports (SVG and PNG, drawn by the browser) carry it.
"""

from __future__ import annotations

import base64
import struct
import zlib

import bqplot as bq
import numpy as np
from ipywidgets import Image

# The heatmaps' colour ramp: magma (matplotlib's colour map, CC0) at 9 evenly spaced points. bqplot's
# ColorScale(colors=RAMP) interpolates linearly in RGB between them, as ``colours`` does.
RAMP = ("#000004", "#1d1147", "#51127c", "#832681", "#b73779", "#e55064", "#fb8761", "#fec287", "#fcfdbf")
NULL_COLOUR = "#888888"  # cells without a value (NaN)
PICTURE_PX = 256  # a picture's longer side is scaled up to about this many pixels, by whole cells


def rgba(colour: str) -> tuple[int, int, int, int]:
    """"#rrggbb" or "transparent" as 0-255 (red, green, blue, alpha)."""
    if colour == "transparent":
        return (0, 0, 0, 0)
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), 255)


def colours(
    values: np.ndarray, low: float, high: float, ramp=RAMP, null: str = NULL_COLOUR
) -> np.ndarray:
    """RGBA uint8 [R, C, 4] of ``values`` [R, C]: ``low`` .. ``high`` spread evenly over the ramp's colours,
    linearly between neighbours (clamped outside the limits); NaN gets ``null``."""
    stops = np.array([rgba(colour) for colour in ramp], dtype=np.float64)
    position = (np.asarray(values, dtype=np.float64) - low) / ((high - low) or 1.0) * (len(stops) - 1)
    missing = np.isnan(position)
    position = np.clip(np.where(missing, 0.0, position), 0.0, len(stops) - 1)
    left = np.minimum(position.astype(np.int64), len(stops) - 2)
    weight = (position - left)[..., None]
    out = np.floor(stops[left] * (1.0 - weight) + stops[left + 1] * weight + 0.5).astype(np.uint8)  # as d3 rounds
    out[missing] = rgba(null)
    return out


def png(pixels: np.ndarray) -> bytes:
    """The PNG file of RGBA pixels uint8 [H, W, 4] (row 0 at the top). Every row is stored as its difference
    from the row above (PNG's "Up" filter), so repeated rows cost almost nothing."""
    height, width, _ = pixels.shape
    rows = np.empty((height, 1 + 4 * width), dtype=np.uint8)
    rows[:, 0] = 2  # filter: Up
    flat = pixels.reshape(height, 4 * width)
    rows[0, 1:] = flat[0]
    rows[1:, 1:] = flat[1:] - flat[:-1]  # modulo 256, as PNG's Up filter

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b"")


def picture_url(cells: np.ndarray) -> bytes:
    """A data URL of the PNG of RGBA cells [R, C, 4] (row 0 at the top), each cell a square of whole pixels
    so that the longer side is about PICTURE_PX: crisp when scaled, in the page and in exports."""
    side = max(1, PICTURE_PX // max(cells.shape[:2]))
    pixels = np.repeat(np.repeat(cells, side, axis=0), side, axis=1)
    return b"data:image/png;base64," + base64.b64encode(png(pixels))


class PaintedCells:
    """Cells [R, C] drawn as one picture by a bqplot Image mark (``mark``) on scales ``x`` and ``y``: cell
    (i, j) is centred on (j, i), so the picture spans -0.5 .. C - 0.5 and -0.5 .. R - 0.5, row 0 at the
    bottom. ``paint`` sends a picture only when it differs from the one shown."""

    def __init__(self, x: bq.LinearScale, y: bq.LinearScale):
        # bqplot redraws an Image mark when its picture widget is replaced, not when that widget's value
        # changes: two widgets take turns.
        self._pictures = [Image(format="url", value=b""), Image(format="url", value=b"")]
        self.mark = bq.Image(image=self._pictures[0], x=[-0.5, 0.5], y=[-0.5, 0.5], scales={"x": x, "y": y})

    def paint(self, cells: np.ndarray) -> None:
        """Show RGBA cells uint8 [R, C, 4], row 0 at the bottom."""
        url = picture_url(cells[::-1])
        shown = self.mark.image
        if bytes(shown.value) == url:
            return
        spare = self._pictures[1] if shown is self._pictures[0] else self._pictures[0]
        spare.value = url
        rows, columns = cells.shape[:2]
        with self.mark.hold_sync():
            self.mark.image = spare
            self.mark.x, self.mark.y = [-0.5, columns - 0.5], [-0.5, rows - 0.5]

    @property
    def url(self) -> bytes:
        """The data URL of the picture shown (b"" before the first ``paint``)."""
        return bytes(self.mark.image.value)
