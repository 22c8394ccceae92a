"""Write an engine Assessment into a Patient record (Qt-free; used by the GUI, the self-test and the CLI)."""

from __future__ import annotations

import math

from lusapp.core.errors import ValidationError
from lusapp.core.patient import (MAX_FINDING_WARNINGS, MAX_OOD, MAX_WARNING_CHARS, ModelZoneScore, Patient,
                                 check_findings, utc_now)


def findings_record(zone_findings, fld: str = "findings") -> dict | None:
    """The saved form of a zone's ``ZoneFindings`` (its ``to_dict()``, made storable: plain Python types, the
    distance from the training clips capped (null when not a number), warnings cut to the store's limits);
    None when there are none. Raises ``ValidationError`` when the findings are not valid after that."""
    if zone_findings is None:
        return None
    d = zone_findings.to_dict() if hasattr(zone_findings, "to_dict") else dict(zone_findings)
    ood = d.get("ood")
    if ood is not None:
        ood = float(ood)
        ood = None if math.isnan(ood) else min(max(ood, 0.0), MAX_OOD)
    warnings = [str(w) for w in (d.get("warnings") or [])]
    warnings = [w if len(w) <= MAX_WARNING_CHARS else w[:MAX_WARNING_CHARS - 1] + "…" for w in warnings]
    grade = d.get("b_line_grade_probs")
    if grade is not None:
        grade = [float(g) for g in grade]
        total = sum(grade)
        grade = [g / total for g in grade] if total > 0 else grade
    rec = {"findings": {str(k): float(v) for k, v in (d.get("findings") or {}).items()},
           "present": {str(k): bool(v) for k, v in (d.get("present") or {}).items()},
           "b_line_grade_probs": grade, "ood": ood, "unlike_training": bool(d.get("unlike_training")),
           "warnings": warnings[:MAX_FINDING_WARNINGS]}
    return check_findings(rec, fld)


def _saved_findings(zone_findings, zid: str) -> dict | None:
    """Findings that cannot be stored (a NaN probability...) are not saved: the score still is."""
    try:
        return findings_record(zone_findings, f"zones.{zid}.model_score.findings")
    except (ValidationError, TypeError, ValueError):
        return None


def zone_model_scores(assessment, model_version: str, now: str | None = None) -> dict[str, ModelZoneScore]:
    """{zone_id: ModelZoneScore} from an Assessment's per-zone score probabilities, each with the zone's
    findings (``Assessment.zone_findings``, models with a findings head) saved beside its score."""
    now = now or utc_now()
    found = getattr(assessment, "zone_findings", None) or {}
    out: dict[str, ModelZoneScore] = {}
    for zid, probs in assessment.zone_probs.items():
        p = [float(x) for x in probs]
        total = sum(p) or 1.0
        p = [x / total for x in p]
        expected = min(sum(i * x for i, x in enumerate(p)), len(p) - 1)
        out[zid] = ModelZoneScore(probs=p, score=int(assessment.zone_scores[zid]), expected=expected,
                                  model_version=model_version, time=now,
                                  findings=_saved_findings(found.get(zid), zid))
    return out


def apply_assessment(patient: Patient, assessment) -> None:
    """Record the model's severity probabilities, per-zone attention and per-zone model scores (with their
    findings, when the model has a findings head) in ``patient`` (clinician's values are never touched)."""
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
