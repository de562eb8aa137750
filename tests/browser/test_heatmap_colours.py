"""A heatmap painted in the kernel shows the colours bqplot itself gives the same values in the browser.

Voila serves a small notebook with the same values drawn twice by widgets.figures.HeatmapFigure: as SVG cells
(bqplot's GridHeatMap and ColorScale colour them in the browser) and painted (widgets.raster colours them in
the kernel and sends a PNG). Chromium decodes the PNG the page shows; every cell must match, within one unit
per channel, values beyond the colour limits included. (A missing value is grey when painted; bqplot draws
an SVG cell without a value black.)
"""

from __future__ import annotations

import json

import nbformat
import pytest

from tests.browser import ROOT, VoilaServer

pytestmark = pytest.mark.browser

NOTEBOOK = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
from ipywidgets import VBox
from widgets.figures import HeatmapFigure

values = np.linspace(-1.0, 2.0, 8 * 12).reshape(8, 12)  # beyond the limits at both ends
values[2, 3] = np.nan
rows, columns = [f"r{{i}}" for i in range(8)], [f"c{{j}}" for j in range(12)]
figures = [HeatmapFigure(name, "row", "column", "value", rows_up=False, painted=name == "painted") for name in ("svg", "painted")]
for heatmap in figures:
    heatmap.limits(-0.5, 1.5)
    heatmap.show(rows, columns, values)
figures[0].widget.add_class("svg-heatmap")
figures[1].widget.add_class("painted-heatmap")
VBox([heatmap.widget for heatmap in figures])
"""

READ_COLOURS = """async () => {
  const svg = [...document.querySelectorAll('.svg-heatmap rect.heatmapcell')].map(r => getComputedStyle(r).fill);
  const image = document.querySelector('.painted-heatmap .svg-figure image');  // a data: URL
  const picture = new Image();
  picture.src = image.getAttribute('href');
  await picture.decode();
  const canvas = document.createElement('canvas');
  canvas.width = picture.naturalWidth;
  canvas.height = picture.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(picture, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const painted = [];
  for (let k = 0; k < data.length; k += 4) painted.push([data[k], data[k + 1], data[k + 2]]);
  return {svg, painted, size: [canvas.width, canvas.height]};
}"""


def rgb_triplet(css: str) -> tuple[int, int, int]:
    """'rgb(1, 2, 3)' -> (1, 2, 3)."""
    return tuple(int(float(part)) for part in css[css.index("(") + 1 : css.index(")")].split(","))


@pytest.fixture(scope="module")
def colour_page_server(tmp_path_factory, tiny_gpt2_dir, artifacts):
    folder = tmp_path_factory.mktemp("colours")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK.format(root=str(ROOT)))])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "colours.ipynb"
    path.write_text(json.dumps(notebook))
    with VoilaServer(tiny_gpt2_dir, artifacts / "voila-colours.log", notebook=path) as server:
        yield server


def test_kernel_painted_cells_match_bqplots_own_colours(page, colour_page_server):
    page.goto(colour_page_server.url, wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_function(
        "() => document.querySelectorAll('.svg-heatmap rect.heatmapcell').length === 96"
        " && document.querySelector('.painted-heatmap .svg-figure image[href^=\"data:\"]')",
        timeout=120_000,
    )
    page.wait_for_timeout(500)  # the last state message: the painted PNG replaces the 1x1 placeholder
    shown = page.evaluate(READ_COLOURS)
    assert shown["size"] == [12, 8]
    browser = [rgb_triplet(fill) for fill in shown["svg"]]
    kernel = [tuple(pixel) for pixel in shown["painted"]]
    assert len(browser) == len(kernel) == 96
    assert kernel[2 * 12 + 3] == (136, 136, 136)  # the missing value: NULL_COLOUR (bqplot's SVG cell is black)
    browser.remove((0, 0, 0))
    kernel.remove((136, 136, 136))
    pairs = list(zip(sorted(browser), sorted(kernel), strict=True))  # the same colours, cell for cell
    assert all(max(abs(a - b) for a, b in zip(one, other, strict=True)) <= 1 for one, other in pairs), pairs
    assert kernel.count((0, 0, 4)) > 5 and kernel.count((252, 253, 191)) > 5  # beyond the limits: the end colours
