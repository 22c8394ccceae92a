"""The core packages know nothing of Qt, and the app never imports torchvision.

Each check imports the packages in a fresh interpreter in which Qt, pyqtgraph and torchvision are made
unimportable, so a stray import anywhere in the import graph fails the test.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import lusapp

REPO = Path(__file__).resolve().parents[1]
QT_FREE = ["lusapp.core", "lusapp.io", "lusapp.store", "lusapp.model", "lusapp.report", "lusapp.review"]

BLOCKER = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def __init__(self, names): self.names = names
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in self.names:
            raise ImportError(f'{{name}} is forbidden here')
        return None
sys.meta_path.insert(0, _Block({blocked!r}))
"""


def _modules_of(package: str) -> list[str]:
    pkg_path = REPO / package.replace(".", "/")
    names = [package]
    for info in pkgutil.walk_packages([str(pkg_path)], prefix=package + "."):
        names.append(info.name)
    return names


def _import_all(modules: list[str], blocked: set[str]) -> subprocess.CompletedProcess:
    code = BLOCKER.format(blocked=blocked) + "\nimport importlib\n"
    code += "".join(f"importlib.import_module({m!r})\n" for m in modules)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_core_packages_import_without_qt():
    modules = [m for pkg in QT_FREE for m in _modules_of(pkg)]
    assert "lusapp.core.labels" in modules and "lusapp.review.mask_state" in modules
    result = _import_all(modules, {"PySide6", "PyQt5", "PyQt6", "pyqtgraph", "qtpy", "shiboken6"})
    assert result.returncode == 0, result.stderr[-3000:]


def test_app_never_imports_torchvision():
    modules = [m for m in _modules_of("lusapp") if ".gui." not in m and not m.endswith("__main__")]
    result = _import_all(modules, {"torchvision", "model_training"})
    assert result.returncode == 0, result.stderr[-3000:]
    gui = [m for m in _modules_of("lusapp.gui")]
    result = _import_all(gui, {"torchvision", "model_training"})
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_blocker_really_blocks():
    result = _import_all(["json", "pyqtgraph"], {"pyqtgraph"})
    assert result.returncode != 0 and "forbidden" in result.stderr


def test_version_is_set():
    assert lusapp.__version__.count(".") == 2
