"""Plain patient folders: zone-named media, clinical.json, scores.csv, warnings, and import into a store."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lusapp.core.errors import ReadError, StoreError, ValidationError
from lusapp.store import Store, open_patient_folder
from media_files import write_image, write_video

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def _png(path):
    return write_image(path, np.full((20, 30), 90, np.uint8))


def _clip(path):
    return write_video(path, [np.full((24, 32, 3), 40 * i, np.uint8) for i in range(4)])


@pytest.fixture
def folder(tmp_path):
    f = tmp_path / "case 7"
    f.mkdir()
    _clip(f / "R1.avi")
    _png(f / "l3.PNG")
    _png(f / "R1.png")  # a second file for R1: the clip is preferred
    _png(f / "R9.png")  # not a zone of lus12
    (f / "notes.txt").write_text("hello")
    (f / "README.md").write_text("# case 7\nclips from the ward scanner")
    (f / "clinical.json").write_text(json.dumps({
        "patient_id": "CASE-7", "exam_date": "2026-02-03", "age": 48, "sex": "male",
        "symptoms": {"fever": True, "cough": None}, "history": {"diabetes": False}, "severity": 3}))
    (f / "scores.csv").write_text("zone,score\nR1,2\nl3,4\nR9,1\n")
    return f


def test_open_patient_folder_reads_media_clinical_and_scores(folder):
    result = open_patient_folder(folder)
    patient, media = result
    assert patient.patient_id == "CASE-7" and patient.exam_date == "2026-02-03"
    assert patient.clinical.age == 48 and patient.clinical.sex == "M"
    assert patient.clinical.symptoms == {"fever": True} and patient.clinical.history == {"diabetes": False}
    assert media == {"R1": folder / "R1.avi", "L3": folder / "l3.PNG"}
    assert patient.zones["R1"].clinician_score.value == 2 and patient.zones["R1"].clinician_score.rater == "import"
    assert patient.effective_score("L3") == 4 and patient.effective_score("R2") is None
    assert patient.severity.clinician_label == 3
    text = "\n".join(result.warnings)
    assert "R9.png: name matches no zone of lus12" in text
    assert "notes.txt: not a supported media type" in text
    assert "README" not in text  # a folder's README is documentation, skipped without a warning
    assert "zone R1: several files" in text and "scores.csv: zone R9" in text


def test_folder_without_clinical_json_uses_the_folder_name(tmp_path):
    f = tmp_path / "anon case#1"
    f.mkdir()
    _png(f / "L6.jpg")
    patient, media = open_patient_folder(f)
    assert patient.patient_id == "anon_case_1" and list(media) == ["L6"]
    assert patient.clinical.age is None and patient.severity.clinician_label is None


@pytest.mark.parametrize("name, content, message", [
    ("clinical.json", '{"age": 130}', "clinical.age: 130 is outside 0-120"),
    ("clinical.json", '{"age": 40, "weight": 80}', "unknown keys weight"),
    ("clinical.json", '{"age": 40,', "is not valid JSON"),
    ("clinical.json", '{"severity": 7}', "severity 7 should be 1-4"),
    ("scores.csv", "zone,score\nR1,high\n", "line 2: expected 'zone,score'"),
    ("scores.csv", "R1,7\n", "zone R1: 7 is outside 0-4"),
])
def test_malformed_side_files_name_the_file(tmp_path, name, content, message):
    f = tmp_path / "p"
    f.mkdir()
    (f / name).write_text(content)
    with pytest.raises(ValidationError, match=message) as info:
        open_patient_folder(f)
    assert str(f / name) in str(info.value)


def test_import_folder_copies_media_and_records_import_scores(folder, tmp_path):
    with Store.create(tmp_path / "store") as store:
        pid = store.import_folder(folder, "dr_a")
        assert pid == "CASE-7"
        p = store.load_patient(pid)
        assert p.zones["R1"].media.original_name == "R1.avi" and p.zones["L3"].media.file == "media/L3.png"
        assert p.zones["R1"].clinician_score.rater == "import" and p.severity.clinician_label == 3
        assert store.verify_media(pid) == {"R1": True, "L3": True}
        entry = next(e for e in store.audit(pid) if e["action"] == "import-folder")
        assert any("R9.png" in w for w in entry["detail"]["warnings"])
        with pytest.raises(StoreError, match="already exists"):
            store.import_folder(folder, "dr_a")


@pytest.mark.realdata
def test_import_real_public_clip(tmp_path):
    clips = sorted((DATA / "pocus" / "videos" / "convex").glob("*.gif")) if DATA.is_dir() else []
    if not clips:
        pytest.skip("public LUS data not present at ../shared/data")
    f = tmp_path / "real"
    f.mkdir()
    shutil.copyfile(clips[0], f / "R4.gif")  # a temporary copy outside the repo
    with Store.create(tmp_path / "store") as store:
        pid = store.import_folder(f, "tester")
        ref = store.load_patient(pid).zones["R4"].media
        assert ref.kind in ("clip", "still") and len(ref.sha256) == 64
        assert store.verify_media(pid, "R4") == {"R4": True}
        assert ref.n_frames >= 1 and ref.width > 0 and ref.height > 0


def test_unreadable_media_stops_the_import_before_anything_is_written(folder, tmp_path):
    (folder / "R2.mp4").write_bytes(b"\x00not a video at all" * 10)
    with Store.create(tmp_path / "store") as store:
        with pytest.raises(ReadError) as info:
            store.import_folder(folder, "dr_a")
        assert "R2.mp4" in str(info.value)
        assert store.list_patients() == []


def test_media_metadata_comes_from_the_reader(tmp_path):
    with Store.create(tmp_path / "store") as store:
        store.new_patient("P-1")
        ref = store.add_media("P-1", "R1", _clip(tmp_path / "c.avi"), "dr_a")
        assert (ref.kind, ref.n_frames, ref.width, ref.height) == ("clip", 4, 32, 24)
        assert ref.fps == pytest.approx(10.0)
        still = store.add_media("P-1", "L1", _png(tmp_path / "s.png"), "dr_a")
        assert (still.kind, still.n_frames, still.width, still.height) == ("still", 1, 30, 20)


def test_extension_less_zone_file_is_taken_as_dicom_and_video_beats_still(tmp_path):
    f = tmp_path / "p"
    f.mkdir()
    (f / "L4").write_bytes(b"\x00" * 128 + b"DICM")
    _png(f / "R5.png")
    _clip(f / "r5.avi")
    result = open_patient_folder(f)
    assert result.media == {"R5": f / "r5.avi", "L4": f / "L4"}
    assert result.patient.patient_id == "p" and len(result.warnings) == 1
