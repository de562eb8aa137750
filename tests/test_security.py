"""A served app: visitors cannot pick arbitrary models, nothing is unpickled, the Jupyter stack is patched."""

from __future__ import annotations

import json
import re

import pytest
import tomllib
from ipywidgets import Combobox, Dropdown
from traitlets import TraitError

from tests.conftest import ROOT
from widgets import Dashboard

SOURCES = [path for folder in ("core", "widgets", "benchmarks") for path in (ROOT / folder).rglob("*.py")]


def test_served_by_voila_the_model_picker_offers_only_the_operators_list(tiny_gpt2_dir, monkeypatch):
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    monkeypatch.setenv("MLPREC_MODELS", f"{tiny_gpt2_dir}, gpt2")
    app = Dashboard(model=str(tiny_gpt2_dir))
    assert app.wait(120)  # served: the model loads in the background
    assert isinstance(app.controls.model, Dropdown)
    assert list(app.controls.model.options)[:2] == [str(tiny_gpt2_dir), "gpt2"]
    loaded = app.session.loaded
    with pytest.raises(TraitError, match="is not offered on this server"):  # through the API
        app.state.model = "someone/huge-model"
    assert app.state.model == str(tiny_gpt2_dir) and app.session.loaded is loaded


def test_the_operator_can_allow_free_entry_and_jupyterlab_always_has_it(tiny_gpt2_dir, monkeypatch):
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    monkeypatch.setenv("MLPREC_ALLOW_ANY_MODEL", "1")
    assert isinstance(Dashboard(model=str(tiny_gpt2_dir), background=False).controls.model, Combobox)
    monkeypatch.delenv("VOILA_BASE_URL")
    monkeypatch.delenv("MLPREC_ALLOW_ANY_MODEL")
    assert isinstance(Dashboard(model=str(tiny_gpt2_dir)).controls.model, Combobox)


def test_no_source_file_unpickles_or_trusts_remote_code():
    assert SOURCES
    for path in SOURCES:
        text = path.read_text()
        assert not re.search(r"\bimport pickle\b|\bpickle\.load|\btorch\.load\(|allow_pickle=True", text), path
        assert "trust_remote_code=True" not in text, path


def test_the_patched_jupyter_stack_is_pinned():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "jupyter_server>=2.20" in dependencies
    assert any(dep.startswith("voila>=0.5.6") for dep in dependencies)


def test_voila_serves_without_sources_or_tracebacks():
    config = json.loads((ROOT / "voila.json").read_text())["VoilaConfiguration"]
    assert config["strip_sources"] is True and config["show_tracebacks"] is False
