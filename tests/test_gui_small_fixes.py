"""Issue 11, 'Smaller things seen': one focused test per fix."""

from __future__ import annotations

import pytest

from lusapp.core.patient import ModelZoneScore, utc_now
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


def test_scored_column_counts_clinician_scores_not_the_models(qtbot, session):
    from lusapp.gui.patient_list import COLUMNS, PatientList

    p = session.patient
    for z in ("R1", "R2", "L1"):  # three zones scored by the model only
        p.zones[z].model_score = ModelZoneScore([0.1, 0.6, 0.2, 0.05, 0.05], 1, 1.4, "m-1", utc_now())
    session.set_clinician_score(2, "L5")
    assert session.save(), session.errors
    col = COLUMNS.index("Scored")
    pl = PatientList(session)
    qtbot.addWidget(pl)
    assert pl.table.item(0, col).text() == "1/12"  # read from the store
    assert "clinician" in pl.table.horizontalHeaderItem(col).toolTip()
    assert {s.patient_id: s.n_scored for s in session.store.list_patients()} == {"P1": 1}
    session.set_clinician_score(3, "R1")  # a save refreshes the row from memory
    assert session.save(), session.errors
    assert pl.table.item(0, col).text() == "2/12"


def test_empty_zone_rule_line_says_no_image_not_waiting_for_masks(qtbot, session, tmp_path):
    from gui_shell_support import make_patient_folder
    from lusapp.gui.zone_panel import ZonePanel

    panel = ZonePanel(session)
    qtbot.addWidget(panel)
    session.set_zone("R1")
    assert session.patient.zones["R1"].media is None
    assert "waiting" not in panel.rule_label.text() and "no image" in panel.rule_label.text()
    src = make_patient_folder(tmp_path / "src", pid="X", clips=("R1",), stills=("R2",))
    session.import_media({"R1": src / "R1.mp4", "R2": src / "R2.png"})
    qtbot.waitUntil(lambda: session.patient.zones["R2"].media is not None and not session.busy, timeout=15000)
    assert panel.rule_label.text() == "— (waiting for the clip's masks)"  # the zone in view got its clip
    session.set_zone("R2")
    assert panel.rule_label.text() == "— (waiting for the image's masks)"
    panel.set_measures([("B-lines", "2")], 1, "rule", "from the model's masks of 1 frame(s)")
    session.set_zone("L1")
    assert "no image" in panel.rule_label.text()


def test_keyboard_focus_ring_is_visible_on_the_dark_theme(qtbot):
    from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QPushButton, QSpinBox, QToolButton, QWidget

    from lusapp.gui import theme

    win = QWidget()
    win.setStyleSheet(theme.STYLESHEET)
    win.setPalette(theme.palette())
    lay = QHBoxLayout(win)
    widgets = [QPushButton("Assess"), QToolButton(text="Mark labelled"), QCheckBox("Fever"), QSpinBox()]
    anchor = QPushButton("other")
    for w in (*widgets, anchor):
        lay.addWidget(w)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=3000)

    def ring_pixels(img) -> int:
        f = theme.FOCUS
        n = 0
        for y in range(img.height()):
            for x in range(img.width()):
                c = img.pixelColor(x, y)
                n += abs(c.red() - f.red()) + abs(c.green() - f.green()) + abs(c.blue() - f.blue()) < 40
        return n

    for w in widgets:
        anchor.setFocus()
        qtbot.waitUntil(lambda: anchor.hasFocus(), timeout=2000)
        hint = w.sizeHint()
        before = w.grab().toImage()
        w.setFocus()
        qtbot.waitUntil(lambda w=w: w.hasFocus(), timeout=2000)
        after = w.grab().toImage()
        assert ring_pixels(before) == 0, type(w).__name__
        assert ring_pixels(after) >= 20, type(w).__name__  # a ring in the focus colour, not Fusion's faint one
        assert w.sizeHint() == hint, type(w).__name__  # focus does not move the layout


