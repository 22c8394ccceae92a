"""Agreement of a set of zones (one patient or the whole store) as one plain dict (JSON-ready) and as CSV rows.

Zone scores: quadratic-weighted Cohen kappa per rater pair (zones both scored), Krippendorff's alpha (ordinal)
over all raters (a zone a rater did not score is missing), ICC(2,1) / ICC(3,1) over the zones every rater
scored. Masks: Dice per class per rater pair (mean over the frames both labelled; per frame in ``frames``) and
the ICC of the B-line counts (frames every rater labelled). The model against each rater the same way: kappa and
ICC(2,1) of the zone scores, Dice of its ORIGINAL mask, ICC(2,1) of the B-line counts. ``None`` = undefined.
"""

from __future__ import annotations

from itertools import combinations

from lusapp.agreement.collect import MODEL, Ratings, ZoneRatings, pair_scores, score_values
from lusapp.agreement.statistics import icc, krippendorff_alpha, mean_or_none, quadratic_kappa
from lusapp.core.labels import CLASS_NAMES

DICE_NAMES = CLASS_NAMES[1:]


def _mean_dice(per_frame: list[dict[str, float | None]]) -> dict[str, float | None]:
    return {c: mean_or_none(d.get(c) for d in per_frame) for c in DICE_NAMES}


def _score_icc(zones: list[ZoneRatings], judges: list[str]) -> dict:
    rows = []
    for z in zones:
        row = [z.model if j == MODEL else z.scores.get(j) for j in judges]
        if all(v is not None for v in row):
            rows.append(row)
    return icc(rows).to_dict() if rows else {"icc1_1": None, "icc2_1": None, "icc3_1": None, "n": 0,
                                             "k": len(judges)}


def _b_line_icc(zones: list[ZoneRatings], judges: list[str]) -> dict:
    rows = [[f.b_lines[j] for j in judges] for z in zones for f in z.frames if all(j in f.b_lines for j in judges)]
    return icc(rows).to_dict() if rows else {"icc1_1": None, "icc2_1": None, "icc3_1": None, "n": 0,
                                             "k": len(judges)}


def _scores(zones: list[ZoneRatings], raters: list[str]) -> dict:
    labels = score_values(zones).tolist()
    pairs = []
    for a, b in combinations(raters, 2):
        xs, ys = pair_scores(zones, a, b)
        pairs.append({"a": a, "b": b, "n": len(xs), "kappa_quadratic": quadratic_kappa(xs, ys, labels),
                      "exact_agreement": sum(x == y for x, y in zip(xs, ys)) / len(xs) if xs else None})
    table = [[z.scores.get(r) for z in zones] for r in raters]
    return {"zones_scored": sum(bool(z.scores) for z in zones),
            "zones_with_several_raters": sum(len(z.scores) >= 2 for z in zones),
            "zones_adjudicated": sum(z.consensus is not None for z in zones),
            "pairs": pairs,
            "krippendorff_alpha_ordinal": krippendorff_alpha(table, "ordinal", labels) if len(raters) >= 2 else None,
            "icc": _score_icc(zones, raters) if len(raters) >= 2 else None}


def _masks(zones: list[ZoneRatings], raters: list[str]) -> dict:
    frames = [f for z in zones for f in z.frames]
    pairs = []
    for a, b in combinations(raters, 2):
        per = [(f, f.dice[(a, b)]) for f in frames if (a, b) in f.dice]
        pairs.append({"a": a, "b": b, "n_frames": len(per), "dice": _mean_dice([d for _f, d in per]),
                      "frames": [{"patient": f.patient, "zone": f.zone, "frame": f.frame, "dice": d}
                                 for f, d in per]})
    return {"labelled_frames": len(frames), "frames_with_several_raters": sum(len(f.raters) >= 2 for f in frames),
            "frames_adjudicated": sum(f.adjudicated for f in frames), "pairs": pairs,
            "b_line_icc": _b_line_icc(zones, raters) if len(raters) >= 2 else None}


def _model(zones: list[ZoneRatings], raters: list[str]) -> list[dict]:
    labels = score_values(zones).tolist()
    out = []
    frames = [f for z in zones for f in z.frames]
    for r in raters:
        xs, ys = pair_scores(zones, MODEL, r)
        per = [f.model_dice[r] for f in frames if r in f.model_dice]
        out.append({"rater": r, "n_zones": len(xs), "kappa_quadratic": quadratic_kappa(xs, ys, labels),
                    "score_icc2_1": _score_icc(zones, [MODEL, r])["icc2_1"], "n_frames": len(per),
                    "dice": _mean_dice(per), "b_line_icc2_1": _b_line_icc(zones, [MODEL, r])["icc2_1"]})
    return out


def agreement(ratings: Ratings) -> dict:
    """The agreement block of ``ratings`` (see the module docstring)."""
    raters = ratings.raters()
    zones = ratings.zones
    return {"raters": raters, "patients": len(ratings.patients()), "scores": _scores(zones, raters),
            "masks": _masks(zones, raters), "model": _model(zones, raters)}


def store_agreement(ratings: Ratings) -> dict:
    """{"store": block, "patients": {pid: block}, "problems": [...]}."""
    return {"store": agreement(ratings),
            "patients": {pid: agreement(ratings.of_patient(pid)) for pid in ratings.patients()},
            "problems": list(ratings.problems)}


CSV_HEADER = ("scope", "patient", "measure", "a", "b", "class", "n", "value")


def csv_rows(result: dict) -> list[tuple]:
    """Long-format rows, one number each: scope ("store" | "patient"), patient, measure, a, b, class, n, value."""
    rows: list[tuple] = []
    blocks = [("store", "", result["store"])] + [("patient", p, b) for p, b in result["patients"].items()]
    for scope, pid, blk in blocks:
        s, m = blk["scores"], blk["masks"]
        for p in s["pairs"]:
            rows.append((scope, pid, "score_kappa_quadratic", p["a"], p["b"], "", p["n"], p["kappa_quadratic"]))
        rows.append((scope, pid, "score_krippendorff_alpha_ordinal", "all raters", "", "", s["zones_scored"],
                     s["krippendorff_alpha_ordinal"]))
        if s["icc"]:
            for key in ("icc2_1", "icc3_1"):
                rows.append((scope, pid, f"score_{key}", "all raters", "", "", s["icc"]["n"], s["icc"][key]))
        for p in m["pairs"]:
            for c, v in p["dice"].items():
                rows.append((scope, pid, "mask_dice", p["a"], p["b"], c, p["n_frames"], v))
        if m["b_line_icc"]:
            rows.append((scope, pid, "b_line_count_icc2_1", "all raters", "", "", m["b_line_icc"]["n"],
                         m["b_line_icc"]["icc2_1"]))
        for mv in blk["model"]:
            rows.append((scope, pid, "score_kappa_quadratic", MODEL, mv["rater"], "", mv["n_zones"],
                         mv["kappa_quadratic"]))
            rows.append((scope, pid, "score_icc2_1", MODEL, mv["rater"], "", mv["n_zones"], mv["score_icc2_1"]))
            for c, v in mv["dice"].items():
                rows.append((scope, pid, "mask_dice", MODEL, mv["rater"], c, mv["n_frames"], v))
            rows.append((scope, pid, "b_line_count_icc2_1", MODEL, mv["rater"], "", mv["n_frames"],
                         mv["b_line_icc2_1"]))
    return rows
