"""Heatmaps coloured in the kernel and shown as one small PNG (one pixel per cell) in a bqplot Image mark.

bqplot's HeatMap paints a canvas the size of the plot area in the browser, cell by cell, and encodes it as PNG
there on every change; here the kernel sends the cells' colours as a PNG of a few hundred bytes, and the browser
only scales it up (pixelated).
"""

from __future__ import annotations

import base64
import struct
import zlib

import bqplot as bq
import numpy as np
from ipywidgets import Image

# The app's heatmap colours: 17 evenly spaced samples of the magma scheme, interpolated linearly in RGB in
# between, as bqplot's ColorScale(colors=...) does in the browser. Kernel-painted and browser-drawn cells agree.
HEATMAP_COLOURS = (
    "#000004", "#0a0822", "#1d1147", "#36106b", "#51127c", "#6a1c81", "#832681", "#9c2e7f", "#b73779",
    "#cf4070", "#e55064", "#f4695c", "#fb8761", "#fea571", "#fec287", "#fde0a1", "#fcfdbf",
)  # fmt: skip
NULL_COLOUR = "#888888"  # cells without a value (NaN)


def rgb(colour: str) -> np.ndarray:
    """Colour "#rrggbb" -> [3] float64 in 0..255."""
    return np.array([int(colour[k : k + 2], 16) for k in (1, 3, 5)], dtype=np.float64)


def ramp(values: np.ndarray, low: float, high: float, colours=HEATMAP_COLOURS) -> np.ndarray:
    """RGBA pixels [..., 4] uint8 for ``values`` [...] on a colour scale from ``low`` to ``high``.

    As bqplot's ColorScale: the colours sit evenly from low to high, channels are interpolated linearly
    in between and rounded half up, values beyond the limits take the end colours, NaN takes NULL_COLOUR.
    """
    anchors = np.stack([rgb(c) for c in colours])
    values = np.asarray(values, dtype=np.float64)
    span = high - low if high > low else 1.0
    position = np.clip(np.nan_to_num((values - low) / span * (len(anchors) - 1)), 0, len(anchors) - 1)
    index = np.minimum(position.astype(int), len(anchors) - 2)
    weight = (position - index)[..., None]
    channels = anchors[index] + (anchors[index + 1] - anchors[index]) * weight
    channels[np.isnan(values)] = rgb(NULL_COLOUR)
    pixels = np.empty((*values.shape, 4), dtype=np.uint8)
    pixels[..., :3] = np.floor(channels + 0.5)
    pixels[..., 3] = 255
    return pixels


RING_SCALE = 3  # a ringed picture has 3 x 3 pixels per cell


def ringed(pixels: np.ndarray, cell: tuple[int, int], colour: str) -> np.ndarray:
    """``pixels`` [R, C, 4] enlarged RING_SCALE times [R k, C k, 4], with a one-pixel ring in ``colour`` just
    around ``cell`` (row, column; row 0 on top), over its neighbours' edges (cut at the picture's border): a
    marker that travels inside the picture instead of as a mark of its own, leaving the cell's colour whole."""
    k = RING_SCALE
    large = np.repeat(np.repeat(pixels, k, axis=0), k, axis=1)
    top, left = cell[0] * k - 1, cell[1] * k - 1
    bottom, right = top + k + 1, left + k + 1  # the ring's last row and column
    paint = np.zeros(large.shape[:2], bool)
    rows, columns = slice(max(top, 0), bottom + 1), slice(max(left, 0), right + 1)
    paint[rows, columns] = True
    paint[top + 1 : bottom, left + 1 : right] = False  # the cell itself
    large[paint, :3] = rgb(colour)
    large[paint, 3] = 255
    return large


def png(pixels: np.ndarray) -> bytes:
    """An 8-bit RGBA PNG of ``pixels`` [height, width, 4] uint8, first row on top."""
    height, width, _ = pixels.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, width * 4)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def data_url(picture: bytes) -> bytes:
    """A PNG as a data: URL (UTF-8 bytes), for an ipywidgets Image of format "url"."""
    return b"data:image/png;base64," + base64.b64encode(picture)


class PixelImage:
    """A bqplot Image mark showing ``pixels`` stretched over a rectangle of its x and y scales.

    bqplot redraws an Image only when its ``image`` widget is replaced, so two ipywidgets Images take turns:
    ``show`` fills the idle one and swaps it in (two small messages, no canvas work in the browser); the second
    is made at the first ``show``, so a picture that never changes (``pixels`` given here) costs one. The PNG
    travels as a data: URL, which the browser shows without making a Blob and an object URL for it.
    """

    def __init__(self, x: bq.Scale, y: bq.Scale, pixels: np.ndarray | None = None, extent=((0.0, 1.0), (0.0, 1.0))):
        first = pixels if pixels is not None else np.zeros((1, 1, 4), np.uint8)
        self.buffers = [Image(value=data_url(png(first)), format="url")]
        self.mark = bq.Image(image=self.buffers[0], x=extent[0], y=extent[1], scales={"x": x, "y": y})

    def show(self, pixels: np.ndarray, x: tuple[float, float], y: tuple[float, float]) -> None:
        """Show ``pixels`` [rows, columns, 4] (first row on top) from x[0] to x[1] and from y[0] (bottom) to y[1]."""
        if len(self.buffers) == 1:
            self.buffers.append(Image(format="url"))
        idle = self.buffers[1] if self.mark.image is self.buffers[0] else self.buffers[0]
        idle.value = data_url(png(pixels))
        with self.mark.hold_sync():
            self.mark.image = idle
            if list(self.mark.x) != list(x) or list(self.mark.y) != list(y):
                self.mark.x, self.mark.y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    @property
    def png(self) -> bytes:
        """The PNG shown now."""
        url = bytes(self.mark.image.value)
        return base64.b64decode(url[url.index(b",") + 1 :])