def test_folder_import_names_every_bad_file_and_every_skipped_one(qtbot, session, tmp_path):
    from gui_shell_support import make_patient_folder
    from lusapp.core.errors import ReadError

    bad = make_patient_folder(tmp_path / "bad", pid="BAD-1", clips=("R1",), stills=())
    for name in ("R2.mp4", "L1.mp4", "L4.png"):
        (bad / name).write_bytes(b"\x00not media at all" * 10)
    with pytest.raises(ReadError) as info:  # the store names all three, not only the first
        session.store.import_folder(bad, "dr_test")
    assert all(n in str(info.value) for n in ("R2.mp4", "L1.mp4", "L4.png")), str(info.value)
    session.import_folder(bad)
    qtbot.waitUntil(lambda: not session.busy, timeout=15000)
    assert all(n in session.errors[-1][1] for n in ("R2.mp4", "L1.mp4", "L4.png")), session.errors[-1]
    assert "BAD-1" not in [s.patient_id for s in session.store.list_patients()]

    ok = make_patient_folder(tmp_path / "ok", pid="OK-1", clips=("R1",), stills=())
    (ok / "notes.txt").write_text("x")
    (ok / "Z9.mp4").write_bytes(b"x")
    (ok / "sub").mkdir()
    n_errors = len(session.errors)
    session.import_folder(ok)
    qtbot.waitUntil(lambda: session.patient.patient_id == "OK-1" and not session.busy, timeout=15000)
    assert len(session.errors) == n_errors + 1
    title, message = session.errors[-1]
    assert "OK-1" in title and "3 warning" in title
    assert all(n in message for n in ("notes.txt", "Z9.mp4", "sub/")), message
    skipped: list[str] = []
    again = make_patient_folder(tmp_path / "again", pid="OK-2", clips=("R1",), stills=())
    (again / "ward-notes.docx").write_text("x")
    (again / "readme.md").write_text("x")  # the folder's documentation: skipped without a warning
    assert session.store.import_folder(again, "dr_test", skipped) == "OK-2"
    assert len(skipped) == 1 and "ward-notes.docx" in skipped[0]


@pytest.mark.parametrize("size", [(300, 482), (520, 300), (900, 600)])
def test_attention_percentage_is_drawn_on_every_tile_size(qtbot, size):
    from PySide6.QtCore import QRect

    from lusapp.core.patient import Patient
    from lusapp.gui.zone_board import ZoneBoard

    p = Patient.new("P1")
    board = ZoneBoard()
    qtbot.addWidget(board)
    board.set_patient(p)
    board.resize(*size)
    board.show()
    qtbot.waitExposed(board)
    plain = board.grab().toImage()
    att = {z: 1 / len(p.zones) for z in p.zones}
    board.set_attention(att)
    shown = board.grab().toImage()
    tiles = {z: board.zone_rect(z) for z in p.zones}
    for z in p.zones:
        rect = board.attention_text_rect(z)
        assert rect is not None and board.rect().toRectF().contains(rect), z
        for other, tr in tiles.items():  # the number covers no other tile
            assert other == z or not rect.intersects(tr), (z, other)
        box = rect.toAlignedRect().intersected(QRect(0, 0, shown.width(), shown.height()))
        changed = sum(plain.pixelColor(x, y) != shown.pixelColor(x, y)
                      for y in range(box.top(), box.bottom() + 1) for x in range(box.left(), box.right() + 1))
        assert changed >= 10, (z, size)  # the percentage is painted there
    assert board.attention_text_rect("R1") is not None
    board.set_attention({})
    assert board.attention_text_rect("R1") is None


def test_patient_notes_are_edited_in_the_clinical_form_and_saved(qtbot, session, tmp_path):
    from lusapp.gui.clinical_form import ClinicalForm

    form = ClinicalForm(session)
    qtbot.addWidget(form)
    assert form.notes.toPlainText() == ""
    form.notes.setPlainText("Known COPD; scanned sitting.")
    assert session.patient.notes == "Known COPD; scanned sitting." and session.dirty
    assert session.save(), session.errors
    session.store.new_patient("P2", actor="test")
    assert session.open_patient("P2") and form.notes.toPlainText() == ""
    assert session.open_patient("P1") and form.notes.toPlainText() == "Known COPD; scanned sitting."
    assert session.store.load_patient("P1").notes == "Known COPD; scanned sitting."
