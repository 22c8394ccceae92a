"""Two raters in the app on one patient: each sets and withdraws an own score and saves an own FINAL mask; the
other rater's are kept (the zone panel shows the rater's own score, else the first rater's)."""

from __future__ import annotations

import numpy as np

from lusapp.core.raters import rater_scores
from lusapp.store import Store


def _mask(value: int) -> np.ndarray:
    m = np.zeros((8, 10), np.uint8)
    m[2:5, 3:7] = value
    return m


def test_second_rater_scores_and_masks_beside_the_first(qtbot, tmp_path):
    from lusapp.review.mask_source import StoreMaskSource
    from lusapp.gui.session import SessionController

    with Store.create(tmp_path / "s") as store:
        store.new_patient("P1", actor="t")
    for rater, value in (("dr_a", 2), ("dr_b", 4)):
        s = SessionController(rater=rater, autosave_ms=10_000)
        assert s.open_store(tmp_path / "s") and s.open_patient("P1")
        rec = s.zone_record("R1")
        if rater == "dr_b":
            assert s.own_score(rec) is None and rec.clinician_score.rater == "dr_a"
        s.set_clinician_score(value, "R1")
        assert s.own_score(rec).value == value
        s.queue_mask("R1", 3, _mask(value), "final")
        assert s.save() and s.close_store()
    with Store.open(tmp_path / "s") as store:
        rec = store.load_patient("P1").zones["R1"]
        assert {r: e.value for r, e in rater_scores(rec).items()} == {"dr_a": 2, "dr_b": 4}
        assert store.final_raters("P1", "R1") == {3: ["dr_a", "dr_b"]}
        assert np.array_equal(StoreMaskSource(store, "P1", "R1", rater="dr_b").load_final(3), _mask(4))
        assert np.array_equal(StoreMaskSource(store, "P1", "R1", rater="dr_c").load_final(3), _mask(2))
    s = SessionController(rater="dr_a", autosave_ms=10_000)
    assert s.open_store(tmp_path / "s") and s.open_patient("P1")
    s.set_clinician_score(None, "R1")  # dr_a withdraws: dr_b's score stays (and takes the first place)
    assert s.save() and s.close_store()
    with Store.open(tmp_path / "s", readonly=True) as store:
        rec = store.load_patient("P1").zones["R1"]
        assert {r: e.value for r, e in rater_scores(rec).items()} == {"dr_b": 4}
