"""``python -m model_training severity --model BUNDLE --store SYNTH_STORE [--test-store STORE] [--epochs 60]``

Stage 3 on a representation that transfers: the severity network (gated attention MIL + clinical MLP with dual
supervision and modality-alignment contrastive learning, lusapp.model.networks.SeverityNet, recipe v1's
settings) takes per zone the zone-score distribution that the bundle's findings head composes (5 numbers),
not the 256-dimensional encoder features. The encoder's features of real clips lie far from the synthetic ones
the feature-based network was trained on (it called every real patient critical); the findings were trained on
real clips and the composed score follows them, so the severity network sees real and synthetic zones alike.

Training data: the synthetic patients of ``--store`` (their zones run through the bundle exactly as the app
runs them: ``Engine.clip_report``), severity labels and clinical information from the store. The bundle is
rewritten in place (atomic) with the new severity network and ``manifest["severity_input"] =
"zone_score_probs"``; ``--test-store`` reports patient accuracy before and after on held-out synthetic patients.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from lusapp.core.scales import is_severe
from lusapp.logs import log_to_console

_progress = logging.getLogger(__name__).info
SEVERITY_INPUT = "zone_score_probs"


def zone_bank(engine, store: str, frames: int = 30, log=_progress):
    """FeatureBank whose zone 'features' are (1, 5) composed zone-score distributions."""
    from model_training.data import build_index
    from model_training.features import FeatureBank

    index = build_index(store)
    zone_ids = index.patients[0].zone_ids
    feats, scores, sev, clin = [], [], [], []
    for k, p in enumerate(index.patients):
        row, srow = [], []
        for zid in zone_ids:
            z = p.zones.get(zid)
            if z is None:
                row.append(None)
                srow.append(-1)
                continue
            rep = engine.clip_report(z.media, frames)
            engine.clear_cache()
            row.append(np.asarray(rep.score_probs, np.float32).reshape(1, -1))
            srow.append(-1 if z.score is None else int(z.score))
        feats.append(row)
        scores.append(srow)
        sev.append(0 if p.severity is None else int(p.severity))
        clin.append(p.clinical)
        if (k + 1) % 20 == 0:
            log(f"severity: zones of {k + 1}/{len(index.patients)} patients")
    return FeatureBank([p.pid for p in index.patients], tuple(zone_ids), feats,
                       np.array(scores, np.int64).reshape(len(feats), len(zone_ids)), np.array(sev, np.int64),
                       np.array(clin, np.float32).reshape(len(feats), -1))


def accuracy(net, bank) -> dict:
    from model_training.stages import severity_predict

    idx = bank.labelled_patients()
    y, pred, _ = severity_predict(net, bank, idx)
    return {"patients": int(len(idx)), "accuracy": float((pred == y).mean()),
            "severe_accuracy": float(np.mean([is_severe(a) == is_severe(b) for a, b in zip(y, pred)])),
            "predicted_counts": np.bincount(pred - 1, minlength=4).tolist()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_training severity", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="bundle with a findings head (rewritten in place)")
    ap.add_argument("--store", required=True, help="synthetic training store")
    ap.add_argument("--test-store", help="held-out synthetic store for the report")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report", help="write the report (JSON) here")
    args = ap.parse_args(argv)
    from lusapp.model.bundle import load_bundle, save_bundle
    from lusapp.model.engine import Engine
    from model_training.stages import train_severity

    log_to_console()
    log = _progress
    bundle = load_bundle(args.model)
    engine = Engine(bundle, threads=2)
    if engine.findings is None:
        print(f"severity: {args.model} has no findings head", file=sys.stderr)
        return 2
    bank = zone_bank(engine, args.store, log=log)
    arch = {k: v for k, v in bundle.severity.config().items()
            if k not in ("feat_dim", "clin_dim", "variant", "n_classes", "n_scores")}
    net = train_severity(bank, "maclr", True, True, None, args.epochs, seed=args.seed, log=log, net_kwargs=arch)
    report = {"train": accuracy(net, bank), "epochs": args.epochs, "train_patients": int(len(bank))}
    if args.test_store:
        report["test"] = accuracy(net, zone_bank(engine, args.test_store, log=log))
    m = {k: v for k, v in bundle.manifest.items()
         if k not in ("architecture", "weights_file", "weights_sha256", "format", "format_version", "created")}
    m["severity_input"] = SEVERITY_INPUT
    m.setdefault("metrics", {})["severity_on_findings"] = report
    findings_file = bundle.path / m["findings"]["file"]
    target = Path(args.model)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.sev-", dir=target.parent))
    try:
        staged = save_bundle(tmp / target.name, bundle.seg, bundle.zone, net, m)
        shutil.copy2(findings_file, staged / findings_file.name)
        from model_training.export_onnx import export_graphs

        export_graphs(staged)
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
        os.replace(staged, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report))
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1))
    return 0
