"""Shared by the ONNX parity tests (torch vs fp32 graphs, fp32 vs int8 graphs): the demo patient assessed by
each engine, as the `lusapp assess` JSON."""

from __future__ import annotations

from pathlib import Path

from lusapp.model.assess_cli import assessment_json
from lusapp.store.patient_folder import open_patient_folder

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


def demo_assessments(engines) -> list[dict]:
    """The `assess` JSON of the bundled demo patient from each engine, in order."""
    docs = []
    for engine in engines:
        patient, media = open_patient_folder(DEMO)
        docs.append(assessment_json(patient, engine.assess(patient, media)))
    return docs
