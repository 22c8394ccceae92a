"""Store: creation, patients, media with sha256, ORIGINAL/FINAL masks with provenance, audit trail."""

import json

import cv2
import numpy as np
import pytest

from lusapp.core.errors import DamagedDocument, StoreError, ValidationError
from lusapp.core.patient import ClinicalInfo, ScoreEntry
from lusapp.store import Store
from media_files import write_image, write_video


def write_clip(path, n=5, size=(64, 48)):
    frames = []
    for i in range(n):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        cv2.circle(frame, (10 + i * 8, 24), 6, (255, 255, 255), -1)
        frames.append(frame)
    return write_video(path, frames)


def write_still(path, size=(40, 30)):
    img = np.zeros((size[1], size[0]), np.uint8)
    img[10:20, 5:35] = 200
    return write_image(path, img)


@pytest.fixture
def store(tmp_path):
    s = Store.create(tmp_path / "store")
    yield s
    s.close()


def test_create_writes_store_json_and_refuses_non_empty_folders(tmp_path, store):
    meta = json.loads((store.root / "store.json").read_text())
    assert meta["format"] == "lusapp-store" and meta["schema_version"] == 1
    with pytest.raises(StoreError, match="already a LUSApp store"):
        Store.create(store.root)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("x")
    with pytest.raises(StoreError, match="not an empty folder"):
        Store.create(other)
    with pytest.raises(StoreError, match="no store.json"):
        Store.open(other)


def test_patient_round_trip_and_summaries(store):
    p = store.new_patient("P-1", clinical=ClinicalInfo(age=70, sex="M"), actor="dr_a")
    with pytest.raises(StoreError, match="already exists"):
        store.new_patient("P-1")
    p.zones["R1"].clinician_score = ScoreEntry.now(2, "dr_a")
    p.severity.clinician_label, p.severity.rater, p.severity.time = 3, "dr_a", p.zones["R1"].clinician_score.time
    store.save_patient(p, "dr_a")
    assert p.revision == 1  # 0 as created, +1 per save
    q = store.load_patient("P-1")
    assert q == p and q.clinical.age == 70
    store.new_patient("P-2", protocol="six_point")
    summaries = {s.patient_id: s for s in store.list_patients()}
    assert summaries["P-1"].n_scored == 1 and summaries["P-1"].clinician_severity == 3
    assert summaries["P-2"].n_zones_with_media == 0 and summaries["P-2"].model_severity is None


def test_stale_copy_cannot_overwrite_a_newer_save(store):
    a = store.new_patient("P-1")
    b = store.load_patient("P-1")
    a.notes = "first"
    store.save_patient(a, "dr_a")
    b.notes = "second"
    with pytest.raises(StoreError, match="changed since it was loaded"):
        store.save_patient(b, "dr_b")
    assert store.load_patient("P-1").notes == "first"


def test_invalid_patient_is_not_saved(store):
    p = store.new_patient("P-1")
    p.clinical.age = 130
    with pytest.raises(ValidationError, match="clinical.age: 130 is outside 0-120"):
        store.save_patient(p, "dr_a")
    assert store.load_patient("P-1").clinical.age is None


def test_add_media_copies_hashes_and_replaces_without_deleting(tmp_path, store):
    store.new_patient("P-1")
    src = write_clip(tmp_path / "scan.avi")
    ref = store.add_media("P-1", "R2", src, "dr_a")
    assert ref.file == "media/R2.avi" and ref.original_name == "scan.avi" and ref.kind == "clip"
    path = store.media_path("P-1", "R2")
    assert path.read_bytes() == src.read_bytes()
    assert store.verify_media("P-1") == {"R2": True}
    assert store.media_path("P-1", "R1") is None
    store.save_mask("P-1", "R2", 0, np.zeros((48, 64), np.uint8))
    ref2 = store.add_media("P-1", "R2", write_still(tmp_path / "still.png"), "dr_a")
    assert ref2.kind == "still" and ref2.file == "media/R2.png"
    replaced = sorted(p.relative_to(store.patient_dir("P-1")).as_posix()
                      for p in (store.patient_dir("P-1") / "replaced").rglob("*") if p.is_file())
    assert any(r.endswith("media/R2.avi") for r in replaced)
    assert any(r.endswith("masks/R2/original/00000.png") for r in replaced)
    assert store.mask_frames("P-1", "R2", "original") == []
    with pytest.raises(StoreError, match="media file not found"):
        store.add_media("P-1", "R3", tmp_path / "nope.mp4", "dr_a")


