"""Clinical information: the fields, the ``ClinicalInfo`` record, and its fixed-length numeric encoding
for the severity model. Validation errors are ``ValidationError`` with dotted fields
(``clinical.age: 130 is outside 0-120``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from lusapp.core.errors import ValidationError

SYMPTOMS: tuple[str, ...] = (
    "fever", "cough", "dyspnea", "sore_throat", "diarrhea",
    "headache", "fatigue", "chest_pain", "myalgia", "expectoration",
)
HISTORY: tuple[str, ...] = (
    "cardiovascular", "digestive", "respiratory", "nervous_system",
    "diabetes", "hypertension", "malignancy", "chronic_kidney",
)
CLINICAL_DIM = 2 + len(SYMPTOMS) + len(HISTORY)
UNKNOWN = 0.5


def _as_int(v: Any, fld: str, allow_none: bool = False) -> int | None:
    if v is None and allow_none:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValidationError(fld, f"{v!r} is not an integer")
    return v


def _need_dict(d: Any, fld: str) -> dict:
    if not isinstance(d, dict):
        raise ValidationError(fld, f"should be an object, got {type(d).__name__}")
    return d


def _flag_value(v: Any, fld: str) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("yes", "no", "unknown", ""):
        return {"yes": True, "no": False}.get(v.strip().lower())
    raise ValidationError(fld, f"{v!r} should be true, false or null (unknown)")


def _flags(d: Any, names: tuple[str, ...], fld: str, what: str) -> dict[str, bool | None]:
    if d is None:
        return {}
    _need_dict(d, fld)
    out: dict[str, bool | None] = {}
    for k, v in d.items():
        if k not in names:
            raise ValidationError(f"{fld}.{k}", f"unknown {what} {k!r}; known: {', '.join(names)}")
        val = _flag_value(v, f"{fld}.{k}")
        if val is not None:  # unknown is represented by absence
            out[k] = val
    return out


@dataclass
class ClinicalInfo:
    age: int | None = None
    sex: str | None = None  # 'F' | 'M' | None
    symptoms: dict[str, bool | None] = field(default_factory=dict)
    history: dict[str, bool | None] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:  # an explicit None equals an absent entry (both unknown)
        return isinstance(other, ClinicalInfo) and self.to_dict() == other.to_dict()

    def validate(self, fld: str = "clinical") -> None:
        if self.age is not None:
            if isinstance(self.age, bool) or not isinstance(self.age, int):
                raise ValidationError(f"{fld}.age", f"{self.age!r} is not an integer")
            if not 0 <= self.age <= 120:
                raise ValidationError(f"{fld}.age", f"{self.age} is outside 0-120")
        if self.sex not in ("F", "M", None):
            raise ValidationError(f"{fld}.sex", f"{self.sex!r} should be 'F', 'M' or unknown (null)")
        for attr, names, what in (("symptoms", SYMPTOMS, "symptom"), ("history", HISTORY, "history item")):
            d = getattr(self, attr)
            _need_dict(d, f"{fld}.{attr}")
            for k, v in d.items():
                if k not in names:
                    raise ValidationError(f"{fld}.{attr}.{k}", f"unknown {what} {k!r}; known: {', '.join(names)}")
                if v is not None and not isinstance(v, bool):
                    raise ValidationError(f"{fld}.{attr}.{k}", f"{v!r} should be true, false or null (unknown)")

    def to_dict(self) -> dict[str, Any]:
        return {
            "age": self.age,
            "sex": self.sex,
            "symptoms": {s: self.symptoms.get(s) for s in SYMPTOMS},
            "history": {h: self.history.get(h) for h in HISTORY},
        }

    @classmethod
    def from_dict(cls, d: Any, fld: str = "clinical") -> ClinicalInfo:
        _need_dict(d, fld)
        unknown = sorted(set(d) - {"age", "sex", "symptoms", "history"})
        if unknown:
            raise ValidationError(f"{fld}.{unknown[0]}", "unknown field (known: age, sex, symptoms, history)")
        sex = d.get("sex")
        if isinstance(sex, str):
            sex = {"f": "F", "female": "F", "m": "M", "male": "M", "": None, "unknown": None}.get(sex.strip().lower(), sex)
        info = cls(
            age=_as_int(d.get("age"), f"{fld}.age", allow_none=True),
            sex=sex,
            symptoms=_flags(d.get("symptoms"), SYMPTOMS, f"{fld}.symptoms", "symptom"),
            history=_flags(d.get("history"), HISTORY, f"{fld}.history", "history item"),
        )
        info.validate(fld)
        return info


def clinical_feature_names() -> tuple[str, ...]:
    return ("age", "sex") + tuple(f"symptom.{s}" for s in SYMPTOMS) + tuple(f"history.{h}" for h in HISTORY)


def _flag(v: Any) -> float:
    if v is None:
        return UNKNOWN
    return 1.0 if bool(v) else 0.0


def encode_clinical(info: Any) -> np.ndarray:
    """``np.float32[CLINICAL_DIM]``: age/100 (0.5 unknown), sex (M 1, F 0, unknown 0.5), then each symptom
    and each history item (1 yes, 0 no, 0.5 unknown), in the order of :func:`clinical_feature_names`.

    ``info`` is a :class:`ClinicalInfo`, a dict in its ``to_dict`` form, or None
    (everything unknown). Dicts are validated first.
    """
    if info is None:
        return np.full(CLINICAL_DIM, UNKNOWN, dtype=np.float32)
    if isinstance(info, Mapping):
        info = ClinicalInfo.from_dict(dict(info))
    out = np.empty(CLINICAL_DIM, dtype=np.float32)
    age = info.age
    out[0] = UNKNOWN if age is None else min(max(float(age), 0.0), 120.0) / 100.0
    out[1] = {"M": 1.0, "F": 0.0}.get(info.sex, UNKNOWN) if info.sex is not None else UNKNOWN
    for i, name in enumerate(SYMPTOMS):
        out[2 + i] = _flag(info.symptoms.get(name))
    base = 2 + len(SYMPTOMS)
    for i, name in enumerate(HISTORY):
        out[base + i] = _flag(info.history.get(name))
    return out
