"""Retrain dialog (QProcess, progress, cancel, switch to the published model), model controller, app start-up
targets (store, plain folder, bad paths), window state in QSettings, and the unsaved-changes guard on close."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gui_shell_support import ini_settings, make_bundle, make_patient_folder
from lusapp.gui import app as gui_app
from lusapp.gui.model_ctl import ModelController, load_active
from lusapp.gui.retrain import RetrainDialog, decision_text, finetune_command, parse_line, summarize
from lusapp.gui.session import SessionController
from lusapp.store import Store

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


@pytest.fixture
def store_session(qtbot, tmp_path):
    s = SessionController(rater="dr_test", autosave_ms=50)
    Store.create(tmp_path / "store").close()
    assert s.open_store(tmp_path / "store")
    yield s
    s.close_store()


def test_parse_finetune_lines():
    assert parse_line("PROGRESS 42 epoch 3/10") == ("progress", (42, "epoch 3/10"))
    assert parse_line("PROGRESS 140") == ("progress", (100, ""))
    assert parse_line('{"published": true, "version": "1.0.1"}')[0] == "result"
    assert parse_line("PROGRESS x y")[0] == "log" and parse_line("hello")[0] == "log"
    text = summarize({"published": False, "version": None, "score_active": 0.35, "score_candidate": 0.02,
                      "trained_on": 4, "held_out": ["A"], "reason": "candidate worse"})
    assert text.startswith("Result: Not published") and "active 0.350" in text and "candidate worse" in text
    prog, args = finetune_command("/s")
    assert prog == sys.executable and args == ["-m", "model_training", "finetune", "--store", "/s"]


def test_retrain_publishes_and_switches_model(qtbot, store_session, tmp_path):
    models, empty = tmp_path / "models", tmp_path / "bundled"
    empty.mkdir()
    make_bundle(models / "tiny-test-0.0.1", version="0.0.1")
    model = ModelController(loader=lambda: load_active(str(models), str(empty)))
    with qtbot.waitSignal(model.engineChanged, timeout=60000):
        model.reload()
    assert model.version == "0.0.1"
    # a stand-in for `model_training finetune` (that module is another engineer's): same output protocol,
    # and it really publishes a new bundle through the registry
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(TESTS)!r})
        print("PROGRESS 10 loading corrections", flush=True)
        from gui_shell_support import make_bundle
        from lusapp.model.registry import ModelRegistry
        print("PROGRESS 60 training", flush=True)
        b = make_bundle({str(tmp_path / 'new')!r}, version="0.0.2")
        ModelRegistry(bundled_dir={str(empty)!r}, user_dir={str(models)!r}).publish(b)
        print("PROGRESS 100 done", flush=True)
        print(json.dumps({{"published": True, "version": "0.0.2"}}))
    """)
    d = RetrainDialog(store_session, model, command=(sys.executable, ["-c", script]))
    qtbot.addWidget(d)
    seen = []
    d.progress.valueChanged.connect(seen.append)
    with qtbot.waitSignal(d.retrainFinished, timeout=60000) as sig:
        assert d.start()
        assert not d.start_button.isEnabled() and d.cancel_button.isEnabled()
    assert sig.args[0]["version"] == "0.0.2"
    assert 10 in seen and 60 in seen and d.progress.value() == 100
    qtbot.waitUntil(lambda: model.version == "0.0.2", timeout=60000)
    assert "0.0.2" in d.status.text()


