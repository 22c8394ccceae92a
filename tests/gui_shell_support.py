"""Helpers of the GUI shell tests: a tiny plain patient folder, a random-init model bundle, a window."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from media_files import make_bundle, write_image, write_video

__all__ = ["make_bundle", "make_engine", "make_patient_folder", "sector_frame", "write_clip", "ini_settings", "app_window"]


def sector_frame(i: int, h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A grey frame with a bright horizontal 'pleura', a few vertical streaks and speckle."""
    rng = np.random.default_rng([seed, i])
    img = rng.integers(10, 60, (h, w)).astype(np.uint8)
    img[h // 4: h // 4 + 3, 10:w - 10] = 220
    for x in (30 + i % 5, 70, 100 - i % 3):
        img[h // 4 + 3:, x:x + 3] = 150
    return img


def write_clip(path: Path, n: int = 10, h: int = 96, w: int = 128, fps: float = 10.0, seed: int = 0) -> Path:
    return write_video(path, (sector_frame(i, h, w, seed) for i in range(n)), fps, fourcc="mp4v")


def make_patient_folder(root: Path, pid: str = "TEST-001", clips=("R1", "R2", "L1"), stills=("L3",),
                        age: int | None = 61) -> Path:
    folder = root / pid
    folder.mkdir(parents=True)
    for k, z in enumerate(clips):
        write_clip(folder / f"{z}.mp4", seed=k)
    for z in stills:
        write_image(folder / f"{z}.png", sector_frame(0, seed=9))
    (folder / "clinical.json").write_text(json.dumps({"patient_id": pid, "age": age, "sex": "F",
                                                      "symptoms": {"fever": True, "cough": False}}))
    return folder


def make_engine(path: Path):
    from lusapp.model.bundle import load_bundle
    from lusapp.model.engine import Engine

    make_bundle(path)
    return Engine(load_bundle(path), threads=1)


def ini_settings(tmp: Path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)


def app_window(qtbot, tmp_path: Path, monkeypatch):
    """The app's main window as a first launch builds it, kept inside ``tmp_path``: settings in an ini file there,
    the session store there, no demo patient; handed to qtbot (closed after the test)."""
    from lusapp.gui import app as gui_app

    monkeypatch.setattr(gui_app, "session_store_path", lambda: tmp_path / "session_store")
    monkeypatch.setattr(gui_app, "demo_folder", lambda: tmp_path / "no_demo")
    w = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w)
    return w
