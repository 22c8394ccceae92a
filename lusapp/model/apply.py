"""Write an engine Assessment into a Patient record (Qt-free; used by the GUI, the self-test and the CLI)."""

from __future__ import annotations

from lusapp.core.patient import ModelZoneScore, Patient, utc_now


def zone_model_scores(assessment, model_version: str, now: str | None = None) -> dict[str, ModelZoneScore]:
    """{zone_id: ModelZoneScore} from an Assessment's per-zone score probabilities."""
    now = now or utc_now()
    out: dict[str, ModelZoneScore] = {}
    for zid, probs in assessment.zone_probs.items():
        p = [float(x) for x in probs]
        total = sum(p) or 1.0
        p = [x / total for x in p]
        expected = min(sum(i * x for i, x in enumerate(p)), len(p) - 1)
        out[zid] = ModelZoneScore(probs=p, score=int(assessment.zone_scores[zid]), expected=expected,
                                  model_version=model_version, time=now)
    return out


def apply_assessment(patient: Patient, assessment) -> None:
    """Record the model's severity probabilities, per-zone attention and per-zone model scores in ``patient``
    (clinician's values are never touched)."""
    now = utc_now()
    version = assessment.model_version
    probs = [float(p) for p in assessment.severity_probs]
    total = sum(probs) or 1.0
    patient.severity.model_probs = [p / total for p in probs]
    patient.severity.model_version = version
    patient.severity.model_time = now
    att = {str(z): min(max(float(w), 0.0), 1.0) for z, w in assessment.attention.items() if z in patient.zones}
    total = sum(att.values())
    patient.severity.model_attention = {z: w / total for z, w in att.items()} if total > 0 else None
    for zid, mzs in zone_model_scores(assessment, version, now).items():
        if zid in patient.zones:
            patient.zones[zid].model_score = mzs
