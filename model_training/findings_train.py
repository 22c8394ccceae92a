"""``python -m model_training findings --base BUNDLE --out DIR --version X.Y.Z [--data ROOT] [--reference DIR ...]``

Trains the findings head (lusapp.model.findings) on the development part of the real clips and publishes it
with the base bundle's networks as a new bundle. Weak supervision: the labels are clip-level findings (the
dense second reading ``pocus_reader2.csv``), the inputs the clip descriptor that the app computes (frozen
encoder features, scan-geometry physics, mask summaries), so that what is trained is what the app runs.

* Rows: every development clip whose licence allows training (model_training.realdata.trainable), each with
  ``--samplings`` frame samplings (evenly spaced, then random): more rows, the same groups.
* Per head: balanced L2 logistic regression; the L2 strength by grouped 5-fold cross-validation on the
  development part (mean out-of-fold AUC over three fold draws); the operating threshold maximises
  sensitivity + specificity of the out-of-fold probabilities; the final fit uses every development row.
* Out-of-distribution: PCA (``--ood-components``) of the standardised descriptors of the training rows and of
  the reference clips (``--reference``: folders of synthetic clips, e.g. the demo patient, so that the
  synthetic data the networks learnt from is not "unlike training"); the threshold is the 99th percentile of
  the out-of-fold distances.
The locked test part is never read here.
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

import numpy as np

from lusapp.logs import log_to_console
from model_training import linear

_progress = logging.getLogger(__name__).info

MEDIA_EXT = {".mp4", ".avi", ".mov", ".mpeg", ".mpg", ".mkv", ".gif", ".png", ".jpg", ".jpeg", ".bmp", ".tif",
             ".tiff", ".dcm"}


def head_labels(item) -> dict[str, int | None]:
    """Training targets of one real item (reader2), per head of lusapp.model.findings.HEADS."""
    r = item.reader2 or {}
    grade = r.get("b_line_grade")
    out = {k: r.get(k) for k in ("b_lines", "a_lines", "consolidation", "pleural_irregular", "effusion")}
    out["b_grade_ge2"] = None if grade is None else int(grade >= 2)
    out["b_grade_ge3"] = None if grade is None else int(grade >= 3)
    return out


def synthetic_clips(stores) -> list[tuple[Path, str, dict, int]]:
    """(media path, group, head labels, true zone score) of every synthetic zone clip of the given synthetic stores, labels
    from the generator's record (synth.json): what it drew is the truth."""
    out = []
    for store in stores or []:
        for pdir in sorted((Path(store) / "patients").glob("*")):
            rec = pdir / "synth.json"
            doc = pdir / "patient.json"
            if not (rec.is_file() and doc.is_file()):
                continue
            synth = json.loads(rec.read_text(encoding="utf-8"))
            zones = json.loads(doc.read_text(encoding="utf-8")).get("zones", {})
            for zid, z in synth.get("zones", {}).items():
                media = (zones.get(zid) or {}).get("media") or {}
                c = z.get("content") or {}
                if z.get("kind") != "clip" or not media.get("file") or not c:
                    continue
                n, fused = int(c.get("n_blines", 0)), bool(c.get("fused"))
                out.append((pdir / media["file"], f"synth:{pdir.name}", {
                    "b_lines": int(n >= 1 or fused), "a_lines": int(bool(c.get("a_lines"))),
                    "consolidation": int(float(c.get("consolidation_cm2", 0)) >= 0.25),
                    "pleural_irregular": int(c.get("pleura") not in (None, "smooth", "regular")), "effusion": 0,
                    "b_grade_ge2": int(n >= 3 or fused), "b_grade_ge3": int(fused)}, int(z.get("score", c.get("score", 0)))))
    return out


def descriptors(engine, paths, samplings: int, frames: int, log=_progress) -> tuple[list[int], np.ndarray]:
    """(row -> path index, descriptor rows) for each path x sampling; unreadable files are skipped."""
    from lusapp.core.errors import LusError

    owner, rows = [], []
    t0 = time.perf_counter()
    for k, path in enumerate(paths):
        for s in range(samplings):
            try:
                rep = engine.clip_report(path, frames, seed=None if s == 0 else 1000 + s)
            except (LusError, OSError, ValueError) as e:
                log(f"findings: {path}: {e}")
                break
            engine.clear_cache()
            owner.append(k)
            rows.append(rep.descriptor)
        if (k + 1) % 20 == 0:
            log(f"findings: {k + 1}/{len(paths)} clips ({time.perf_counter() - t0:.0f} s)")
    return owner, np.stack(rows) if rows else np.zeros((0, 0), np.float32)


