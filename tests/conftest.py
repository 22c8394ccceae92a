"""Shared test set-up: Qt offscreen, a private user-data folder, and the real-data folder (``requires_shared_data``,
the ``shared_data`` fixture). Writers of test media and bundles are in ``media_files.py``; GUI helpers in
``gui_shell_support.py`` and ``gui_clip_support.py``."""

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
