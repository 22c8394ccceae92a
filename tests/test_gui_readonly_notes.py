"""Issue 12 leftovers in the app: a read-only store opens read-only with a banner and refuses to save with a
sentence; a clip whose reader noticed something (a truncated file) says so in the zone panel."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import cv2
import pytest

from gui_shell_support import ini_settings, make_patient_folder, sector_frame
from lusapp.core.errors import StoreReadOnly
from lusapp.store import Store

BANNER = "read-only: changes cannot be saved"


def _erofs_lock(monkeypatch) -> None:
    """The store's medium is read-only: creating `.lock` fails with EROFS (root ignores chmod, so inject it)."""
    from lusapp.store import lock as lockmod

    real_open = os.open

    def ro_open(path, flags, *a, **k):
        if str(path).endswith(".lock") and flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(lockmod.os, "open", ro_open)


def _store(tmp_path: Path) -> Path:
    with Store.create(tmp_path / "ro") as store:
        store.import_folder(make_patient_folder(tmp_path / "src", pid="RO-1", clips=("R1",), stills=()), actor="t")
        store.new_patient("RO-2", actor="t")
    return tmp_path / "ro"


def test_read_only_store_opens_read_only_and_refuses_to_save(qtbot, tmp_path, monkeypatch):
    from lusapp.gui.session import SessionController

    root = _store(tmp_path)
    _erofs_lock(monkeypatch)
    with pytest.raises(StoreReadOnly):
        Store.open(root)
    s = SessionController(rater="dr_test", autosave_ms=20)
    errors, ro = [], []
    s.errorRaised.connect(lambda t, m: errors.append((t, m)))
    s.readonlyChanged.connect(lambda r, why: ro.append((r, why)))
    assert s.open_store(root) and s.readonly and s.store.readonly
    assert ro == [(True, "the store folder cannot be written")]
    assert errors[-1][0] == "Store is read-only" and ".lock" in errors[-1][1] and "Opened read-only" in errors[-1][1]
    assert s.list_patients() == ["RO-1", "RO-2"]
    before = (root / "patients" / "RO-1" / "patient.json").read_bytes()
    assert s.open_patient("RO-1")
    s.set_clinician_score(3, "R1")
    qtbot.wait(80)  # no autosave timer runs on a read-only store
    assert not s.save() and s.dirty
    assert errors[-1][0] == "Read-only" and BANNER in errors[-1][1]
    assert s.open_patient("RO-2")  # moving on is not blocked by the unsaved (unsavable) edit
    assert (root / "patients" / "RO-1" / "patient.json").read_bytes() == before
    assert s.close_store() and not s.readonly and ro[-1] == (False, "")


def test_unwritable_store_folder_opens_read_only(qtbot, tmp_path, monkeypatch):
    from lusapp.gui import session as session_mod

    root = _store(tmp_path)
    real_access = os.access
    monkeypatch.setattr(session_mod.os, "access",
                        lambda p, mode, *a, **k: False if Path(p) == root and mode & os.W_OK
                        else real_access(p, mode, *a, **k))
    s = session_mod.SessionController(rater="dr_test")
    errors = []
    s.errorRaised.connect(lambda t, m: errors.append((t, m)))
    assert s.open_store(root) and s.readonly
    assert errors[-1][0] == "Store is read-only" and "not writable" in errors[-1][1]
    with Store.open(root) as w:  # the viewer holds no writer lock
        assert w.has_patient("RO-1")
    s.close_store()


def test_window_shows_the_read_only_banner(qtbot, tmp_path, monkeypatch):
    from lusapp.gui import app as gui_app

    root = _store(tmp_path)
    _erofs_lock(monkeypatch)
    w = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w)
    w.show()
    assert not w.status_readonly.isVisible() and not w.patients.readonly_banner.isVisible()
    assert w.session.open_store(root)
    assert w.status_readonly.isVisible() and w.status_readonly.text().startswith(BANNER)
    assert w.patients.readonly_banner.isVisible() and BANNER in w.patients.readonly_banner.text()
    assert not w.patients.new_button.isEnabled() and not w.patients.import_button.isEnabled()
    assert "(read-only)" in w.windowTitle()
    assert any(b.windowTitle() == "Store is read-only" and "Opened read-only" in b.informativeText()
               for b in w.error_boxes)
    w.session.close_store()
    assert not w.status_readonly.isVisible() and not w.patients.readonly_banner.isVisible()
    w.close()


def test_zone_panel_shows_the_clip_readers_notes(qtbot, tmp_path, monkeypatch):
    from lusapp.gui import app as gui_app
    from lusapp.io import open_media

    folder = make_patient_folder(tmp_path / "src", pid="N-1", clips=("R1",), stills=())
    jpg = cv2.imencode(".jpg", sector_frame(0, 240, 320))[1].tobytes()
    (folder / "R2.jpg").write_bytes(jpg[: len(jpg) // 2])  # cut in half: read, with a note
    assert any("truncated" in n for n in open_media(folder / "R2.jpg").notes)
    monkeypatch.setattr(gui_app, "session_store_path", lambda: tmp_path / "st")
    w = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w)
    w.show()
    gui_app.open_target(w, str(folder))
    qtbot.waitUntil(lambda: w.session.patient is not None, timeout=15000)
    zp = w.zone_panel
    w.session.set_zone("R1")
    assert zp.clip_notes() == [] and not zp.media_warning.isVisible()
    w.session.set_zone("R2")
    assert w.clip_view.clip is not None
    assert zp.media_warning.isVisible() and "file appears truncated" in zp.media_warning.text()
    assert zp.media_warning.text().startswith("⚠")
    w.session.set_zone("R1")  # another zone: its own (no) notes
    assert not zp.media_warning.isVisible()
    w.session.set_zone("R2")
    assert "file appears truncated" in zp.media_warning.text()
    w.close()
