"""``lusapp assess PATIENT [PATIENT|STORE ...] [--csv FILE] [--model VERSION|DIR] [--samplings 5] [--frames 30]
[--threads N]``.

Each argument is a patient folder inside a LUSApp store (``<store>/patients/<id>``, opened read-only), a plain
patient folder (``R1.mp4``, ``L3.png``, ``clinical.json``; see lusapp.store.patient_folder) or a whole store
(every patient in it). Prints one JSON document on stdout: the severity, per-zone model scores, attention and
rule-based measures of the patient, or a list of such documents when several patients are assessed (several
arguments or a store). Models with a findings head add per zone the findings with their probabilities, the
measures, the distance from the training clips (``ood``, ``unlike_training``) and the zone's warnings.
``--csv FILE`` also writes one row per assessed zone (batch use).

Exit status: 0 when every patient was assessed; 1 when some patient of a batch failed (a line on stderr each,
the others still run) or on an internal error; 2 for usage errors and bad input when a single patient is
given, or a model that cannot be loaded. Never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from lusapp.core.errors import LusError


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lusapp assess", description="Patient severity from patient folders or a store, as JSON.")
    p.add_argument("patients", nargs="+", metavar="PATIENT",
                   help="store patient folder (<store>/patients/<id>), plain patient folder, or a whole store")
    p.add_argument("--csv", default=None, metavar="FILE", help="also write one CSV row per assessed zone")
    p.add_argument("--model", default=None, help="model version (registry) or a bundle folder")
    p.add_argument("--samplings", type=int, default=1, help="frame samplings to max-vote over (paper: 5)")
    p.add_argument("--frames", type=int, default=30, help="frames sampled per video zone (paper: 30)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads of the network (ONNX Runtime or torch)")
    return p


def _is_store(folder: Path) -> bool:
    return (folder / "store.json").is_file()


def load_patient_any(folder: str | Path):
    """(Patient, {zone_id: media path}) from a store patient folder or a plain patient folder."""
    from lusapp.core.errors import ValidationError

    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(str(folder), "is not a folder")
    store_root = folder.parent.parent
    if (folder / "patient.json").is_file() and folder.parent.name == "patients" and _is_store(store_root):
        from lusapp.store import Store

        store = Store.open(store_root, readonly=True)
        try:
            return _store_patient(store, folder.name)
        finally:
            store.close()
    if _is_store(folder):
        raise ValidationError(str(folder), "is a whole store; give one patient folder (<store>/patients/<id>)")
    from lusapp.store.patient_folder import open_patient_folder

    pf = open_patient_folder(folder)
    return pf.patient, pf.media


def _store_patient(store, pid: str):
    patient = store.load_patient(pid)
    media = {zid: store.patient_dir(patient.patient_id) / rec.media.file
             for zid, rec in patient.zones.items() if rec.media is not None}
    return patient, media


def load_model(spec: str | None):
    from lusapp.model.onnx_bundle import open_bundle
    from lusapp.model.registry import ModelRegistry

    if spec and Path(spec).is_dir():
        return open_bundle(spec)
    return ModelRegistry().load_active(spec)


# ---------------------------------------------------------------------------------------------- JSON
def _round(v: Any, nd: int = 4) -> Any:
    """JSON-friendly copy: floats rounded (NaN / inf -> None), tuples and arrays as lists, numpy scalars
    as Python numbers."""
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return round(v, nd) if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _round(x, nd) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_round(x, nd) for x in v]
    if hasattr(v, "tolist"):  # numpy array or scalar
        return _round(v.tolist(), nd)
    return str(v)


def measures_json(m) -> dict | None:
    """A zone's clip measures (lusapp.model.measures.FrameMeasures), rounded."""
    return None if m is None else _round(m.to_dict(), 3)


def zone_json(assessment, zid: str) -> dict:
    a = assessment
    probs = a.zone_probs[zid]
    m = a.zone_measures.get(zid)
    rule = a.zone_rules.get(zid, (None, None))
    out = {"score_probs": [round(float(p), 4) for p in probs], "score": a.zone_scores[zid],
           "expected": round(a.zone_expected[zid], 3), "attention": round(a.attention.get(zid, 0.0), 4),
           "b_lines": m.b_lines if m is not None else None, "rule_score": rule[0], "rule": rule[1]}
    zf = (getattr(a, "zone_findings", None) or {}).get(zid)
    if zf is not None:  # models with a findings head
        out.update(zf.to_dict())  # findings, present, b_line_grade_probs, ood, unlike_training, warnings
        out["measures"] = measures_json(m)
        head = (getattr(a, "zone_head_probs", None) or {}).get(zid)
        if head is not None:
            out["head_score_probs"] = [round(float(p), 4) for p in head]
    return out


def assessment_json(patient, assessment) -> dict:
    a = assessment
    zones = {zid: zone_json(a, zid) for zid in a.zone_probs}
    doc = {"patient_id": getattr(patient, "patient_id", None),
           "severity_probs": [round(float(p), 4) for p in a.severity_probs], "severity": a.severity,
           "severity_name": a.severity_name, "severe": a.severe, "severe_prob": round(a.severe_prob, 4),
           "zones": zones, "model_version": a.model_version, "votes": a.votes,
           "timings": {k: round(v, 4) for k, v in a.timings.items()}, "warnings": a.warnings}
    if getattr(a, "zone_findings", None):
        unlike = sorted(z for z, zf in a.zone_findings.items() if zf.unlike_training)
        doc["zones_unlike_training"] = unlike
    return doc


