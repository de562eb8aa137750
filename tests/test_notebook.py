"""dashboard.ipynb runs top to bottom in a real kernel and builds a working app."""

from __future__ import annotations

import os

import nbformat
from nbclient import NotebookClient

from tests.conftest import ROOT


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
