"""The int8 study's command line: ``python -m model_training quantize`` (the quantisation and its measures:
model_training/quantize.py).

    python -m model_training quantize [--model BUNDLE] [--variants all,edges,...] [--methods minmax,...]
                                      [--per-clip 6] [--threads 2] [--out DIR] [--json]
    python -m model_training quantize --write-bundle DIR [--variant stem_pool] [--method minmax] [--model BUNDLE]

The study quantises both frame graphs per variant x calibration method and measures each against fp32 on frames
calibration did not see (argmax agreement, feature / findings-branch drift, ms/frame at batch 16 and 1).
``--write-bundle`` writes a copy of the bundle (a new folder) with one variant's int8 frame graphs beside its fp32
ones -- what ``export-onnx --int8`` does in place (int8_graphs.add_int8_graphs) -- for ``realbench --model DIR``
and ``python -m lusapp.bench --model DIR``. Results: docs/model-card.md, "int8".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from lusapp.core.errors import LusError
from model_training.quantize import (FRAME_GRAPHS, METHODS, SYNTH_EVAL_SEED, VARIANTS, agreement, frame_sets,
                                     ms_per_frame, passes, quantize_graph, run_frames, session)

_log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- bundle copy
def write_bundle(src_dir: str | Path, dst_dir: str | Path, variant: str = "stem_pool", method: str = "minmax",
                 data_root: str | Path | None = None, per_clip: int = 6) -> dict:
    """A copy of the bundle ``src_dir`` in the new folder ``dst_dir`` with ``variant``'s int8 frame graphs beside
    its fp32 ones (int8_graphs.add_int8_graphs); returns the copy's ``graphs.int8``."""
    from model_training.int8_graphs import add_int8_graphs

    if (dst := Path(dst_dir)).exists():
        raise ValueError(f"{dst}: already exists; choose a new folder for the int8 bundle copy")
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    shutil.copytree(src_dir, tmp)
    try:
        note = add_int8_graphs(tmp, data_root, variant, method, per_clip)
        os.replace(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return note


# ---------------------------------------------------------------------------------------------- study
def study(bundle_dir: str | Path, variants: list[str], methods: list[str], per_clip: int, threads: int,
          work: Path, data_root: str | Path | None = None, dedicated: bool = False) -> dict:
    """fp32 vs every variant x calibration method on both frame graphs (int8 files left in ``work``)."""
    from lusapp.model.onnx_bundle import open_bundle

    bundle = open_bundle(bundle_dir)
    size, fp32 = bundle.input_size, {g: bundle.graphs.paths[g] for g in FRAME_GRAPHS}
    load = [round(x, 2) for x in os.getloadavg()]
    from model_training.synth.cli import make_demo_patient
    from model_training.synth.writer import write_patient_folder

    # a held-out synthetic patient: the demo patient's generator with another seed
    write_patient_folder(work / "synthetic_eval", make_demo_patient(SYNTH_EVAL_SEED), with_sidecar=False)
    sets = frame_sets(size, per_clip, work / "synthetic_eval", data_root)
    calib = sets.pop("calibration")
    _log.info("quantize: %d calibration frames; evaluation %s", len(calib), {k: len(v) for k, v in sets.items()})
    refs = {g: {s: run_frames(session(fp32[g], threads), x) for s, x in sets.items()} for g in FRAME_GRAPHS}
    rows = [{"variant": "fp32", "method": "-", "graphs": {g: {} for g in FRAME_GRAPHS}}]
    files = {("fp32", "-", g): fp32[g] for g in FRAME_GRAPHS}
    for variant in variants:
        for method in methods:
            row: dict = {"variant": variant, "method": method, "graphs": {}}
            for g in FRAME_GRAPHS:
                dst = files[(variant, method, g)] = work / f"{g}.{variant}.{method}.onnx"
                t = time.perf_counter()
                kept = quantize_graph(fp32[g], dst, calib, method, VARIANTS[variant], dedicated=dedicated)
                sess = session(dst, threads)
                row["graphs"][g] = {"kept_fp32": len(kept), "quantize_s": round(time.perf_counter() - t, 1),
                                    "sets": {s: agreement(refs[g][s], run_frames(sess, x)) for s, x in sets.items()}}
            row["passes"] = passes(row)
            _log.info("quantize: %s / %s quantised (passes: %s)", variant, method, row["passes"])
            rows.append(row)
    _log.info("quantize: timing %d graphs (batch 16 and 1, in turns)", len(files))
    for batch in (16, 1):
        for (variant, method, g), ms in ms_per_frame(files, size, batch, threads).items():
            row = next(r for r in rows if r["variant"] == variant and r["method"] == method)
            row["graphs"][g][f"ms_b{batch}"] = ms
    return {"model": f"{bundle.name} {bundle.version}", "threads": threads, "per_clip": per_clip, "dedicated": dedicated,
            "calibration_frames": len(calib), "eval_frames": {k: len(v) for k, v in sets.items()},
            "load_before": load, "load_after": [round(x, 2) for x in os.getloadavg()], "rows": rows}


def _f(v, nd: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def markdown(result: dict) -> str:
    """The study as a table for the model card."""
    base = result["rows"][0]["graphs"]
    sets = list(result["eval_frames"])
    head = " / ".join("synth" if s == "synthetic" else "real dev" for s in sets)
    L = [f"{result['model']}, {result['threads']} threads, dedicated Q/DQ pairs: {result['dedicated']}, load "
         f"{result['load_before'][0]} -> {result['load_after'][0]}; calibration {result['calibration_frames']} frames, evaluation "
         + ", ".join(f"{k} {v}" for k, v in result["eval_frames"].items()) + " frames.", "",
         f"| variant (kept fp32) | calibration | argmax {head} | argmax non-background {head} "
         f"| features max drift | branch logits max / mean drift | full ms/frame b16 / b1 | encode ms/frame b16 / b1 "
         "| speed-up full / encode (b16) | bar |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        g = r["graphs"]
        full, enc = g["frames_full"], g["frames_encode"]
        times = (f"{_f(full['ms_b16'], 2)} / {_f(full['ms_b1'], 2)} | {_f(enc['ms_b16'], 2)} / {_f(enc['ms_b1'], 2)} | "
                 f"{_f(base['frames_full']['ms_b16'] / full['ms_b16'], 2)}x / "
                 f"{_f(base['frames_encode']['ms_b16'] / enc['ms_b16'], 2)}x")
        if "sets" not in full:
            L.append(f"| {r['variant']} | - | - | - | - | - | {times} | - |")
            continue
        fs, es = full["sets"], enc["sets"]
        kept = ", ".join(VARIANTS[r["variant"]]) or "none"
        L.append(f"| {r['variant']} ({kept}) | {r['method']} | " + " / ".join(_f(fs[s]["labels"] * 100, 2) for s in sets)
                 + " % | " + " / ".join(_f(fs[s]["labels_fg"] * 100, 1) for s in sets) + " % | "
                 + _f(max(x[s].get("features_max", 0.0) for x in (fs, es) for s in sets)) + " | "
                 + _f(max(x[s].get("branch_logits_max", 0.0) for x in (fs, es) for s in sets)) + " / "
                 + _f(max(x[s].get("branch_logits_mean", 0.0) for x in (fs, es) for s in sets), 4)
                 + f" | {times} | {'yes' if r['passes'] else 'no'} |")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------------------------- cli
def _names(text: str, known, what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise SystemExit(f"quantize: unknown {what} {', '.join(bad) or '(none given)'}; choose from {', '.join(known)}")
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_training quantize", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model bundle folder (default: the active model)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"of {', '.join(METHODS)}")
    ap.add_argument("--per-clip", type=int, default=6, help="frames taken per clip / image (default 6)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", help="data folder (default ../shared/data)")
    ap.add_argument("--out", help="folder for quantize.json / quantize.md")
    ap.add_argument("--json", action="store_true", help="print the JSON instead of the Markdown")
    ap.add_argument("--write-bundle", metavar="DIR", help="write a bundle copy with int8 frame graphs here")
    ap.add_argument("--variant", default="stem_pool", help="with --write-bundle (default stem_pool)")
    ap.add_argument("--method", default="minmax", help="with --write-bundle (default minmax)")
    ap.add_argument("--dedicated", action="store_true", help="one Q/DQ pair per quantised consumer")
    args = ap.parse_args(argv)
    from lusapp.model.registry import ModelRegistry

    model_dir = Path(args.model) if args.model else Path(ModelRegistry().active().path)
    with tempfile.TemporaryDirectory(prefix="lus-int8-") as tmp:
        work = Path(tmp)
        try:
            if args.write_bundle:
                return _write(model_dir, Path(args.write_bundle), args, work)
            result = study(model_dir, _names(args.variants, VARIANTS, "variant"), _names(args.methods, METHODS, "method"),
                           args.per_clip, args.threads, work, args.data, args.dedicated)
        except (ValueError, OSError, LusError) as e:
            print(f"quantize: {e}", file=sys.stderr)
            return 1
    text = markdown(result)
    print(json.dumps(result, indent=1) if args.json else text)
    if args.out:
        (out := Path(args.out)).mkdir(parents=True, exist_ok=True)
        (out / "quantize.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
        (out / "quantize.md").write_text(text, encoding="utf-8")
    return 0


def _write(model_dir: Path, dst: Path, args, work: Path) -> int:
    variant, method = _names(args.variant, VARIANTS, "variant")[0], _names(args.method, METHODS, "method")[0]
    note = write_bundle(model_dir, dst, variant, method, args.data, args.per_clip)
    print(f"quantize: wrote {dst}: int8 frame graphs " + (f"{variant} / {method}, {note['calibration']['count']} "
          "calibration frames" if note["included"] else note["reason"]))
    return 0 if note["included"] else 1
