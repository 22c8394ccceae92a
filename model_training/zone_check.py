"""``python -m model_training zonecheck --store SYNTH_STORE --model A [--model B ...] [--json]``

The zone score as the app computes it (``Engine.clip_report``: the findings-composed score for a model with a
findings head, the stage-2 head otherwise) against the generator's true zone score, for every synthetic zone
clip of a store: 5-way accuracy, accuracy within one point, {0,1} vs {2,3,4} accuracy, Spearman, and the
findings' AUC against the generator's record where the model has findings. Several models in one run, on the
same clips, so that a new model can be held against the one it replaces.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from lusapp.core.scales import is_severe


def severity_check(engine, store, frames: int = 30) -> dict:
    """Patient severity (1-4) of every synthetic patient of ``store`` against the generator's severity."""
    from pathlib import Path

    from lusapp.model.assess_cli import load_patient_any

    truth, pred = [], []
    for pdir in sorted((Path(store) / "patients").glob("*")):
        rec = pdir / "synth.json"
        if not rec.is_file():
            continue
        patient, media = load_patient_any(pdir)
        a = engine.assess(patient, media, n_frames=frames)
        truth.append(int(json.loads(rec.read_text(encoding="utf-8"))["severity"]))
        pred.append(a.severity)
    t, p = np.array(truth), np.array(pred)
    return {"patients": len(t), "accuracy": float((t == p).mean()) if len(t) else None,
            "severe_accuracy": float(np.mean([is_severe(a) == is_severe(b) for a, b in zip(t, p)])) if len(t) else None,
            "predicted_counts": np.bincount(p - 1, minlength=4).tolist() if len(t) else []}


def check(model_dir: str, clips, frames: int = 30, store=None) -> dict:
    from scipy.stats import spearmanr

    from lusapp.model.bundle import load_bundle
    from lusapp.model.engine import Engine
    from model_training.linear import roc_auc

    engine = Engine(load_bundle(model_dir), threads=2)
    truth, pred, expected, probs, labels = [], [], [], [], []
    for path, _, lab, score in clips:
        rep = engine.clip_report(path, frames)
        engine.clear_cache()
        truth.append(score)
        pred.append(rep.score)
        expected.append(rep.expected)
        probs.append(rep.probs)
        labels.append(lab)
    t, p = np.array(truth), np.array(pred)
    out = {"model": engine.model_id, "clips": len(t),
           "accuracy": float((t == p).mean()), "within_one": float((np.abs(t - p) <= 1).mean()),
           "binary_accuracy": float(((t >= 2) == (p >= 2)).mean()),
           "spearman": float(spearmanr(t, expected).statistic) if len(t) > 2 else None,
           "predicted_counts": np.bincount(p, minlength=5).tolist(), "true_counts": np.bincount(t, minlength=5).tolist()}
    if store is not None:
        engine.clear_cache()
        out["severity"] = severity_check(engine, store, frames)
    if probs and probs[0]:
        out["findings_auc"] = {k: roc_auc([q[k] for q in probs], [lab[k] for lab in labels])
                               for k in ("b_lines", "a_lines", "consolidation", "pleural_irregular")}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_training zonecheck", description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, help="a synthetic store (python -m model_training synth)")
    ap.add_argument("--model", action="append", required=True, help="bundle folder (repeat to compare)")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from model_training.findings_train import synthetic_clips

    clips = synthetic_clips([args.store])
    if not clips:
        print(f"zonecheck: no synthetic clips in {args.store}", file=sys.stderr)
        return 2
    results = [check(m, clips, args.frames, args.store) for m in args.model]
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print("| model | clips | 5-way acc | within 1 | {0,1} vs {2-4} | Spearman | predicted 0-4 |")
        print("|---|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['model']} | {r['clips']} | {r['accuracy']:.3f} | {r['within_one']:.3f} | "
                  f"{r['binary_accuracy']:.3f} | {r['spearman']:.3f} | {r['predicted_counts']} |")
        for r in results:
            sv = r["severity"]
            print(f"{r['model']} patient severity: {sv['patients']} patients, 4-way accuracy {sv['accuracy']:.3f}, "
                  f"severe vs not {sv['severe_accuracy']:.3f}, predicted mild..critical {sv['predicted_counts']}")
        for r in results:
            if "findings_auc" in r:
                print(f"{r['model']} findings AUC vs the generator: " + ", ".join(
                    f"{k} {v:.3f}" for k, v in r["findings_auc"].items() if v is not None))
    return 0
