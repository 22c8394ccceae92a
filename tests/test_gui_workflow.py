"""End-to-end GUI workflow: open the demo -> zone -> play -> live masks -> brush + undo -> score -> clinical
info -> assess -> save -> reopen in a new window -> everything is there. Plus: the GUI stays responsive
(a 20 Hz QTimer keeps ticking) while the model assesses in its worker thread.

The model is a random-init bundle made in the test (a trained one is not needed to test the plumbing) and
the "demo" is a tiny generated patient folder, so the test does not depend on other packages' artefacts.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer

from gui_shell_support import ini_settings, make_bundle, make_patient_folder
from lusapp.core.labels import B_LINE
from lusapp.gui import app as gui_app


@pytest.fixture
def env(tmp_path, monkeypatch):
    demo = make_patient_folder(tmp_path / "demo_src", pid="DEMO-T")
    monkeypatch.setattr(gui_app, "demo_folder", lambda: demo)
    monkeypatch.setattr(gui_app, "session_store_path", lambda: tmp_path / "store")
    make_bundle(tmp_path / "models" / "tiny-test-0.0.1")
    monkeypatch.setenv("LUSAPP_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LUSAPP_MODEL_VERSION", "0.0.1")  # never pick up a bundled trained model here
    return tmp_path


def _window(qtbot, tmp_path):
    w = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w)
    w.show()
    return w


def _close(w):
    w.close()
    assert not w.isVisible()


def test_full_workflow_survives_reopen(qtbot, env):
    w = _window(qtbot, env)
    s = w.session
    gui_app.open_target(w, None)
    w.start_model_loading()
    qtbot.waitUntil(lambda: s.patient is not None and s.patient.patient_id == "DEMO-T", timeout=20000)
    qtbot.waitUntil(lambda: w.model.engine is not None, timeout=30000)
    assert w.error_boxes == []
    assert "tiny-test 0.0.1" in w.severity.model_label.text()

    # select zone R1 by clicking its tile on the board
    w.board.resize(520, 320)
    w.board.set_patient(s.patient)
    center = w.board.zone_rect("R1").center()
    qtbot.mouseClick(w.board, Qt.MouseButton.LeftButton, pos=center.toPoint())
    assert s.zone_id == "R1" and w.board.current == "R1"
    v = w.clip_view
    assert v.clip is not None and v.clip.n_frames == 10

    # play (Space action) and masks appear for the frames shown
    w.actions_.action("play.toggle").trigger()
    qtbot.waitUntil(lambda: v.current_frame > 0, timeout=5000)
    w.actions_.action("play.toggle").trigger()
    qtbot.waitUntil(lambda: v.mask_kind(v.current_frame) == "MODEL", timeout=20000)
    assert v.current_mask() is not None and v.current_mask().shape == (96, 128)

    # brush a B-line, then undo and redo through the window's actions
    before = v.current_mask().copy()
    w.actions_.action("tool.brush").trigger()
    v.set_edit_class(B_LINE)
    v.set_brush_size(3)
    c = v.controller
    c.press(60, 30), c.move(60, 60), c.release(60, 90)
    assert v.current_mask()[60, 60] == B_LINE and v.mask_kind(v.current_frame) == "FINAL"
    w.actions_.action("edit.undo").trigger()
    np.testing.assert_array_equal(v.current_mask(), before)
    w.actions_.action("edit.redo").trigger()
    edited_frame, edited = v.current_frame, v.current_mask().copy()
    assert edited[60, 60] == B_LINE
    assert s.pending_masks("R1")[edited_frame][60, 60] == B_LINE

    # clinician score by key action, zone notes, clinical info
    w.actions_.action("score.3").trigger()
    assert s.patient.zones["R1"].clinician_score.value == 3
    w.zone_panel.notes.setPlainText("fused B-lines at the base")
    form = w.clinical
    form.age.setText("72")
    form.age.editingFinished.emit()
    form.symptoms["dyspnea"].setCheckState(Qt.CheckState.Checked)
    assert s.patient.clinical.age == 72 and s.patient.clinical.symptoms["dyspnea"] is True

    # assess in the worker; results land in the patient, the board shows attention
    w.actions_.action("model.assess").trigger()
    qtbot.waitUntil(lambda: s.patient.severity.model_probs is not None, timeout=60000)
    assert abs(sum(s.patient.severity.model_probs) - 1) < 1e-3
    assert set(w.board._attention) == {z for z, r in s.patient.zones.items() if r.media is not None}
    assert s.patient.zones["R2"].model_score is not None
    attention = dict(w.board._attention)
    w.severity.clin_buttons[2].click()  # clinician's final severity: severe
    assert s.patient.severity.clinician_label == 3

    # save (Ctrl+S action) and reopen in a fresh window
    w.actions_.action("file.save").trigger()
    assert not s.dirty
    rev = s.patient.revision
    _close(w)

    w2 = _window(qtbot, env)
    gui_app.open_target(w2, None)
    s2 = w2.session
    assert s2.patient is not None and s2.patient.patient_id == "DEMO-T" and s2.patient.revision == rev
    p = s2.patient
    assert p.zones["R1"].clinician_score.value == 3
    assert p.zones["R1"].notes == "fused B-lines at the base"
    assert p.clinical.age == 72 and p.clinical.symptoms["dyspnea"] is True and p.clinical.symptoms["fever"] is True
    assert p.severity.clinician_label == 3 and p.severity.model_probs is not None
    assert p.zones["R2"].model_score is not None
    assert w2.board._attention == pytest.approx(attention)  # the explanation survives a reopen
    m = s2.store.load_mask("DEMO-T", "R1", edited_frame, "final")
    np.testing.assert_array_equal(m, edited)
    assert s2.store.load_mask("DEMO-T", "R1", edited_frame, "original") is not None  # the model's, kept
    s2.set_zone("R1")
    assert w2.clip_view.mask_kind(edited_frame) == "FINAL"
    assert w2.clinical.age.text() == "72"
    _close(w2)


def test_gui_stays_responsive_while_assessing(qtbot, env):
    from gui_shell_support import make_engine

    w = _window(qtbot, env)
    s = w.session
    gui_app.open_target(w, None)
    qtbot.waitUntil(lambda: s.patient is not None, timeout=20000)
    engine = make_engine(env / "engine_bundle")
    real_assess = engine.assess

    def slow_assess(*a, **kw):  # the real assessment, made to take >= 1.5 s so the window is measurable
        t0 = time.perf_counter()
        out = real_assess(*a, **kw)
        time.sleep(max(0.0, 1.5 - (time.perf_counter() - t0)))
        return out

    engine.assess = slow_assess
    w.model.set_engine(engine)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(50)  # 20 Hz
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    t0 = time.perf_counter()
    w.severity.assess()
    assert w.severity.job is not None and not w.severity.assess_button.isEnabled()
    qtbot.waitUntil(lambda: w.severity.job is None, timeout=60000)
    elapsed = time.perf_counter() - t0
    timer.stop()
    assert s.patient.severity.model_probs is not None, [b.text() + b.informativeText() for b in w.error_boxes]
    rate = len(ticks) / elapsed
    gaps = np.diff(ticks)
    assert rate >= 10, f"GUI timer ran at {rate:.1f} Hz during assess"
    assert gaps.max() < 0.5, f"longest GUI stall {gaps.max():.2f} s"
    _close(w)
