"""Clinical information fields and their fixed-length numeric encoding for the severity model."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

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


def clinical_feature_names() -> tuple[str, ...]:
    return ("age", "sex") + tuple(f"symptom.{s}" for s in SYMPTOMS) + tuple(f"history.{h}" for h in HISTORY)


def _flag(v: Any) -> float:
    if v is None:
        return UNKNOWN
    return 1.0 if bool(v) else 0.0


def encode_clinical(info: Any) -> np.ndarray:
    """``np.float32[CLINICAL_DIM]``: age/100 (0.5 unknown), sex (M 1, F 0, unknown 0.5), then each symptom
    and each history item (1 yes, 0 no, 0.5 unknown), in the order of :func:`clinical_feature_names`.

    ``info`` is a :class:`lusapp.core.patient.ClinicalInfo`, a dict in its ``to_dict`` form, or None
    (everything unknown). Dicts are validated first.
    """
    if info is None:
        return np.full(CLINICAL_DIM, UNKNOWN, dtype=np.float32)
    if isinstance(info, Mapping):
        from lusapp.core.patient import ClinicalInfo

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
