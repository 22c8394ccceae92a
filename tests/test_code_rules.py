"""The code rules of pyproject.toml, run with the tests: import contracts (``lint-imports``) and ruff.

``[tool.importlinter]`` holds docs/architecture.md's layers and forbidden imports as contracts (statically, every
import in the source, including those inside functions); tests/test_import_contract.py checks the same at run
time. ``[tool.ruff]`` names the lint rules. Both tools come with the ``dev`` extra (``bootstrap.py`` installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    """The tool installed beside this interpreter (the project's environment), else the one on PATH."""
    here = Path(sys.executable).parent / (name + (".exe" if os.name == "nt" else ""))
    found = str(here) if here.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: install the dev extra (pip install -e '.[dev]')")
    return found


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))  # lint-imports finds the packages
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=path)
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)


def test_import_contracts_are_kept():
    result = _run([_tool("lint-imports"), "--no-cache", str(REPO / "pyproject.toml")])
    assert result.returncode == 0, "lint-imports found broken contracts:\n" + result.stdout[-6000:] + result.stderr[-3000:]
    assert "0 broken" in result.stdout


def test_ruff_finds_nothing():
    result = _run([_tool("ruff"), "check", "--no-cache", "--output-format", "concise", str(REPO)])
    assert result.returncode == 0, "ruff check found problems:\n" + result.stdout[-6000:] + result.stderr[-3000:]
