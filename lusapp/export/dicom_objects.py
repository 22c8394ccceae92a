"""DICOM objects of an exported patient whose zone media are DICOM (highdicom), so that a PACS can hold them:

* per labelled frame of a DICOM zone, a DICOM Segmentation (BINARY, one segment per mask class 1-4) of the
  FINAL label map. A cine loop (multi-frame US without a frame of reference) is first written as a single-frame
  key image of that frame (``<zone>-frame<NNNNN>.dcm``, ImageType DERIVED, SourceImageSequence pointing at the
  loop's frame): highdicom, like the standard's multi-frame SEG, needs a frame of reference to map several
  frames, which ultrasound loops do not have. A still DICOM is referenced directly.
* one Comprehensive SR per patient, a TID 1500 Measurement Report: one measurement group per DICOM zone with
  a score (the adjudicated consensus, else the first rater's, else the model's, as the patient report shows it;
  method ``LUS-consensus`` / ``LUS-clinician`` / ``LUS-model``; tracking identifier ``zone <id>``, unit
  ``{score}``, the zone's image referenced), and a group ``patient`` with the total LUS score (the sum of those
  scores over every zone) and the severity (1-4).

The objects are built from the exported DICOM files (so a de-identified export gives de-identified objects)
and written under ``patients/<id>/dicom/``. Codes not in SNOMED / DCM use the private scheme ``99LUSAPP``.
A zone whose DICOM lacks what highdicom needs gets a warning, never a failure of the export.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from lusapp import __version__
from lusapp.core.labels import CLASS_NAMES, CLASS_TITLES
from lusapp.core.patient import Patient
from lusapp.core.raters import reported_score

SCHEME = "99LUSAPP"
SERIES_NUMBER_SEG, SERIES_NUMBER_SR, SERIES_NUMBER_KEY = 9101, 9102, 9103


def _codes():
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return {
        "category": codes.SCT.MorphologicallyAbnormalStructure,
        "classes": {i: hd.sr.CodedConcept(f"LUS-{CLASS_NAMES[i]}", SCHEME, CLASS_TITLES[i])
                    for i in range(1, len(CLASS_NAMES))},
        "zone_score": hd.sr.CodedConcept("LUS-ZONE", SCHEME, "Lung ultrasound zone score"),
        "total": hd.sr.CodedConcept("LUS-TOTAL", SCHEME, "Lung ultrasound total score"),
        "severity": hd.sr.CodedConcept("LUS-SEVERITY", SCHEME, "Lung ultrasound patient severity (1-4)"),
        "procedure": hd.sr.CodedConcept("LUS-EXAM", SCHEME, "Lung ultrasound examination"),
        "score_unit": hd.sr.CodedConcept("{score}", "UCUM", "score"),
    }


def _device(**kw) -> dict:
    return dict(manufacturer="LUSApp", manufacturer_model_name="LUSApp", software_versions=__version__,
                device_serial_number="0", **kw)


def _key_image(ds, frame: int):
    """A single-frame copy of frame ``frame`` (0-based) of a multi-frame image, derived from it."""
    import pydicom
    from pydicom.uid import generate_uid

    key = copy.deepcopy(ds)
    arr = ds.pixel_array[frame]
    for tag in ("NumberOfFrames", "FrameIncrementPointer", "FrameTime", "FrameTimeVector", "CineRate",
                "RecommendedDisplayFrameRate", "FrameDelay", "ActualFrameDuration", "StartTrim", "StopTrim"):
        if tag in key:
            del key[tag]
    key.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"  # Ultrasound Image Storage (single frame)
    key.file_meta.MediaStorageSOPClassUID = key.SOPClassUID
    key.SOPInstanceUID = key.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    key.SeriesInstanceUID = generate_uid()
    key.SeriesNumber, key.InstanceNumber = SERIES_NUMBER_KEY, frame + 1
    key.ImageType = ["DERIVED", "SECONDARY"]
    src = pydicom.Dataset()
    src.ReferencedSOPClassUID, src.ReferencedSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    src.ReferencedFrameNumber = frame + 1
    key.SourceImageSequence = [src]
    if key.get("PhotometricInterpretation", "").startswith("YBR"):
        key.PhotometricInterpretation = "RGB"
    key.PixelData = np.ascontiguousarray(arr).tobytes()
    return key


def _segmentation(source, mask: np.ndarray, rater: str, c: dict):
    import highdicom as hd
    from pydicom.uid import generate_uid

    descriptions = [hd.seg.SegmentDescription(
        segment_number=i, segment_label=CLASS_NAMES[i], segmented_property_category=c["category"],
        segmented_property_type=c["classes"][i], algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for i in range(1, len(CLASS_NAMES))]
    return hd.seg.Segmentation(
        source_images=[source], pixel_array=mask.astype(np.uint8), segment_descriptions=descriptions,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, series_instance_uid=generate_uid(),
        series_number=SERIES_NUMBER_SEG, sop_instance_uid=generate_uid(), instance_number=1,
        series_description=f"LUSApp FINAL masks ({rater})"[:64], **_device())


def _report(doc: dict, zone_images: dict, c: dict):
    import highdicom as hd
    from pydicom.uid import generate_uid

    patient = Patient.from_dict(doc)
    from pydicom.sr.codedict import codes

    observer = hd.sr.ObserverContext(
        observer_type=codes.cid270.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="LUSApp", manufacturer_name="LUSApp", model_name=__version__))
    groups = []
    for zid, ds in zone_images.items():
        value, method = reported_score(patient.zones[zid])  # as the patient report shows it
        if value is None:
            continue
        ref = hd.sr.SourceImageForMeasurement(ds.SOPClassUID, ds.SOPInstanceUID)
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=f"zone {zid}"),
            measurements=[hd.sr.Measurement(
                name=c["zone_score"], value=float(value), unit=c["score_unit"], referenced_images=[ref],
                method=hd.sr.CodedConcept(f"LUS-{method}", SCHEME, f"{method} score"))]))
    measures = []
    scored = [v for v, _m in map(reported_score, patient.zones.values()) if v is not None]
    if scored:
        measures.append(hd.sr.Measurement(name=c["total"], value=float(sum(scored)), unit=c["score_unit"]))
    if patient.severity.effective_label is not None:
        measures.append(hd.sr.Measurement(name=c["severity"], value=float(patient.severity.effective_label),
                                          unit=c["score_unit"]))
    if measures:
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="patient"),
            measurements=measures))
    report = hd.sr.MeasurementReport(observation_context=hd.sr.ObservationContext(observer_device_context=observer),
                                     procedure_reported=c["procedure"], imaging_measurements=groups)
    return hd.sr.ComprehensiveSR(
        evidence=list(zone_images.values()), content=report[0], series_instance_uid=generate_uid(),
        series_number=SERIES_NUMBER_SR, sop_instance_uid=generate_uid(), instance_number=1, manufacturer="LUSApp",
        is_complete=True, series_description="LUSApp zone scores")


def _mask_author(entry: dict) -> str:
    """Whose FINAL mask a SEG holds, from the exported labels.json entry of its frame: a rater, or the
    adjudicated consensus and who set it."""
    if entry.get("source") == "consensus":
        return f"consensus by {entry.get('rater') or 'adjudicator'}"
    return entry.get("rater") or "FINAL"


def write_dicom_objects(doc: dict, pdir: Path, dicom_media: dict[str, Path], warnings: list[str]) -> int:
    """Write the SEG / key images / SR of one exported patient (``doc``: its exported patient.json; masks
    read from ``pdir/masks``); returns the number of DICOM files written."""
    import cv2
    import pydicom

    c = _codes()
    out = pdir / "dicom"
    out.mkdir(exist_ok=True)
    written = 0
    zone_images = {}
    for zid, path in dicom_media.items():
        try:
            ds = pydicom.dcmread(path)
            zone_images[zid] = ds
            labels = pdir / "masks" / zid / "labels.json"
            who = json.loads(labels.read_text(encoding="utf-8")).get("frames", {}) if labels.is_file() else {}
            for png in sorted((pdir / "masks" / zid).glob("*.png")):
                frame = int(png.stem)
                mask = cv2.imdecode(np.fromfile(str(png), np.uint8), cv2.IMREAD_UNCHANGED)
                if not mask.any():
                    continue  # an empty label map: nothing to segment (labels.json says it was labelled)
                source = ds
                if "NumberOfFrames" in ds:  # a multi-frame object (a loop, or a 1-frame one): its key image
                    source = _key_image(ds, frame)
                    source.save_as(out / f"{zid}-frame{frame:05d}.dcm", enforce_file_format=True)
                    written += 1
                seg = _segmentation(source, mask, _mask_author(who.get(str(frame)) or {}), c)
                seg.save_as(out / f"{zid}-seg-frame{frame:05d}.dcm")
                written += 1
        except (ValueError, AttributeError, TypeError, KeyError) as exc:
            warnings.append(f"{doc['patient_id']} {zid}: no DICOM SEG ({type(exc).__name__}: {exc})")
    if zone_images:
        try:
            _report(doc, zone_images, c).save_as(out / "scores-sr.dcm")
            written += 1
        except (ValueError, AttributeError, TypeError, KeyError) as exc:
            warnings.append(f"{doc['patient_id']}: no DICOM SR ({type(exc).__name__}: {exc})")
    return written
