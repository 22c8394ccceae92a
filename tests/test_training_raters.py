"""model_training reads scores and FINAL masks through the store's training rule: the consensus, else agreeing
raters (scores) / the only rater (masks), else nothing; the model's ORIGINAL and its score never."""

from __future__ import annotations

import cv2
import numpy as np

from lusapp.core.patient import ModelZoneScore
from lusapp.core.raters import set_consensus, set_rater_score
from lusapp.store import Store
from model_training.data import build_index, load_final_masks


def _mask(value: int) -> np.ndarray:
    m = np.zeros((40, 48), np.uint8)
    m[5:20, 10:30] = value
    return m


def test_training_index_follows_consensus_then_single_rater(tmp_path):
    img = np.full((40, 48), 90, np.uint8)
    cv2.imwrite(str(tmp_path / "still.png"), img)
    with Store.create(tmp_path / "store") as store:
        store.new_patient("P1")
        for zone in ("R1", "R2", "L1"):
            store.add_media("P1", zone, tmp_path / "still.png", "dr_a")
        p = store.load_patient("P1")
        set_rater_score(p.zones["R1"], "dr_a", 1)
        set_rater_score(p.zones["R1"], "dr_b", 3)  # disagree, not adjudicated: no label
        set_rater_score(p.zones["R2"], "dr_a", 2)
        set_rater_score(p.zones["R2"], "dr_b", 2)  # agree
        set_rater_score(p.zones["L1"], "dr_a", 0)
        set_rater_score(p.zones["L1"], "dr_b", 4)
        set_consensus(p.zones["L1"], "dr_chief", value=3)
        p.zones["R3"].model_score = ModelZoneScore([0, 0, 0, 0, 1.0], 4, 4.0, "m-1", "2026-01-01T10:00:00Z")
        store.save_patient(p, "dr_a")
        store.save_masks("P1", "R1", {0: _mask(1)}, kind="original", rater="model")
        store.save_masks("P1", "R2", {0: _mask(1)}, kind="final", rater="dr_a")
        store.save_masks("P1", "R2", {0: _mask(2)}, kind="final", rater="dr_b")
        store.save_masks("P1", "L1", {0: _mask(3)}, kind="final", rater="dr_b")
        store.save_masks("P1", "L1", {0: _mask(4)}, kind="final", rater="dr_a")
        store.save_consensus_masks("P1", "L1", {0: _mask(1)}, "dr_chief")
    index = build_index(tmp_path / "store")
    zones = {z.zone_id: z for z in index.zones()}
    assert {z: (it.score, it.final_frames) for z, it in zones.items()} == {
        "R1": (None, []), "R2": (2, []), "L1": (3, [0])}
    masks = load_final_masks(tmp_path / "store", index.zones())
    assert list(masks) == [("P1", "L1", 0)] and np.array_equal(masks[("P1", "L1", 0)], _mask(1))
