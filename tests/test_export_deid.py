"""De-identified export (lusapp export STORE --deidentify -o OUT): no name, id or birth date of a patient
survives in any exported byte, burned-in text outside the imaging region is black, dates shift per patient,
pseudonyms are keyed, and a failed or cancelled export leaves nothing."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pydicom
import pytest

from export_support import BIRTH, NAME, PID, REGION, TEXT_ROWS, label_map, named_store, write_named_dicom
from lusapp.core.errors import DamagedDocument, ValidationError
from lusapp.export.deid import Pseudonymizer, load_site_key
from lusapp.export.exporter import ExportCancelled, export_store
from lusapp.resources import resource
from lusapp.store import Store

DEMO_ID = "DEMO-001"
SECRETS = ["jonathan", "smithers", "mrn4711", BIRTH, "elsewhere", "gregory", DEMO_ID.lower(), "2026-03-01"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("deid")
    store_path = named_store(root)
    with Store.open(store_path) as store:  # the demo patient too, with a FINAL mask on R1
        pid = store.import_folder(resource("demo"), actor=NAME)
        ref = store.load_patient(pid).zone("R1").media
        m = np.zeros((ref.height, ref.width), np.uint8)
        m[60:66, 20:200] = 1
        store.save_masks(pid, "R1", {2: m}, kind="final", rater=NAME)
        # a second rater on the named patient's frame 1, adjudicated by a third person (consensus = NAME's)
        store.save_masks(PID, "R1", {1: label_map(9)}, kind="final", rater="Second Reader Jonathan")
        store.pick_rater_masks(PID, "R1", [1], NAME, adjudicator="Adjudicator Smithers")
    key = root / "site.key"
    out = root / "out"
    from lusapp.cli import main

    assert main(["export", str(store_path), "--deidentify", "--key-file", str(key), "-o", str(out)]) == 0
    return {"root": root, "store": store_path, "out": out, "key": key,
            "pseud": Pseudonymizer(load_site_key(key, create=False))}


def test_no_name_id_or_birth_date_in_any_exported_byte(exported):
    files = [p for p in exported["out"].rglob("*") if p.is_file()]
    assert len(files) > 20
    for path in files:
        data = path.read_bytes().lower()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret!r} survives in {path}"
        assert b"doe" not in data or path.suffix in (".png", ".mp4"), path  # binary pixels may hold 'doe' by chance
    assert sorted(p.name for p in (exported["out"] / "patients").iterdir()) == \
        sorted([exported["pseud"].patient(PID), exported["pseud"].patient(DEMO_ID)])


def test_dicom_header_is_cleaned_and_burned_in_name_is_black(exported):
    pdir = exported["out"] / "patients" / exported["pseud"].patient(PID)
    ds = pydicom.dcmread(pdir / "media" / "R1.dcm")
    assert str(ds.PatientName).rstrip("^") == ds.PatientID == pdir.name
    assert ds.PatientIdentityRemoved == "YES" and ds.BurnedInAnnotation == "NO"
    assert "InstitutionName" not in ds or "Elsewhere" not in str(ds.InstitutionName)
    assert not any(el.tag.is_private for el in ds.iterall())
    assert ds.get("PatientBirthDate", "") in ("", "00010101")
    pix = ds.pixel_array
    x0, y0, x1, y1 = REGION
    original = pydicom.dcmread(exported["root"] / "folder" / "R1.dcm").pixel_array
    assert original[:, TEXT_ROWS].max() == 255 and pix[:, TEXT_ROWS].max() == 0  # the burned-in name is gone
    outside = np.ones(pix.shape[1:], bool)
    outside[y0:y1, x0:x1] = False
    assert pix[:, outside].max() == 0
    assert np.array_equal(pix[:, y0:y1, x0:x1], original[:, y0:y1, x0:x1])  # the image itself is kept
    frame = cv2.imread(str(pdir / "frames" / "R1" / "00001.png"), cv2.IMREAD_UNCHANGED)
    assert frame[TEXT_ROWS].max() == 0 and frame[y0:y1, x0:x1].max() > 0


def test_dates_shift_by_one_amount_per_patient(exported):
    pseud = exported["pseud"]
    pdir = exported["out"] / "patients" / pseud.patient(PID)
    doc = json.loads((pdir / "patient.json").read_text(encoding="utf-8"))
    days = (dt.date.fromisoformat(doc["exam_date"]) - dt.date(2026, 3, 1)).days
    assert days == pseud.shift_days(PID) and -730 <= days <= -62
    study = pydicom.dcmread(pdir / "media" / "R1.dcm").StudyDate
    assert (dt.datetime.strptime(study, "%Y%m%d").date() - dt.date(2026, 3, 1)).days == days
    assert doc["clinical"]["age"] == 90 and doc["notes"] == "" and doc["zones"]["R1"]["media"]["original_name"] == ""
    rater = doc["zones"]["R1"]["clinician_score"]["rater"]
    assert rater == "import"
    labels = json.loads((pdir / "masks" / "R1" / "labels.json").read_text(encoding="utf-8"))["frames"]
    assert labels["3"] == {"source": "rater", "rater": pseud.rater(NAME), "time": labels["3"]["time"]}
    assert labels["1"]["source"] == "consensus" and labels["1"]["rater"] == pseud.rater("Adjudicator Smithers")
    assert labels["1"]["from_rater"] == pseud.rater(NAME)
    mask = cv2.imread(str(pdir / "masks" / "R1" / "00001.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(mask, label_map(0))  # the consensus (NAME's), not the second rater's


def test_pseudonyms_are_keyed_and_stable(tmp_path):
    a = Pseudonymizer(load_site_key(tmp_path / "a.key"))
    a2 = Pseudonymizer(load_site_key(tmp_path / "a.key"))
    b = Pseudonymizer(load_site_key(tmp_path / "b.key"))
    assert a.patient(PID) == a2.patient(PID) and a.shift_days(PID) == a2.shift_days(PID)
    assert a.patient(PID) != b.patient(PID) and a.key_id != b.key_id
    assert PID.lower() not in a.patient(PID).lower()
    (tmp_path / "bad.key").write_text("not hex", encoding="ascii")
    with pytest.raises(ValidationError, match="bad.key"):
        load_site_key(tmp_path / "bad.key")
    with pytest.raises(ValidationError, match="cannot be created"):  # its folder is a file
        load_site_key(tmp_path / "bad.key" / "site.key")


def test_layout_scores_and_annotations(exported):
    out = exported["out"]
    ds = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert ds["format"] == "lusapp-export" and ds["deidentified"] and ds["counts"]["final_mask_frames"] == 4
    scores = (out / "scores.csv").read_text(encoding="utf-8").splitlines()
    assert any(r.startswith(f"{exported['pseud'].patient(PID)},R1,") and ",2,import," in r for r in scores)
    coco = json.loads((out / "annotations" / "coco.json").read_text(encoding="utf-8"))
    assert len(coco["images"]) == 4 and {c["name"] for c in coco["categories"]} >= {"pleural_line", "b_line"}
    img = next(i for i in coco["images"] if i["zone_id"] == "R1" and i["frame"] == 3)
    drawn = np.zeros((img["height"], img["width"]), np.uint8)
    for a in coco["annotations"]:
        if a["image_id"] == img["id"] and a["category_id"] == 3:
            pts = np.array(a["segmentation"][0], np.float32).reshape(-1, 2).round().astype(np.int32)
            cv2.fillPoly(drawn, [pts], 1)
    truth = label_map(5) == 3
    assert 2 * (drawn.astype(bool) & truth).sum() / (drawn.sum() + truth.sum()) > 0.9
    root = ET.parse(out / "annotations" / "cvat.xml").getroot()
    assert len(root.findall("image")) == 4 and root.find("image/polygon").get("label") in (
        "pleural_line", "a_line", "b_line")
    mask = cv2.imread(str(out / img["file_name"].replace("frames", "masks")), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(mask, label_map(5))


def test_refuses_a_folder_in_use_and_leaves_nothing_on_damage_or_cancel(exported, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(ValidationError, match="busy"):
        export_store(exported["store"], busy, True, key_path=exported["key"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]
    with pytest.raises(ExportCancelled):
        export_store(exported["store"], tmp_path / "c", True, key_path=exported["key"], cancelled=lambda: True)
    damaged = tmp_path / "store2"
    damaged.mkdir()
    named_store(damaged)
    media = next((damaged / "store" / "patients" / PID / "media").glob("R1*"))
    write_named_dicom(media, frames=2)  # altered after import: the sha256 no longer matches
    with pytest.raises(DamagedDocument, match="R1"):
        export_store(damaged / "store", tmp_path / "d", True, key_path=exported["key"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "store2"]  # no OUT, no partial folder


def test_demo_clip_text_outside_the_imaging_region_is_black(exported):
    from lusapp.export.media import imaging_box
    from lusapp.io.readers import open_media

    with Store.open(exported["store"], readonly=True) as store:
        src = store.media_path(DEMO_ID, "R1")
    out = exported["out"] / "patients" / exported["pseud"].patient(DEMO_ID) / "media" / "R1.mp4"
    with open_media(src) as a, open_media(out) as b:
        assert (b.n_frames, b.width, b.height) == (a.n_frames, a.width, a.height)
        x0, y0, x1, y1 = imaging_box(a)
        outside = np.ones((a.height, a.width), bool)
        outside[y0:y1, x0:x1] = False
        before, after = a.read_gray(3), b.read_gray(3)
    assert before[outside].max() == 255  # the demo's device text and markers
    assert after[outside].max() <= 16  # black, up to the MP4 codec's ringing at the region's edge
    assert abs(float(after[~outside].mean()) - float(before[~outside].mean())) < 3


def test_cli_exit_codes_and_plain_export(exported, tmp_path, capsys):
    from lusapp.cli import main

    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["export", str(exported["store"]), "-o", str(blocker / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("lusapp export:") and "file.txt" in err and "cannot be written" in err
    assert main(["export", str(tmp_path / "nostore"), "-o", str(tmp_path / "o")]) == 2
    assert "nostore" in capsys.readouterr().err
    plain = tmp_path / "plain"
    assert main(["export", str(exported["store"]), "-o", str(plain), "--patient", PID]) == 0
    doc = json.loads((plain / "dataset.json").read_text(encoding="utf-8"))
    assert doc["patients"] == [PID] and not doc["deidentified"] and doc["key_id"] is None
    with Store.open(exported["store"], readonly=True) as store:
        assert (plain / "patients" / PID / "media" / "R1.dcm").read_bytes() == store.media_path(PID, "R1").read_bytes()
