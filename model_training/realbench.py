"""``python -m model_training realbench [--model BUNDLE] [--part test|dev|all] [--json] [--out DIR] [--frames 30]
[--bline-columns]``:
the real-data benchmark on the POCUS clips of ``../shared/data`` (evaluation only: nothing is copied or trained).

``--bline-columns`` adds the B-line column study (:mod:`model_training.bline_study`: the clip B-line count from
the network's masks vs after the refinement of :mod:`lusapp.model.bline_columns`, against the second reader's
grade, and the zone score composed with either); run it on ``--part dev``.

``--make-split`` writes the committed split file (``model_training/splits/real_split_v1.csv``, see
:mod:`model_training.realdata`) and stops; it is run once, the file is committed and never regenerated for a
model choice. The locked ``test`` part is for reporting only; choose thresholds and models on ``dev``.

Every item of the part goes through ``Engine.clip_report`` (as a zone of an assessment sees its clip):

* findings: with a findings head, ``report.probs`` (P(finding)) and ``report.findings.present`` (the app's
  operating point); without one, the share of the sampled frames whose masks show the finding, as
  :func:`model_training.pocus_check.clip_findings` computes it (B-lines, A-lines, consolidation only), with
  "present" = shown in >= half of the frames;
* per finding, ROC AUC with a grouped bootstrap 95 % interval (1000 resamples of the source groups of
  :mod:`model_training.realdata`, percentile interval) and sensitivity / specificity at the operating point,
  against (a) the shipped POCUS findings (sparse: a 0 often means "not mentioned"), (b) the blind second reading
  ``pocus_reader2.csv`` (B-lines = grade >= 1), (c) the items where both agree;
* zone score: the expected 0-4 zone score (``report.expected``) vs the Soldati 0-3 score of the manifest and
  vs the second reading's 0-3 score: Spearman rho with a grouped bootstrap interval, and the accuracy of
  {0, 1} vs {2, 3}, the predicted side being ``expected <= LOW_MAX_EXPECTED`` (1.5) -> {0, 1}; the
  majority-class accuracy is printed beside it;
* the distribution of predicted zone scores (``report.score``, count per 0-4) and the share of the most
  common one (a model that says 4 everywhere shows up at a glance); the share flagged unlike training and
  the share with any warning;
* the CVAT clip (``cvat_ablines``, task_195): pleural line and A-line column recall / precision
  (:func:`model_training.evaluate.evaluate_cvat`, :class:`model_training.metrics.SegAccumulator`).

Output: ``realbench.json`` (summary + one row per item) and ``realbench.md`` (tables for the model card) in
``--out``; ``--json`` prints the summary JSON instead of the Markdown.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from model_training.realdata import FINDINGS, SPLIT_FILE, default_root, load_items, make_split, write_split

_log = logging.getLogger(__name__)

FINDING_NAMES = {"b_lines": "B-lines", "a_lines": "A-lines", "consolidation": "consolidation",
                 "pleural_irregular": "irregular pleura", "effusion": "effusion"}
MASK_FINDINGS = ("b_lines", "a_lines", "consolidation")  # what the mask shares can show without a head
LOW_MAX_EXPECTED = 1.5  # expected 0-4 zone score <= this -> {0, 1} side
N_BOOT = 1000
BOOT_SEED = 0


# ---------------------------------------------------------------------------------------------- metrics
def midranks(x) -> np.ndarray:
    """1-based ranks, ties get the mean of their ranks (as scipy.stats.rankdata)."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x), float)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def auc(scores, labels) -> float | None:
    """ROC AUC (Mann-Whitney U with mid-ranks for ties); None when one class is absent (one implementation for
    training and benchmark: model_training.linear.roc_auc)."""
    from model_training.linear import roc_auc

    return roc_auc(scores, labels)


