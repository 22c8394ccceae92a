"""GUI shell widgets: actions factory, zone board, zone panel, clinical form, severity panel, patient list,
session autosave and error paths, dialogs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QKeySequence

from gui_shell_support import make_patient_folder
from lusapp.core.patient import ModelZoneScore, utc_now
from lusapp.core.errors import ValidationError
from lusapp.gui.actions import ActionFactory, check_conflicts, load_specs
from lusapp.gui.session import SessionController
from lusapp.store import Store


@pytest.fixture
def session(qtbot, tmp_path):
    s = SessionController(rater="dr_test", autosave_ms=50)
    store = Store.create(tmp_path / "store")
    store.new_patient("P1", actor="test")
    store.close()
    assert s.open_store(tmp_path / "store")
    assert s.open_patient("P1")
    errors: list = []
    s.errorRaised.connect(lambda t, m: errors.append((t, m)))
    s.errors = errors
    yield s
    s.close_store()


# ---------------------------------------------------------------------------------------------- actions
def test_start_up_refuses_conflicting_or_broken_user_shortcuts_with_a_sentence(qtbot, tmp_path, monkeypatch):
    from lusapp.gui import actions, app as gui_app
    from gui_shell_support import ini_settings

    user = tmp_path / "shortcuts.json"
    user.write_text(json.dumps({"format": "lusapp-shortcuts", "format_version": 1,
                                "actions": {"edit.undo": {"text": "Undo", "keys": ["Ctrl+S"]}}}))
    specs, problem = actions.load_specs_checked(user_path=user)
    assert specs == load_specs(user_path=tmp_path / "absent.json")  # the built-in shortcuts
    assert str(user) in problem and "Ctrl+S is bound to both file.save and edit.undo" in problem
    user.write_text("{not json")
    specs, problem = actions.load_specs_checked(user_path=user)
    assert specs["file.save"].keys == ("Ctrl+S",) and str(user) in problem and "not valid JSON" in problem
    user.write_text(json.dumps({"format": "lusapp-shortcuts", "format_version": 1,
                                "actions": {"edit.undo": {"text": "Undo", "keys": ["Ctrl+Alt+U"]}}}))
    specs, problem = actions.load_specs_checked(user_path=user)
    assert problem == "" and specs["edit.undo"].keys == ("Ctrl+Alt+U",)

    user.write_text("{not json")  # the window opens, with the built-in keys and a message box
    monkeypatch.setattr(actions, "user_config_path", lambda: user)
    monkeypatch.setattr(gui_app, "session_store_path", lambda: tmp_path / "session_store")
    monkeypatch.setattr(gui_app, "demo_folder", lambda: tmp_path / "no_demo")
    w = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: any(b.isVisible() for b in w.error_boxes), timeout=3000)
    box = next(b for b in w.error_boxes if b.isVisible())
    assert box.windowTitle() == "Keyboard shortcuts" and str(user) in box.text()
    assert w.actions_.action("file.save").shortcut().toString() == "Ctrl+S"
    w.close()


def test_shortcut_config_is_complete_and_conflict_free(qtbot):
    from PySide6.QtWidgets import QWidget

    specs = load_specs()
    assert check_conflicts(specs) == []
    for aid in ("frame.next", "frame.prev", "zone.next", "zone.prev", "play.toggle", "tool.brush", "tool.eraser",
                "tool.line", "tool.polygon", "edit.undo", "edit.redo", "file.save", *(f"score.{i}" for i in range(5))):
        assert specs[aid].keys, aid
    host = QWidget()
    qtbot.addWidget(host)
    f = ActionFactory(host, specs)
    assert f.action("edit.redo").shortcut() == QKeySequence("Ctrl+Shift+Z")
    assert f.action("zone.next").shortcuts()[0] == QKeySequence("PgDown")
    assert f.action("frame.next") is f.action("frame.next")
    assert "[Space]" in f.action("play.toggle").toolTip()
    with pytest.raises(KeyError):
        f.action("no.such")


def test_user_shortcuts_override_and_bad_file_is_named(tmp_path):
    user = tmp_path / "shortcuts.json"
    user.write_text(json.dumps({"format": "lusapp-shortcuts", "actions": {"frame.next": {"keys": ["D"]}}}))
    specs = load_specs(user_path=user)
    assert specs["frame.next"].keys == ("D",) and specs["frame.next"].text == "Next frame"
    user.write_text("{not json")
    with pytest.raises(ValidationError, match="shortcuts.json"):
        load_specs(user_path=user)


# ---------------------------------------------------------------------------------------------- zone board
def test_zone_board_click_keys_and_states(qtbot, session):
    from lusapp.gui.zone_board import ZoneBoard

    b = ZoneBoard()
    qtbot.addWidget(b)
    b.resize(560, 320)
    b.show()
    p = session.patient
    p.zones["R1"].clinician_score = None
    p.zones["R2"].model_score = ModelZoneScore([0.1, 0.1, 0.6, 0.1, 0.1], 2, 1.9, "m-1", utc_now())
    b.set_patient(p)
    assert set(b._rects) == set(p.zones)
    # every tile inside the widget, none overlapping
    rects = list(b._rects.values())
    for i, r in enumerate(rects):
        assert b.rect().toRectF().contains(r)
        assert not any(r.intersects(o) for o in rects[i + 1:])
    # front view: the patient's right on the viewer's left; back view: right on the right
    assert b.zone_rect("R1").center().x() < b.zone_rect("L1").center().x()
    assert b.zone_rect("R5").center().x() > b.zone_rect("L5").center().x()
    got = []
    b.zoneSelected.connect(got.append)
    qtbot.mouseClick(b, Qt.MouseButton.LeftButton, pos=b.zone_rect("L3").center().toPoint())
    assert got == ["L3"] and b.current == "L3"
    b.setFocus()
    qtbot.keyClick(b, Qt.Key.Key_Left)
    assert b.current == "L1"  # nearest tile to the left of L3 on the front view
    qtbot.keyClick(b, Qt.Key.Key_Down)
    assert b.current == "L2"
    assert "model score 2" in b.describe("R2") and "no image" in b.describe("R2")
    b.set_attention({"R2": 0.6, "L1": 0.4})
    assert "attention 60%" in b.describe("R2")
    img = b.grab().toImage()
    # the hatched model-score tile (R2) shows the score colour of 2 somewhere
    r = b.zone_rect("R2").toRect()
    from lusapp.gui.theme import score_color

    want = score_color(2)
    found = any(_close(QColor(img.pixel(x, y)), want) for x in range(r.left() + 2, r.right() - 2)
                for y in range(r.top() + 2, r.bottom() - 2))
    assert found


def _close(a: QColor, b: QColor, tol: int = 40) -> bool:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue()) < tol


# ---------------------------------------------------------------------------------------------- zone panel
def test_zone_panel_score_buttons_notes_and_measures(qtbot, session):
    from lusapp.gui.zone_panel import ZonePanel

    zp = ZonePanel(session)
    qtbot.addWidget(zp)
    session.set_zone("R3")
    assert zp.title.text().startswith("R3")
    zp.score_buttons[2].click()
    assert session.patient.zones["R3"].clinician_score.value == 2
    assert session.patient.zones["R3"].clinician_score.rater == "dr_test"
    assert zp.score_buttons[2].isChecked() and not zp.score_buttons[1].isChecked()
    zp.score_buttons[2].click()  # clicking the set score again removes it
    assert session.patient.zones["R3"].clinician_score is None
    zp.notes.setPlainText("small effusion")
    session.set_zone("R4")  # notes commit when leaving the zone
    assert session.patient.zones["R3"].notes == "small effusion"
    session.patient.zones["R4"].model_score = ModelZoneScore([0.05, 0.05, 0.1, 0.7, 0.1], 3, 2.75, "m-1", utc_now())
    zp.refresh()
    assert zp.bars.probs()[3] == pytest.approx(0.7) and "model score 3" in zp.model_info.text()
    zp.set_measures([("B-lines", "7")], 2, "7 B-lines", "from 4 frame(s)")
    assert "7 B-lines" in zp.rule_label.text() and zp.measure_rows() == [("B-lines", "7")]
    qtbot.waitUntil(lambda: not session.dirty, timeout=3000)  # autosaved
    assert session.store.load_patient("P1").zones["R3"].notes == "small effusion"


# ---------------------------------------------------------------------------------------------- clinical form
def test_clinical_form_tristate_validation_and_commit(qtbot, session):
    from lusapp.gui.clinical_form import ClinicalForm, parse_age

    f = ClinicalForm(session)
    qtbot.addWidget(f)
    assert f.symptoms["fever"].checkState() == Qt.CheckState.PartiallyChecked  # unknown by default
    f.age.setText("150")
    f.age.textEdited.emit("150")
    f.age.editingFinished.emit()
    assert "outside 0–120" in f.age_error.text() and session.patient.clinical.age is None
    f.age.setText("45")
    f.age.textEdited.emit("45")
    f.age.editingFinished.emit()
    assert f.age_error.text() == "" and session.patient.clinical.age == 45
    f.sex.setCurrentIndex(2)
    f.symptoms["cough"].setCheckState(Qt.CheckState.Checked)
    f.history["diabetes"].setCheckState(Qt.CheckState.Unchecked)
    c = session.patient.clinical
    assert c.sex == "M" and c.symptoms["cough"] is True and c.history["diabetes"] is False
    assert c.symptoms.get("fever") is None
    f.unknown_to_no.click()
    assert session.patient.clinical.symptoms["fever"] is False and session.patient.clinical.symptoms["cough"] is True
    with pytest.raises(ValidationError):
        parse_age("forty")
    assert parse_age(" ") is None


# ---------------------------------------------------------------------------------------------- severity panel
def test_severity_panel_shows_probs_binary_and_clinician(qtbot, session):
    from lusapp.gui.model_ctl import ModelController
    from lusapp.gui.severity_panel import SeverityPanel

    m = ModelController()
    sp = SeverityPanel(session, m)
    qtbot.addWidget(sp)
    assert not sp.assess_button.isEnabled()  # no model
    session.apply_assessment(SimpleNamespace(severity_probs=[0.1, 0.2, 0.6, 0.1], model_version="m-9", zone_probs={},
                                             zone_scores={}, attention={"R1": 1.0}))
    assert sp.bars.probs() == pytest.approx([0.1, 0.2, 0.6, 0.1])
    assert "SEVERE" in sp.binary.text() and "70%" in sp.binary.text() and "m-9" in sp.assessed.text()
    sp.clin_buttons[1].click()
    assert session.patient.severity.clinician_label == 2 and session.patient.severity.rater == "dr_test"
    sp.clin_buttons[1].click()
    assert session.patient.severity.clinician_label is None
    sp.assess()  # without a model: a clear error, no crash
    assert session.errors and "No model" in session.errors[-1][1]


# ---------------------------------------------------------------------------------------------- patient list
def test_assessment_attention_is_saved_and_shown_again_after_reopen(qtbot, session):
    seen: list = []
    session.attentionChanged.connect(seen.append)
    session.apply_assessment(SimpleNamespace(severity_probs=[0.1, 0.2, 0.3, 0.4], model_version="m-9",
                                             zone_probs={}, zone_scores={}, attention={"R1": 0.75, "L1": 0.25}))
    assert seen[-1] == {"R1": 0.75, "L1": 0.25}
    assert session.save()
    assert session.close_patient() and session.open_patient("P1")
    assert session.attention == {"R1": 0.75, "L1": 0.25}
    assert seen[-1] == {"R1": 0.75, "L1": 0.25}  # the zone board is bound to this signal


def test_new_clip_in_an_assessed_zone_drops_its_attention_and_still_saves(qtbot, session, tmp_path):
    session.apply_assessment(SimpleNamespace(severity_probs=[0.1, 0.2, 0.3, 0.4], model_version="m-9",
                                             zone_probs={}, zone_scores={}, attention={"R1": 0.75, "L1": 0.25}))
    assert session.save()
    src = make_patient_folder(tmp_path / "src", pid="X", clips=("R1",), stills=())
    session.import_media({"R1": src / "R1.mp4"})
    qtbot.waitUntil(lambda: session.patient.zones["R1"].media is not None and not session.busy, timeout=15000)
    assert session.attention == pytest.approx({"L1": 1.0})
    session.set_clinician_severity(2)
    assert session.save(), session.errors
    assert session.store.load_patient("P1").severity.model_attention == pytest.approx({"L1": 1.0})


def test_patient_list_import_folder_and_clips(qtbot, session, tmp_path):
    from lusapp.gui.patient_list import PatientList, assign_files

    pl = PatientList(session)
    qtbot.addWidget(pl)
    assert pl.patient_ids() == ["P1"]
    folder = make_patient_folder(tmp_path / "src", pid="IMP-1", clips=("R1",), stills=("L2",))
    session.import_folder(folder)
    qtbot.waitUntil(lambda: session.patient is not None and session.patient.patient_id == "IMP-1", timeout=15000)
    assert pl.patient_ids() == ["IMP-1", "P1"]
    row = pl.patient_ids().index("IMP-1")
    assert pl.table.item(row, 2).text() == "2/12"
    pl.filter.setText("imp")
    assert pl.table.isRowHidden(pl.patient_ids().index("P1"))
    # clips into zones: by file name, and a single file into the target zone
    extra = make_patient_folder(tmp_path / "more", pid="X", clips=("L4",), stills=())
    pl.import_files([str(extra / "L4.mp4"), str(extra / "clinical.json")])
    assert "clinical.json" in session.errors[-1][1]
    qtbot.waitUntil(lambda: session.patient.zones["L4"].media is not None, timeout=15000)
    pl.filter.clear()
    session.set_clinician_severity(4)  # a save updates the row from memory
    qtbot.waitUntil(lambda: not session.dirty, timeout=5000)
    row = pl.patient_ids().index("IMP-1")
    assert pl.table.item(row, 2).text() == "3/12" and pl.table.item(row, 5).text() == "critical"
    assert assign_files(["/a/x.mp4"], ("R1", "L1"), "L1") == ({"L1": "/a/x.mp4"}, [])
    assert assign_files(["/a/r1_clip.mp4", "/a/R10.mp4"], ("R1", "L1")) == ({"R1": "/a/r1_clip.mp4"}, ["/a/R10.mp4"])


def test_bad_media_and_bad_folder_give_named_errors(qtbot, session, tmp_path):
    bad = tmp_path / "R1.mp4"
    bad.write_bytes(b"this is not a video")
    session.import_media({"R1": bad})
    qtbot.waitUntil(lambda: not session.busy, timeout=10000)
    assert session.errors and str(bad) in session.errors[-1][1]
    assert session.patient.zones["R1"].media is None
    notafolder = tmp_path / "missing"
    session.import_folder(notafolder)
    qtbot.waitUntil(lambda: not session.busy, timeout=10000)
    assert str(notafolder) in session.errors[-1][1]


# ---------------------------------------------------------------------------------------------- session
def test_session_autosave_masks_and_failed_save_keeps_data(qtbot, session):
    session.set_clinician_score(1, "L5")
    mask = np.zeros((20, 30), np.uint8)
    mask[5:8, 2:20] = 1
    session.queue_mask("L5", 4, mask, "final", "m-1")
    assert session.dirty
    qtbot.waitUntil(lambda: not session.dirty, timeout=3000)
    np.testing.assert_array_equal(session.store.load_mask("P1", "L5", 4, "final"), mask)
    assert session.store.load_patient("P1").zones["L5"].clinician_score.value == 1
    # a save that fails (store closed under us) keeps the change and the dirty state, and says why
    session.store.close()
    session.set_clinician_score(2, "L5")
    assert not session.save()
    assert session.dirty and session.patient.zones["L5"].clinician_score.value == 2
    assert "closed" in session.errors[-1][1]


def test_dialogs_name_version_and_model(qtbot):
    import lusapp
    from lusapp.gui.dialogs import AboutDialog, ShortcutsDialog, error_box

    a = AboutDialog("tiny 0.0.1")
    qtbot.addWidget(a)
    assert lusapp.__version__ in a.label.text() and "tiny 0.0.1" in a.label.text()
    d = ShortcutsDialog([("Next frame", "Right")])
    qtbot.addWidget(d)
    assert d.table.item(0, 1).text() == "Right"
    box = error_box(None, "Cannot open", "/x/R1.mp4: not a video\nmore detail", modal=False)
    assert box.text() == "/x/R1.mp4: not a video" and box.informativeText() == "more detail"
    box.close()


def test_zone_board_drop_files_on_a_tile(qtbot, session, tmp_path):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDropEvent

    from lusapp.gui.zone_board import ZoneBoard

    b = ZoneBoard()
    qtbot.addWidget(b)
    b.resize(560, 320)
    b.set_patient(session.patient)
    got = []
    b.filesDropped.connect(lambda z, paths: got.append((z, paths)))
    f = tmp_path / "any_name.mp4"
    f.write_bytes(b"x")

    def drop(pos, files):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in files])
        ev = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
        b.dropEvent(ev)

    drop(b.zone_rect("R5").center(), [f])
    drop(QPointF(2, 2), [f])  # not on a tile: assigned by name later
    drop(b.zone_rect("R5").center(), [f, f])  # several files: by name, whatever the tile
    assert [z for z, _ in got] == ["R5", "", ""] and got[0][1] == [str(f)]


def test_edits_during_an_import_are_kept(qtbot, session, tmp_path):
    folder = make_patient_folder(tmp_path / "src", pid="X", clips=("R6",), stills=())
    job = session.import_media({"R6": folder / "R6.mp4"})
    assert job is not None and session.busy
    session.set_zone_notes("typed while importing", "L1")  # the store is busy: kept in memory, saved after
    qtbot.waitUntil(lambda: session.patient.zones["R6"].media is not None, timeout=15000)
    assert session.patient.zones["L1"].notes == "typed while importing"
    qtbot.waitUntil(lambda: not session.dirty, timeout=5000)
    disk = session.store.load_patient("P1")
    assert disk.zones["L1"].notes == "typed while importing" and disk.zones["R6"].media.original_name == "R6.mp4"


def test_damaged_patient_is_listed_and_opening_it_explains(qtbot, session):
    from lusapp.gui.patient_list import PatientList

    bad = session.store.root / "patients" / "BROKEN"
    bad.mkdir()
    (bad / "patient.json").write_text("{ not json")
    pl = PatientList(session)
    qtbot.addWidget(pl)
    row = pl.patient_ids().index("BROKEN")
    assert pl.table.item(row, 1).text() == "damaged" and "patient.json" in pl.table.item(row, 0).toolTip()
    pl.table.selectRow(row)
    assert session.patient.patient_id == "P1"  # stays on the open patient
    assert session.errors and "patient.json" in session.errors[-1][1]
    assert pl.table.item(pl.table.currentRow(), 0).text() == "P1"


def test_window_shortcuts_drive_zones_scores_and_frames(qtbot, tmp_path, monkeypatch):
    from gui_shell_support import ini_settings
    from lusapp.gui import app as gui_app

    folder = make_patient_folder(tmp_path / "src", pid="K-1", clips=("R1", "R2"), stills=())
    monkeypatch.setattr(gui_app, "session_store_path", lambda: tmp_path / "st")
    w = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w)
    w.show()
    gui_app.open_target(w, str(folder))
    qtbot.waitUntil(lambda: w.session.patient is not None, timeout=15000)
    w.activateWindow()
    w.clip_view.setFocus()
    assert w.session.zone_id == "R1"
    qtbot.keyClick(w.clip_view, Qt.Key.Key_PageDown)
    assert w.session.zone_id == "R2" and w.board.current == "R2"
    qtbot.keyClick(w.clip_view, Qt.Key.Key_4)
    assert w.session.patient.zones["R2"].clinician_score.value == 4
    qtbot.keyClick(w.clip_view, Qt.Key.Key_Backspace)
    assert w.session.patient.zones["R2"].clinician_score is None
    qtbot.keyClick(w.clip_view, Qt.Key.Key_Right)
    assert w.clip_view.current_frame == 1
    qtbot.keyClick(w.clip_view, Qt.Key.Key_End)
    assert w.clip_view.current_frame == w.clip_view.clip.n_frames - 1
    qtbot.keyClick(w.clip_view, Qt.Key.Key_PageUp)
    assert w.session.zone_id == "R1"
    # typing digits into the age field types, it does not score the zone
    w.docks["clinical"].raise_()
    w.clinical.age.setFocus()
    w.clinical.age.clear()
    qtbot.keyClicks(w.clinical.age, "3")
    assert w.clinical.age.text() == "3" and w.session.patient.zones["R1"].clinician_score is None
    w.session.discard_changes()
    w.close()


def test_unreadable_stored_clip_gives_a_named_error_and_app_continues(qtbot, tmp_path, monkeypatch):
    from gui_shell_support import ini_settings
    from lusapp.gui import app as gui_app

    folder = make_patient_folder(tmp_path / "src", pid="C-1", clips=("R1", "R2"), stills=())
    monkeypatch.setattr(gui_app, "session_store_path", lambda: tmp_path / "st")
    w = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w)
    w.show()
    gui_app.open_target(w, str(folder))
    qtbot.waitUntil(lambda: w.session.patient is not None, timeout=15000)
    media = w.session.store.patient_dir("C-1") / w.session.patient.zones["R2"].media.file
    media.write_bytes(b"\x00" * 64)  # damaged on disk after import
    w.session.set_zone("R2")
    assert w.clip_view.clip is None
    assert any(str(media) in b.text() for b in w.error_boxes)
    w.session.set_zone("R1")  # the other zones still work
    assert w.clip_view.clip is not None and w.clip_view.clip.n_frames == 10
    w.close()


@pytest.mark.parametrize("width", [300, 330, 420, 800])
def test_zone_board_legend_is_never_cut(qtbot, session, width):
    """The legend gets as many lines as it needs at the board's width (three on a 1280 x 720 screen's board),
    and no tile covers it."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QFontMetricsF

    from lusapp.gui.zone_board import LEGEND, ZoneBoard

    b = ZoneBoard()
    qtbot.addWidget(b)
    font = b.font()
    font.setPointSizeF(13)  # a large system font: the legend wraps to three or four lines
    b.setFont(font)
    b.resize(width, 420)
    b.show()
    b.set_patient(session.patient)
    need = QFontMetricsF(b._small_font()).boundingRect(
        QRectF(0, 0, width - 12, 1000), int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), LEGEND)
    lh = b._legend_height()
    assert lh >= need.height()
    legend_top = b.height() - lh - 2
    assert all(r.bottom() <= legend_top for r in b._rects.values())
