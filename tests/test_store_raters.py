"""Several raters in the store: one score and one FINAL mask per rater per zone / frame, an adjudicated
consensus, the v1 -> v2 migration, and the training rule (consensus > agreeing raters > skip; ORIGINAL never)."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from lusapp.core.errors import DamagedDocument, StoreError, ValidationError
from lusapp.core.patient import SCHEMA_VERSION, ModelZoneScore, Patient, ScoreEntry
from lusapp.core.raters import (others_line, rater_score, rater_scores, reported_score, set_consensus,
                                set_rater_score, training_score)
from lusapp.store import Store
from lusapp.store import journal


def _mask(value: int, shape=(8, 10)) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[2:5, 3:7] = value
    return m


def test_each_rater_keeps_an_own_score_and_the_first_withdrawing_hands_the_place_on():
    rec = Patient.new("P1").zones["R1"]
    assert set_rater_score(rec, "dr_a", 2, "2026-01-01T10:00:00Z")
    assert set_rater_score(rec, "dr_b", 3, "2026-01-01T11:00:00Z")
    assert set_rater_score(rec, "dr_c", 3, "2026-01-01T12:00:00Z")
    assert not set_rater_score(rec, "dr_b", 3)  # unchanged
    assert rec.clinician_score.rater == "dr_a" and sorted(rec.other_scores) == ["dr_b", "dr_c"]
    assert {r: e.value for r, e in rater_scores(rec).items()} == {"dr_a": 2, "dr_b": 3, "dr_c": 3}
    assert set_rater_score(rec, "dr_a", None)
    assert rec.clinician_score == ScoreEntry(3, "dr_b", "2026-01-01T11:00:00Z") and list(rec.other_scores) == ["dr_c"]
    assert not set_rater_score(rec, "dr_a", None)
    with pytest.raises(ValidationError, match="rater"):
        set_rater_score(rec, " ", 1)


def test_a_report_states_the_consensus_then_the_first_rater_then_the_model():
    rec = Patient.new("P1").zones["R1"]
    assert reported_score(rec) == (None, "")
    rec.model_score = ModelZoneScore(probs=[0.1, 0.2, 0.7, 0.0, 0.0], score=2, expected=1.6, model_version="1.0.0",
                                     time="2026-01-01T09:00:00Z")
    assert reported_score(rec) == (2, "model")
    set_rater_score(rec, "dr_a", 1)
    set_rater_score(rec, "dr_b", 4)
    assert reported_score(rec) == (1, "clinician")  # the first rater's, not the disagreeing second's
    set_consensus(rec, "dr_chief", from_rater="dr_b")
    assert reported_score(rec) == (4, "consensus")


def test_training_score_rule_consensus_then_agreeing_raters_then_nothing():
    rec = Patient.new("P1").zones["R1"]
    assert training_score(rec) == (None, "no clinician score")
    set_rater_score(rec, "dr_a", 2)
    assert training_score(rec) == (2, "raters")
    set_rater_score(rec, "dr_b", 2)
    assert training_score(rec) == (2, "raters")
    set_rater_score(rec, "dr_b", 4)
    assert training_score(rec) == (None, "raters disagree (dr_a 2, dr_b 4), no consensus")
    set_consensus(rec, "dr_chief", from_rater="dr_b")
    assert training_score(rec) == (4, "consensus")
    assert rec.consensus_score.rater == "dr_chief" and rec.consensus_score.from_rater == "dr_b"
    set_consensus(rec, "dr_chief", value=3)
    assert training_score(rec) == (3, "consensus") and rec.consensus_score.from_rater == ""
    assert others_line(rec, "dr_a") == "Other raters: dr_b 4 · consensus 3 (dr_chief)"
    assert others_line(Patient.new("P1").zones["R1"], "dr_a") == ""
    with pytest.raises(ValidationError, match="dr_x"):
        set_consensus(rec, "dr_chief", from_rater="dr_x")
    with pytest.raises(ValidationError, match="not dr_a's score 2"):
        set_consensus(rec, "dr_chief", value=1, from_rater="dr_a")


def test_scores_of_several_raters_and_the_consensus_survive_a_save(store):
    p = store.load_patient("P1")
    set_rater_score(p.zones["R1"], "dr_a", 1)
    store.save_patient(p, "dr_a")
    p = store.load_patient("P1")
    set_rater_score(p.zones["R1"], "dr_b", 3)
    store.save_patient(p, "dr_b")
    p = store.load_patient("P1")
    set_consensus(p.zones["R1"], "dr_chief", from_rater="dr_a")
    store.save_patient(p, "dr_chief")
    back = store.load_patient("P1")
    assert rater_score(back.zones["R1"], "dr_b").value == 3 and back.zones["R1"].clinician_score.value == 1
    assert back.zones["R1"].consensus_score.value == 1
    changed = [e["detail"]["changed"] for e in store.audit("P1") if e["action"] == "save-patient"]
    assert changed[-2:] == [["zones.R1.other_scores"], ["zones.R1.consensus_score"]]


def test_a_score_filed_under_the_wrong_rater_is_refused():
    rec = Patient.new("P1").zones["R1"]
    set_rater_score(rec, "dr_a", 1)
    rec.other_scores["dr_b"] = ScoreEntry(2, "dr_c", "2026-01-01T10:00:00Z")
    with pytest.raises(ValidationError, match="other_scores.dr_b"):
        rec.validate("zones.R1")
    rec.other_scores = {"dr_a": ScoreEntry(2, "dr_a", "2026-01-01T10:00:00Z")}
    with pytest.raises(ValidationError, match="one score per rater"):
        rec.validate("zones.R1")


V1_ZONE = {"zone_id": "R1", "media": None, "model_score": None, "notes": "",
           "clinician_score": {"value": 2, "rater": "dr_old", "time": "2025-03-01T10:00:00Z"}}


def _write_v1(store: Store, pid: str = "OLD") -> tuple[dict, os.PathLike]:
    doc = Patient.new(pid).to_dict()
    doc["schema_version"] = 1
    for z in doc["zones"].values():
        del z["other_scores"], z["consensus_score"]
    doc["zones"]["R1"] = dict(V1_ZONE)
    folder = store.root / "patients" / pid
    folder.mkdir(parents=True)
    (folder / "patient.json").write_text(json.dumps(doc))
    return doc, folder


def test_v1_document_is_read_unchanged_read_only_and_migrated_when_writable(store):
    doc, folder = _write_v1(store)
    with Store.open(store.root, readonly=True) as ro:
        p = ro.load_patient("OLD")
    assert p.zones["R1"].clinician_score == ScoreEntry(2, "dr_old", "2025-03-01T10:00:00Z")
    assert rater_scores(p.zones["R1"]) == {"dr_old": p.zones["R1"].clinician_score}
    assert json.loads((folder / "patient.json").read_text()) == doc  # a read-only open writes nothing
    p = store.load_patient("OLD")
    on_disk = json.loads((folder / "patient.json").read_text())
    assert on_disk["schema_version"] == SCHEMA_VERSION == 2
    assert on_disk["zones"]["R1"]["other_scores"] == {} and on_disk["zones"]["R1"]["consensus_score"] is None
    assert json.loads((folder / "patient.v1.json").read_text()) == doc
    assert store.audit("OLD")[-1]["detail"]["from"] == 1


def test_a_second_rater_gets_an_own_final_mask_and_the_first_keeps_theirs(store):
    store.save_masks("P1", "R1", {3: _mask(1), 5: _mask(1)}, kind="final", rater="dr_a")
    store.save_masks("P1", "R1", {3: _mask(2), 7: _mask(2)}, kind="final", rater="dr_b")
    store.save_masks("P1", "R1", {3: _mask(3)}, kind="final", rater="dr_a")  # dr_a edits again
    assert store.final_raters("P1", "R1") == {3: ["dr_a", "dr_b"], 5: ["dr_a"], 7: ["dr_b"]}
    assert store.raters("P1", "R1") == ["dr_a", "dr_b"]
    assert np.array_equal(store.load_mask("P1", "R1", 3, "final"), _mask(3))  # the first rater's, as in v1
    assert np.array_equal(store.load_rater_mask("P1", "R1", 3, "dr_b"), _mask(2))
    assert np.array_equal(store.load_rater_mask("P1", "R1", 3, "dr_a"), _mask(3))
    assert store.load_rater_mask("P1", "R1", 5, "dr_b") is None
    assert store.mask_frames("P1", "R1", "final") == [3, 5, 7]  # every labelled frame is in final/
    assert (store.patient_dir("P1") / "masks/R1/raters/r-dr_b/00003.png").is_file()


def test_training_masks_consensus_then_single_rater_never_original(store):
    store.save_masks("P1", "R1", {1: _mask(4)}, kind="original", rater="model")
    store.save_masks("P1", "R1", {3: _mask(1), 5: _mask(1)}, kind="final", rater="dr_a")
    store.save_masks("P1", "R1", {3: _mask(2)}, kind="final", rater="dr b/é")
    assert store.training_mask_sources("P1", "R1") == {5: "dr_a"}  # 3: two raters, not adjudicated; 1: ORIGINAL
    assert store.load_training_mask("P1", "R1", 3) is None and store.load_training_mask("P1", "R1", 1) is None
    store.pick_rater_masks("P1", "R1", [3], "dr b/é", "dr_chief")
    assert store.training_mask_sources("P1", "R1") == {3: "consensus", 5: "dr_a"}
    assert np.array_equal(store.load_training_mask("P1", "R1", 3), _mask(2))
    assert store.consensus("P1", "R1")[3]["from_rater"] == "dr b/é"
    store.save_consensus_masks("P1", "R1", {3: _mask(3)}, "dr_chief")
    assert np.array_equal(store.load_training_mask("P1", "R1", 3), _mask(3))
    assert store.consensus("P1", "R1")[3]["from_rater"] == "" and store.audit("P1")[-1]["action"] == "adjudicate-mask"
    with pytest.raises(ValueError, match="dr_a has no FINAL mask of frame 8"):
        store.pick_rater_masks("P1", "R1", [3, 7], "dr_a", "dr_chief")


def test_an_interrupted_consensus_write_leaves_the_store_as_it_was(store, monkeypatch):
    store.save_masks("P1", "R1", {3: _mask(1)}, kind="final", rater="dr_a")
    labels = (store.patient_dir("P1") / "masks/R1/labels.json").read_bytes()
    real = os.replace

    def full_disk(src, dst, *a, **k):
        if str(dst).endswith("labels.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(journal.os, "replace", full_disk)
    with pytest.raises(StoreError):
        store.save_consensus_masks("P1", "R1", {3: _mask(2)}, "dr_chief", from_rater="dr_a")
    monkeypatch.undo()
    assert (store.patient_dir("P1") / "masks/R1/labels.json").read_bytes() == labels
    assert store.load_consensus_mask("P1", "R1", 3) is None and store.consensus("P1", "R1") == {}


def test_a_damaged_labels_document_is_named(store):
    store.save_masks("P1", "R1", {3: _mask(1)}, kind="final", rater="dr_a")
    path = store.patient_dir("P1") / "masks/R1/labels.json"
    doc = json.loads(path.read_text())
    doc["frames"]["raters"] = {"dr_b": {"three": {"rater": "dr_b"}}}
    path.write_text(json.dumps(doc))
    with pytest.raises(DamagedDocument, match="labels.json.*frames.raters.dr_b has the key 'three'"):
        store.final_raters("P1", "R1")
    doc["frames"]["raters"] = {"dr_b": []}
    path.write_text(json.dumps(doc))
    with pytest.raises(DamagedDocument, match="frames are not an object"):
        store.load_rater_mask("P1", "R1", 3, "dr_b")
