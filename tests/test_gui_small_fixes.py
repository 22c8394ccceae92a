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