# ---------------------------------------------------------------------------------------------- CSV
def csv_header() -> list[str]:
    from lusapp.model.findings import FINDINGS

    cols = ["patient_id", "zone", "score", "expected"]
    for f in FINDINGS:
        cols += [f"p_{f}", f"{f}_present"]
    return cols + ["b_lines", "rule_score", "ood", "unlike_training", "warnings", "model_version"]


def csv_rows(doc: dict) -> list[dict]:
    """One row per zone of an ``assessment_json`` document (finding cells empty for models without a
    findings head)."""
    from lusapp.model.findings import FINDINGS

    rows = []
    for zid, z in doc["zones"].items():
        row = {"patient_id": doc["patient_id"], "zone": zid, "score": z["score"], "expected": z["expected"],
               "b_lines": "" if z["b_lines"] is None else z["b_lines"],
               "rule_score": "" if z["rule_score"] is None else z["rule_score"],
               "model_version": doc["model_version"]}
        found = z.get("findings")
        for f in FINDINGS:
            row[f"p_{f}"] = found.get(f, "") if found else ""
            row[f"{f}_present"] = (int(bool(z["present"][f])) if f in z.get("present", {}) else "") if found else ""
        row["ood"] = z.get("ood", "")
        row["unlike_training"] = int(bool(z["unlike_training"])) if "unlike_training" in z else ""
        row["warnings"] = "; ".join(z.get("warnings") or [])
        rows.append(row)
    return rows


def write_csv(path: str | Path, docs: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=csv_header())
        w.writeheader()
        for doc in docs:
            w.writerows(csv_rows(doc))


# ---------------------------------------------------------------------------------------------- targets
Target = tuple[str, Callable[[], tuple]]  # (name for messages, loader of (patient, media))


def _targets(args: list[str], failed: Callable[[str, str], None]) -> Iterator[Target]:
    """(name, loader) per patient to assess: a store gives every patient it holds."""
    for arg in args:
        folder = Path(arg)
        if not _is_store(folder):
            yield arg, (lambda f=folder: load_patient_any(f))
            continue
        from lusapp.store import Store

        try:
            store = Store.open(folder, readonly=True)
        except LusError as e:
            failed(arg, str(e))
            continue
        try:
            pids = store.patient_ids()
            if not pids:
                failed(arg, "the store holds no patient")
            for pid in pids:
                yield f"{arg} patient {pid}", (lambda s=store, p=pid: _store_patient(s, p))
        finally:
            store.close()


def _one_line(e: BaseException) -> str:
    if isinstance(e, LusError):
        return str(e)
    if isinstance(e, OSError):
        return f"{e.filename or ''}: {e.strerror or e}"
    return f"internal error: {type(e).__name__}: {e}"


def assess_main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        _parser().print_help()
        return 0
    try:
        args = _parser().parse_args(argv)
        if args.samplings < 1 or args.frames < 1:
            raise _UsageError("--samplings and --frames must be at least 1")
        for p in args.patients:
            if not Path(p).is_dir():
                raise _UsageError(f"{p}: is not a folder")
        if args.csv is not None and (Path(args.csv).is_dir() or not Path(args.csv).absolute().parent.is_dir()):
            raise _UsageError(f"--csv {args.csv}: not a file in an existing folder")
    except _UsageError as e:
        print(f"lusapp assess: {e}", file=sys.stderr)
        return 2
    single = len(args.patients) == 1 and not _is_store(Path(args.patients[0]))
    try:
        patient = media = None
        if single:  # bad input of a lone patient is reported before the model loads (exit 2)
            patient, media = load_patient_any(args.patients[0])
        from lusapp.model.contract import ReviewEngine
        from lusapp.model.engine import Engine

        engine: ReviewEngine = Engine(load_model(args.model), threads=args.threads)  # the CLI needs only assess
    except (LusError, OSError) as e:
        print(f"lusapp assess: {_one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a command line tool never prints a traceback
        print(f"lusapp assess: {_one_line(e)}", file=sys.stderr)
        return 1

    n_failed = 0

    def failed(name: str, message: str) -> None:
        nonlocal n_failed
        n_failed += 1
        print(f"lusapp assess: {name}: {message}", file=sys.stderr, flush=True)

    docs: list[dict] = []
    targets: Any = ([(args.patients[0], lambda: (patient, media))] if single
                    else _targets(args.patients, failed))
    for name, loader in targets:
        try:
            pat, med = loader()
            result = engine.assess(pat, med, n_frames=args.frames, samplings=args.samplings)
            docs.append(assessment_json(pat, result))
        except Exception as e:  # noqa: BLE001 - one bad patient never stops a batch, never a traceback
            if single:
                print(f"lusapp assess: {_one_line(e)}", file=sys.stderr)
                return 2 if isinstance(e, (LusError, OSError)) else 1
            failed(name, _one_line(e))
    if args.csv is not None:
        try:
            write_csv(args.csv, docs)
        except OSError as e:
            failed(f"--csv {args.csv}", _one_line(e))
    print(json.dumps(docs[0] if single else docs, indent=1))
    return 1 if n_failed else 0