def spearman(x, y) -> float | None:
    """Spearman rho (Pearson correlation of mid-ranks); None with < 3 items or a constant side."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3:
        return None
    rx, ry = midranks(x), midranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / den) if den > 0 else None


def sens_spec(pred, labels) -> dict:
    p, y = np.asarray(pred, bool), np.asarray(labels, bool)
    pos, neg = int(y.sum()), int((~y).sum())
    return {"sensitivity": float((p & y).sum() / pos) if pos else None,
            "specificity": float((~p & ~y).sum() / neg) if neg else None}


def grouped_bootstrap(stat, groups, n_boot: int = N_BOOT, seed: int = BOOT_SEED, alpha: float = 0.05):
    """Percentile interval of ``stat(indices)`` over resamples of whole groups (with replacement).

    ``stat`` takes an index array into the items and returns a float or None (resamples giving None, e.g. one
    class only, are dropped). Returns ``(lo, hi, n_valid)``; ``(None, None, n_valid)`` with < 20 valid ones."""
    groups = np.asarray(groups)
    names, inv = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(len(names))]
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(names), len(names))
        v = stat(np.concatenate([members[g] for g in pick]))
        if v is not None and np.isfinite(v):
            vals.append(v)
    if len(vals) < 20:
        return None, None, len(vals)
    lo, hi = np.quantile(vals, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi), len(vals)


def finding_metrics(scores, present, labels, groups, n_boot: int = N_BOOT) -> dict:
    s, p, y, g = (np.asarray(scores, float), np.asarray(present, bool), np.asarray(labels, bool),
                  np.asarray(groups))
    out = {"n": int(len(y)), "positive": int(y.sum()), "auc": auc(s, y), **sens_spec(p, y)}
    if out["auc"] is not None and n_boot:
        lo, hi, _ = grouped_bootstrap(lambda i: auc(s[i], y[i]), g, n_boot)
        out["auc_ci"] = [lo, hi]
    else:
        out["auc_ci"] = [None, None]
    return out


def score_metrics(expected, target, groups, n_boot: int = N_BOOT) -> dict:
    """Expected 0-4 zone score vs a 0-3 score: Spearman (+ grouped interval), {0,1} vs {2,3} accuracy."""
    e, t, g = np.asarray(expected, float), np.asarray(target, float), np.asarray(groups)
    out: dict = {"n": int(len(t)), "spearman": spearman(e, t), "spearman_ci": [None, None]}
    if out["spearman"] is not None and n_boot:
        lo, hi, _ = grouped_bootstrap(lambda i: spearman(e[i], t[i]), g, n_boot)
        out["spearman_ci"] = [lo, hi]
    if len(t):
        high_true, high_pred = t >= 2, e > LOW_MAX_EXPECTED
        out["accuracy_01_vs_23"] = float((high_true == high_pred).mean())
        out["majority_accuracy"] = float(max(high_true.mean(), 1 - high_true.mean()))
        out["high_share_true"] = float(high_true.mean())
        out["high_share_pred"] = float(high_pred.mean())
    return out


# ---------------------------------------------------------------------------------------------- items
def item_row(engine, item, n_frames: int, bline_columns: bool = False) -> dict:
    """One item through ``clip_report`` (+ mask shares when the model has no findings head; + the B-line
    column study of :mod:`model_training.bline_study` when asked)."""
    report = engine.clip_report(item.path, n_frames)
    study = None
    if bline_columns:
        from model_training.bline_study import clip_counts

        study = clip_counts(engine, item.path, report, n_frames)
    probs = {k: float(v) for k, v in report.probs.items()}
    found = report.findings
    row = {"file": item.file, "group": item.group, "part": item.part, "label": item.label, "probe": item.probe,
           "kind": item.kind, "licence": item.licence, "frames": int(report.frames),
           "expected": float(report.expected), "score": int(report.score), "rule_score": int(report.rule_score),
           "warnings": list(report.warnings)}
    if probs:
        row["source"] = "findings head"
        row["probs"] = {k: probs.get(k) for k in FINDINGS}
        row["present"] = {k: (bool(found.present[k]) if k in found.present else None) for k in FINDINGS}
        row["unlike_training"] = bool(found.unlike_training)
        row["ood"] = float(found.ood)
    else:
        from model_training.pocus_check import clip_findings

        shares = clip_findings(engine, item.path, n_frames)
        row["source"] = "mask shares"
        row["probs"] = {k: (shares[k] if k in MASK_FINDINGS else None) for k in FINDINGS}
        row["present"] = {k: (shares[k] >= 0.5 if k in MASK_FINDINGS else None) for k in FINDINGS}
        row["unlike_training"] = None
        row["ood"] = None
    row["shipped"] = dict(item.shipped)
    row["reader2"] = dict(item.reader2)
    row["soldati"] = item.soldati
    if study is not None:
        row["bline_columns"] = study
    return row


def summarize(rows: list[dict], n_boot: int = N_BOOT) -> dict:
    ok = [r for r in rows if "error" not in r]
    out: dict = {"items": len(rows), "failed": len(rows) - len(ok), "n_boot": n_boot,
                 "low_max_expected": LOW_MAX_EXPECTED, "findings": {}}
    for k in FINDINGS:
        have = [r for r in ok if r["probs"].get(k) is not None]
        per: dict = {}
        refs = {"shipped": lambda r: r["shipped"].get(k),
                "reader2": lambda r: r["reader2"].get(k),
                "both_agree": lambda r: (r["shipped"].get(k) if r["shipped"].get(k) is not None
                                         and r["shipped"].get(k) == r["reader2"].get(k) else None)}
        for ref, get in refs.items():
            sel = [r for r in have if get(r) in (0, 1)]
            per[ref] = finding_metrics([r["probs"][k] for r in sel], [bool(r["present"][k]) for r in sel],
                                       [get(r) == 1 for r in sel], [r["group"] for r in sel], n_boot)
        per["predicted_present_share"] = (float(np.mean([bool(r["present"][k]) for r in have])) if have else None)
        out["findings"][k] = per
    zs: dict = {}
    for ref, get in (("soldati", lambda r: r["soldati"]), ("reader2", lambda r: r["reader2"].get("lus_score"))):
        sel = [r for r in ok if get(r) is not None]
        zs[ref] = score_metrics([r["expected"] for r in sel], [get(r) for r in sel], [r["group"] for r in sel],
                                n_boot)
    out["zone_score"] = zs
    counts = [sum(r["score"] == s for r in ok) for s in range(5)]
    out["score_distribution"] = {"counts": counts,
                                 "most_common": int(np.argmax(counts)) if ok else None,
                                 "most_common_share": float(max(counts) / len(ok)) if ok else None,
                                 "expected_mean": float(np.mean([r["expected"] for r in ok])) if ok else None}
    flagged = [r["unlike_training"] for r in ok if r["unlike_training"] is not None]
    out["unlike_training_share"] = float(np.mean(flagged)) if flagged else None
    out["warning_share"] = float(np.mean([bool(r["warnings"]) for r in ok])) if ok else None
    out["source"] = sorted({r["source"] for r in ok})
    return out


def cvat_metrics(bundle) -> dict | None:
    """Pleural line / A-line (/ B-line) column recall and precision on the CVAT clip(s) present."""
    from model_training.evaluate import evaluate_cvat

    res = evaluate_cvat(bundle.seg, bundle.input_size[0])
    if res is None:
        return None
    keep = ("line_recall", "line_precision", "dice", "recall", "precision", "frames_with_prediction")
    return {"tasks": res.get("tasks"), "frames": res["frames"],
            "per_class": {name: {k: v[k] for k in keep if k in v} for name, v in res["per_class"].items()}}


# ---------------------------------------------------------------------------------------------- report
def _f(v, nd: int = 2) -> str:
    if v is None:
        return "n/a"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _ci(v: dict, key: str) -> str:
    lo, hi = v.get(f"{key}_ci", [None, None])
    return f"{_f(v[key])} [{_f(lo)}, {_f(hi)}]" if lo is not None else _f(v[key])


def markdown(summary: dict, title: str) -> str:
    L = [f"### {title}", "",
         f"{summary['items'] - summary['failed']} of {summary['items']} items read; findings from "
         f"{', '.join(summary['source'])}; 95 % intervals: grouped bootstrap ({summary['n_boot']} resamples of the "
         "source groups).", "",
         "| finding | reference | n | positive | ROC AUC [95 % CI] | sensitivity | specificity |",
         "|---|---|---|---|---|---|---|"]
    for k in FINDINGS:
        for ref in ("shipped", "reader2", "both_agree"):
            v = summary["findings"][k][ref]
            if not v["n"]:
                continue
            L.append(f"| {FINDING_NAMES[k]} | {ref.replace('_', ' ')} | {v['n']} | {v['positive']} | {_ci(v, 'auc')} "
                     f"| {_f(v['sensitivity'])} | {_f(v['specificity'])} |")
    missing = [FINDING_NAMES[k] for k in FINDINGS if summary["findings"][k]["predicted_present_share"] is None]
    if missing:
        L += ["", f"Not given by this model: {', '.join(missing)}."]
    L += ["", "| zone score (expected, 0-4) vs | n | Spearman [95 % CI] | {0,1} vs {2,3} accuracy | majority class "
          "| true {2,3} share | predicted {2,3} share |", "|---|---|---|---|---|---|---|"]
    for ref, name in (("soldati", "Soldati score (manifest)"), ("reader2", "second reading 0-3")):
        v = summary["zone_score"][ref]
        if v["n"]:
            L.append(f"| {name} | {v['n']} | {_ci(v, 'spearman')} | {_f(v.get('accuracy_01_vs_23'))} | "
                     f"{_f(v.get('majority_accuracy'))} | {_f(v.get('high_share_true'))} | {_f(v.get('high_share_pred'))} |")
    d = summary["score_distribution"]
    L += ["", f"Predicted side: expected zone score <= {summary['low_max_expected']} -> {{0,1}}.", "",
          "| predicted zone score | 0 | 1 | 2 | 3 | 4 | most common (share) |", "|---|---|---|---|---|---|---|",
          "| clips | " + " | ".join(str(c) for c in d["counts"]) + f" | {d['most_common']} ({_f(d['most_common_share'])}) |",
          "", f"Flagged unlike training: {_f(summary['unlike_training_share'])}; any warning: "
          f"{_f(summary['warning_share'])}."]
    cv = summary.get("cvat")
    if cv:
        L += ["", f"CVAT clip ({', '.join(cv['tasks'] or [])}, {cv['frames']} annotated frames, original resolution):", "",
              "| class | column recall | column precision | Dice |", "|---|---|---|---|"]
        for name, v in cv["per_class"].items():
            L.append(f"| {name} | {_f(v.get('line_recall'))} | {_f(v.get('line_precision'))} | {_f(v.get('dice'))} |")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------------------------- cli
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_training realbench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model bundle folder (default: the active model)")
    ap.add_argument("--part", choices=("test", "dev", "all"), default="test")
    ap.add_argument("--data", help="data folder (default ../shared/data)")
    ap.add_argument("--json", action="store_true", help="print the summary JSON instead of the Markdown")
    ap.add_argument("--out", help="folder for realbench.json / realbench.md")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--boot", type=int, default=N_BOOT, help="bootstrap resamples (0: no intervals)")
    ap.add_argument("--limit", type=int, help="only the first N items of the part (smoke tests)")
    ap.add_argument("--no-cvat", action="store_true", help="skip the CVAT clip")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bline-columns", action="store_true",
                    help="add the B-line column study (model_training.bline_study; choose on --part dev)")
    ap.add_argument("--make-split", action="store_true", help=f"write {SPLIT_FILE.name} from the data and stop")
    args = ap.parse_args(argv)
    from lusapp.logs import log_to_console

    log_to_console()

    root = Path(args.data) if args.data else default_root()
    items = load_items(root)
    if not items:
        print(f"realbench: no real data at {root}; nothing to do", file=sys.stderr)
        return 0
    if args.make_split:
        split = make_split(items)
        path = write_split(items, split)
        n_test = sum(v == "test" for v in split.values())
        print(f"realbench: wrote {path} ({n_test} test / {len(split) - n_test} dev files, "
              f"{len({i.group for i in items})} groups)")
        return 0
    chosen = [i for i in items if args.part == "all" or i.part == args.part]
    if not chosen:
        print(f"realbench: no item in part {args.part!r} (split file {SPLIT_FILE} missing or stale?)", file=sys.stderr)
        return 1
    chosen.sort(key=lambda i: i.file)
    if args.limit:
        chosen = chosen[:args.limit]

    from lusapp.model.bundle import load_bundle
    from lusapp.model.engine import Engine
    from lusapp.model.registry import ModelRegistry

    bundle = load_bundle(args.model) if args.model else ModelRegistry().load_active()
    engine = Engine(bundle, threads=args.threads)
    rows, t0 = [], time.perf_counter()
    for n, item in enumerate(chosen, 1):
        try:
            rows.append(item_row(engine, item, args.frames, args.bline_columns))
        except Exception as exc:  # noqa: BLE001 - one unreadable file must not end the benchmark
            _log.warning("realbench: %s: %s: %s", item.file, type(exc).__name__, exc)
            rows.append({"file": item.file, "group": item.group, "part": item.part, "error": f"{type(exc).__name__}: {exc}"})
        engine.clear_cache()
        if n % 10 == 0:
            _log.info("realbench: %d/%d items (%.0f s)", n, len(chosen), time.perf_counter() - t0)
    summary = summarize(rows, args.boot)
    summary.update(model=f"{bundle.name} {bundle.version}", part=args.part, frames=args.frames,
                   split_file=SPLIT_FILE.name, seconds=round(time.perf_counter() - t0, 1))
    summary["cvat"] = None if args.no_cvat else cvat_metrics(bundle)
    title = f"{bundle.name} {bundle.version} on the real POCUS clips, {args.part} part"
    text = markdown(summary, title)
    if args.bline_columns:
        from model_training import bline_study

        summary["bline_columns"] = bline_study.summarize(rows, auc, spearman)
        text += bline_study.markdown(summary["bline_columns"])
    print(json.dumps(summary, indent=1) if args.json else text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "realbench.json").write_text(json.dumps({"summary": summary, "items": rows}, indent=1))
        (out / "realbench.md").write_text(text)
    return 0
