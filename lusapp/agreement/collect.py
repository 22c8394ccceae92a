"""What agreement is computed from: every zone's raters' scores, the model's score and the consensus, and per
labelled frame the Dice per class between raters (and between the model's ORIGINAL and each rater) and each
mask's B-line count (``lusapp.model.measures``). Masks are read once, reduced to these numbers, and dropped.

:func:`collect` reads a store (open read-only by the caller); patients whose document cannot be read are
listed in ``problems`` (one sentence each) and left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from lusapp.agreement.statistics import dice_per_class
from lusapp.agreement.uncertainty import zone_uncertainty
from lusapp.core.errors import LusError
from lusapp.core.raters import rater_scores
from lusapp.model.measures import frame_measures

MODEL = "model"  # the name the model goes by beside the raters


@dataclass
class FrameRatings:
    """One labelled frame: Dice per class per rater pair, model ORIGINAL vs each rater, B-line counts."""
    patient: str
    zone: str
    frame: int
    raters: list[str]
    dice: dict[tuple[str, str], dict[str, float | None]] = field(default_factory=dict)
    model_dice: dict[str, dict[str, float | None]] = field(default_factory=dict)
    b_lines: dict[str, int] = field(default_factory=dict)  # rater (or MODEL) -> B-line count
    adjudicated: bool = False


@dataclass
class ZoneRatings:
    """One zone: each rater's score, the model's, the consensus, and the zone's labelled frames."""
    patient: str
    zone: str
    scale_values: tuple[int, ...]
    scores: dict[str, int]
    model: int | None = None
    model_expected: float | None = None
    consensus: int | None = None
    frames: list[FrameRatings] = field(default_factory=list)
    has_media: bool = False
    model_uncertainty: float | None = None  # lusapp.agreement.uncertainty: 0 sure .. 1 unsure
    uncertain_why: str = ""


@dataclass
class Ratings:
    zones: list[ZoneRatings]
    problems: list[str] = field(default_factory=list)

    def patients(self) -> list[str]:
        return sorted({z.patient for z in self.zones})

    def of_patient(self, pid: str) -> Ratings:
        return Ratings([z for z in self.zones if z.patient == pid])

    def raters(self) -> list[str]:
        names = {r for z in self.zones for r in z.scores}
        names |= {r for z in self.zones for f in z.frames for r in f.raters}
        return sorted(names)


def _frame(store, pid: str, zone: str, frame: int, raters: list[str], adjudicated: bool) -> FrameRatings:
    masks = {}
    for r in raters:
        m = store.load_rater_mask(pid, zone, frame, r)
        if m is not None:
            masks[r] = m
    fr = FrameRatings(pid, zone, frame, sorted(masks), adjudicated=adjudicated)
    for r, m in masks.items():
        fr.b_lines[r] = frame_measures(m).b_lines
    for a, b in combinations(fr.raters, 2):
        if masks[a].shape == masks[b].shape:
            fr.dice[(a, b)] = dice_per_class(masks[a], masks[b])
    original = store.load_mask(pid, zone, frame, "original")
    if original is not None:
        fr.b_lines[MODEL] = frame_measures(original).b_lines
        for r, m in masks.items():
            if m.shape == original.shape:
                fr.model_dice[r] = dice_per_class(original, m)
    return fr


def zone_ratings(store, patient, zone_id: str) -> ZoneRatings:
    """The ratings of one zone of a loaded ``patient``."""
    rec = patient.zone(zone_id)
    ms = rec.model_score
    zr = ZoneRatings(patient.patient_id, zone_id, tuple(patient.scale.values),
                     {r: int(e.value) for r, e in rater_scores(rec).items()},
                     model=None if ms is None else int(ms.score), model_expected=None if ms is None else ms.expected,
                     consensus=None if rec.consensus_score is None else int(rec.consensus_score.value))
    zr.model_uncertainty, zr.uncertain_why = zone_uncertainty(ms)
    if rec.media is None:
        return zr
    zr.has_media = True
    adjudicated = set(store.consensus(patient.patient_id, zone_id))
    for frame, raters in store.final_raters(patient.patient_id, zone_id).items():
        zr.frames.append(_frame(store, patient.patient_id, zone_id, frame, raters, frame in adjudicated))
    return zr


def collect(store, pids: list[str] | None = None) -> Ratings:
    """Every zone of every (or the given) patient that has a rater's score, a model score or a labelled frame."""
    out = Ratings([])
    for pid in store.patient_ids() if pids is None else pids:
        try:
            patient = store.load_patient(pid)
            for zid in patient.protocol.zone_ids:
                zr = zone_ratings(store, patient, zid)
                if zr.scores or zr.model is not None or zr.frames:
                    out.zones.append(zr)
        except (LusError, KeyError, ValueError, OSError) as exc:
            out.problems.append(f"patient {pid} left out: {exc}")
    return out


def pair_scores(zones: list[ZoneRatings], a: str, b: str) -> tuple[list[int], list[int]]:
    """The two raters' (or the model's, ``MODEL``) scores of the zones both scored."""
    xs, ys = [], []
    for z in zones:
        va = z.model if a == MODEL else z.scores.get(a)
        vb = z.model if b == MODEL else z.scores.get(b)
        if va is not None and vb is not None:
            xs.append(va)
            ys.append(vb)
    return xs, ys


def score_values(zones: list[ZoneRatings]) -> np.ndarray:
    return np.array(sorted({v for z in zones for v in z.scale_values}), dtype=int)
