"""Heatmaps painted in the kernel: the PNG holds each cell's colour, in the heatmap's row order."""

from __future__ import annotations

import bqplot as bq
import numpy as np

from widgets.figures import HeatmapFigure
from widgets.raster import HEATMAP_COLOURS, NULL_COLOUR, PixelImage, png, ramp, rgb

from .images import read_png


def test_a_png_round_trips_its_pixels():
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 5, 4), dtype=np.uint8)
    np.testing.assert_array_equal(read_png(png(pixels)), pixels)


def test_the_ramp_hits_its_colours_at_even_steps_and_clamps_beyond_the_limits():
    steps = np.linspace(-1.0, 1.0, len(HEATMAP_COLOURS))
    np.testing.assert_array_equal(ramp(steps, -1.0, 1.0)[:, :3], [rgb(colour) for colour in HEATMAP_COLOURS])
    halfway = ramp(np.array([(steps[0] + steps[1]) / 2]), -1.0, 1.0)[0, :3]
    np.testing.assert_array_equal(halfway, np.floor((rgb(HEATMAP_COLOURS[0]) + rgb(HEATMAP_COLOURS[1])) / 2 + 0.5))
    beyond = ramp(np.array([-5.0, 5.0, np.nan]), -1.0, 1.0)[:, :3]
    np.testing.assert_array_equal(beyond, [rgb(HEATMAP_COLOURS[0]), rgb(HEATMAP_COLOURS[-1]), rgb(NULL_COLOUR)])


def test_a_painted_heatmap_puts_row_zero_where_its_axis_says():
    values = np.arange(6.0).reshape(3, 2)
    for rows_up in (False, True):
        heatmap = HeatmapFigure("", "row", "column", "value", rows_up=rows_up, painted=True)
        heatmap.limits(0.0, 5.0)
        heatmap.show(["a", "b", "c"], ["x", "y"], values)
        top_row = read_png(heatmap.image.png)[0]
        expected = values[-1] if rows_up else values[0]
        np.testing.assert_array_equal(top_row, ramp(expected, 0.0, 5.0))
        assert (list(heatmap.mark.x), list(heatmap.mark.y)) == ([-0.5, 1.5], [-0.5, 2.5])  # cells centred on 0..n-1


def test_each_new_picture_swaps_the_images_widget_so_bqplot_redraws_it():
    image = PixelImage(bq.LinearScale(), bq.LinearScale())
    shown = []
    for value in (0, 128, 255):
        image.show(np.full((2, 2, 4), value, np.uint8), (0.0, 1.0), (0.0, 1.0))
        shown.append(image.mark.image)
        assert read_png(image.png)[0, 0, 0] == value
    assert shown[0] is not shown[1] and shown[0] is shown[2]  # two widgets taking turns
