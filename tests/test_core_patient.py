"""Patient dataclasses: round trips, factory, effective scores and field-named validation errors."""

import json

import pytest

from lusapp.core.clinical import CLINICAL_DIM, HISTORY, SYMPTOMS, clinical_feature_names, encode_clinical
from lusapp.core.errors import ValidationError
from lusapp.core.patient import (ClinicalInfo, MediaRef, ModelZoneScore, Patient, ScoreEntry, SeverityRecord,
                                 utc_now)
from lusapp.core.scales import SCALE_0_3, SCALE_0_4, SEVERITY_LEVELS, get_scale, is_severe


def _full_patient():
    p = Patient.new("P-001", exam_date="2026-01-15")
    p.clinical = ClinicalInfo(age=61, sex="F", symptoms={"fever": True, "cough": False}, history={"diabetes": True})
    p.zones["R1"].media = MediaRef("clip", "media/R1.mp4", "a" * 64, 40, 20.0, 640, 480, "scan1.mp4")
    p.zones["R1"].model_score = ModelZoneScore([0.1, 0.6, 0.2, 0.05, 0.05], 1, 1.4, "seg-1.0", utc_now())
    p.zones["R2"].clinician_score = ScoreEntry.now(3, "dr_a")
    p.zones["R1"].clinician_score = None
    p.severity = SeverityRecord([0.1, 0.2, 0.6, 0.1], "sev-1.0", utc_now(), clinician_label=4, rater="dr_a",
                                time=utc_now())
    return p


def test_new_patient_has_one_record_per_protocol_zone():
    p = Patient.new("abc", "soldati14")
    assert list(p.zones) == list(p.protocol.zone_ids) and len(p.zones) == 14
    assert p.scale_id == "0-3"
    assert all(z.media is None and z.effective_score is None for z in p.zones.values())


def test_round_trip_through_json_is_lossless():
    p = _full_patient()
    q = Patient.from_dict(json.loads(json.dumps(p.to_dict())))
    assert q == p


def test_effective_score_prefers_the_clinician():
    p = _full_patient()
    assert p.effective_score("R1") == 1  # model only
    p.zones["R1"].clinician_score = ScoreEntry.now(0, "dr_b")
    assert p.effective_score("R1") == 0
    assert p.effective_score("L6") is None
    assert p.total_score() == 3
    assert p.severity.model_label == 3 and p.severity.effective_label == 4


@pytest.mark.parametrize("change, message", [
    (lambda d: d["clinical"].update(age=130), "clinical.age: 130 is outside 0-120"),
    (lambda d: d["clinical"].update(sex="X"), "clinical.sex: 'X' should be 'F', 'M'"),
    (lambda d: d["clinical"]["symptoms"].update(sneezing=True), "clinical.symptoms.sneezing: unknown symptom"),
    (lambda d: d.update(patient_id="../etc"), "patient_id: '../etc' must be 1-64"),
    (lambda d: d.update(patient_id="x" * 65), "patient_id:"),
    (lambda d: d.update(exam_date="15/01/2026"), "exam_date: '15/01/2026' is not an ISO date"),
    (lambda d: d["zones"]["R2"]["clinician_score"].update(value=5), "zones.R2.clinician_score.value: 5 is outside 0-4"),
    (lambda d: d["zones"]["R2"]["clinician_score"].update(time="2026-01-01T10:00:00"), "must be in UTC"),
    (lambda d: d["zones"].pop("L3"), "zones: must hold one record per zone of lus12; missing L3"),
    (lambda d: d["zones"]["R1"]["media"].update(file="../../x.mp4"), "zones.R1.media.file"),
    (lambda d: d["zones"]["R1"]["media"].update(sha256="zz"), "zones.R1.media.sha256"),
    (lambda d: d["zones"]["R1"]["model_score"].update(probs=[0.5, 0.5, 0.5, 0, 0]), "sums to 1.5000"),
    (lambda d: d["severity"].update(clinician_label=5), "severity.clinician_label: 5 is outside 1-4"),
    (lambda d: d["severity"].update(model_probs=[0.5, 0.5]), "severity.model_probs: has 2 values, expected 4"),
    (lambda d: d["severity"].update(model_attention={"R1": 0.5}), "severity.model_attention: weights sum to 0.5000"),
    (lambda d: d["severity"].update(model_attention={"R1": 1.5}), "severity.model_attention.R1: weight 1.5"),
    (lambda d: d["severity"].update(model_attention=[1.0]), "severity.model_attention: [1.0] should be dict or null"),
])
def test_validation_errors_name_the_field(change, message):
    d = _full_patient().to_dict()
    change(d)
    with pytest.raises(ValidationError) as info:
        Patient.from_dict(d)
    assert message in str(info.value)


def test_assessment_attention_round_trips_and_old_documents_have_none():
    p = _full_patient()
    p.severity.model_attention = {"R1": 0.7, "L1": 0.3}
    d = p.to_dict()
    assert Patient.from_dict(d).severity.model_attention == {"R1": 0.7, "L1": 0.3}
    del d["severity"]["model_attention"]  # written before the field existed
    assert Patient.from_dict(d).severity.model_attention is None


def test_replacing_a_zones_media_drops_its_attention_and_keeps_the_rest_valid():
    p = _full_patient()
    p.severity.model_attention = {"R1": 0.5, "L1": 0.3, "R2": 0.2}
    p.severity.forget_attention("R1")
    assert p.severity.model_attention == pytest.approx({"L1": 0.6, "R2": 0.4})
    Patient.from_dict(p.to_dict())  # still a valid document (weights sum to 1)
    p.severity.forget_attention("L1")
    p.severity.forget_attention("R2")
    assert p.severity.model_attention is None


def test_scales_and_severity():
    assert SCALE_0_4.values == (0, 1, 2, 3, 4) and SCALE_0_3.values == (0, 1, 2, 3)
    assert "consolidation" in SCALE_0_4.level(4).description.lower()
    assert get_scale("0-3") is SCALE_0_3
    with pytest.raises(ValidationError, match="unknown score scale"):
        get_scale("0-10")
    assert SEVERITY_LEVELS == {1: "mild", 2: "moderate", 3: "severe", 4: "critical"}
    assert [is_severe(v) for v in (1, 2, 3, 4)] == [False, False, True, True]
    with pytest.raises(ValidationError):
        is_severe(0)


def test_clinical_encoding_layout():
    names = clinical_feature_names()
    assert len(names) == CLINICAL_DIM == 2 + len(SYMPTOMS) + len(HISTORY)
    v = encode_clinical(ClinicalInfo(age=61, sex="M", symptoms={"fever": True, "cough": False},
                                     history={"diabetes": True}))
    assert v.dtype.name == "float32" and v.shape == (CLINICAL_DIM,)
    assert v[0] == pytest.approx(0.61) and v[1] == 1.0
    assert v[names.index("symptom.fever")] == 1.0 and v[names.index("symptom.cough")] == 0.0
    assert v[names.index("symptom.dyspnea")] == 0.5
    assert v[names.index("history.diabetes")] == 1.0 and v[names.index("history.malignancy")] == 0.5
    assert ClinicalInfo(symptoms={"cough": None}) == ClinicalInfo(), "explicit null means unknown"
    unknown = encode_clinical(ClinicalInfo())
    assert unknown[0] == 0.5 and unknown[1] == 0.5 and set(unknown.tolist()) == {0.5}
    female = encode_clinical({"age": 30, "sex": "female"})
    assert female[1] == 0.0 and female[0] == pytest.approx(0.3)
