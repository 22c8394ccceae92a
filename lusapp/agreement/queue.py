"""The review queue: the zones an adjudicator should look at first.

A zone is queued when it has at least one rater's score or labelled frame and is not settled. Settled: no frame
labelled by several raters waits for a consensus mask, and the score has a consensus, or the raters agree and
the model's expected score is within half a point of them. Order, most
urgent first: the larger of the raters' spread (highest minus lowest score) and the model's gap (distance of the
model's expected score from the raters' mean), both in scale points; then their sum; then the lowest mean Dice
between raters' masks of the zone (1 when there is none); then patient and zone for a stable order.

With ``uncertain=True`` (the annotator's "label next": ``lusapp agreement --queue N --uncertain``, the app's
*Label next* dock) the queue also holds zones with media that no rater has scored or labelled yet and where the
model is unsure (:mod:`lusapp.agreement.uncertainty`, at least ``UNSURE``), after the disagreements, the most
uncertain first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lusapp.agreement.collect import Ratings, ZoneRatings
from lusapp.agreement.statistics import mean_or_none
from lusapp.agreement.uncertainty import UNSURE


@dataclass(frozen=True)
class QueueItem:
    patient: str
    zone: str
    scores: dict[str, int]
    model: int | None
    consensus: int | None
    rater_spread: int
    model_gap: float | None
    mask_dice: float | None  # lowest mean Dice (over classes present) of a rater pair's masks in the zone
    frames_to_adjudicate: list[int]  # frames labelled by several raters without a consensus mask
    reason: str
    model_uncertainty: float | None = None  # 0 sure .. 1 unsure (lusapp.agreement.uncertainty)

    def to_dict(self) -> dict:
        return asdict(self)


def _mask_dice(z: ZoneRatings) -> float | None:
    means = [mean_or_none(d.values()) for f in z.frames for d in f.dice.values()]
    means = [m for m in means if m is not None]
    return min(means) if means else None


def _reason(spread: int, gap: float | None, n_frames: int, z: ZoneRatings, model: float | None = None) -> str:
    bits = []
    if len(z.scores) >= 2:
        bits.append(f"raters {spread} apart" if spread else "raters agree")
    if gap is not None and gap >= 0.5:
        # the model's expected score (not the score in brackets), so a model score equal to the raters' can
        # still be far from them when the model was unsure
        bits.append(f"model expects {model:.1f}, {gap:.1f} from the raters' mean")
    if n_frames:
        bits.append(f"{n_frames} frame{'s' if n_frames != 1 else ''} labelled by several raters, not adjudicated")
    return "; ".join(bits) or "one rater, model agrees"


def item(z: ZoneRatings, uncertain: bool = False) -> QueueItem | None:
    """The queue item of a zone, None when the zone has nothing to review or is settled (``uncertain``: an
    unreviewed zone where the model is unsure is queued too)."""
    values = list(z.scores.values())
    if not values and not z.frames:
        if uncertain and z.has_media and z.model_uncertainty is not None and z.model_uncertainty >= UNSURE:
            return QueueItem(z.patient, z.zone, {}, z.model, z.consensus, 0, None, None, [],
                             f"no rater yet; {z.uncertain_why}", z.model_uncertainty)
        return None
    spread = max(values) - min(values) if values else 0
    gap = model = None
    if values and z.model is not None:
        model = z.model_expected if z.model_expected is not None else z.model
        gap = round(abs(model - sum(values) / len(values)), 3)
    pending = [f.frame for f in z.frames if len(f.raters) >= 2 and not f.adjudicated]
    settled_scores = z.consensus is not None or spread == 0
    if settled_scores and not pending and (gap is None or gap < 0.5 or z.consensus is not None):
        return None
    return QueueItem(z.patient, z.zone, dict(z.scores), z.model, z.consensus, spread, gap, _mask_dice(z), pending,
                     _reason(spread, gap, len(pending), z, model if gap is not None else None), z.model_uncertainty)


def _key(q: QueueItem) -> tuple:
    spread = 0 if q.consensus is not None else q.rater_spread
    gap = q.model_gap or 0.0
    return (-max(spread, gap), -(spread + gap), q.mask_dice if q.mask_dice is not None else 1.0,
            -(q.model_uncertainty or 0.0), q.patient, q.zone)


def review_queue(ratings: Ratings, limit: int | None = None, uncertain: bool = False) -> list[QueueItem]:
    """Unsettled zones, most urgent first (see the module docstring); at most ``limit``; ``uncertain``: also
    unreviewed zones where the model is unsure."""
    items = [q for q in (item(z, uncertain) for z in ratings.zones) if q is not None]
    items.sort(key=_key)
    return items if limit is None else items[:limit]
