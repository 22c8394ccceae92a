"""How unsure the model is about a zone, from what an assessment saved (Qt-free): the annotator's "label next".

Two signs, each in [0, 1]:

* the spread of the zone score probabilities: their entropy divided by the largest possible (``log K`` for K
  score levels), so 0 is one certain score and 1 is every score equally likely;
* findings close to the decision: for each finding probability P (``model_score.findings.findings``), ``1 -
  |P - 0.5| / 0.5`` (1 at P = 0.5, 0 at P = 0 or 1); the highest of them counts, and the finding is named.

A zone's uncertainty is the larger of the two. The review queue (:mod:`lusapp.agreement.queue`, ``lusapp
agreement --queue --uncertain`` and the app's *Label next* dock) lists zones no rater has scored yet whose
uncertainty is at least :data:`UNSURE`, after the zones where raters (or the model and the raters) disagree.
"""

from __future__ import annotations

import math
from typing import Sequence

UNSURE = 0.5  # a zone at or above this uncertainty is worth a rater's look
_NAMES = {"b_lines": "B-lines", "a_lines": "A-lines", "consolidation": "consolidation",
          "pleural_irregular": "irregular pleura", "effusion": "effusion"}


def score_entropy(probs: Sequence[float] | None) -> float | None:
    """Normalised entropy of the zone score probabilities (0 certain .. 1 uniform); None without them."""
    if not probs or len(probs) < 2:
        return None
    ps = [max(0.0, float(p)) for p in probs]
    total = sum(ps)
    if total <= 0 or not math.isfinite(total):
        return None
    h = -sum(p / total * math.log(p / total) for p in ps if p > 0)
    return round(h / math.log(len(ps)), 3)


def closest_finding(findings: dict | None) -> tuple[str, float, float] | None:
    """(name, P, closeness to 0.5 in [0, 1]) of the finding nearest the decision; None without findings."""
    probs = (findings or {}).get("findings") if isinstance(findings, dict) else None
    best = None
    for name, p in sorted((probs or {}).items()):
        if isinstance(p, (int, float)) and math.isfinite(p):
            near = round(1.0 - min(1.0, abs(float(p) - 0.5) / 0.5), 3)
            if best is None or near > best[2]:
                best = (str(name), float(p), near)
    return best


def zone_uncertainty(model_score) -> tuple[float | None, str]:
    """(uncertainty in [0, 1] or None, a few words saying why) of a zone's saved model score."""
    if model_score is None:
        return None, ""
    ent = score_entropy(model_score.probs)
    near = closest_finding(model_score.findings)
    parts, values = [], []
    if ent is not None:
        values.append(ent)
        top = max(model_score.probs)
        parts.append(f"score {model_score.score} at {top:.0%} (spread {ent:.2f})")
    if near is not None:
        values.append(near[2])
        parts.append(f"{_NAMES.get(near[0], near[0])} P={near[1]:.2f}")
    if not values:
        return None, ""
    return max(values), "model unsure: " + ", ".join(parts)
