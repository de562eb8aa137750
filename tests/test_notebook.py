"""dashboard.ipynb runs top to bottom in a real kernel and builds a working app; its static HTML shows the analysis."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys

import nbformat
from nbclient import NotebookClient

from tests.conftest import ROOT
from tests.images import read_png


def test_the_notebook_runs_top_to_bottom_and_shows_the_app(tiny_gpt2_dir, monkeypatch):
    monkeypatch.setenv("MLPREC_MODEL", str(tiny_gpt2_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    notebook = nbformat.read(ROOT / "dashboard.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code) <= 4, "the notebook holds no logic: import, build, display"
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "assert app.wait(120), 'the model is still loading'\n"
            "print(app.state.model, app.state.n_layers, app.state.n_tokens, 'ready' in app.messages.status.value)"
        )
    )
    client = NotebookClient(notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    client.execute(env=dict(os.environ))

    display = [out for out in code[-1].outputs if out.output_type in ("display_data", "execute_result")]
    assert any("application/vnd.jupyter.widget-view+json" in out.data for out in display)
    printed = "".join(out.get("text", "") for out in notebook.cells[-1].outputs)
    assert printed.split() == [str(tiny_gpt2_dir), "4", printed.split()[2], "True"]
    assert int(printed.split()[2]) > 0


def test_nbconvert_execute_saves_the_finished_figures_in_the_html(tiny_gpt2_dir, tmp_path):
    env = dict(os.environ, MLPREC_MODEL=str(tiny_gpt2_dir), HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "html"]
    command += ["--output-dir", str(tmp_path), str(ROOT / "dashboard.ipynb")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    page = (tmp_path / "dashboard.html").read_text(encoding="utf-8")
    state = json.loads(
        re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', page, re.S).group(1)
    )["state"]
    models = list(state.values())
    statuses = [m["state"]["value"] for m in models if "mlprec-status" in m["state"].get("_dom_classes", [])]
    assert len(statuses) == 1 and "mlprec-ready" in statuses[0] and "Loading" not in statuses[0]
    grids = [m for m in models if m["model_name"] == "GridHeatMapModel"]
    shapes = []
    for grid in grids:
        color = grid["state"]["color"]
        buffer = next(b for b in grid.get("buffers", []) if b["path"] == ["color", "value"])
        values = len(base64.b64decode(buffer["data"])) // 8 if color["dtype"] == "float64" else 0
        shapes.append((tuple(color["shape"]), values))
    drawn = [shape for shape, values in shapes if shape != (1, 1) and values == shape[0] * shape[1]]
    assert len(drawn) >= 4, shapes  # Part 1 (3) and Part 5 with their numbers, not 1x1 placeholders
    painted = []  # Part 4's heatmaps and Part 1's dots: kernel-painted PNGs in bqplot Image marks
    for mark in (m for m in models if m["model_name"] == "ImageModel" and m["model_module"] == "bqplot"):
        image = state[mark["state"]["image"].removeprefix("IPY_MODEL_")]
        url = base64.b64decode(next(b for b in image["buffers"] if b["path"] == ["value"])["data"])  # a data: URL
        painted.append(read_png(base64.b64decode(url.removeprefix(b"data:image/png;base64,"))).shape[:2])
    assert sum(shape[0] > 1 and shape[1] > 1 for shape in painted) >= 6, painted  # 1 + 4 in Part 4, 1 in Part 1
