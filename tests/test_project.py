"""The project around the code: dependencies agree, the README's commands exist, the linter is clean."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}


def _pip_dependencies() -> dict[str, SpecifierSet]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    return {canonicalize_name(req.name): req.specifier for req in requirements}


def _conda_dependencies() -> dict[str, SpecifierSet]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for entry in environment["dependencies"]:
        if not isinstance(entry, str):  # the pip: sub-list installs the project itself
            continue
        name, spec = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", entry).groups()
        if name in ("python", "pip"):
            continue
        out[canonicalize_name(CONDA_TO_PIP.get(name, name))] = SpecifierSet(spec.replace(" ", ""))
    return out


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    """Binder's conda environment and pip's pyproject.toml agree on every package and version range."""
    pip, conda = _pip_dependencies(), _conda_dependencies()
    assert sorted(conda) == sorted(pip), f"only in conda: {set(conda) - set(pip)}, only in pip: {set(pip) - set(conda)}"
    for name, specifier in pip.items():
        assert conda[name] == specifier, f"{name}: pyproject says '{specifier}', environment.yml says '{conda[name]}'"


def _first_code_block(markdown: str) -> str:
    match = re.search(r"^```[^\n]*\n(.*?)^```", markdown, re.S | re.M)
    assert match, "README.md has no code block"
    return match.group(1)


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    """The README's first code block holds the dashboard and test commands; .ci/run runs the test command."""
    block = _first_code_block((ROOT / "README.md").read_text())
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["scripts/dashboard.sh", "scripts/test.sh"]
    for command in commands:
        assert os.access(ROOT / command, os.X_OK), f"{command} is not executable"
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    steps = [line.strip() for line in ci.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert any(re.fullmatch(r"(bash |exec )*(\./)?scripts/test\.sh( \"\$@\")?", step) for step in steps), steps


def test_ruff_finds_nothing():
    """``ruff check .`` (the venv's ruff, the project's configuration) passes."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