def fit_heads(x: np.ndarray, labels: dict[str, np.ndarray], groups: np.ndarray, real: np.ndarray,
              log=_progress) -> tuple[dict, dict, dict, dict]:
    """(coef/bias per head, threshold per head, CV report per head, out-of-fold probabilities per head (NaN
    where the label is unknown)) on standardised rows ``x``; the L2
    strength, the CV AUC and the threshold are judged on the real rows' out-of-fold predictions only
    (synthetic rows train, real rows decide)."""
    from lusapp.model.findings import HEADS

    params, thresholds, report, oof_all = {}, {}, {}, {}
    for h in HEADS:
        y = labels[h]
        ok = y >= 0
        grid = {}
        oofs = {}
        for l2 in (1.0, 10.0, 100.0, 1000.0):
            runs = [linear.cv_logits(x[ok], y[ok], groups[ok], l2, seed=s) for s in (0, 1, 2)]
            aucs = [linear.roc_auc(r[real[ok]], y[ok][real[ok]]) for r in runs]
            grid[l2] = float(np.mean([a for a in aucs if a is not None] or [0.0]))
            oofs[l2] = runs[0]
        l2 = max(grid, key=lambda v: (grid[v], v))
        oof = 1 / (1 + np.exp(-oofs[l2]))
        oof_all[h] = np.full(len(y), np.nan)
        oof_all[h][ok] = oof
        thresholds[h] = linear.youden_threshold(oof[real[ok]], y[ok][real[ok]])
        coef, bias = linear.fit_logistic(x[ok], y[ok], l2, linear.balanced_weights(y[ok]))
        params[h] = (coef, bias)
        report[h] = {"rows": int(ok.sum()), "real_rows": int((ok & real).sum()), "positive_rows": int(y[ok].sum()), "l2": l2,
                     "cv_auc": round(grid[l2], 4), "cv_auc_by_l2": {str(k): round(v, 4) for k, v in grid.items()},
                     "threshold": round(thresholds[h], 4)}
        log(f"findings: {h}: linear CV AUC {grid[l2]:.3f} (l2 {l2:g})")
    return params, thresholds, report, oof_all


def choose_combination(y_real: dict, linear_p: dict, branch_p: dict, report: dict, log=_progress) -> tuple[dict, dict]:
    """Per head, the one of linear / branch / mean with the best out-of-fold AUC on the real clips, and its
    threshold (sensitivity + specificity at their maximum)."""
    from lusapp.model.findings import HEADS

    combine, thresholds = {}, {}
    for h in HEADS:
        ok = y_real[h] >= 0
        cands = {"linear": linear_p[h], "branch": branch_p[h], "mean": 0.5 * (linear_p[h] + branch_p[h])}
        aucs = {k: linear.roc_auc(v[ok], y_real[h][ok]) or 0.0 for k, v in cands.items()}
        combine[h] = max(aucs, key=lambda k: (aucs[k], k == "mean"))
        thresholds[h] = linear.youden_threshold(cands[combine[h]][ok], y_real[h][ok])
        report[h].update(clip_cv_auc={k: round(v, 4) for k, v in aucs.items()}, combine=combine[h],
                         threshold=round(thresholds[h], 4))
        log(f"findings: {h}: clip CV AUC linear {aucs['linear']:.3f} branch {aucs['branch']:.3f} mean "
            f"{aucs['mean']:.3f} -> {combine[h]}, threshold {thresholds[h]:.3f}")
    return combine, thresholds


