"""The review model's measures, headless: which masks count, the rows and rule score the zone panel shows."""

from __future__ import annotations

import numpy as np
import pytest

from lusapp.review.measures import choose_masks, compute, measure_rows, source_text
from lusapp.store import Store


def lung(n_blines: int, h: int = 96, w: int = 128) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    mask[20:22, 5:120] = 1
    for x in (20, 40, 60, 80, 100, 115)[:n_blines]:
        mask[22:90, x:x + 3] = 3
    return mask


def test_rows_score_and_rule_from_real_measures():
    rows, score, rule, n = compute([lung(6), lung(6)], None, "P1", "R1", [], None)
    assert n == 2 and dict(rows)["B-lines"] == "6" and score == 2 and "6 B-lines" in rule
    assert [t for t, _ in rows] == ["B-lines", "B-line coverage", "Pleural line", "Pleural thickness",
                                    "Pleural irregularity", "A-lines", "Consolidation"]
    with pytest.raises(ValueError, match="zone R1: no masks"):
        compute([], None, "P1", "R1", [], None)


def test_final_masks_win_and_the_model_counts_only_without_them():
    model = {f: lung(1) for f in range(5)}
    only_model = choose_masks(5, {}, set(), model.get)
    assert only_model.n_final == 0 and len(only_model.masks) == 5 and not only_model.store_frames
    unsaved = {2: lung(4)}
    mixed = choose_masks(5, unsaved, {2, 4}, model.get)  # frame 2 edited again since it was stored
    assert mixed.n_final == 2 and mixed.store_frames == [4] and mixed.masks == [unsaved[2]]
    assert choose_masks(5, {}, set(), None).empty
    assert source_text(3, 0) == "from the model's masks of 3 frame(s)"
    assert source_text(2, 2) == "from 2 clinician-checked frame(s)"


def test_stored_final_masks_are_read_by_the_computation(tmp_path):
    from media_files import write_video

    with Store.create(tmp_path / "st") as store:
        store.new_patient("P1", actor="t")
        src = write_video(tmp_path / "c.avi", [np.full((96, 128), 60, np.uint8)] * 3)
        store.add_media("P1", "R1", src, "t")
        store.save_mask("P1", "R1", 1, lung(3), "final", rater="t")
        rows, score, rule, n = compute([], store, "P1", "R1", [1], None)
    assert n == 1 and score == 1 and dict(rows)["B-lines"] == "3"
    assert measure_rows(type("M", (), dict(b_lines=0, b_line_coverage=0.0, pleura_found=False,
                                           a_line_present=True, consolidation_cm2=None,
                                           consolidation_px=0.0))()) == [
        ("B-lines", "0"), ("B-line coverage", "0% of pleura"), ("Pleural line", "not found"),
        ("A-lines", "present"), ("Consolidation", "0 px")]
