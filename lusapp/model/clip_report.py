"""A zone's findings and quality warnings, computed by the engine from its cache (Qt-free, no torch here).

* ``zone_findings``: the findings head (lusapp.model.findings) on the clip's descriptor, plus the warnings a
  clinician must see before trusting a number: a colour (Doppler) overlay, blank frames, a frozen video, a clip
  unlike the training clips.
* ``gated_rule``: the rule score on the label maps without the B-line / consolidation pixels of a finding
  the head calls absent (a few false pixels under the pleura must not make a score 4).
* ``clip_report``: one clip on its own (the real-data benchmark and ``model_training findings`` use it), as
  a zone of an assessment would see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lusapp.core.labels import B_LINE, CONSOLIDATION
from lusapp.model.cache import sample_indices
from lusapp.model.findings import ZoneFindings, mask_descriptor
from lusapp.model.measures import FrameMeasures, clip_measures, frame_measures, rule_score
from lusapp.model.physics import NAMES as PHYSICS_NAMES
from lusapp.model.physics import clip_descriptor, frame_quality

DOPPLER_FRACTION = 0.02  # share of coloured crop pixels above which a colour overlay is reported
BLANK_STD = 3.0  # grey-level spread of a blank frame
FROZEN_CHANGE = 0.2  # mean absolute grey change between sampled frames of a frozen video
# Brightest row band of the upper half over the median row (physics "pleura_contrast"): every one of the 97
# development clips of ../shared/data reaches 1.07 or more; noise, a still picture of dark chambers and a blurred
# texture stay at 0.99-1.01. Below this, no pleural line: probably not a lung view.
NO_PLEURA_CONTRAST = 1.05


def local_descriptor(entry, label_indices) -> np.ndarray:
    """The physics + mask part of the descriptor for the label frames (cached per frame set)."""
    key = tuple(int(i) for i in label_indices)
    d = entry.local_desc.get(key)
    if d is None:
        frames = np.stack([entry.inputs[i] for i in key])
        labels = np.stack([entry.labels[i] for i in key])
        q = frame_quality(frames)
        d = np.concatenate([clip_descriptor(frames), mask_descriptor(frames, labels),
                            [q["std"], q["change"]]]).astype(np.float32)
        entry.local_desc[key] = d
    return d


def quality_warnings(entry, local: np.ndarray, n_label_frames: int) -> list[str]:
    warn = []
    std, change = float(local[-2]), float(local[-1])
    pleura = float(local[PHYSICS_NAMES.index("pleura_contrast")])
    if entry.colour is not None and entry.colour >= DOPPLER_FRACTION:
        warn.append(f"colour overlay on {100 * entry.colour:.0f}% of the image (Doppler?): the model reads grey "
                    "B-mode lung images only")
    if std < BLANK_STD:
        warn.append("the frames are blank or nearly uniform: nothing to read")
        return warn
    if pleura < NO_PLEURA_CONTRAST:
        warn.append("no bright pleural line in the upper half of the image: this may not be a lung view "
                    "(or the probe is not on the chest wall)")
    if n_label_frames > 1 and 0 <= change < FROZEN_CHANGE:
        warn.append("the sampled frames do not change (a frozen or repeated frame): sliding and B-line motion "
                    "cannot be judged")
    return warn


def branch_logits(entry, indices) -> np.ndarray | None:
    """The clip's findings-branch logits: the mean over ``indices`` (all must have been run), else None."""
    rows = [entry.branch.get(int(i)) for i in indices]
    if not rows or any(r is None for r in rows):
        return None
    return np.mean(rows, axis=0)


def zone_findings(engine, entry, features: np.ndarray, label_indices, indices=()) -> ZoneFindings:
    with engine.cache.lock:
        local = local_descriptor(entry, label_indices)
        logits = branch_logits(entry, indices) if engine.backend.has_branch else None
    feats = np.asarray(features, np.float32)
    desc = np.concatenate([feats.mean(0), feats.std(0), local[:-2]])
    return engine.findings.predict(desc, quality_warnings(entry, local, len(label_indices)), logits)


