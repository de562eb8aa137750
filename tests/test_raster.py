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


def test_painted_dots_darken_where_points_share_a_cell_and_later_groups_lie_on_top():
    from widgets.figures import PaintedDots

    x, y = bq.LinearScale(min=0.0, max=4.0), bq.LinearScale(min=0.0, max=2.0)
    dots = PaintedDots(x, y, [("#00ff00", "#004000"), ("#ff0000", "#ff0000")], cells=(4, 2))
    one, four, red = (0.5, 1.5), (2.5, 1.5), (3.5, 0.5)  # cells: top row columns 0 and 2; bottom row column 3
    green_x, green_y = np.array([one[0]] + [four[0]] * 4), np.array([one[1]] + [four[1]] * 4)
    dots.show((green_x, green_y), (np.array([red[0], four[0]]), np.array([red[1], four[1]])))
    pixels = read_png(dots.image.png)
    assert tuple(pixels[0, 0]) == (0, 255, 0, 255)  # one point: the colour
    assert tuple(pixels[0, 2]) == (255, 0, 0, 255)  # four green points under a red one: red, on top
    assert tuple(pixels[1, 3]) == (255, 0, 0, 255) and pixels[1, 0, 3] == 0  # empty cells stay transparent
    dots.show((green_x, green_y), (np.array([red[0]]), np.array([red[1]])))
    assert tuple(read_png(dots.image.png)[0, 2]) == (0, 64, 0, 255)  # four points: the dark colour


def test_a_ring_is_painted_around_one_cell_of_an_enlarged_picture():
    from widgets.raster import RING_SCALE, ringed

    pixels = np.zeros((3, 3, 4), np.uint8)
    pixels[..., 0] = np.arange(9).reshape(3, 3) * 20
    k, teal = RING_SCALE, (0x1F, 0x9E, 0x89)
    large = ringed(pixels, (1, 1), "#1f9e89")
    assert large.shape == (3 * k, 3 * k, 4)
    np.testing.assert_array_equal(large[k : 2 * k, k : 2 * k], np.broadcast_to(pixels[1, 1], (k, k, 4)))  # whole
    ring = [(k - 1, j) for j in range(k - 1, 2 * k + 1)] + [(i, k - 1) for i in range(k - 1, 2 * k + 1)]
    assert all(tuple(large[i, j, :3]) == teal for i, j in ring)  # just outside the cell, over its neighbours
    np.testing.assert_array_equal(large[: k - 1, : k - 1], np.broadcast_to(pixels[0, 0], (k - 1, k - 1, 4)))
    corner = ringed(pixels, (0, 0), "#1f9e89")  # cut at the picture's border
    assert tuple(corner[k, 0, :3]) == teal and tuple(corner[0, 0, :3]) == tuple(pixels[0, 0, :3])
