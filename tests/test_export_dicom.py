"""lusapp export --dicom: DICOM SEG of the training masks and a TID 1500 SR of the zone scores for DICOM zones,
read back with pydicom and highdicom."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from export_support import NAME, PID, label_map, named_store
from lusapp.export.exporter import export_store


@pytest.fixture(scope="module")
def dicom_out(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicomexp")
    out = root / "out"
    res = export_store(named_store(root), out, True, dicom=True, key_path=root / "k")
    assert res.warnings == [] and res.dicom_objects == 7  # R1: 2 key images + 2 SEG; R2: 1 + 1; 1 SR
    return next((out / "patients").iterdir()) / "dicom"


def test_seg_of_a_loop_frame_reads_back_as_the_mask(dicom_out):
    key = pydicom.dcmread(dicom_out / "R1-frame00003.dcm")
    loop = pydicom.dcmread(dicom_out.parent / "media" / "R1.dcm")
    src = key.SourceImageSequence[0]
    assert (src.ReferencedSOPInstanceUID, int(src.ReferencedFrameNumber)) == (loop.SOPInstanceUID, 4)
    assert np.array_equal(key.pixel_array, loop.pixel_array[3])
    raw = pydicom.dcmread(dicom_out / "R1-seg-frame00003.dcm")
    assert raw.Modality == "SEG" and raw.PatientID == loop.PatientID and NAME not in str(raw.PatientName)
    seg = hd.seg.segread(dicom_out / "R1-seg-frame00003.dcm")
    assert seg.number_of_segments == 4
    assert [seg.get_segment_description(i).segment_label for i in (1, 3)] == ["pleural_line", "b_line"]
    labels = seg.get_pixels_by_source_instance([key.SOPInstanceUID], combine_segments=True)[0]
    assert np.array_equal(labels, label_map(5))


def test_seg_of_a_still_references_it(dicom_out):
    still = pydicom.dcmread(dicom_out / "R2-frame00000.dcm")  # a 1-frame multi-frame object: its key image
    seg = hd.seg.segread(dicom_out / "R2-seg-frame00000.dcm")
    labels = seg.get_pixels_by_source_instance([still.SOPInstanceUID], combine_segments=True)[0]
    assert np.array_equal(labels, label_map(2))


def test_sr_holds_the_zone_scores_and_severity(dicom_out):
    sr = hd.sr.srread(dicom_out / "scores-sr.dcm")
    assert sr.Modality == "SR" and sr.PatientID.startswith("p-") and PID not in str(sr)
    values = {}
    for group in sr.content.get_image_measurement_groups():
        for m in group.get_measurements():
            values[(group.tracking_identifier, m.name.meaning)] = m.value
    assert values[("zone R1", "Lung ultrasound zone score")] == 2
    assert values[("zone R2", "Lung ultrasound zone score")] == 1
    assert values[("patient", "Lung ultrasound total score")] == 3
    assert values[("patient", "Lung ultrasound patient severity (1-4)")] == 2
    r1 = pydicom.dcmread(dicom_out.parent / "media" / "R1.dcm")
    evidence = {i.ReferencedSOPInstanceUID for s in sr.CurrentRequestedProcedureEvidenceSequence
                for se in s.ReferencedSeriesSequence for i in se.ReferencedSOPSequence}
    assert r1.SOPInstanceUID in evidence


def test_each_seg_names_whose_mask_it_holds(dicom_out):
    """The SEG's series names the frame's author from the exported labels.json (the pseudonymised rater, or
    the adjudicated consensus and its adjudicator), never the first rater of the zone's score by default."""
    import json

    from lusapp.export.dicom_objects import _mask_author

    who = json.loads((dicom_out.parent / "masks" / "R1" / "labels.json").read_text(encoding="utf-8"))["frames"]
    seg = pydicom.dcmread(dicom_out / "R1-seg-frame00003.dcm")
    assert seg.SeriesDescription == f"LUSApp FINAL masks ({who['3']['rater']})"[:64]
    assert NAME not in seg.SeriesDescription
    assert _mask_author({"source": "consensus", "rater": "r-9f2", "from_rater": "r-11a"}) == "consensus by r-9f2"
    assert _mask_author({"source": "rater", "rater": "r-11a"}) == "r-11a"
