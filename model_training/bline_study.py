"""The B-line column study of ``python -m model_training realbench --bline-columns`` (issue 10): per clip, the
B-line count read from the network's masks (as the app reads it) beside the count after the training-free
refinement of :mod:`lusapp.model.bline_columns`, against the second reader's B-line grade 0-3, and the zone
score composed with either count. Use it on the development part; the locked test part is for reporting a
route that was adopted.

Per clip (the 6 measured frames of ``Engine.clip_report``, clip count = ``measures.clip_measures``' robust
maximum over frames):

* ``old_ungated`` / ``new_ungated``: the network's masks, and the refined masks (columns within the network's
  B-line region; a wide band kept whole as one confluent region when the findings head's confluent-grade
  probability is >= 0.5, else columns only; without a findings head, the refinement's own brightness test),
  whatever the head says about presence;
* ``old_gated`` / ``new_gated``: the same when the findings head calls B-lines present, else 0 (what the app
  shows and what feeds ``compose_score``); ``new_gated_min1``: ``new_gated``, at least 1 where B-lines are
  called present (the refinement only counts, the head decides presence);
* ``expected_old`` / ``expected_new``: the composed expected zone score with "the masks count >= 6" read from
  ``old_gated`` / ``new_gated`` (``ZoneFindings.refine``).

Summary: Spearman of each count with the reader's grade, ROC AUC of the count for grade >= 1 (any B-lines) and
grade >= 2 (three or more), the mean count per grade; zone-score Spearman vs the Soldati score and vs the second
reading's 0-3 score with either count; the refinement's time per frame.
"""

from __future__ import annotations

import copy
import time

import numpy as np

COUNTS = ("old_ungated", "new_ungated", "old_gated", "new_gated", "new_gated_min1")


def clip_counts(engine, path, report, n_frames: int = 30, measure_frames: int = 6) -> dict:
    """The counts of one clip that ``report = engine.clip_report(path, n_frames)`` has just read (its cache
    entry still holds the measured frames' inputs and label maps)."""
    from lusapp.io import open_media
    from lusapp.model import bline_columns
    from lusapp.model.cache import sample_indices
    from lusapp.model.measures import clip_measures, frame_measures

    with open_media(path) as clip:
        total = clip.n_frames
        spacing = getattr(clip, "pixel_spacing_mm", None)
    idx = sample_indices(total, n_frames)
    m_idx = idx if len(idx) <= measure_frames else [idx[int(round(j))] for j in
                                                    np.linspace(0, len(idx) - 1, measure_frames)]
    _, entry = engine.features(path, idx, label_indices=m_idx)
    frames = np.stack([entry.inputs[i] for i in m_idx])
    labels = np.stack([entry.labels[i] for i in m_idx])
    found = report.findings
    confluent = bool(found.grade_probs[2] >= 0.5) if found is not None else None
    t0 = time.perf_counter()
    refined, _ = bline_columns.refine_clip(frames, labels, confluent=confluent)
    ms = 1000 * (time.perf_counter() - t0) / len(m_idx)

    def count(maps) -> int:
        return int(clip_measures([frame_measures(m, spacing, entry.scale) for m in maps]).b_lines)

    present = bool(found.present["b_lines"]) if found is not None else True
    out = {"old_ungated": count(labels), "new_ungated": count(refined), "present": present, "ms_per_frame": ms}
    out["old_gated"] = out["old_ungated"] if present else 0
    out["new_gated"] = out["new_ungated"] if present else 0
    out["new_gated_min1"] = max(out["new_gated"], 1) if present else 0
    out["expected_old"] = out["expected_new"] = float(report.expected)
    if found is not None:
        for key, n in (("expected_old", out["old_gated"]), ("expected_new", out["new_gated"])):
            f = copy.deepcopy(found)
            f.refine(n >= 6)
            out[key] = f.expected
    return out


def summarize(rows: list[dict], auc, spearman) -> dict:
    """``rows``: realbench item rows carrying ``bline_columns`` (clip_counts) beside ``reader2`` / ``soldati``;
    ``auc`` / ``spearman``: the benchmark's metrics (model_training.realbench, which imports this module)."""
    have = [r for r in rows if "bline_columns" in r]
    graded = [r for r in have if r["reader2"].get("b_line_grade") is not None]
    g = np.array([r["reader2"]["b_line_grade"] for r in graded], float)
    out: dict = {"n": len(graded), "counts": {}}
    for k in COUNTS:
        x = np.array([r["bline_columns"][k] for r in graded], float)
        out["counts"][k] = {"spearman_grade": spearman(x, g), "auc_any": auc(x, g >= 1), "auc_three": auc(x, g >= 2),
                            "mean_by_grade": [float(x[g == v].mean()) if (g == v).any() else None for v in range(4)],
                            "six_or_more": int((x >= 6).sum())}
    zs: dict = {}
    for ref, get in (("soldati", lambda r: r["soldati"]), ("reader2", lambda r: r["reader2"].get("lus_score"))):
        sel = [r for r in have if get(r) is not None]
        y = [get(r) for r in sel]
        zs[ref] = {"n": len(sel), "old": spearman([r["bline_columns"]["expected_old"] for r in sel], y),
                   "new": spearman([r["bline_columns"]["expected_new"] for r in sel], y)}
    out["zone_score"] = zs
    out["ms_per_frame"] = float(np.mean([r["bline_columns"]["ms_per_frame"] for r in have])) if have else None
    return out


def markdown(s: dict) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)

    L = ["", f"B-line columns (lusapp.model.bline_columns) vs the network's masks, {s['n']} clips with a second-reader "
         f"grade; refinement {f(s['ms_per_frame'])} ms per 128x128 frame:", "",
         "| clip B-line count | Spearman vs grade | AUC any (>= 1) | AUC three+ (>= 2) | mean count, grade 0/1/2/3 "
         "| clips >= 6 |", "|---|---|---|---|---|---|"]
    for k, v in s["counts"].items():
        means = " / ".join(f(m) for m in v["mean_by_grade"])
        L.append(f"| {k.replace('_', ' ')} | {f(v['spearman_grade'])} | {f(v['auc_any'])} | {f(v['auc_three'])} "
                 f"| {means} | {v['six_or_more']} |")
    L += ["", "| zone score (composed) vs | n | Spearman, masks' count | Spearman, columns' count |", "|---|---|---|---|"]
    for ref, v in s["zone_score"].items():
        L.append(f"| {ref} | {v['n']} | {f(v['old'])} | {f(v['new'])} |")
    return "\n".join(L) + "\n"
