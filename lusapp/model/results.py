"""What the engine returns (plain dataclasses, no torch): a clip's segmentation, a zone score, a patient's
assessment."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lusapp.model.findings import ZoneFindings
from lusapp.model.measures import FrameMeasures

SEVERITY_NAMES = ("mild", "moderate", "severe", "critical")


@dataclass
class SegResult:
    indices: list[int]
    masks: list[np.ndarray]  # uint8 HxW in original frame coordinates
    features: np.ndarray  # (T, D) float32
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)


@dataclass
class ZoneScoreResult:
    probs: np.ndarray  # (n_scores,)
    score: int
    expected: float


@dataclass
class Assessment:
    severity_probs: np.ndarray  # (4,) P(mild, moderate, severe, critical)
    severity: int  # 1..4
    severe_prob: float  # P(severe) + P(critical)
    severe: bool
    attention: dict[str, float]
    zone_probs: dict[str, np.ndarray]
    zone_scores: dict[str, int]
    zone_expected: dict[str, float]
    zone_measures: dict[str, FrameMeasures]
    zone_rules: dict[str, tuple[int, str]]
    model_version: str
    timings: dict[str, float]
    votes: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    zone_findings: dict[str, ZoneFindings] = field(default_factory=dict)  # models with a findings head
    zone_head_probs: dict[str, np.ndarray] = field(default_factory=dict)  # the stage-2 score head's output

    @property
    def severity_name(self) -> str:
        return SEVERITY_NAMES[self.severity - 1]
