"""The Label next dock (issue 11, 'suggest what to label next'): the review queue with the unreviewed zones
where the model is unsure; double-click opens the zone."""

from __future__ import annotations

import pytest

from lusapp.core.patient import ModelZoneScore
from lusapp.gui.label_next import LabelNextPanel
from lusapp.gui.session import SessionController
from lusapp.store import Store
from gui_shell_support import make_patient_folder


def _store(tmp_path):
    root = tmp_path / "store"
    with Store.create(root) as store:
        pid = store.import_folder(make_patient_folder(tmp_path / "src", pid="P1", clips=("R1", "R2"), stills=()),
                                  "t")
        p = store.load_patient(pid)
        for zid in ("R1", "R2"):
            p.zones[zid].clinician_score = None
        p.zones["R1"].model_score = ModelZoneScore([0.05, 0.9, 0.05, 0, 0], 1, 1.0, "m-1", "2026-01-01T10:00:00Z")
        p.zones["R2"].model_score = ModelZoneScore([0.3, 0.3, 0.4, 0, 0], 2, 1.1, "m-1", "2026-01-01T10:00:00Z")
        store.save_patient(p, "t")
    return root


@pytest.fixture
def session(qtbot, tmp_path):
    s = SessionController(rater="dr_a")
    assert s.open_store(_store(tmp_path))
    yield s
    s.close_store()


def test_unsure_zones_are_listed_and_a_double_click_opens_one(qtbot, session):
    panel = LabelNextPanel(session)
    qtbot.addWidget(panel)
    panel.show()  # the first show computes the list
    qtbot.waitUntil(lambda: panel.refresh_button.isEnabled() and bool(panel.items), timeout=10000)
    assert [(q["patient"], q["zone"]) for q in panel.items] == [("P1", "R2")]  # R1: the model is sure
    assert panel.table.item(0, 2).text().startswith("no rater yet; model unsure")
    assert "1 zone to look at" in panel.status.text()
    jumps = []
    panel.jumped.connect(lambda p, z: jumps.append((p, z)))
    assert panel.jump(0)
    assert session.patient.patient_id == "P1" and session.zone_id == "R2" and jumps == [("P1", "R2")]
    assert not panel.jump(5)


def test_without_a_store_it_says_so_and_a_store_opened_later_fills_it(qtbot, tmp_path):
    s = SessionController(rater="dr_a")
    panel = LabelNextPanel(s)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.status.text() == "Open a store first."
    assert s.open_store(_store(tmp_path))
    qtbot.waitUntil(lambda: bool(panel.items), timeout=10000)
    assert panel.items[0]["zone"] == "R2"
    s.close_store()
