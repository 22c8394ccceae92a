"""Shared fixtures of the export tests: a DICOM ultrasound loop whose header and pixels carry a patient's
name (burned in above the imaging region, where devices print it), in a store with FINAL masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lusapp.store import Store

NAME = "Jonathan Doe-Smithers"
DICOM_NAME = "DOE-SMITHERS^JONATHAN"
PID = "MRN4711-DOE"
BIRTH = "19480917"
ROWS, COLS, FRAMES = 120, 160, 6
REGION = (20, 30, 140, 115)  # x0, y0, x1, y1 of the ultrasound region (header); the name is above it
TEXT_ROWS = slice(0, 26)


def write_named_dicom(path: Path, frames: int = FRAMES) -> Path:
    rng = np.random.default_rng(5)
    pix = np.zeros((frames, ROWS, COLS), np.uint8)
    x0, y0, x1, y1 = REGION
    for i in range(frames):
        pix[i, y0:y1, x0:x1] = rng.integers(40, 200, (y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.putText(pix[i], "DOE JONATHAN", (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1)
    assert pix[:, TEXT_ROWS].max() == 255  # the name is in the pixels
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # US multi-frame
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.Manufacturer = "US", "AcmeSound"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = DICOM_NAME, PID, BIRTH, "M"
    ds.OtherPatientIDs = PID
    ds.StudyDate, ds.StudyTime, ds.ContentDate, ds.ContentTime = "20260301", "101500", "20260301", "101501"
    ds.StudyID, ds.AccessionNumber, ds.SeriesNumber, ds.InstanceNumber = "77", "ACC4711", 1, 1
    ds.ReferringPhysicianName, ds.InstitutionName = "House^Gregory", "St Elsewhere Hospital"
    ds.PatientComments = f"patient {NAME}"
    ds.add_new(0x00090010, "LO", "ACME")  # a private block whose element names the patient
    ds.add_new(0x00091010, "LO", f"private {NAME}")
    ds.Rows, ds.Columns, ds.NumberOfFrames = ROWS, COLS, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime = 50.0
    r = Dataset()
    r.RegionSpatialFormat = 1
    r.RegionLocationMinX0, r.RegionLocationMinY0, r.RegionLocationMaxX1, r.RegionLocationMaxY1 = \
        x0, y0, x1 - 1, y1 - 1
    r.PhysicalUnitsXDirection = r.PhysicalUnitsYDirection = 3
    r.PhysicalDeltaX = r.PhysicalDeltaY = 0.02
    ds.SequenceOfUltrasoundRegions = [r]
    ds.BurnedInAnnotation = "YES"
    ds.PixelData = pix.tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


def label_map(seed: int = 0) -> np.ndarray:
    m = np.zeros((ROWS, COLS), np.uint8)
    m[40:44, 30:130] = 1
    m[60:64, 30:130] = 2
    m[70:110, 70 + seed:80 + seed] = 3
    return m


def named_store(root: Path) -> Path:
    """A store with one patient (id PID, named in its notes and rater) whose zone R1 is the named DICOM loop
    with FINAL masks on frames 1 and 3, and R2 a still DICOM."""
    folder = root / "folder"
    folder.mkdir()
    write_named_dicom(folder / "R1.dcm")
    write_named_dicom(folder / "R2.dcm", frames=1)
    (folder / "clinical.json").write_text(
        f'{{"patient_id": "{PID}", "exam_date": "2026-03-01", "age": 93, "sex": "M", "severity": 2, '
        f'"notes": "seen by {NAME}"}}', encoding="utf-8")
    (folder / "scores.csv").write_text("zone,score\nR1,2\nR2,1\n", encoding="utf-8")
    store = Store.create(root / "store")
    try:
        pid = store.import_folder(folder, actor=NAME)
        store.save_masks(pid, "R1", {1: label_map(0), 3: label_map(5)}, kind="final", rater=NAME)
        store.save_masks(pid, "R2", {0: label_map(2)}, kind="final", rater=NAME)
    finally:
        store.close()
    return root / "store"
