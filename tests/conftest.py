"""Shared test set-up: Qt offscreen, a private user-data folder, the real-data folder (``requires_shared_data``,
the ``shared_data`` fixture), ``store`` (an open store holding patient P1), ``demo_store`` (the bundled demo
patient imported into a closed store) and ``view`` (a shown 700 x 500 clip view); a test module that needs another
``store`` or ``view`` defines its own, which takes precedence. Writers of test media and bundles are in
``media_files.py``; GUI helpers in ``gui_shell_support.py`` and ``gui_clip_support.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Never let tests read or write the user's real data folder or model registry.
os.environ.setdefault("LUSAPP_DATA_DIR", str(Path(__file__).resolve().parent / ".." / ".pytest_cache" / "lusapp-data"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

requires_shared_data = pytest.mark.skipif(
    not (SHARED_DATA / "manifest.csv").exists(), reason="../shared/data (real LUS clips) is absent"
)


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "manifest.csv").exists():
        pytest.skip("../shared/data (real LUS clips) is absent")
    return SHARED_DATA


@pytest.fixture
def store(tmp_path):
    """An open store at ``tmp_path/store`` holding one patient, P1; closed after the test."""
    from lusapp.store import Store  # imported here, after the data folder above is set

    s = Store.create(tmp_path / "store")
    s.new_patient("P1")
    yield s
    s.close()


@pytest.fixture
def demo_store(tmp_path) -> tuple[Path, str]:
    """The bundled demo patient imported into a new store at ``tmp_path/store`` (as lusapp.selftest does), the
    store closed again; returns (store root, patient id)."""
    from lusapp.resources import resource
    from lusapp.store import Store

    root = tmp_path / "store"
    with Store.create(root) as s:
        pid = s.import_folder(resource("demo"), actor="test")
    return root, pid


@pytest.fixture
def view(qtbot):
    """A ``ClipView`` of 700 x 500 on screen (the clip-view tests); shut down after the test. A test module that
    needs another view defines its own ``view``."""
    from gui_clip_support import shown
    from lusapp.gui.clip_view import ClipView

    v = shown(qtbot, ClipView(), 700, 500)
    yield v
    v.shutdown()