def test_retrain_cancel_and_failure(qtbot, store_session):
    model = ModelController(loader=lambda: (None, "none"))
    script = "import time; print('PROGRESS 5 starting', flush=True); time.sleep(60)"
    d = RetrainDialog(store_session, model, command=(sys.executable, ["-c", script]))
    qtbot.addWidget(d)
    assert d.start()
    qtbot.waitUntil(lambda: d.progress.value() == 5, timeout=10000)
    with qtbot.waitSignal(d.retrainFinished, timeout=10000) as sig:
        d.cancel()
    assert sig.args[0] == {} and "Cancelled" in d.status.text() and not d.running
    d2 = RetrainDialog(store_session, model, command=(sys.executable, ["-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]))
    qtbot.addWidget(d2)
    with qtbot.waitSignal(d2.retrainFinished, timeout=10000):
        d2.start()
    assert "exit code 3" in d2.status.text() and "boom" in d2.log.toPlainText()


def test_retrain_unavailable_in_a_frozen_build(qtbot, store_session, monkeypatch):
    from lusapp.gui.retrain import finetune_available

    assert finetune_available() == (True, "")  # this dev environment has the training code
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    d = RetrainDialog(store_session, ModelController(loader=lambda: (None, "none")))
    qtbot.addWidget(d)
    assert not d.start_button.isEnabled() and "not available" in d.status.text() and not d.start()


def test_model_controller_reports_missing_model(qtbot, tmp_path):
    empty = tmp_path / "none"
    empty.mkdir()
    m = ModelController(loader=lambda: load_active(str(empty), str(empty)))
    with qtbot.waitSignal(m.loadFailed, timeout=60000) as sig:
        m.reload()
    assert str(empty) in sig.args[0] and m.engine is None and "failed" in m.description


# ---------------------------------------------------------------------------------------------- app targets
@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(gui_app, "session_store_path", lambda: tmp_path / "session_store")
    monkeypatch.setattr(gui_app, "demo_folder", lambda: tmp_path / "no_demo")
    w = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w)
    w.show()
    yield w
    if w.isVisible():
        w.session.discard_changes()
        w.close()


def test_open_plain_folder_imports_into_session_store(qtbot, window, tmp_path):
    folder = make_patient_folder(tmp_path / "in", pid="PF-1", clips=("L2",), stills=())
    gui_app.open_target(window, str(folder))
    qtbot.waitUntil(lambda: window.session.patient is not None, timeout=15000)
    assert window.session.store.root == tmp_path / "session_store"
    assert window.session.patient.patient_id == "PF-1" and window.session.zone_id == "L2"
    assert window.windowTitle().startswith("LUSApp — PF-1")


def test_open_store_and_bad_paths(qtbot, window, tmp_path):
    st = Store.create(tmp_path / "other")
    st.new_patient("S-9", actor="t")
    st.close()
    gui_app.open_target(window, str(tmp_path / "other"))
    assert window.session.store.root == tmp_path / "other" and window.session.patient.patient_id == "S-9"
    gui_app.open_target(window, str(tmp_path / "does-not-exist"))
    assert any("does-not-exist" in b.text() for b in window.error_boxes)
    bad = tmp_path / "bad_patient"
    bad.mkdir()
    (bad / "clinical.json").write_text("{broken")
    gui_app.open_target(window, str(bad))
    assert any("clinical.json" in b.text() for b in window.error_boxes)
    assert window.isVisible()  # the app keeps running
    assert gui_app.run_gui(["--bogus"]) == 2


def test_window_state_persists_and_unsaved_guard(qtbot, window, tmp_path):
    window.docks["patients"].hide()  # a layout change the user made
    s = window.session
    Store.create(tmp_path / "st").close()
    assert s.open_store(tmp_path / "st") and s.new_patient("G-1")
    s.set_clinician_score(2, "R1")
    s.store.close()  # the next save fails: closing must not lose the change silently
    window.close()
    assert window.isVisible() and s.dirty
    assert any("closed" in b.text() for b in window.error_boxes)
    s.discard_changes()
    window.close()
    assert not window.isVisible()
    w2 = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w2)
    w2.show()
    assert w2.docks["patients"].isHidden() and not w2.docks["board"].isHidden()
    assert w2.set_rater("  dr_who ") and w2.session.rater == "dr_who" and not w2.set_rater("   ")
    w3 = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w3)
    assert w3.session.rater == "dr_who" and "dr_who" in w3.status_rater.text()
    w3.close()
    assert w2.settings.value("session/patient") == "G-1"
    w2.close()


def test_store_in_use_opens_read_only(qtbot, tmp_path):
    first = Store.create(tmp_path / "locked")  # holds the writer lock
    first.new_patient("L-1", actor="t")
    s = SessionController(rater="dr_test")
    errors = []
    s.errorRaised.connect(lambda t, m: errors.append((t, m)))
    assert s.open_store(tmp_path / "locked") and s.readonly
    assert errors and errors[-1][0] == "Store in use" and str(tmp_path / "locked") in errors[-1][1]
    assert s.open_patient("L-1")
    s.set_clinician_score(2, "R1")
    assert not s.save() and s.dirty  # refuses to write, keeps the change in memory
    assert s.close_store() and s.store is None  # closing a read-only session does not get stuck
    first.close()


# ------------------------------------------------------------------ retrain with a day's corrections (issue 11)
def test_retrain_dialog_says_what_the_store_holds(qtbot, store_session):
    model = ModelController(loader=lambda: (None, "none"))
    d = RetrainDialog(store_session, model)
    qtbot.addWidget(d)
    text = d.plan_label.text()
    assert "0 frames with a corrected (FINAL) mask" in text and "0 patients with a final severity" in text
    assert "Masks (segmentation): skipped" in text and "Nothing can be retrained yet" in text
    assert not d.start_button.isEnabled() and not d.start()
    s = store_session
    assert s.new_patient("P-1")
    s.set_clinician_severity(3)
    s.save()
    d2 = RetrainDialog(s, model)
    qtbot.addWidget(d2)
    assert "1 patient with a final severity" in d2.plan_label.text()
    assert "Patient severity: skipped: 1 patient has a final severity" in d2.plan_label.text()