def ood_fit(z: np.ndarray, groups: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """PCA subspace of ``z`` and the 99th percentile of grouped out-of-fold distances in it."""
    folds = linear.group_folds(groups, 5, seed=0)
    dist = []
    for f in range(5):
        tr, te = folds != f, folds == f
        if te.any() and tr.sum() > k:
            mean, comps, var = linear.pca_subspace(z[tr], k)
            dist += list(np.sqrt(np.mean(((z[te] - mean) @ comps.T) ** 2 / var, axis=1)))
    mean, comps, var = linear.pca_subspace(z, k)
    return mean, comps, var, float(np.percentile(dist, 99)) if dist else 1.0


def reference_paths(folders) -> list[Path]:
    out = []
    for folder in folders or []:
        for p in sorted(Path(folder).rglob("*")):
            if p.is_file() and p.suffix.lower() in MEDIA_EXT and "masks" not in p.parts:
                out.append(p)
    return out


def publish(base, out: Path, version: str, head, entry_info: dict, manifest_extra: dict) -> Path:
    """The base bundle's networks + the findings head, written atomically as a new bundle at ``out``."""
    from lusapp.model.bundle import save_bundle
    from lusapp.model.findings import add_to_manifest, save_findings

    m = {k: v for k, v in base.manifest.items()
         if k not in ("architecture", "weights_file", "weights_sha256", "format", "format_version", "findings", "created")}
    m.update(manifest_extra)
    m["version"], m["parent_version"] = version, base.version
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
    try:
        staged = save_bundle(tmp / out.name, base.seg, base.zone, base.severity, m)
        add_to_manifest(staged, save_findings(staged, head, entry_info))
        from model_training.export_onnx import export_graphs

        export_graphs(staged)  # the findings branch is part of the frame graphs
        if out.exists():
            shutil.rmtree(out)
        os.replace(staged, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_training findings", description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="bundle whose networks the new model keeps")
    ap.add_argument("--out", required=True, help="folder of the new bundle")
    ap.add_argument("--version", required=True)
    ap.add_argument("--data", default=None, help="real data root (default ../shared/data)")
    ap.add_argument("--reference", nargs="*", default=[], help="folders of synthetic clips for the OOD reference")
    ap.add_argument("--synthetic", nargs="*", default=[], help="synthetic stores (model_training synth) whose "
                    "clips train the heads beside the real ones, labelled by the generator's record")
    ap.add_argument("--samplings", type=int, default=3)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--ood-components", type=int, default=10)
    ap.add_argument("--branch-frames", type=int, default=16, help="frames per clip the branch trains on")
    ap.add_argument("--branch-epochs", type=int, default=10)
    ap.add_argument("--branch-members", type=int, default=3)
    ap.add_argument("--branch-on", choices=("real", "all"), default="all",
                    help="clips the branch trains on: the real ones only, or real + synthetic")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report", help="write the training report (JSON) here")
    args = ap.parse_args(argv)
    from lusapp.model.bundle import load_bundle
    from lusapp.model.engine import Engine
    from lusapp.model.findings import HEADS, FindingsHead, descriptor_names
    from model_training.realdata import load_items, trainable

    items = [i for i in load_items(args.data) if i.part == "dev" and trainable(i) and i.reader2]
    if not items:
        print("findings: no trainable development clips (is ../shared/data there?); nothing trained", file=sys.stderr)
        return 2
    log_to_console()
    log = _progress
    base = load_bundle(args.base)
    engine = Engine(base, threads=args.threads)
    engine.want_descriptors = True
    owner, x = descriptors(engine, [i.path for i in items], args.samplings, args.frames, log)
    rows = [items[k] for k in owner]
    groups = [r.group for r in rows]
    targets = [head_labels(r) for r in rows]
    synth = synthetic_clips(args.synthetic)
    if synth:
        s_owner, sx = descriptors(engine, [c[0] for c in synth], 1, args.frames, log)
        x = np.vstack([x, sx])
        groups += [synth[k][1] for k in s_owner]
        targets += [synth[k][2] for k in s_owner]
    real = np.arange(len(x)) < len(rows)
    groups = np.array(groups)
    labels = {h: np.array([(-1 if t[h] is None else t[h]) for t in targets]) for h in HEADS}
    mu, sd = linear.standardise(x)
    z = np.clip((x - mu) / sd, -8, 8)
    params, thresholds, report, oof = fit_heads(z, labels, groups, real, log)
    # the findings branch: one row per clip (the first sampling of each), same groups and folds
    from model_training import branch_train as bt
    from lusapp.model.findings_branch import TAP, branch_tensors

    clip_paths = [i.path for i in items] + [c[0] for c in synth]
    first = {}
    for r, k in enumerate(list(owner) + [len(items) + k for k in (s_owner if synth else [])]):
        first.setdefault(k, []).append(r)
    clip_ids = sorted(first)
    maps = [bt.stage_maps(engine, clip_paths[k], args.branch_frames) for k in clip_ids]
    cy = np.stack([[labels[h][first[k][0]] for h in HEADS] for k in clip_ids])
    cgroups = np.array([groups[first[k][0]] for k in clip_ids])
    creal = np.array([k < len(items) for k in clip_ids])
    on = np.flatnonzero(creal) if args.branch_on == "real" else np.arange(len(clip_ids))
    branch_oof = np.full(cy.shape, 0.5)
    branch_oof[on] = 1 / (1 + np.exp(-bt.cv_clip_logits([maps[k] for k in on], cy[on], cgroups[on], members=1,
                                                         epochs=args.branch_epochs)))
    lin_clip = {h: np.array([np.nanmean(oof[h][first[k]]) if np.isfinite(oof[h][first[k]]).any() else 0.5
                             for k in clip_ids]) for h in HEADS}
    combine, thresholds = choose_combination({h: cy[creal, j] for j, h in enumerate(HEADS)},
                                             {h: lin_clip[h][creal] for h in HEADS},
                                             {h: branch_oof[creal, j] for j, h in enumerate(HEADS)}, report, log)
    members = bt.train_members(maps, cy, on, members=args.branch_members,
                               epochs=args.branch_epochs)
    branch_info = {"in_ch": int(maps[0].shape[1]), "hidden": members[0].hidden, "n_out": len(HEADS),
                   "heads": list(HEADS), "tap": TAP, "combine": combine, "members": len(members),
                   "epochs": args.branch_epochs, "frames": args.branch_frames, "trained_on": args.branch_on}
    ref_paths = reference_paths(args.reference)
    r_owner, rx = descriptors(engine, ref_paths, 1, args.frames, log) if ref_paths else ([], np.zeros((0, x.shape[1])))
    zr = np.clip((rx - mu) / sd, -8, 8) if len(rx) else np.zeros((0, x.shape[1]))
    all_z = np.vstack([z, zr])
    all_groups = np.concatenate([groups, np.array([f"ref:{ref_paths[k].parent}" for k in r_owner], dtype=object)])
    mean, comps, var, thr = ood_fit(all_z, all_groups.astype(str), args.ood_components)
    tensors = {"mu": mu, "sd": sd, "ood.mean": mean, "ood.components": comps, "ood.var": var,
               "ood.threshold": np.array([thr])}
    for h in HEADS:
        tensors[f"coef.{h}"], tensors[f"bias.{h}"] = params[h][0], np.array([params[h][1]])
    tensors.update({k: v.numpy() for k, v in branch_tensors(members).items()})
    names = descriptor_names(base.seg.feat_dim)
    from lusapp.model.physics import NAMES as PHYS
    from lusapp.model.findings import MASK_NAMES

    assert len(names) == x.shape[1] == base.seg.feat_dim * 2 + len(PHYS) + len(MASK_NAMES)
    head = FindingsHead(tensors, {h: thresholds[h] for h in HEADS}, names, branch_info)
    clips = sorted({(r.file, r.licence) for r in rows})
    nc = any("NC" in lic for _, lic in clips)
    info = {"trained_on": "development part of the real POCUS clips (model_training/splits/real_split_v1.csv), "
                          "labels: pocus_reader2.csv (dense second reading)",
            "training_clips": [{"file": f, "licence": lic} for f, lic in clips],
            "samplings": args.samplings, "frames": args.frames, "cv": report,
            "synthetic_rows": int((~real).sum()),
            "ood": {"components": int(comps.shape[0]), "threshold": thr, "reference_clips": len(r_owner)}}
    extra = {"name": base.name,
             "intended_use": ("non-commercial research use (the findings head was trained on CC BY-NC clips) and "
                              "software testing; not a medical device") if nc else
                             "research and software testing; not a medical device",
             "training_data": (base.manifest.get("training_data", "") + f" Findings head: {len(clips)} real POCUS "
                               f"clips of the development part ({len(rows)} rows with {args.samplings} frame "
                               "samplings each), clip-level labels of pocus_reader2.csv; licences listed in "
                               "manifest['findings']['training_clips']."),
             "licences": list(base.manifest.get("licences", [])) + [
                 "findings head: trained on real POCUS clips under CC BY 4.0 / CC BY 2.0 / CC BY-NC 4.0 (list in "
                 "manifest['findings']['training_clips']); NC clips make this model non-commercial"]}
    out = publish(base, Path(args.out), args.version, head, info, extra)
    summary = {"bundle": str(out), "rows": len(rows), "clips": len(clips), "synthetic_rows": int((~real).sum()),
               "reference_clips": len(r_owner),
               "ood_threshold": thr, "cv": report}
    if args.report:
        Path(args.report).write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "cv"}))
    return 0
