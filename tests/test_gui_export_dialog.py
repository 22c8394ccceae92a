"""File > Export dataset…: the dialog exports the open store (de-identified by default) in a worker with progress;
a cancelled or failed export says so in the dialog and leaves no output folder."""

from __future__ import annotations

import json

import numpy as np

from export_support import NAME
from lusapp.resources import resource
from lusapp.store import Store


def test_file_export_dataset_in_the_app(qtbot, tmp_path, monkeypatch):
    from gui_shell_support import ini_settings
    from lusapp.gui import app as gui_app

    monkeypatch.setenv("LUSAPP_DATA_DIR", str(tmp_path / "data"))  # the site key is created there
    root = tmp_path / "store"
    with Store.create(root) as store:
        pid = store.import_folder(resource("demo"), actor=NAME)
        ref = store.load_patient(pid).zone("R1").media
        m = np.zeros((ref.height, ref.width), np.uint8)
        m[60:66, 20:200] = 1
        store.save_masks(pid, "R1", {4: m}, kind="final", rater=NAME)
    w = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w)
    assert w.session.open_store(root) and w.session.open_patient(pid)
    action = w.actions_.action("file.export_dataset")
    assert action in w.menuBar().actions()[0].menu().actions()
    action.trigger()
    dlg = w.export_dialog
    assert dlg.deidentify.isChecked()

    dlg.folder.setText(str(tmp_path / "cancelled"))
    dlg.start()
    dlg.cancel()  # Cancel while it runs (11 zones of about 0.2 s each): it stops at the next zone
    qtbot.waitUntil(lambda: not dlg.job.running, timeout=30000)
    assert "cancelled" in dlg.status.text() and not (tmp_path / "cancelled").exists()

    out = tmp_path / "export"
    dlg.folder.setText(str(out))
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.job.running, timeout=60000)
    assert dlg.result is not None, dlg.status.text()
    assert "Exported 1 patient(s), 1 labelled frame(s)" in dlg.status.text() and dlg.progress.value() == 100
    doc = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert doc["deidentified"] and doc["patients"] != [pid] and (tmp_path / "data" / "export-site-key").is_file()

    dlg.start()  # the same folder again: it is not empty
    qtbot.waitUntil(lambda: not dlg.job.running, timeout=30000)
    assert "Not exported" in dlg.status.text() and "export" in dlg.status.text()
    dlg.close()
    w.session.close_store()
    w.close()
