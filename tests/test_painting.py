"""Heatmaps painted in the kernel (widgets.painting): the picture the browser shows is the values' colours."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np
import pytest

from widgets.figures import ColorBar, HeatmapFigure
from widgets.painting import PICTURE_PX, RAMP, colours, picture_url, png, rgba


def read_png(data: bytes) -> np.ndarray:
    """RGBA pixels uint8 [H, W, 4] of an 8-bit RGBA PNG whose rows use filters None or Up (what png writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, {}
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length : at + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        at += 12 + length
    width, height, depth, kind, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, kind) == (8, 6) and b"IEND" in chunks
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, 1 + 4 * width)
    pixels = np.zeros((height, 4 * width), dtype=np.uint8)
    for y, (kind, row) in enumerate(zip(rows[:, 0], rows[:, 1:], strict=True)):
        assert kind in (0, 2), kind
        pixels[y] = row + (pixels[y - 1] if kind == 2 and y else 0)
    return pixels.reshape(height, width, 4)


def picture(url: bytes) -> np.ndarray:
    head, _, body = url.partition(b",")
    assert head == b"data:image/png;base64"
    return read_png(base64.b64decode(body))


def cell_centres(pixels: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """The pixel at the centre of each of rows x columns equal cells: [rows, columns, 4]."""
    height, width, _ = pixels.shape
    ys = ((np.arange(rows) + 0.5) * height / rows).astype(int)
    xs = ((np.arange(columns) + 0.5) * width / columns).astype(int)
    return pixels[ys][:, xs]


def test_a_png_holds_exactly_the_pixels_it_was_given():
    pixels = np.random.default_rng(0).integers(0, 256, size=(9, 7, 4)).astype(np.uint8)
    np.testing.assert_array_equal(read_png(png(pixels)), pixels)


def test_colours_spread_the_limits_over_the_ramp_as_bqplot_interpolates():
    """bqplot's ColorScale(colors=RAMP) puts the ramp's colours at evenly spaced values from min to max and
    interpolates linearly in RGB, rounding half up; values beyond the limits keep the end colours."""
    step = 1 / (len(RAMP) - 1)
    got = colours(np.array([[0.0, step, step / 2, 1.0, 7.0, -3.0, np.nan]]), 0.0, 1.0)[0]
    first, second = np.array(rgba(RAMP[0])), np.array(rgba(RAMP[1]))
    np.testing.assert_array_equal(got[0], first)
    np.testing.assert_array_equal(got[1], second)
    np.testing.assert_array_equal(got[2], np.floor((first + second) / 2 + 0.5))
    np.testing.assert_array_equal(got[3], rgba(RAMP[-1]))
    np.testing.assert_array_equal(got[4], rgba(RAMP[-1]))
    np.testing.assert_array_equal(got[5], first)
    np.testing.assert_array_equal(got[6], rgba("#888888"))


@pytest.mark.parametrize("rows_up", [True, False], ids=["layers: row 0 at the bottom", "tokens: row 0 on top"])
def test_a_painted_heatmap_shows_each_cell_in_the_colour_of_its_value(rows_up):
    values = np.random.default_rng(1).uniform(-1, 1, size=(5, 8))
    values[2, 3] = np.nan
    heatmap = HeatmapFigure("t", "row", "column", "value", rows_up=rows_up, painted=True)
    heatmap.limits(-0.5, 0.5)
    heatmap.show([f"r{i}" for i in range(5)], [f"c{j}" for j in range(8)], values)
    pixels = picture(heatmap.cells.url)
    assert max(pixels.shape[:2]) <= PICTURE_PX and pixels.shape[0] % 5 == 0 and pixels.shape[1] % 8 == 0
    top_first = cell_centres(pixels, 5, 8)
    np.testing.assert_array_equal(top_first[::-1] if rows_up else top_first, colours(values, -0.5, 0.5))
    assert list(heatmap.mark.x) == [-0.5, 7.5] and list(heatmap.mark.y) == [-0.5, 4.5]

    heatmap.limits(0.0, 1.0)  # new colour limits repaint the same values
    np.testing.assert_array_equal(cell_centres(picture(heatmap.cells.url), 5, 8)[2, 0], colours(values, 0, 1)[2, 0])


def test_an_unchanged_picture_is_not_sent_again():
    heatmap = HeatmapFigure("t", "row", "column", "value", rows_up=True, painted=True)
    heatmap.show(["a", "b"], ["x", "y"], np.array([[0.1, 0.2], [0.3, 0.4]]))
    shown = heatmap.mark.image
    heatmap.show(["a", "b"], ["x", "y"], np.array([[0.1, 0.2], [0.3, 0.4]]))
    assert heatmap.mark.image is shown
    heatmap.show(["a", "b"], ["x", "y"], np.array([[0.4, 0.2], [0.3, 0.4]]))
    assert heatmap.mark.image is not shown  # bqplot redraws an Image mark when its picture is replaced


def test_a_colour_bar_is_the_whole_ramp_and_its_limits_are_only_numbers():
    bar = ColorBar("value", 100, 20, 300)
    strip = cell_centres(picture(bar.strip.url), 1, ColorBar.STEPS)[0]
    np.testing.assert_array_equal(strip[0], rgba(RAMP[0]))
    np.testing.assert_array_equal(strip[-1], rgba(RAMP[-1]))
    before = bar.strip.url
    bar.limits(-2.0, 3.0)
    assert bar.strip.url == before and (bar.values.min, bar.values.max) == (-2.0, 3.0)


def test_pictures_are_small():
    """A 40 x 30 heatmap (the default texts' Part 4 is 28 x 18) travels as a few kilobytes."""
    url = picture_url(colours(np.random.default_rng(2).uniform(size=(40, 30)), 0, 1))
    assert len(url) < 20_000
