"""Patient / exam dataclasses (``ClinicalInfo`` lives in :mod:`lusapp.core.clinical` and is re-exported here) with strict ``to_dict`` / ``from_dict`` round trips and validation.

Every validation failure is a ``ValidationError(field, message)`` whose field is a dotted path,
e.g. ``clinical.age: 130 is outside 0-120``. Times are ISO-8601 UTC strings (``2026-01-31T12:00:00Z``).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from lusapp.core.clinical import ClinicalInfo, _as_int, _need_dict
from lusapp.core.errors import ValidationError
from lusapp.core.protocols import Protocol, load_protocol
from lusapp.core.scales import SEVERITY_LEVELS, ScoreScale, get_scale

SCHEMA_VERSION = 2  # 2: several raters per zone score (other_scores) and an adjudicated consensus
PATIENT_ID_RE = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
MEDIA_KINDS = ("clip", "still")


# ----------------------------------------------------------------------------- helpers
def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def check_utc_time(value: Any, fld: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(fld, f"{value!r} is not an ISO-8601 time string")
    try:
        t = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(fld, f"{value!r} is not an ISO-8601 time") from None
    if t.tzinfo is None or t.utcoffset() != _dt.timedelta(0):
        raise ValidationError(fld, f"{value!r} must be in UTC (end with 'Z' or '+00:00')")
    return value


def check_patient_id(pid: Any, fld: str = "patient_id") -> str:
    if not isinstance(pid, str) or not PATIENT_ID_RE.match(pid) or pid in (".", ".."):
        raise ValidationError(fld, f"{pid!r} must be 1-64 letters, digits, '-', '_' or '.' (pseudonymous id)")
    return pid


def _get(d: dict, key: str, fld: str, default: Any = ..., types: tuple = (), allow_none: bool = False) -> Any:
    if key not in d:
        if default is ...:
            raise ValidationError(f"{fld}.{key}" if fld else key, "missing")
        return default
    v = d[key]
    name = f"{fld}.{key}" if fld else key
    if v is None and allow_none:
        return None
    if types and (not isinstance(v, types) or (isinstance(v, bool) and bool not in types)):
        want = " or ".join(t.__name__ for t in types) + (" or null" if allow_none else "")
        raise ValidationError(name, f"{v!r} should be {want}")
    return v


# ----------------------------------------------------------------------------- media & scores
@dataclass
class MediaRef:
    kind: str  # 'clip' | 'still'
    file: str  # relative path inside the patient folder, '/' separated
    sha256: str
    n_frames: int | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    original_name: str = ""
    pixel_spacing_mm: tuple[float, float] | None = None

    def validate(self, fld: str = "media") -> None:
        if self.kind not in MEDIA_KINDS:
            raise ValidationError(f"{fld}.kind", f"{self.kind!r} should be 'clip' or 'still'")
        f = self.file
        if not isinstance(f, str) or not f or f.startswith(("/", "\\")) or ".." in f.replace("\\", "/").split("/") \
                or re.match(r"^[A-Za-z]:", f):
            raise ValidationError(f"{fld}.file", f"{f!r} must be a relative path inside the patient folder")
        if not isinstance(self.sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValidationError(f"{fld}.sha256", f"{self.sha256!r} is not a hex SHA-256 digest")
        for name in ("n_frames", "width", "height"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValidationError(f"{fld}.{name}", f"{v!r} should be a positive integer")
        if self.fps is not None and (not isinstance(self.fps, (int, float)) or isinstance(self.fps, bool)
                                     or not math.isfinite(self.fps) or self.fps <= 0):
            raise ValidationError(f"{fld}.fps", f"{self.fps!r} should be a positive number")
        if self.pixel_spacing_mm is not None:
            ps = self.pixel_spacing_mm
            if len(ps) != 2 or not all(isinstance(v, (int, float)) and v > 0 for v in ps):
                raise ValidationError(f"{fld}.pixel_spacing_mm", f"{ps!r} should be two positive numbers")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": self.file, "sha256": self.sha256, "n_frames": self.n_frames,
                "fps": self.fps, "width": self.width, "height": self.height, "original_name": self.original_name,
                "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None}

    @classmethod
    def from_dict(cls, d: Any, fld: str = "media") -> MediaRef:
        _need_dict(d, fld)
        ps = _get(d, "pixel_spacing_mm", fld, None, (list,), allow_none=True)
        m = cls(
            kind=_get(d, "kind", fld, types=(str,)),
            file=_get(d, "file", fld, types=(str,)),
            sha256=_get(d, "sha256", fld, types=(str,)),
            n_frames=_as_int(d.get("n_frames"), f"{fld}.n_frames", allow_none=True),
            fps=_get(d, "fps", fld, None, (int, float), allow_none=True),
            width=_as_int(d.get("width"), f"{fld}.width", allow_none=True),
            height=_as_int(d.get("height"), f"{fld}.height", allow_none=True),
            original_name=_get(d, "original_name", fld, "", (str,)),
            pixel_spacing_mm=tuple(float(v) for v in ps) if ps else None,
        )
        m.validate(fld)
        return m


@dataclass
class ScoreEntry:
    value: int
    rater: str
    time: str

    @classmethod
    def now(cls, value: int, rater: str) -> ScoreEntry:
        return cls(value=value, rater=rater, time=utc_now())

    def validate(self, fld: str = "score", scale: ScoreScale | None = None) -> None:
        if scale is not None:
            scale.check(self.value, f"{fld}.value")
        else:
            _as_int(self.value, f"{fld}.value")
        if not isinstance(self.rater, str) or not self.rater.strip():
            raise ValidationError(f"{fld}.rater", "must name who gave the score")
        check_utc_time(self.time, f"{fld}.time")

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "rater": self.rater, "time": self.time}

    @classmethod
    def from_dict(cls, d: Any, fld: str = "score") -> ScoreEntry:
        _need_dict(d, fld)
        e = cls(value=_as_int(_get(d, "value", fld), f"{fld}.value"), rater=_get(d, "rater", fld, types=(str,)),
                time=_get(d, "time", fld, types=(str,)))
        e.validate(fld)
        return e


def _check_probs(probs: Any, n: int | None, fld: str) -> list[float]:
    if not isinstance(probs, (list, tuple)) or not probs:
        raise ValidationError(fld, f"{probs!r} should be a list of probabilities")
    out = []
    for p in probs:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or not 0 <= p <= 1:
            raise ValidationError(fld, f"{p!r} is not a probability in [0, 1]")
        out.append(float(p))
    if n is not None and len(out) != n:
        raise ValidationError(fld, f"has {len(out)} values, expected {n}")
    if abs(sum(out) - 1.0) > 1e-3:
        raise ValidationError(fld, f"sums to {sum(out):.4f}, not 1")
    return out


# the findings head's output saved with a model zone score (lusapp.model.findings.ZoneFindings.to_dict())
FINDING_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_FINDINGS = 16  # finding names per zone
MAX_FINDING_WARNINGS = 16  # warnings per zone
MAX_WARNING_CHARS = 500  # characters per warning
MAX_OOD = 1e6  # distance from the training clips, in units of the model's limit
N_B_LINE_GRADES = 3  # P(fewer than 3 B-lines), P(3 or more, not confluent), P(confluent)


def _check_prob(v: Any, fld: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 1:
        raise ValidationError(fld, f"{v!r} is not a probability in [0, 1]")
    return float(v)


def check_findings(d: Any, fld: str = "findings") -> dict[str, Any]:
    """A zone's findings as saved with its model score, validated and normalised:
    ``{findings: {name: P}, present: {name: bool}, b_line_grade_probs: [3 probabilities summing to 1] | null,
    ood: number in [0, 1e6] | null, unlike_training: bool, warnings: [str]}``. Names are 1-32 lower-case
    letters, digits or '_' (at most 16); ``present`` names a subset of ``findings``; at most 16 warnings of at
    most 500 characters each. Unknown keys are refused."""
    _need_dict(d, fld)
    known = ("findings", "present", "b_line_grade_probs", "ood", "unlike_training", "warnings")
    extra = sorted(str(k) for k in d if k not in known)
    if extra:
        raise ValidationError(f"{fld}.{extra[0]}", "is not a findings field (" + ", ".join(known) + ")")
    probs_raw = _get(d, "findings", fld, types=(dict,))
    if len(probs_raw) > MAX_FINDINGS:
        raise ValidationError(f"{fld}.findings", f"has {len(probs_raw)} findings, at most {MAX_FINDINGS}")
    probs: dict[str, float] = {}
    for name, v in probs_raw.items():
        if not isinstance(name, str) or not FINDING_NAME_RE.match(name):
            raise ValidationError(f"{fld}.findings", f"{name!r} is not a finding name (a-z, 0-9, '_', 1-32)")
        probs[name] = _check_prob(v, f"{fld}.findings.{name}")
    present_raw = _get(d, "present", fld, types=(dict,))
    present: dict[str, bool] = {}
    for name, v in present_raw.items():
        if name not in probs:
            raise ValidationError(f"{fld}.present", f"{name!r} is not among the findings")
        if not isinstance(v, bool):
            raise ValidationError(f"{fld}.present.{name}", f"{v!r} should be true or false")
        present[name] = v
    grade = _get(d, "b_line_grade_probs", fld, None, (list,), allow_none=True)
    if grade is not None:
        grade = _check_probs(grade, N_B_LINE_GRADES, f"{fld}.b_line_grade_probs")
    ood = _get(d, "ood", fld, None, (int, float), allow_none=True)
    if ood is not None:
        if not math.isfinite(ood) or not 0 <= ood <= MAX_OOD:
            raise ValidationError(f"{fld}.ood", f"{ood!r} is not a distance in [0, {MAX_OOD:g}]")
        ood = float(ood)
    unlike = _get(d, "unlike_training", fld, types=(bool,))
    warnings = _get(d, "warnings", fld, [], (list,))
    if len(warnings) > MAX_FINDING_WARNINGS:
        raise ValidationError(f"{fld}.warnings", f"has {len(warnings)} warnings, at most {MAX_FINDING_WARNINGS}")
    for i, w in enumerate(warnings):
        if not isinstance(w, str):
            raise ValidationError(f"{fld}.warnings.{i}", f"{w!r} should be text")
        if len(w) > MAX_WARNING_CHARS:
            raise ValidationError(f"{fld}.warnings.{i}", f"is {len(w)} characters long, at most {MAX_WARNING_CHARS}")
    return {"findings": probs, "present": present, "b_line_grade_probs": grade, "ood": ood,
            "unlike_training": unlike, "warnings": list(warnings)}


LEGACY_MODEL_NAME = "lus-staged"  # the only bundle name the app wrote bare versions for


def model_identity(name: str, version: str) -> str:
    """The one string that names a model in masks, zone scores and severity: ``<bundle name>-<version>``."""
    return f"{name}-{version}"


def normalise_model_id(value: str) -> str:
    """A model identity as stored by any app version: zone scores and severity written before identities
    were unified hold the bare version ("1.1.0"), always of a ``lus-staged`` bundle; read as
    "lus-staged-1.1.0". Identities ("lus-staged-1.2.0", "seg-1.0") and "" are returned as they are."""
    return model_identity(LEGACY_MODEL_NAME, value) if value[:1].isdigit() else value


@dataclass
class ModelZoneScore:
    probs: list[float]  # one per scale level
    score: int  # argmax
    expected: float  # sum(value * prob)
    model_version: str
    time: str
    findings: dict[str, Any] | None = None  # the findings head's output behind this score (check_findings)

    def validate(self, fld: str = "model_score", scale: ScoreScale | None = None) -> None:
        self.probs = _check_probs(self.probs, scale.n_levels if scale else None, f"{fld}.probs")
        _as_int(self.score, f"{fld}.score")
        if not 0 <= self.score < len(self.probs):
            raise ValidationError(f"{fld}.score", f"{self.score} is outside 0-{len(self.probs) - 1}")
        if isinstance(self.expected, bool) or not isinstance(self.expected, (int, float)) \
                or not 0 <= self.expected <= len(self.probs) - 1:
            raise ValidationError(f"{fld}.expected", f"{self.expected!r} is outside 0-{len(self.probs) - 1}")
        if not isinstance(self.model_version, str) or not self.model_version:
            raise ValidationError(f"{fld}.model_version", "must name the model version")
        check_utc_time(self.time, f"{fld}.time")
        if self.findings is not None:
            self.findings = check_findings(self.findings, f"{fld}.findings")

    def to_dict(self) -> dict[str, Any]:
        d = {"probs": list(self.probs), "score": self.score, "expected": self.expected,
             "model_version": self.model_version, "time": self.time}
        if self.findings is not None:  # absent (not null) without findings: older documents stay byte-identical
            f = self.findings
            d["findings"] = {"findings": dict(f["findings"]), "present": dict(f["present"]),
                             "b_line_grade_probs": list(f["b_line_grade_probs"])
                             if f.get("b_line_grade_probs") is not None else None,
                             "ood": f.get("ood"), "unlike_training": f["unlike_training"],
                             "warnings": list(f.get("warnings") or [])}
        return d

    @classmethod
    def from_dict(cls, d: Any, fld: str = "model_score") -> ModelZoneScore:
        _need_dict(d, fld)
        m = cls(probs=_get(d, "probs", fld, types=(list,)), score=_as_int(_get(d, "score", fld), f"{fld}.score"),
                expected=float(_get(d, "expected", fld, types=(int, float))),
                model_version=normalise_model_id(_get(d, "model_version", fld, types=(str,))),
                time=_get(d, "time", fld, types=(str,)),
                findings=_get(d, "findings", fld, None, (dict,), allow_none=True))
        m.validate(fld)
        return m


@dataclass
class ConsensusEntry(ScoreEntry):
    """An adjudicator's decision on a zone score: ``rater`` is the adjudicator, ``from_rater`` the rater whose
    score was picked ("" when the adjudicator set the value)."""
    from_rater: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(super().to_dict(), from_rater=self.from_rater)

    @classmethod
    def from_dict(cls, d: Any, fld: str = "consensus_score") -> ConsensusEntry:
        e = ScoreEntry.from_dict(d, fld)
        return cls(e.value, e.rater, e.time, _get(d, "from_rater", fld, "", (str,)))


@dataclass
class ZoneRecord:
    zone_id: str
    media: MediaRef | None = None
    model_score: ModelZoneScore | None = None
    clinician_score: ScoreEntry | None = None  # the first rater's score (lusapp.core.raters: every rater's)
    notes: str = ""
    other_scores: dict[str, ScoreEntry] = field(default_factory=dict)  # further raters' scores, by rater
    consensus_score: ConsensusEntry | None = None  # the adjudicated score (training uses it first)

    def validate(self, fld: str = "zone", scale: ScoreScale | None = None) -> None:
        if self.media is not None:
            self.media.validate(f"{fld}.media")
        if self.model_score is not None:
            self.model_score.validate(f"{fld}.model_score", scale)
        if self.clinician_score is not None:
            self.clinician_score.validate(f"{fld}.clinician_score", scale)
        if self.other_scores and self.clinician_score is None:
            raise ValidationError(f"{fld}.other_scores", "further raters' scores without a clinician_score")
        for rater, e in self.other_scores.items():
            e.validate(f"{fld}.other_scores.{rater}", scale)
            if e.rater != rater or rater == self.clinician_score.rater:
                raise ValidationError(f"{fld}.other_scores.{rater}", f"holds rater {e.rater!r}: one score per "
                                      "rater, keyed by that rater, not the clinician_score's rater")
        if self.consensus_score is not None:
            self.consensus_score.validate(f"{fld}.consensus_score", scale)
        if not isinstance(self.notes, str):
            raise ValidationError(f"{fld}.notes", "should be text")

    @property
    def effective_score(self) -> int | None:
        if self.clinician_score is not None:
            return self.clinician_score.value
        if self.model_score is not None:
            return self.model_score.score
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"zone_id": self.zone_id, "media": self.media.to_dict() if self.media else None,
                "model_score": self.model_score.to_dict() if self.model_score else None,
                "clinician_score": self.clinician_score.to_dict() if self.clinician_score else None,
                "other_scores": {r: e.to_dict() for r, e in sorted(self.other_scores.items())},
                "consensus_score": self.consensus_score.to_dict() if self.consensus_score else None,
                "notes": self.notes}

    @classmethod
    def from_dict(cls, d: Any, fld: str = "zone") -> ZoneRecord:
        _need_dict(d, fld)
        media, ms, cs = d.get("media"), d.get("model_score"), d.get("clinician_score")
        others, cons = _get(d, "other_scores", fld, {}, (dict,)), d.get("consensus_score")
        return cls(zone_id=_get(d, "zone_id", fld, types=(str,)),
                   media=MediaRef.from_dict(media, f"{fld}.media") if media is not None else None,
                   model_score=ModelZoneScore.from_dict(ms, f"{fld}.model_score") if ms is not None else None,
                   clinician_score=ScoreEntry.from_dict(cs, f"{fld}.clinician_score") if cs is not None else None,
                   notes=_get(d, "notes", fld, "", (str,)),
                   other_scores={str(r): ScoreEntry.from_dict(e, f"{fld}.other_scores.{r}") for r, e in others.items()},
                   consensus_score=ConsensusEntry.from_dict(cons, f"{fld}.consensus_score") if cons else None)


def _check_attention(att: Any, fld: str) -> dict[str, float]:
    """Attention weights {zone_id: weight}: weights in [0, 1] that sum to 1 (over the zones that had media)."""
    if not isinstance(att, dict):
        raise ValidationError(fld, f"must be an object of zone weights, not {type(att).__name__}")
    out: dict[str, float] = {}
    for zid, w in att.items():
        if not isinstance(w, (int, float)) or isinstance(w, bool) or not math.isfinite(w) or not 0.0 <= w <= 1.0:
            raise ValidationError(f"{fld}.{zid}", f"weight {w!r} is not a number in [0, 1]")
        out[str(zid)] = float(w)
    if out and abs(sum(out.values()) - 1.0) > 1e-3:
        raise ValidationError(fld, f"weights sum to {sum(out.values()):.4f}, not 1")
    return out


@dataclass
class SeverityRecord:
    model_probs: list[float] | None = None  # P(mild), P(moderate), P(severe), P(critical)
    model_version: str = ""
    model_time: str = ""
    model_attention: dict[str, float] | None = None  # per-zone attention of that assessment (its explanation)
    clinician_label: int | None = None  # 1..4
    rater: str = ""
    time: str = ""

    @property
    def model_label(self) -> int | None:
        if not self.model_probs:
            return None
        return 1 + max(range(len(self.model_probs)), key=lambda i: self.model_probs[i])

    @property
    def effective_label(self) -> int | None:
        return self.clinician_label if self.clinician_label is not None else self.model_label

    def forget_attention(self, zone_id: str) -> None:
        """A zone's media changed: its attention no longer explains anything. The other zones keep their
        relative weights (renormalised to sum to 1); none left -> None."""
        if not self.model_attention or zone_id not in self.model_attention:
            return
        rest = {z: w for z, w in self.model_attention.items() if z != zone_id}
        total = sum(rest.values())
        self.model_attention = {z: w / total for z, w in rest.items()} if total > 0 else None

    def validate(self, fld: str = "severity") -> None:
        if self.model_probs is not None:
            self.model_probs = _check_probs(self.model_probs, len(SEVERITY_LEVELS), f"{fld}.model_probs")
            if not self.model_version:
                raise ValidationError(f"{fld}.model_version", "must name the model version of model_probs")
            check_utc_time(self.model_time, f"{fld}.model_time")
        if self.model_attention is not None:
            self.model_attention = _check_attention(self.model_attention, f"{fld}.model_attention")
        if self.clinician_label is not None:
            lab = _as_int(self.clinician_label, f"{fld}.clinician_label")
            if lab not in SEVERITY_LEVELS:
                raise ValidationError(f"{fld}.clinician_label", f"{lab} is outside 1-4")
            if not isinstance(self.rater, str) or not self.rater.strip():
                raise ValidationError(f"{fld}.rater", "must name who gave the severity")
            check_utc_time(self.time, f"{fld}.time")

    def to_dict(self) -> dict[str, Any]:
        return {"model_probs": list(self.model_probs) if self.model_probs is not None else None,
                "model_version": self.model_version, "model_time": self.model_time,
                "model_attention": dict(self.model_attention) if self.model_attention is not None else None,
                "clinician_label": self.clinician_label, "rater": self.rater, "time": self.time}

    @classmethod
    def from_dict(cls, d: Any, fld: str = "severity") -> SeverityRecord:
        _need_dict(d, fld)
        s = cls(model_probs=_get(d, "model_probs", fld, None, (list,), allow_none=True),
                model_version=normalise_model_id(_get(d, "model_version", fld, "", (str,))),
                model_time=_get(d, "model_time", fld, "", (str,)),
                model_attention=_get(d, "model_attention", fld, None, (dict,), allow_none=True),
                clinician_label=_as_int(d.get("clinician_label"), f"{fld}.clinician_label", allow_none=True),
                rater=_get(d, "rater", fld, "", (str,)), time=_get(d, "time", fld, "", (str,)))
        s.validate(fld)
        return s


# ----------------------------------------------------------------------------- patient
@dataclass
class Patient:
    patient_id: str
    exam_date: str  # ISO date YYYY-MM-DD
    protocol_id: str = "lus12"
    scale_id: str = "0-4"
    clinical: ClinicalInfo = field(default_factory=ClinicalInfo)
    zones: dict[str, ZoneRecord] = field(default_factory=dict)
    severity: SeverityRecord = field(default_factory=SeverityRecord)
    notes: str = ""
    revision: int = 0  # incremented by the store on every save
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def new(cls, patient_id: str, protocol: str | Protocol = "lus12", exam_date: str | None = None,
            scale_id: str | None = None, clinical: ClinicalInfo | None = None) -> Patient:
        proto = load_protocol(protocol)
        p = cls(patient_id=patient_id, exam_date=exam_date or _dt.date.today().isoformat(), protocol_id=proto.id,
                scale_id=scale_id or proto.default_scale, clinical=clinical or ClinicalInfo(),
                zones={z: ZoneRecord(zone_id=z) for z in proto.zone_ids})
        p.validate(proto)
        return p

    @property
    def protocol(self) -> Protocol:
        return load_protocol(self.protocol_id)

    @property
    def scale(self) -> ScoreScale:
        return get_scale(self.scale_id)

    def zone(self, zone_id: str) -> ZoneRecord:
        try:
            return self.zones[zone_id]
        except KeyError:
            raise KeyError(f"patient {self.patient_id} has no zone {zone_id!r}") from None

    def effective_score(self, zone_id: str) -> int | None:
        """The clinician's score of the zone when given, else the model's, else None."""
        return self.zone(zone_id).effective_score

    def total_score(self) -> int | None:
        """Sum of effective zone scores over scored zones (None when no zone is scored)."""
        vals = [z.effective_score for z in self.zones.values() if z.effective_score is not None]
        return sum(vals) if vals else None

    def validate(self, protocol: Protocol | None = None) -> None:
        check_patient_id(self.patient_id)
        try:
            _dt.date.fromisoformat(self.exam_date)
        except (TypeError, ValueError):
            raise ValidationError("exam_date", f"{self.exam_date!r} is not an ISO date (YYYY-MM-DD)") from None
        if self.schema_version != SCHEMA_VERSION:
            raise ValidationError("schema_version", f"{self.schema_version!r} is not {SCHEMA_VERSION}")
        proto = protocol or load_protocol(self.protocol_id)
        if proto.id != self.protocol_id:
            raise ValidationError("protocol_id", f"{self.protocol_id!r} does not match protocol {proto.id!r}")
        scale = get_scale(self.scale_id)
        if not isinstance(self.clinical, ClinicalInfo):
            raise ValidationError("clinical", "should be a ClinicalInfo")
        self.clinical.validate("clinical")
        if set(self.zones) != set(proto.zone_ids):
            missing = sorted(set(proto.zone_ids) - set(self.zones))
            extra = sorted(set(self.zones) - set(proto.zone_ids))
            raise ValidationError("zones", f"must hold one record per zone of {proto.id}"
                                  + (f"; missing {', '.join(missing)}" if missing else "")
                                  + (f"; not in protocol {', '.join(extra)}" if extra else ""))
        for zid, rec in self.zones.items():
            if rec.zone_id != zid:
                raise ValidationError(f"zones.{zid}.zone_id", f"{rec.zone_id!r} does not match key {zid!r}")
            rec.validate(f"zones.{zid}", scale)
        self.severity.validate("severity")
        if not isinstance(self.notes, str):
            raise ValidationError("notes", "should be text")
        if isinstance(self.revision, bool) or not isinstance(self.revision, int) or self.revision < 0:
            raise ValidationError("revision", f"{self.revision!r} should be a non-negative integer")

    def to_dict(self) -> dict[str, Any]:
        proto_order = {z: i for i, z in enumerate(load_protocol(self.protocol_id).zone_ids)}
        zones = sorted(self.zones.values(), key=lambda r: proto_order.get(r.zone_id, len(proto_order)))
        return {"schema_version": self.schema_version, "patient_id": self.patient_id, "exam_date": self.exam_date,
                "protocol_id": self.protocol_id, "scale_id": self.scale_id, "revision": self.revision,
                "clinical": self.clinical.to_dict(), "zones": {r.zone_id: r.to_dict() for r in zones},
                "severity": self.severity.to_dict(), "notes": self.notes}

    @classmethod
    def from_dict(cls, d: Any) -> Patient:
        _need_dict(d, "patient")
        zones_raw = _get(d, "zones", "", types=(dict,))
        p = cls(
            patient_id=_get(d, "patient_id", "", types=(str,)),
            exam_date=_get(d, "exam_date", "", types=(str,)),
            protocol_id=_get(d, "protocol_id", "", "lus12", (str,)),
            scale_id=_get(d, "scale_id", "", "0-4", (str,)),
            clinical=ClinicalInfo.from_dict(d.get("clinical") or {}, "clinical"),
            zones={k: ZoneRecord.from_dict(v, f"zones.{k}") for k, v in zones_raw.items()},
            severity=SeverityRecord.from_dict(d.get("severity") or {}, "severity"),
            notes=_get(d, "notes", "", "", (str,)),
            revision=_as_int(d.get("revision", 0), "revision"),
            schema_version=_as_int(_get(d, "schema_version", ""), "schema_version"),
        )
        p.validate()
        return p
