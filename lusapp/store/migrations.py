"""Schema migrations of ``patient.json``: a registry of functions vN -> vN+1 applied in order on load.

Schema v0 (documented older layout, written by pre-release builds) had no ``schema_version`` and::

    {"patient_id": "P1", "exam_date": "2025-03-01", "protocol": "lus12",
     "clinical": {...ClinicalInfo...},
     "zones": {"R1": {"media": {...MediaRef...} | null, "score": 2 | null,
                      "rater": "dr_a", "scored_at": "2025-03-01T10:00:00Z"}, ...},
     "severity": 3 | null}

v1 had one ``clinician_score`` per zone. v2 (current, docs/store-format.md) adds per zone ``other_scores``
({rater: ScoreEntry}, further raters) and ``consensus_score`` (an adjudicator's decision); v1 -> v2 adds both
empty, so the v1 score becomes the score of the rater recorded with it (masks already carry their rater).

v0 -> v1 renames ``protocol`` to ``protocol_id``, adds
``scale_id`` "0-4", turns each zone's ``score`` into ``clinician_score`` {value, rater, time}
(rater "unknown" and time = migration time when absent), adds ``zone_id``, ``model_score`` null,
``notes`` "", and turns the integer ``severity`` into a SeverityRecord with ``clinician_label``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

from lusapp.core.errors import DamagedDocument, SchemaTooNew
from lusapp.core.patient import SCHEMA_VERSION, utc_now


def _v0_to_v1(doc: dict) -> dict:
    now = utc_now()
    out: dict[str, Any] = {
        "schema_version": 1,
        "patient_id": doc.get("patient_id"),
        "exam_date": doc.get("exam_date"),
        "protocol_id": doc.get("protocol", "lus12"),
        "scale_id": "0-4",
        "revision": 0,
        "clinical": doc.get("clinical") or {},
        "notes": doc.get("notes", ""),
    }
    zones = {}
    for zid, z in (doc.get("zones") or {}).items():
        z = z or {}
        score = z.get("score")
        zones[zid] = {
            "zone_id": zid,
            "media": z.get("media"),
            "model_score": None,
            "clinician_score": None if score is None else {
                "value": score, "rater": z.get("rater") or "unknown", "time": z.get("scored_at") or now},
            "notes": z.get("notes", ""),
        }
    out["zones"] = zones
    sev = doc.get("severity")
    out["severity"] = {"model_probs": None, "model_version": "", "model_time": "",
                       "clinician_label": sev, "rater": "unknown" if sev is not None else "",
                       "time": now if sev is not None else ""}
    return out


def _v1_to_v2(doc: dict) -> dict:
    out = dict(doc, schema_version=2)
    out["zones"] = {zid: dict(z or {}, other_scores={}, consensus_score=None)
                    for zid, z in (doc.get("zones") or {}).items()}
    return out


# MIGRATIONS[n] turns a version-n document into a version-(n+1) document.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {0: _v0_to_v1, 1: _v1_to_v2}


def document_version(doc: dict, path: str | Path) -> int:
    v = doc.get("schema_version", 0)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise DamagedDocument(path, f"schema_version {v!r} is not a non-negative integer")
    return v


def migrate(doc: dict, path: str | Path) -> tuple[dict, int]:
    """Bring ``doc`` to the current schema; returns (document, version it was found at).
    Raises ``SchemaTooNew`` for documents written by a newer LUSApp, ``DamagedDocument`` when a step fails."""
    found = version = document_version(doc, path)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(path, f"has schema_version {version}, this LUSApp reads up to {SCHEMA_VERSION}; "
                                 "update LUSApp to open it")
    doc = copy.deepcopy(doc)
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise DamagedDocument(path, f"no migration from schema_version {version}")
        try:
            doc = step(doc)
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            raise DamagedDocument(path, f"cannot migrate from schema_version {version}: {exc}") from exc
        version += 1
    return doc, found
