"""``python -m model_training evaluate --store STORE --model MODEL_DIR [--out DIR] [--cvat]``.

Prints and writes ``evaluation.json`` + ``evaluation.md`` (+ confusion-matrix PNGs) with
* patient severity: 4-way accuracy, macro F1, severe (3, 4) vs non-severe (1, 2) accuracy/precision/recall/F1,
  both with all frames averaged per zone and with the 5-sample max-vote (five random 30-frame draws per zone);
* zone score: 5-way accuracy, macro F1, binary {0, 1} vs {2, 3, 4} accuracy/F1 (clinician-scored zones);
* segmentation on every FINAL-mask frame, at network resolution (the FINAL mask mapped to the input grid with
  ``preprocess.mask_to_input``): per pattern Dice, IoU, precision, recall, Hit Ratio @ IoU 0.5 (definitions in
  :mod:`model_training.metrics`), mIoU;
* ``--cvat``: the real CVAT-annotated clip(s) (pleural line, A-line, B-line), at original resolution: the
  prediction is projected back into the frame (``preprocess.project_mask``) and compared with the rasterised
  polygons of the fully annotated frames.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from model_training import metrics, stages
from model_training.data import FrameCache, SegDataset, build_index
from model_training.device import pick_device
from model_training.features import FeatureBank, compute_bank

SEV_NAMES = ["mild", "moderate", "severe", "critical"]


def _short(r: dict | None, keys=("accuracy", "macro_f1")) -> dict:
    return {k: r.get(k) for k in keys} if r else {}


def evaluate_modules(seg, zone, sev, store, cache: FrameCache, device: str = "cpu", n_votes: int = 5,
                     index=None, bank: FeatureBank | None = None, seg_eval: bool = True) -> dict:
    """Evaluate the three modules on a store; returns {"summary", "full", "bank"}."""
    index = index if index is not None else build_index(store)
    full: dict = {"data": index.describe()}
    if seg_eval:
        ds = SegDataset(index, cache, augment=None)
        if len(ds):
            x = torch.from_numpy(ds.x).float().unsqueeze(1) / 255.0
            pred = stages.seg_predict(seg, x, device)
            full["segmentation"] = metrics.seg_metrics(ds.y, pred)
    if bank is None:
        bank = compute_bank(seg, index, cache, device)
    if zone is not None:
        y, p, _ = stages.zone_predict(zone, bank)
        if len(y):
            full["zone"] = metrics.zone_metrics(y.tolist(), p.tolist())
    if sev is not None and len(bank.labelled_patients()):
        y, p, _ = stages.severity_predict(sev, bank)
        full["patient"] = metrics.severity_metrics(y.tolist(), p.tolist())
        if n_votes > 0:
            y5, p5, _ = stages.severity_predict(sev, bank, n_votes=n_votes)
            full["patient_vote5"] = metrics.severity_metrics(y5.tolist(), p5.tolist())
    return {"summary": summarise(full), "full": full, "bank": bank}


def summarise(full: dict) -> dict:
    s: dict = {}
    if "patient" in full:
        pt = full["patient"]
        s["patient"] = {**_short(pt), "severe": _short(pt["severe"], ("accuracy", "precision", "recall", "f1")),
                        "n": pt["n"]}
    if "patient_vote5" in full:
        pv = full["patient_vote5"]
        s["patient_vote5"] = {**_short(pv), "severe_accuracy": pv["severe"]["accuracy"]}
    if "zone" in full:
        z = full["zone"]
        s["zone"] = {**_short(z), "binary_accuracy": z["binary"]["accuracy"], "binary_f1": z["binary"]["f1"],
                     "n": z["n"]}
    if "segmentation" in full:
        sg = full["segmentation"]
        s["segmentation"] = {"frames": sg["frames"], "miou": sg["miou"], "mean_dice": sg["mean_dice"],
                             "dice": {k: v["dice"] for k, v in sg["per_class"].items()},
                             "hit_ratio_50": {k: v["hit_ratio_50"] for k, v in sg["per_class"].items()}}
    if "cvat" in full:
        s["cvat"] = {"frames": full["cvat"]["frames"],
                     "dice": {k: v["dice"] for k, v in full["cvat"]["per_class"].items()}}
    return s


def selection_score(summary: dict) -> float:
    """Finetune criterion: mean of patient 4-way accuracy, zone accuracy and seg mean Dice (those present)."""
    vals = [summary.get("patient", {}).get("accuracy"), summary.get("zone", {}).get("accuracy"),
            summary.get("segmentation", {}).get("mean_dice")]
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else 0.0


@torch.no_grad()
def evaluate_cvat(seg, input_size: int, root=None, device: str = "cpu", save_overlay: Path | None = None) -> dict | None:
    """Dice etc. of pleural line, A-line, B-line on the fully annotated frames of the CVAT clips present."""
    from lusapp.model import preprocess
    from lusapp.model.engine import detect_crop
    from model_training import cvat

    tasks = cvat.find_tasks(root)
    if not tasks:
        return None
    acc = metrics.SegAccumulator((1, 2, 3))
    names = []
    seg = seg.to(device).eval()
    for td in tasks:
        task = cvat.load_task(td)
        if not task.masks or task.media is None:
            continue
        from lusapp.io import open_media

        clip = open_media(task.media)
        try:
            box = detect_crop(clip)
            frames = {f: clip.read_gray(f) for f in sorted(task.masks) if f < clip.n_frames}
        finally:
            clip.close()
        names.append(task.name)
        for f, gray in frames.items():
            x = preprocess.prepare_batch([gray], box, input_size).to(device)
            lab = preprocess.logits_to_labels(seg(x))[0]
            lab[lab == 4] = 0  # consolidation is not annotated in these tasks
            pred = preprocess.project_mask(lab, box, gray.shape)
            acc.add(task.masks[f], pred)
            if save_overlay is not None and f == sorted(frames)[len(frames) // 2]:
                _overlay(gray, task.masks[f], pred, box, save_overlay)
    if not names:
        return None
    res = acc.result()
    res["tasks"] = names
    return res


def _overlay(gray, gt, pred, box, path: Path) -> None:
    import cv2

    from lusapp.core.labels import CLASS_COLORS

    x0, y0, x1, y1 = box
    panels = []
    for m in (gt, pred):
        rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
        for c, col in CLASS_COLORS.items():
            rgb[m == c] = (0.5 * rgb[m == c] + 0.5 * np.array(col)).astype(np.uint8)
        panels.append(rgb[y0:y1, x0:x1])
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(panels, axis=1), cv2.COLOR_RGB2BGR))


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def markdown(full: dict, title: str) -> str:
    lines = [f"# {title}", ""]
    d = full.get("data", {})
    lines.append(f"Data: {d.get('patients')} patients, {d.get('zones_scored')} scored zones, "
                 f"{d.get('final_mask_frames')} FINAL-mask frames.")
    lines.append("")
    for key, label in (("patient", "Patient severity (all frames)"), ("patient_vote5", "Patient severity (5-sample max-vote)")):
        if key in full:
            p = full[key]
            s = p["severe"]
            lines += [f"## {label}", "", "| n | 4-way acc | macro F1 | severe acc | severe precision | severe recall | severe F1 |",
                      "|---|---|---|---|---|---|---|",
                      f"| {p['n']} | {_fmt(p['accuracy'])} | {_fmt(p['macro_f1'])} | {_fmt(s['accuracy'])} | "
                      f"{_fmt(s['precision'])} | {_fmt(s['recall'])} | {_fmt(s['f1'])} |", ""]
    if "zone" in full:
        z = full["zone"]
        b = z["binary"]
        lines += ["## Zone score", "", "| n | 5-way acc | macro F1 | {0,1} vs {2,3,4} acc | binary F1 |", "|---|---|---|---|---|",
                  f"| {z['n']} | {_fmt(z['accuracy'])} | {_fmt(z['macro_f1'])} | {_fmt(b['accuracy'])} | {_fmt(b['f1'])} |", ""]
    for key, label in (("segmentation", "Segmentation (FINAL-mask frames, network resolution)"),
                       ("cvat", "Segmentation on real CVAT frames (original resolution)")):
        if key in full:
            sg = full[key]
            lines += [f"## {label}", "", f"{sg['frames']} frames; mIoU {_fmt(sg['miou'])}", "",
                      "| pattern | Dice | IoU | precision | recall | HR@50 | GT instances |", "|---|---|---|---|---|---|---|"]
            for name, v in sg["per_class"].items():
                lines.append(f"| {name} | {_fmt(v['dice'])} | {_fmt(v['iou'])} | {_fmt(v['precision'])} | "
                             f"{_fmt(v['recall'])} | {_fmt(v['hit_ratio_50'])} | {v['gt_instances']} |")
            lines.append("")
            rows = [(n, v) for n, v in sg["per_class"].items() if "line_recall" in v]
            if rows:
                lines += ["Lines found at the annotated depth, column by column (independent of the band's thickness):",
                          "", "| pattern | line recall (annotated columns found) | line precision (predicted columns right) |",
                          "|---|---|---|"]
                lines += [f"| {n} | {_fmt(v['line_recall'])} | {_fmt(v['line_precision'])} |" for n, v in rows]
                lines.append("")
    return "\n".join(lines)


def write_report(full: dict, out: Path, title: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(full, indent=1))
    (out / "evaluation.md").write_text(markdown(full, title))
    if "patient" in full:
        metrics.confusion_png(np.array(full["patient"]["confusion"]), SEV_NAMES, out / "confusion_patient.png",
                              "patient severity")
    if "zone" in full:
        metrics.confusion_png(np.array(full["zone"]["confusion"]), [str(i) for i in range(5)],
                              out / "confusion_zone.png", "zone score")


def add_args(p) -> None:
    p.add_argument("--store", required=True)
    p.add_argument("--model", required=True, help="model bundle folder")
    p.add_argument("--out", help="folder for evaluation.json/.md and confusion PNGs")
    p.add_argument("--cvat", action="store_true", help="also evaluate on the real CVAT clip(s) when present")
    p.add_argument("--cvat-root", help="cvat_ablines folder (default ../shared/data/cvat_ablines)")
    p.add_argument("--cache-dir")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--update-manifest", action="store_true",
                   help="store the summary in the bundle's manifest metrics (metrics.evaluation)")


def run(args) -> int:
    from lusapp.model.bundle import load_bundle

    torch.set_num_threads(max(1, args.threads))
    device = pick_device(args.device)
    b = load_bundle(args.model)
    size = b.input_size[0]
    max_frames = int(b.manifest.get("train_config", {}).get("max_frames", 30))
    cache = FrameCache(args.cache_dir, size, max_frames)
    res = evaluate_modules(b.seg, b.zone, b.severity, args.store, cache, device)
    full = res["full"]
    if args.cvat:
        out_dir = Path(args.out) if args.out else None
        if out_dir:
            out_dir.mkdir(parents=True, exist_ok=True)
        cv = evaluate_cvat(b.seg, size, args.cvat_root, device, out_dir / "cvat_overlay.png" if out_dir else None)
        if cv is None:
            print("cvat: no annotated clip found; skipped", file=sys.stderr)
        else:
            full["cvat"] = cv
    title = f"Evaluation of {b.name} {b.version} on {args.store}"
    print(markdown(full, title))
    if args.out:
        write_report(full, Path(args.out), title)
    summary = summarise(full)
    if args.update_manifest:
        from lusapp.model.bundle import save_bundle

        manifest = {k: v for k, v in b.manifest.items() if k not in ("architecture", "weights_file", "weights_sha256",
                                                                     "format", "format_version")}
        manifest["metrics"] = {**manifest.get("metrics", {}), "evaluation": {"store": str(args.store), **summary}}
        save_bundle(args.model, b.seg, b.zone, b.severity, manifest)
        from model_training.export_onnx import export_graphs

        export_graphs(args.model)  # save_bundle wrote a new folder: its graphs again
    print(json.dumps(summary))
    return 0


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m model_training evaluate", description="evaluate a model bundle on a store")
    add_args(ap)
    return run(ap.parse_args(argv))
