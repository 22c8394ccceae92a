"""The JSON / CSV documents of an export: a patient's document as exported (de-identified or not) and the
rows of ``patients.csv`` and ``scores.csv``. Layout and columns: docs/export-format.md."""

from __future__ import annotations

import copy
import csv
import io

from lusapp.core.clinical import HISTORY, SYMPTOMS
from lusapp.core.patient import Patient
from lusapp.core.raters import training_score
from lusapp.export.deid import Pseudonymizer, shift_date, shift_time

PATIENT_COLUMNS = (["patient_id", "exam_date", "protocol_id", "scale_id", "age", "sex", "clinician_severity",
                    "model_severity", "p_mild", "p_moderate", "p_severe", "p_critical", "total_score"]
                   + [f"symptom_{s}" for s in SYMPTOMS] + [f"history_{h}" for h in HISTORY])
SCORE_COLUMNS = ["patient_id", "zone_id", "media_file", "media_kind", "n_frames", "training_score", "score_source",
                 "clinician_score", "rater", "model_score", "model_expected", "final_mask_frames"]
MAX_AGE = 90


class DocumentTransform:
    """Rewrites what identifies a patient in a patient document / mask provenance; identity when ``pseud`` is
    None (plain export)."""

    def __init__(self, pseud: Pseudonymizer | None, pid: str):
        self.pseud = pseud
        self.pid = pid
        self.new_id = pseud.patient(pid) if pseud else pid
        self.days = pseud.shift_days(pid) if pseud else 0

    def rater(self, name: str) -> str:
        return self.pseud.rater(name) if self.pseud else name

    def time(self, value: str) -> str:
        return shift_time(value, self.days) if self.pseud else value

    def patient_doc(self, patient: Patient, media: dict[str, dict]) -> dict:
        """The exported ``patient.json``: ``media`` maps zone -> {file, sha256} of the exported media."""
        doc = copy.deepcopy(patient.to_dict())
        doc["patient_id"] = self.new_id
        for zid, z in doc["zones"].items():
            if z.get("media") is not None:
                if zid in media:
                    z["media"].update(media[zid])
                if self.pseud:
                    z["media"]["original_name"] = ""  # a file name may hold the patient's name
            if not self.pseud:
                continue
            z["notes"] = ""
            for entry in [z.get("clinician_score"), z.get("consensus_score"), *(z.get("other_scores") or {}).values()]:
                if entry:
                    entry["rater"] = self.rater(entry["rater"])
                    entry["time"] = self.time(entry["time"])
                    if entry.get("from_rater"):
                        entry["from_rater"] = self.rater(entry["from_rater"])
            if z.get("other_scores"):
                z["other_scores"] = {self.rater(r): e for r, e in z["other_scores"].items()}
            if z.get("model_score"):
                z["model_score"]["time"] = self.time(z["model_score"]["time"])
        if self.pseud:
            doc["exam_date"] = shift_date(doc.get("exam_date"), self.days)
            doc["notes"] = ""  # free text: may name anyone
            age = doc["clinical"].get("age")
            if age is not None and age > MAX_AGE:
                doc["clinical"]["age"] = MAX_AGE  # HIPAA Safe Harbor: ages over 89 are one group
            sev = doc["severity"]
            sev["rater"] = self.rater(sev.get("rater", ""))
            sev["time"] = self.time(sev.get("time", ""))
            sev["model_time"] = self.time(sev.get("model_time", ""))
        Patient.from_dict(doc)  # the exported document is a valid patient document
        return doc

    def provenance(self, prov: dict[int, dict]) -> dict:
        """``labels.json`` of an exported zone: {frame: {source: "consensus" | "rater", rater, time[, from_rater]}}
        (for a consensus, ``rater`` is the adjudicator)."""
        out = {}
        for frame, entry in sorted(prov.items()):
            e = {"source": entry["source"], "rater": self.rater(entry.get("rater", "")),
                 "time": self.time(entry.get("time", ""))}
            if entry.get("from_rater"):
                e["from_rater"] = self.rater(entry["from_rater"])
            out[str(frame)] = e
        return {"format": "lusapp-export-mask-labels", "frames": out}


def _flag(v) -> str:
    return "" if v is None else str(int(bool(v)))


def patient_row(doc: dict) -> dict:
    p = Patient.from_dict(doc)
    probs = p.severity.model_probs or [None] * 4
    row = {"patient_id": p.patient_id, "exam_date": p.exam_date or "", "protocol_id": p.protocol_id,
           "scale_id": p.scale_id, "age": "" if p.clinical.age is None else p.clinical.age,
           "sex": p.clinical.sex or "", "clinician_severity": p.severity.clinician_label or "",
           "model_severity": p.severity.model_label or "",
           "total_score": "" if p.total_score() is None else p.total_score()}
    for name, v in zip(("p_mild", "p_moderate", "p_severe", "p_critical"), probs):
        row[name] = "" if v is None else f"{v:.4f}"
    for s in SYMPTOMS:
        row[f"symptom_{s}"] = _flag(p.clinical.symptoms.get(s))
    for h in HISTORY:
        row[f"history_{h}"] = _flag(p.clinical.history.get(h))
    return row


def score_rows(doc: dict, final_frames: dict[str, list[int]]) -> list[dict]:
    rows = []
    patient = Patient.from_dict(doc)
    for zid, z in doc["zones"].items():
        media, cs, ms = z.get("media"), z.get("clinician_score"), z.get("model_score")
        train, source = training_score(patient.zones[zid])  # consensus > agreeing raters > none
        row = {"patient_id": doc["patient_id"], "zone_id": zid,
               "media_file": f"patients/{doc['patient_id']}/{media['file']}" if media else "",
               "media_kind": media["kind"] if media else "", "n_frames": (media or {}).get("n_frames") or "",
               "training_score": "" if train is None else train, "score_source": source,
               "clinician_score": cs["value"] if cs else "", "rater": cs["rater"] if cs else "",
               "model_score": ms["score"] if ms else "", "model_expected": f"{ms['expected']:.4f}" if ms else "",
               "final_mask_frames": " ".join(str(f) for f in final_frames.get(zid, []))}
        for name, prob in sorted(((ms or {}).get("findings") or {}).get("findings", {}).items()):
            row[f"finding_{name}"] = f"{prob:.4f}"
        rows.append(row)
    return rows


def csv_bytes(rows: list[dict], columns: list[str]) -> bytes:
    extra = sorted({k for r in rows for k in r} - set(columns))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns) + extra, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue().encode("utf-8")