def gate_labels(labels: np.ndarray, found: ZoneFindings | None) -> np.ndarray:
    """The label map without the pixels of B-lines / consolidation when the head calls them absent."""
    if found is None:
        return labels
    out = labels
    for cls, key in ((B_LINE, "b_lines"), (CONSOLIDATION, "consolidation")):
        if not found.present[key] and (out == cls).any():
            out = np.where(out == cls, 0, out).astype(labels.dtype)
    return out


def gated_rule(engine, entry, indices, spacing_mm, found: ZoneFindings) -> tuple[FrameMeasures, int, str]:
    """Measures + rule score of the gated label maps (cached per frame set, spacing and gate)."""
    key = ("gated", tuple(int(i) for i in indices), spacing_mm, found.present["b_lines"], found.present["consolidation"])
    with engine.cache.lock:
        done = entry.local_desc.get(key)
        maps = [entry.labels[i] for i in indices if i in entry.labels] if done is None else []
    if done is not None:
        cm, score, rule = done
    elif not maps:
        cm, score, rule = engine.clip_rule(entry, indices, spacing_mm)
    else:
        cm = clip_measures([frame_measures(gate_labels(m, found), spacing_mm, entry.scale) for m in maps])
        score, rule = rule_score(cm)
        with engine.cache.lock:
            entry.local_desc[key] = (cm, score, rule)
    found.refine(cm.b_lines >= 6)
    return cm, score, rule


@dataclass
class ZoneReport:
    """One clip: findings, the zone score and the measures, as an assessment's zone would have them."""
    score_probs: np.ndarray
    score: int
    expected: float
    measures: FrameMeasures
    rule_score: int
    rule: str
    findings: ZoneFindings | None
    descriptor: np.ndarray | None  # the findings descriptor (training reads it)
    frames: int
    warnings: list[str] = field(default_factory=list)

    @property
    def probs(self) -> dict[str, float]:
        return dict(self.findings.probs) if self.findings is not None else {}


def clip_report(engine, clip: Any, n_frames: int = 30, measure_frames: int = 6, seed: int | None = None) -> ZoneReport:
    """``seed``: a random frame sampling instead of evenly spaced frames (training draws several)."""
    from lusapp.model.clip_source import open_clip

    clip, owned = open_clip(clip)
    try:
        idx = sample_indices(clip.n_frames, n_frames, seed)
        m_idx = idx if len(idx) <= measure_frames else [idx[int(round(j))] for j in
                                                        np.linspace(0, len(idx) - 1, measure_frames)]
        if engine.cache.crop(_ident(clip)) is None:  # judge a colour overlay on a few decoded frames
            from lusapp.model.clip_source import detect_crop
            from lusapp.model.physics import colour_fraction

            decoded = [clip.read(i) for i in m_idx[:8]]
            box = detect_crop(clip, decoded)
            engine.cache.set_crop(_ident(clip), box)
            colour = max(colour_fraction(f, box) for f in decoded)
        else:
            colour = None
        feats, entry = engine.features(clip, idx, label_indices=m_idx)
        if colour is not None:
            entry.colour = colour
        spacing = getattr(clip, "pixel_spacing_mm", None)
    finally:
        if owned:
            clip.close()
    desc = None
    if engine.findings is not None or engine.want_descriptors:
        with engine.cache.lock:
            local = local_descriptor(entry, m_idx)
        desc = np.concatenate([feats.mean(0), feats.std(0), local[:-2]]).astype(np.float32)
    if engine.findings is None:
        head = engine.score_zone(feats)
        cm, rs, rule = engine.clip_rule(entry, m_idx, spacing)
        return ZoneReport(score_probs=head.probs, score=head.score, expected=head.expected, measures=cm,
                          rule_score=rs, rule=rule, findings=None, descriptor=desc, frames=len(idx))
    found = zone_findings(engine, entry, feats, m_idx, idx)
    cm, rs, rule = gated_rule(engine, entry, m_idx, spacing, found)
    return ZoneReport(score_probs=found.score_probs, score=found.score, expected=found.expected, measures=cm,
                      rule_score=rs, rule=rule, findings=found, descriptor=desc, frames=len(idx),
                      warnings=list(found.warnings))


def _ident(clip):
    from lusapp.model.cache import clip_identity

    return clip_identity(clip)