def test_retrain_failure_shows_a_sentence_not_a_dict(qtbot, store_session):
    model = ModelController(loader=lambda: (None, "none"))
    sentence = "the store has no patient."
    script = ("import json, sys; print('error: ' + %r, file=sys.stderr); "
              "print(json.dumps({'published': False, 'version': None, 'error': %r})); sys.exit(2)") % (sentence, sentence)
    d = RetrainDialog(store_session, model, command=(sys.executable, ["-c", script]))
    qtbot.addWidget(d)
    with qtbot.waitSignal(d.retrainFinished, timeout=20000) as sig:
        assert d.start()
    assert sig.args[0] == {}
    st = d.status.text()
    assert sentence in st and "unchanged" in st and "{" not in st and "Traceback" not in st
    assert "{" not in d.log.toPlainText().splitlines()[-1]  # the JSON is summarised, not dumped
    doc = {"published": False, "score_active": 0.30, "score_candidate": 0.10, "reason": "candidate worse",
           "decision": "Not published; 1.2.0 stays active, because ... mask Dice 0.300 ... 0.100.",
           "stages": [{"stage": "seg", "train": True, "why": "retrained from 5 corrected (FINAL) frames in 1 clip"},
                      {"stage": "severity", "train": False, "why": "skipped: 1 patient has a final severity"}]}
    text = decision_text(doc)
    assert text.startswith("Not published") and "Patient severity: skipped: 1 patient" in text and "{" not in text


def test_demo_corrections_retrain_and_the_app_switches(qtbot, tmp_path, monkeypatch):
    """Issue 11 end to end: the demo patient opened in the app, masks of a few frames corrected (FINAL) through
    the session (as the clip view's tools do), retrained with the real finetune (1 epoch, 48 frames drawn) on
    the bundled findings model (decoder only), published, and the app switches to the new version."""
    models = tmp_path / "models"
    monkeypatch.setenv("LUSAPP_MODELS_DIR", str(models))
    monkeypatch.delenv("LUSAPP_MODEL_VERSION", raising=False)
    monkeypatch.setattr(gui_app, "session_store_path", lambda: tmp_path / "session_store")
    monkeypatch.setattr(gui_app, "demo_folder", lambda: tmp_path / "no_demo")
    t0 = time.perf_counter()
    w = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w)
    w.show()
    w.start_model_loading()
    gui_app.open_target(w, str(REPO / "resources" / "demo"))
    qtbot.waitUntil(lambda: w.session.patient is not None, timeout=30000)
    qtbot.waitUntil(lambda: w.model.engine is not None, timeout=120000)
    active = w.model.version
    assert active == "1.2.0"
    s = w.session
    pid = s.patient.patient_id
    corrected = 0
    for zid, frames in (("R1", [0, 6, 12, 18, 24]), ("L3", [0, 8, 16, 24])):
        res = w.model.engine.segment(s.store.media_path(pid, zid), frames)
        for f, m in zip(frames, res.masks):
            m = m.copy()
            m[m == 3] = 0  # the clinician erases the B-lines the model drew
            s.queue_mask(zid, f, m, "final", model_version=active)
            corrected += 1
    assert s.save()
    extra = ["--registry-dir", str(models), "--epochs", "1", "--seg-samples", "48", "--no-real-check",
             "--cache-dir", str(tmp_path / "cache")]
    d = RetrainDialog(s, w.model, w, command=finetune_command(s.store.root, extra))
    qtbot.addWidget(d)
    plan = d.plan_label.text()
    assert f"{corrected} frames with a corrected (FINAL) mask in 2 clips" in plan
    assert "only the mask decoder is retrained" in plan and d.start_button.isEnabled()
    t1 = time.perf_counter()
    with qtbot.waitSignal(d.retrainFinished, timeout=300000) as sig:
        assert d.start()
    t2 = time.perf_counter()
    doc = sig.args[0]
    assert doc.get("published"), d.status.text() + "\n" + d.log.toPlainText()[-2000:]
    assert doc["held_out_frames"] >= 2 and doc["version"] == "1.2.1"
    qtbot.waitUntil(lambda: w.model.version == "1.2.1", timeout=120000)
    t3 = time.perf_counter()
    assert "1.2.1" in d.status.text() and "held-out corrected frame" in d.decision.text()
    assert d.decision.text().startswith("Published lus-staged 1.2.1 (from 1.2.0)")
    print(json.dumps({"demo_retrain_wall_s": {"app_and_corrections": round(t1 - t0, 1),
                                              "finetune": round(t2 - t1, 1), "switch": round(t3 - t2, 1),
                                              "total": round(t3 - t0, 1)}}))
    d.close()
    s.discard_changes()
    w.close()