def test_sha256_mismatch_is_detected(tmp_path, store):
    store.new_patient("P-1")
    store.add_media("P-1", "L1", write_still(tmp_path / "a.png"), "dr_a")
    path = store.media_path("P-1", "L1")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedDocument, match="sha256 mismatch for zone L1") as info:
        store.verify_media("P-1", "L1")
    assert str(path) in str(info.value)


def test_original_and_final_masks_are_kept_side_by_side(store):
    store.new_patient("P-1")
    model = np.zeros((30, 40), np.uint8)
    model[5, :] = 1
    model[15:20, 10:20] = 3
    edited = model.copy()
    edited[15:20, 10:20] = 4
    store.save_masks("P-1", "R1", {0: model, 7: model}, kind="original", rater="model", model_version="seg-1.0")
    store.save_mask("P-1", "R1", 7, edited, kind="final", rater="dr_a", model_version="seg-1.0")
    assert store.mask_frames("P-1", "R1", "original") == [0, 7]
    assert store.mask_frames("P-1", "R1", "final") == [7]
    np.testing.assert_array_equal(store.load_mask("P-1", "R1", 7, "original"), model)
    np.testing.assert_array_equal(store.load_mask("P-1", "R1", 7, "final"), edited)
    assert store.load_mask("P-1", "R1", 0, "final") is None
    assert store.load_effective_mask("P-1", "R1", 7)[1] == "final"
    assert store.load_effective_mask("P-1", "R1", 0)[1] == "original"
    assert store.load_effective_mask("P-1", "R1", 3) == (None, None)
    orig = store.mask_provenance("P-1", "R1", "original")
    final = store.mask_provenance("P-1", "R1", "final")
    assert orig[7]["rater"] == "model" and orig[7]["model_version"] == "seg-1.0" and "labelled" not in orig[7]
    assert final[7]["rater"] == "dr_a" and final[7]["labelled"] is True and final[7]["kind"] == "final"
    assert (store.patient_dir("P-1") / "masks/R1/final/00007.png").is_file()


def test_bad_masks_are_rejected_on_save_and_on_load(store):
    store.new_patient("P-1")
    with pytest.raises(ValidationError, match="labels are 0-4"):
        store.save_mask("P-1", "R1", 0, np.full((4, 4), 9, np.uint8))
    with pytest.raises(ValidationError, match="2-D label map"):
        store.save_mask("P-1", "R1", 0, np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValidationError, match="'original' or 'final'"):
        store.save_mask("P-1", "R1", 0, np.zeros((4, 4), np.uint8), kind="draft")
    store.save_mask("P-1", "R1", 3, np.zeros((4, 4), np.uint8))
    png = store.patient_dir("P-1") / "masks/R1/original/00003.png"
    cv2.imwrite(str(png), np.full((4, 4), 200, np.uint8))
    with pytest.raises(DamagedDocument, match="holds label 200") as info:
        store.load_mask("P-1", "R1", 3, "original")
    assert "00003.png" in str(info.value)
    png.write_bytes(b"not a png")
    with pytest.raises(DamagedDocument, match="not a readable PNG"):
        store.load_mask("P-1", "R1", 3, "original")


def test_audit_is_append_only_and_records_coarse_changes(store):
    p = store.new_patient("P-1", actor="dr_a")
    before = (store.root / "audit.log").read_bytes()
    p.zones["L2"].clinician_score = ScoreEntry.now(1, "dr_b")
    p.clinical.sex = "F"
    store.save_patient(p, "dr_b")
    after = (store.root / "audit.log").read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    last = store.audit("P-1")[-1]
    assert last["actor"] == "dr_b" and last["action"] == "save-patient"
    assert set(last["detail"]["changed"]) == {"clinical", "zones.L2.clinician_score"}
    assert [e["action"] for e in store.audit()][:2] == ["create-store", "new-patient"]
    assert all(set(e) == {"time", "actor", "action", "patient", "zone", "detail"} for e in store.audit())


def test_readonly_store_refuses_writes(store):
    store.new_patient("P-1")
    store.close()
    with Store.open(store.root, readonly=True) as ro:
        assert ro.load_patient("P-1").patient_id == "P-1"
        with pytest.raises(StoreError, match="read-only"):
            ro.new_patient("P-2")
