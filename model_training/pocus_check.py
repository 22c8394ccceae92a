"""``python -m model_training pocus --model BUNDLE [--data ../shared/data] [--out DIR]``: check a model on the
real POCUS clips (evaluation only: nothing is trained on them, nothing is copied).

The POCUS clips carry no masks and no 0-4 zone scores, but per clip findings (B-lines, A-lines,
consolidation: 0/1), a diagnosis label (regular = healthy lung, COVID-19, pneumonia) and for 72 of them a
Soldati 0-3 lung severity score. For every clip and still of ``manifest.csv`` (dataset pocus) the model
segments up to 30 evenly spaced frames on the app's crop, as the app does, and gives:

* per finding, the share of frames in which the masks show it (B-line: ``frame_measures`` counts >= 1 B-line;
  A-line: A-line present; consolidation: >= ``CONSOLIDATION_MIN_CM2``-sized region at the default depth);
  its ROC AUC against the finding, and sensitivity / specificity with "shown in >= half of the frames";
* the zone score (expected value of the zone-score head) against the Soldati score (Spearman rho; the scales
  differ, a monotone relation is what can be asked) and its AUC for "not healthy" (label != regular).

Findings marked 0 may mean "not mentioned" rather than "absent" in this dataset: the numbers are a sanity
check of the synthetic-to-real transfer, not a validation.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

_log = logging.getLogger(__name__)

FINDINGS = {"b_lines": "B-lines", "a_lines": "A-lines", "consolidation": "consolidation"}


def auc(scores, labels) -> float | None:
    """ROC AUC (Mann-Whitney U with mid-ranks for ties); None when one class is absent (the metric realbench and
    the findings training use: model_training.linear.roc_auc)."""
    from model_training.linear import roc_auc

    return roc_auc(scores, labels)


def clip_findings(engine, path: Path, n_frames: int = 30) -> dict:
    """Per-finding share of frames, zone-score expectation and frames used, for one media file."""
    from lusapp.io import open_media
    from lusapp.model.cache import sample_indices
    from lusapp.model.measures import CONSOLIDATION_MIN_CM2, DEFAULT_DEPTH_MM, frame_measures

    with open_media(path) as clip:
        idx = sample_indices(clip.n_frames, n_frames)
        seg = engine.segment(clip, idx)
    zone = engine.score_zone(seg.features)
    ms = [frame_measures(m) for m in seg.masks]
    px_mm = DEFAULT_DEPTH_MM / seg.masks[0].shape[0]  # no spacing in these files: the default depth
    return {"frames": len(idx), "expected_score": float(zone.expected), "score": int(zone.score),
            "b_lines": float(np.mean([m.b_lines >= 1 for m in ms])),
            "a_lines": float(np.mean([m.a_line_present for m in ms])),
            "consolidation": float(np.mean([m.consolidation_px * px_mm ** 2 / 100.0 >= CONSOLIDATION_MIN_CM2
                                            for m in ms]))}


def summarize(rows: list[dict]) -> dict:
    from scipy.stats import spearmanr

    out: dict = {"clips": len(rows)}
    for key, name in FINDINGS.items():
        have = [r for r in rows if r.get(f"label_{key}") in (0, 1)]
        y = [r[f"label_{key}"] == 1 for r in have]
        s = [r[key] for r in have]
        pred = [v >= 0.5 for v in s]
        pos, neg = sum(y), len(y) - sum(y)
        out[name] = {"n": len(have), "positive": pos, "auc": auc(s, y),
                     "sensitivity": (sum(p and t for p, t in zip(pred, y)) / pos) if pos else None,
                     "specificity": (sum((not p) and (not t) for p, t in zip(pred, y)) / neg) if neg else None}
    scored = [r for r in rows if r.get("lus_score") is not None]
    rho = spearmanr([r["lus_score"] for r in scored], [r["expected_score"] for r in scored]) if len(scored) > 2 else None
    out["zone score vs Soldati score"] = {"n": len(scored), "spearman_rho": float(rho.statistic) if rho else None,
                                          "p": float(rho.pvalue) if rho else None}
    out["zone score: not healthy"] = {"n": len(rows), "positive": sum(r["label"] != "regular" for r in rows),
                                      "auc": auc([r["expected_score"] for r in rows],
                                                 [r["label"] != "regular" for r in rows])}
    return out


def markdown(summary: dict, model: str) -> str:
    f = lambda v: "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = [f"# {model} on the real POCUS clips ({summary['clips']} files, evaluation only)", "",
             "| finding (from the masks) | n | positive | ROC AUC | sensitivity | specificity |", "|---|---|---|---|---|---|"]
    for name in FINDINGS.values():
        v = summary[name]
        lines.append(f"| {name} | {v['n']} | {v['positive']} | {f(v['auc'])} | {f(v['sensitivity'])} | {f(v['specificity'])} |")
    z, h = summary["zone score vs Soldati score"], summary["zone score: not healthy"]
    lines += ["", f"Zone score (expected, 0-4) vs the clip's Soldati score (0-3): Spearman rho {f(z['spearman_rho'])} "
              f"(p {f(z['p'])}, n {z['n']}).", f"Zone score as a 'not healthy' detector: ROC AUC {f(h['auc'])} "
              f"({h['positive']} of {h['n']} files not labelled regular).", ""]
    return "\n".join(lines)


def _int(v: str) -> int | None:
    return int(v) if v.strip().isdigit() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_training pocus", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model bundle folder (default: the active model)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--out", help="folder for pocus_check.json / .md")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    from lusapp.logs import log_to_console

    log_to_console()
    manifest = Path(args.data) / "manifest.csv"
    if not manifest.is_file():
        print(f"pocus: {manifest} not found; nothing to check", file=sys.stderr)
        return 0
    from lusapp.model.bundle import load_bundle
    from lusapp.model.engine import Engine
    from lusapp.model.registry import ModelRegistry

    bundle = load_bundle(args.model) if args.model else ModelRegistry().load_active()
    engine = Engine(bundle, threads=args.threads)
    rows, t0 = [], time.perf_counter()
    with open(manifest, newline="", encoding="utf-8") as fh:
        entries = [e for e in csv.DictReader(fh) if e["dataset"] == "pocus"]
    for i, e in enumerate(entries):
        try:
            r = clip_findings(engine, Path(args.data) / e["file"], args.frames)
        except Exception as exc:  # noqa: BLE001 - one unreadable file must not end the check
            _log.warning("pocus: %s: %s", e["file"], exc)
            continue
        engine.clear_cache()
        r.update(file=e["file"], label=e["label"], lus_score=_int(e["lus_score"]),
                 **{f"label_{k}": _int(e[k]) for k in FINDINGS})
        rows.append(r)
        if (i + 1) % 25 == 0:
            _log.info("pocus: %d/%d files (%.0f s)", i + 1, len(entries), time.perf_counter() - t0)
    summary = summarize(rows)
    text = markdown(summary, f"{bundle.name} {bundle.version}")
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "pocus_check.json").write_text(json.dumps({"summary": summary, "clips": rows}, indent=1))
        (out / "pocus_check.md").write_text(text)
    return 0
