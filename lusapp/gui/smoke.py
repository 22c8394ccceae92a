"""GUI smoke check for ``lusapp --self-test``: the main window really starts, shows a patient and paints.

It runs what a clinic's launch does (Qt, theme, main window, opening a store or importing the bundled demo
patient, model loading in its worker) in a throw-away data folder, so the user's session store and settings
are never touched. Given the self-test's store (the demo patient, assessed and saved), it also checks that
the saved assessment reaches the window (attention on the zone board). Raises ``RuntimeError`` naming the
step that failed.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def _wait(app, cond, timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > end:
            raise RuntimeError(f"GUI self-test: timed out after {timeout_s:.0f} s waiting for {what}")
        app.processEvents()
        time.sleep(0.005)


def smoke_window(store: str | Path | None = None, timeout_s: float = 60.0) -> dict:
    """Open the main window offscreen on ``store`` (its first patient) or, without one, on the demo patient
    imported into a temporary session store; returns what it saw (patient, zones, model, size)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    old = os.environ.get("LUSAPP_DATA_DIR")
    with tempfile.TemporaryDirectory(prefix="lusapp-gui-selftest-") as tmp:
        os.environ["LUSAPP_DATA_DIR"] = tmp
        try:
            return _run(Path(tmp), store, timeout_s)
        finally:
            if old is None:
                os.environ.pop("LUSAPP_DATA_DIR", None)
            else:
                os.environ["LUSAPP_DATA_DIR"] = old


def _run(tmp: Path, store: str | Path | None, timeout_s: float) -> dict:
    from PySide6.QtCore import QSettings

    from lusapp.gui.app import _make_app, build_window, open_target

    app = _make_app([])
    window = build_window(settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat),
                          modal_errors=False)
    errors: list[str] = []
    window.session.errorRaised.connect(lambda title, msg: errors.append(f"{title}: {msg}"))
    failed: list[str] = []
    loaded: list[object] = []
    window.model.loadFailed.connect(failed.append)
    window.model.engineChanged.connect(loaded.append)
    try:
        window.show()
        open_target(window, str(store) if store else None)
        _wait(app, lambda: window.session.patient is not None or errors, timeout_s, "the patient to open")
        if errors:
            raise RuntimeError(f"GUI self-test: {errors[0]}")
        saved = window.session.patient.severity.model_attention
        if saved and window.session.attention != saved:
            raise RuntimeError("GUI self-test: the saved assessment's attention did not reach the window")
        window.start_model_loading(0)
        _wait(app, lambda: loaded or failed, timeout_s, "the model to load")
        if failed:
            raise RuntimeError(f"GUI self-test: model did not load: {failed[0]}")
        if loaded[-1] is None:
            raise RuntimeError("GUI self-test: no model engine after loading")
        app.processEvents()
        image = window.grab().toImage()
        if image.isNull() or image.width() < 200 or image.height() < 200:
            raise RuntimeError("GUI self-test: the main window did not paint")
        patient = window.session.patient
        return {"patient": patient.patient_id, "zones": len(patient.zones), "model": window.model.description,
                "size": [image.width(), image.height()]}
    finally:
        window.session.discard_changes()
        window.close()
        window.shutdown()
        app.processEvents()
