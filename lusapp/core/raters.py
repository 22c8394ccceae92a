"""Several raters per zone score, an adjudicated consensus, and the rule that picks the score training uses.

A zone record keeps the first rater's score in ``clinician_score`` (what a one-rater store always had) and
every further rater's own score in ``other_scores`` (keyed by rater); ``consensus_score`` is an adjudicator's
decision. Storage format: docs/store-format.md (schema v2).

Training rule (documented in docs/store-format.md, used by ``model_training``): the consensus when an
adjudicator set one; else the raters' score when they agree (one rater, or all raters gave the same value);
else nothing -- raters who disagree and were never adjudicated give no training label (the zone goes to the
review queue instead); the model's own score is never a training label.
"""

from __future__ import annotations

from lusapp.core.errors import ValidationError
from lusapp.core.patient import ConsensusEntry, ScoreEntry, ZoneRecord, utc_now

#: Sources :func:`training_score` names: an adjudicated consensus, or the agreeing raters.
CONSENSUS, RATERS = "consensus", "raters"


def rater_scores(rec: ZoneRecord) -> dict[str, ScoreEntry]:
    """Every rater's own score of the zone, by rater (the first rater first)."""
    out = {} if rec.clinician_score is None else {rec.clinician_score.rater: rec.clinician_score}
    out.update(sorted(rec.other_scores.items()))
    return out


def rater_score(rec: ZoneRecord, rater: str) -> ScoreEntry | None:
    return rater_scores(rec).get(rater)


def set_rater_score(rec: ZoneRecord, rater: str, value: int | None, time: str | None = None) -> bool:
    """Set (``value`` None: withdraw) ``rater``'s own score of the zone; other raters' scores are kept.
    Returns whether anything changed. When the first rater withdraws, the earliest further rater takes the
    ``clinician_score`` place, so a zone with any score always has a ``clinician_score``."""
    if not isinstance(rater, str) or not rater.strip():
        raise ValidationError("rater", "must name who gives the score")
    own = rater_score(rec, rater)
    if value is None:
        if own is None:
            return False
        if rec.other_scores.pop(rater, None) is None:  # it was the first rater's
            rest = sorted(rec.other_scores.values(), key=lambda e: (e.time, e.rater))
            rec.clinician_score = rest[0] if rest else None
            if rest:
                del rec.other_scores[rest[0].rater]
        return True
    if own is not None and own.value == value:
        return False
    entry = ScoreEntry(int(value), rater, time or utc_now())
    if rec.clinician_score is None or rec.clinician_score.rater == rater:
        rec.clinician_score = entry
    else:
        rec.other_scores[rater] = entry
    return True


def set_consensus(rec: ZoneRecord, adjudicator: str, value: int | None = None, from_rater: str = "",
                  time: str | None = None) -> ConsensusEntry:
    """The adjudicator's decision: ``from_rater``'s score (picked), or ``value`` (set). Returns the entry."""
    if not isinstance(adjudicator, str) or not adjudicator.strip():
        raise ValidationError("adjudicator", "must name who adjudicates")
    if from_rater:
        picked = rater_score(rec, from_rater)
        if picked is None:
            raise ValidationError("from_rater", f"{from_rater!r} has no score in zone {rec.zone_id}")
        if value is not None and value != picked.value:
            raise ValidationError("value", f"{value} is not {from_rater}'s score {picked.value}")
        value = picked.value
    if value is None:
        raise ValidationError("value", "pick a rater or give the consensus value")
    rec.consensus_score = ConsensusEntry(int(value), adjudicator, time or utc_now(), from_rater)
    return rec.consensus_score


def clear_consensus(rec: ZoneRecord) -> bool:
    had = rec.consensus_score is not None
    rec.consensus_score = None
    return had


def training_score(rec: ZoneRecord) -> tuple[int | None, str]:
    """(value, source) by the training rule: (consensus, "consensus"), (agreed value, "raters"), or
    (None, why not): "no clinician score" or "raters disagree (a, b), no consensus"."""
    if rec.consensus_score is not None:
        return rec.consensus_score.value, CONSENSUS
    scores = rater_scores(rec)
    if not scores:
        return None, "no clinician score"
    values = {e.value for e in scores.values()}
    if len(values) == 1:
        return values.pop(), RATERS
    return None, f"raters disagree ({', '.join(f'{r} {e.value}' for r, e in scores.items())}), no consensus"


def reported_score(rec: ZoneRecord) -> tuple[int | None, str]:
    """(value, who) a report states for a zone: (the adjudicated consensus, "consensus"), else (the first rater's
    score, "clinician"), else (the model's, "model"); (None, "") when nobody scored it."""
    if rec.consensus_score is not None:
        return rec.consensus_score.value, CONSENSUS
    if rec.clinician_score is not None:
        return rec.clinician_score.value, "clinician"
    if rec.model_score is not None:
        return rec.model_score.score, "model"
    return None, ""


def others_line(rec: ZoneRecord, me: str) -> str:
    """One line for the zone panel: the other raters' scores and the consensus ("" when there are none)."""
    others = [f"{r} {e.value}" for r, e in rater_scores(rec).items() if r != me]
    parts = [f"Other raters: {', '.join(others)}"] if others else []
    if rec.consensus_score is not None:
        parts.append(f"consensus {rec.consensus_score.value} ({rec.consensus_score.rater})")
    return " · ".join(parts)
