"""The Raters dock: another rater's scores beside the clinician's, their FINAL mask drawn over the clip, adjudication
of a zone score and of a labelled frame, the agreement dialog with its review queue (double-click opens the zone),
and every control of the dock reachable at 1366 x 768."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from gui_shell_support import app_window, make_patient_folder
from lusapp.core.raters import set_rater_score
from lusapp.store import Store
from test_gui_window_fit import _reach


def _mask(value: int, shape=(96, 128)) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[30:40, 20:100] = 1
    m[40:90, 30 + 10 * value:36 + 10 * value] = 3
    return m


@pytest.fixture
def rated_store(tmp_path):
    root = tmp_path / "store"
    with Store.create(root) as store:
        pid = store.import_folder(make_patient_folder(tmp_path / "src", pid="P1", clips=("R1",), stills=()), "t")
        p = store.load_patient(pid)
        for zone, a, b in (("R1", 1, 3), ("R2", 2, 2)):
            set_rater_score(p.zones[zone], "dr_a", a)
            set_rater_score(p.zones[zone], "dr_b", b)
        store.save_patient(p, "t")
        store.save_masks(pid, "R1", {0: _mask(1)}, kind="final", rater="dr_a")
        store.save_masks(pid, "R1", {0: _mask(4)}, kind="final", rater="dr_b")
    return root


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, rated_store):
    w = app_window(qtbot, tmp_path, monkeypatch)
    w.set_rater("dr_chief")
    assert w.session.open_store(rated_store) and w.session.open_patient("P1")
    w.session.set_zone("R1", force=True)
    qtbot.waitUntil(lambda: w.clip_view.clip is not None, timeout=20000)
    yield w
    w.session.discard_changes()
    w.close()


def _rows(panel) -> list[tuple[str, str]]:
    t = panel.table
    return [(t.item(r, 0).text(), t.item(r, 1).text()) for r in range(t.rowCount())]


def test_other_raters_scores_are_listed_and_a_score_is_adjudicated(window):
    w, panel = window, window.raters
    assert _rows(panel) == [("dr_a", "1"), ("dr_b", "3")]
    assert w.zone_panel.raters_info.text() == "Other raters: dr_a 1, dr_b 3"  # beside the clinician's score
    panel.table.selectRow(1)
    assert panel.adopt_selected_score()
    rec = w.session.zone_record("R1")
    assert (rec.consensus_score.value, rec.consensus_score.rater, rec.consensus_score.from_rater) == (3, "dr_chief",
                                                                                                     "dr_b")
    assert _rows(panel)[-1] == ("consensus", "3 (from dr_b by dr_chief)")
    assert panel.set_consensus_value(2) and rec.consensus_score.from_rater == ""
    assert w.zone_panel.raters_info.text() == "Other raters: dr_a 1, dr_b 3 · consensus 2 (dr_chief)"
    assert w.session.save()
    with Store.open(w.session.store.root, readonly=True) as store:
        assert store.load_patient("P1").zones["R1"].consensus_score.value == 2
    assert panel.clear_consensus() and rec.consensus_score is None
    assert [b for b in (panel.adopt_score, panel.set_score, panel.clear_score) if not b.isEnabled()] == []


def test_opening_a_zone_names_the_raters_of_the_frame_on_screen(window):
    """Not 'No clip on screen' (the zone's clip opens after the dock heard of the zone change)."""
    assert window.raters.frame_info.text() == "Frame 1: FINAL masks by dr_a, dr_b."
    window.session.set_zone("R2")  # no media
    assert window.clip_view.clip is None and window.raters.frame_info.text() == "No clip on screen."
    window.session.set_zone("R1")
    assert window.raters.frame_info.text() == "Frame 1: FINAL masks by dr_a, dr_b."


def test_another_raters_mask_is_drawn_over_the_clip_and_adopted(window, qtbot):
    w, panel = window, window.raters
    w.clip_view.seek(0)
    qtbot.waitUntil(lambda: panel.show_rater.count() == 3, timeout=5000)
    assert [panel.show_rater.itemData(i) for i in range(3)] == ["", "dr_a", "dr_b"]
    assert "dr_a, dr_b" in panel.frame_info.text()
    panel.show_rater.setCurrentIndex(2)
    drawn = panel.overlay.image
    assert drawn is not None and drawn.shape == (96, 128, 4)
    edges = drawn[..., 3] > 0
    assert edges[45:85, 70:77].any() and not edges[45:85, 40:47].any()  # dr_b's B-line, not dr_a's
    assert panel.adopt_shown_mask()
    store = w.session.store
    assert store.consensus("P1", "R1")[0]["from_rater"] == "dr_b"
    assert np.array_equal(store.load_training_mask("P1", "R1", 0), _mask(4))
    panel.show_rater.setCurrentIndex(0)
    assert panel.overlay.image is None or not panel.overlay.image[..., 3].any()


def test_agreement_dialog_and_queue_jump(window, qtbot):
    w = window
    w.session.set_zone("R2")
    dialog = w.raters.open_agreement()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=20000)
    measures = [dialog.store_table.item(r, 0).text() for r in range(dialog.store_table.rowCount())]
    assert "score_kappa_quadratic" in measures and "mask_dice" in measures
    assert dialog.patient_table.rowCount() == dialog.store_table.rowCount()  # one patient: the same numbers
    assert [(q["patient"], q["zone"]) for q in dialog.queue] == [("P1", "R1")]  # R2: the raters agree
    assert dialog.queue_table.item(0, 4).text().startswith("raters 2 apart")
    assert dialog.jump(0) and w.session.zone_id == "R1"
    assert dialog.width() <= 1366 and dialog.height() <= 700


def test_raters_dock_fits_1366x768(window, qtbot):
    w = window
    w.use_compact_layout()  # what the window picks on a screen below 1500 x 950
    w.setWindowState(w.windowState() & ~w.windowState().WindowMaximized)
    w.show()
    w.resize(1366, 700)
    w.default_dock_sizes()
    qtbot.waitUntil(lambda: w.size().toTuple() == (1366, 700), timeout=3000)
    QApplication.processEvents()
    p = w.raters
    widgets = {"table": p.table, "adopt": p.adopt_score, "value": p.value, "set": p.set_score, "clear": p.clear_score,
               "show": p.show_rater, "adopt_mask": p.adopt_mask, "agreement": p.agreement_button}
    problems = {name: why for name, wd in widgets.items() if (why := _reach(qtbot, w, wd, name == "table"))}
    assert not problems, problems
