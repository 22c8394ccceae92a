"""``lusapp assess PATIENT [--model VERSION|DIR] [--samplings 5] [--frames 30] [--threads N]``.

PATIENT is a patient folder inside a LUSApp store (``<store>/patients/<id>``, opened read-only) or a plain
patient folder (``R1.mp4``, ``L3.png``, ``clinical.json``; see lusapp.store.patient_folder). Prints one JSON
document with the severity, per-zone model scores, attention and rule-based measures. Bad input gives one
line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lusapp.core.errors import LusError


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lusapp assess", description="Patient severity from a patient folder, as JSON.")
    p.add_argument("patient", help="store patient folder (<store>/patients/<id>) or plain patient folder")
    p.add_argument("--model", default=None, help="model version (registry) or a bundle folder")
    p.add_argument("--samplings", type=int, default=1, help="frame samplings to max-vote over (paper: 5)")
    p.add_argument("--frames", type=int, default=30, help="frames sampled per video zone (paper: 30)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p


def load_patient_any(folder: str | Path):
    """(Patient, {zone_id: media path}) from a store patient folder or a plain patient folder."""
    from lusapp.core.errors import ValidationError

    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(str(folder), "is not a folder")
    store_root = folder.parent.parent
    if (folder / "patient.json").is_file() and folder.parent.name == "patients" and (store_root / "store.json").is_file():
        from lusapp.store import Store

        store = Store.open(store_root, readonly=True)
        try:
            patient = store.load_patient(folder.name)
            media = {zid: store.patient_dir(patient.patient_id) / rec.media.file
                     for zid, rec in patient.zones.items() if rec.media is not None}
        finally:
            store.close()
        return patient, media
    if (folder / "store.json").is_file():
        raise ValidationError(str(folder), "is a whole store; give one patient folder (<store>/patients/<id>)")
    from lusapp.store.patient_folder import open_patient_folder

    pf = open_patient_folder(folder)
    return pf.patient, pf.media


def load_model(spec: str | None):
    from lusapp.model.bundle import load_bundle
    from lusapp.model.registry import ModelRegistry

    if spec and Path(spec).is_dir():
        return load_bundle(spec)
    return ModelRegistry().load_active(spec)


def assessment_json(patient, assessment) -> dict:
    a = assessment
    zones = {}
    for zid, probs in a.zone_probs.items():
        m = a.zone_measures.get(zid)
        rule = a.zone_rules.get(zid, (None, None))
        zones[zid] = {"score_probs": [round(float(p), 4) for p in probs], "score": a.zone_scores[zid],
                      "expected": round(a.zone_expected[zid], 3), "attention": round(a.attention.get(zid, 0.0), 4),
                      "b_lines": m.b_lines if m is not None else None, "rule_score": rule[0], "rule": rule[1]}
    return {"patient_id": getattr(patient, "patient_id", None),
            "severity_probs": [round(float(p), 4) for p in a.severity_probs], "severity": a.severity,
            "severity_name": a.severity_name, "severe": a.severe, "severe_prob": round(a.severe_prob, 4),
            "zones": zones, "model_version": a.model_version, "votes": a.votes,
            "timings": {k: round(v, 4) for k, v in a.timings.items()}, "warnings": a.warnings}


def assess_main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        _parser().print_help()
        return 0
    try:
        args = _parser().parse_args(argv)
        if args.samplings < 1 or args.frames < 1:
            raise _UsageError("--samplings and --frames must be at least 1")
        patient, media = load_patient_any(args.patient)
        bundle = load_model(args.model)
        from lusapp.model.engine import Engine

        engine = Engine(bundle, threads=args.threads)
        result = engine.assess(patient, media, n_frames=args.frames, samplings=args.samplings)
    except _UsageError as e:
        print(f"lusapp assess: {e}", file=sys.stderr)
        return 2
    except LusError as e:
        print(f"lusapp assess: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"lusapp assess: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a command line tool never prints a traceback
        print(f"lusapp assess: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(assessment_json(patient, result), indent=1))
    return 0
