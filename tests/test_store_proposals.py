"""Proposed masks in the store (lusapp.store.proposals): kept apart from FINAL masks, survive a reopen, are
never training data, and dropping one sets its file aside (nothing deleted)."""

from __future__ import annotations

import numpy as np
import pytest

from lusapp.core.errors import DamagedDocument, StoreError, ValidationError
from lusapp.store import Store


def _mask(value: int, shape=(8, 10)) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[2:5, 3:7] = value
    return m


def test_proposals_round_trip_with_provenance_and_survive_a_reopen(store):
    store.save_proposals("P1", "R1", {3: _mask(1), 4: _mask(2)}, rater="dr_a", source="flow", from_frame=2)
    prov = store.proposals("P1", "R1")
    assert sorted(prov) == [3, 4]
    assert prov[3]["source"] == "flow" and prov[3]["from_frame"] == 2 and prov[3]["rater"] == "dr_a"
    root = store.root
    store.close()
    again = Store.open(root)
    try:
        assert np.array_equal(again.load_proposal("P1", "R1", 4), _mask(2))
        assert again.load_proposal("P1", "R1", 5) is None
    finally:
        again.close()


def test_a_proposal_is_not_final_not_labelled_and_not_training_data(store):
    store.save_proposals("P1", "R1", {3: _mask(3)}, rater="dr_a", source="interpolate", from_frame=1)
    assert store.mask_frames("P1", "R1", "final") == []
    assert store.load_effective_mask("P1", "R1", 3) == (None, None)
    assert store.final_raters("P1", "R1") == {}
    assert store.training_mask_sources("P1", "R1") == {}
    assert store.load_training_mask("P1", "R1", 3) is None


def test_dropping_sets_the_file_aside_and_audits(store):
    store.save_proposals("P1", "R1", {3: _mask(1), 4: _mask(1)}, rater="dr_a")
    assert store.drop_proposals("P1", "R1", [4, 9], actor="dr_a") == [4]
    assert sorted(store.proposals("P1", "R1")) == [3]
    aside = list((store.patient_dir("P1") / "replaced").rglob("00004.png"))
    assert len(aside) == 1 and "proposal" in aside[0].parts
    assert not (store.patient_dir("P1") / "masks" / "R1" / "proposal" / "00004.png").exists()
    actions = [e["action"] for e in store.audit("P1")]
    assert "save-mask-proposal" in actions and "drop-mask-proposal" in actions
    assert store.drop_proposals("P1", "R1", [4], actor="dr_a") == []  # nothing left to drop


def test_bad_proposals_are_refused_with_the_field_named(store):
    with pytest.raises(ValidationError, match="source"):
        store.save_proposals("P1", "R1", {1: _mask(1)}, rater="dr_a", source="guess")
    with pytest.raises(ValidationError, match="labels are 0-4"):
        store.save_proposals("P1", "R1", {1: _mask(9)}, rater="dr_a")
    with pytest.raises(ValidationError, match="rater"):
        store.save_proposals("P1", "R1", {1: _mask(1)}, rater=" ")
    assert store.proposals("P1", "R1") == {}


def test_a_read_only_store_refuses_proposals(store):
    root = store.root
    store.close()
    ro = Store.open(root, readonly=True)
    with pytest.raises(StoreError, match="read-only"):
        ro.save_proposals("P1", "R1", {1: _mask(1)}, rater="dr_a")
    ro.close()


def test_a_damaged_proposal_table_is_named(store):
    import json

    store.save_proposals("P1", "R1", {3: _mask(1)}, rater="dr_a")
    path = store.patient_dir("P1") / "masks" / "R1" / "labels.json"
    doc = json.loads(path.read_text())
    doc["frames"]["proposal"]["x7"] = doc["frames"]["proposal"].pop("3")
    path.write_text(json.dumps(doc))
    with pytest.raises(DamagedDocument, match="frames.proposal has the key 'x7'"):
        store.proposals("P1", "R1")
