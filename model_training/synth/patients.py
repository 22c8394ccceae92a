"""Synthetic patients: severity -> zone scores over the 12 zones, media kinds, clinical information.

Severity (1 mild, 2 moderate, 3 severe, 4 critical) drives the zone scores through a noisy patient-level
*involvement*: ``level = severity + N(0, 0.55)``; each zone then gets ``level + zone bias + N(0, 0.35)``
(:data:`ZONE_BIAS`, mean ~0: anterior upper -0.45 ... posterior lower +0.3; COVID-19 favours the dependent
lower and posterior lung), and its score is drawn from the row of :data:`ZONE_SCORE_TABLE` interpolated at that value.
Clinical information has documented, deliberately imperfect links to severity (:data:`CLINICAL_TABLE`), so
that neither the lung images alone nor the clinical data alone decide the severity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lusapp.core.clinical import HISTORY, SYMPTOMS

from .patterns import ClipParams, ZoneContent, sample_clip_params, sample_content

ZONE_IDS = ("R1", "R2", "R3", "R4", "R5", "R6", "L1", "L2", "L3", "L4", "L5", "L6")
SEVERITY_NAMES = {1: "mild", 2: "moderate", 3: "severe", 4: "critical"}

# P(zone score 0..4 | involvement level 1..4); rows are interpolated for non-integer levels.
ZONE_SCORE_TABLE = np.array([
    [0.60, 0.27, 0.10, 0.03, 0.00],  # 1 mild: mostly 0-1
    [0.25, 0.32, 0.28, 0.12, 0.03],  # 2 moderate
    [0.07, 0.16, 0.32, 0.30, 0.15],  # 3 severe
    [0.02, 0.06, 0.20, 0.40, 0.32],  # 4 critical: many 3-4
])
ZONE_BIAS = {"1": -0.45, "2": -0.05, "3": -0.1, "4": 0.1, "5": 0.1, "6": 0.3}  # by zone number (view x level)

# Clinical: P(yes) = base + slope * (severity - 1) (+ age effect for history items), clipped to [0.01, 0.95].
CLINICAL_TABLE: dict[str, tuple[float, float]] = {
    "fever": (0.45, 0.08), "cough": (0.55, 0.06), "dyspnea": (0.12, 0.2), "sore_throat": (0.25, -0.02),
    "diarrhea": (0.1, 0.01), "headache": (0.25, -0.03), "fatigue": (0.4, 0.08), "chest_pain": (0.1, 0.05),
    "myalgia": (0.28, 0.0), "expectoration": (0.15, 0.07),
    "cardiovascular": (0.06, 0.06), "digestive": (0.08, 0.0), "respiratory": (0.06, 0.05),
    "nervous_system": (0.05, 0.01), "diabetes": (0.07, 0.07), "hypertension": (0.12, 0.09),
    "malignancy": (0.03, 0.02), "chronic_kidney": (0.02, 0.03),
}
AGE_MEAN = {1: 42.0, 2: 52.0, 3: 60.0, 4: 66.0}
AGE_SD = 14.0
P_UNKNOWN = 0.07  # each clinical item independently unknown
P_MISSING = {0: 0.14, 1: 0.08, 2: 0.06, 3: 0.05, 4: 0.05}  # normal zones are skipped more often
P_STILL = {0: 0.5, 1: 0.2, 2: 0.12, 3: 0.1, 4: 0.1}  # normal zones are often a still


@dataclass
class SynthZone:
    zone_id: str
    kind: str  # 'clip' | 'still' | 'missing'
    score: int
    content: ZoneContent | None = None
    params: ClipParams | None = None
    n_frames: int = 0
    seed: int = 0

    def to_dict(self) -> dict:
        return {"zone_id": self.zone_id, "kind": self.kind, "score": self.score, "n_frames": self.n_frames,
                "seed": self.seed, "content": self.content.to_dict() if self.content else None,
                "params": self.params.to_dict() if self.params else None}


@dataclass
class SynthPatient:
    patient_id: str
    severity: int
    involvement: float
    clinical: dict  # ClinicalInfo.to_dict() form
    zones: dict[str, SynthZone] = field(default_factory=dict)
    seed: int = 0

    def zone_scores(self) -> dict[str, int]:
        return {z: r.score for z, r in self.zones.items() if r.kind != "missing"}

    def to_dict(self) -> dict:
        return {"patient_id": self.patient_id, "severity": self.severity, "involvement": self.involvement,
                "seed": self.seed, "clinical": self.clinical,
                "zones": {z: r.to_dict() for z, r in self.zones.items()}}


def score_probs(level: float) -> np.ndarray:
    lv = float(np.clip(level, 1.0, 4.0))
    i = min(int(np.floor(lv)), 3)
    f = lv - i
    row = ZONE_SCORE_TABLE[i - 1] * (1 - f) + (ZONE_SCORE_TABLE[i] * f if i < 4 else 0)
    return row / row.sum()


def sample_clinical(severity: int, rng: np.random.Generator) -> dict:
    age = int(np.clip(np.round(rng.normal(AGE_MEAN[severity], AGE_SD)), 18, 96))
    sex = "M" if rng.random() < 0.45 + 0.05 * severity else "F"
    out_s: dict[str, bool | None] = {}
    out_h: dict[str, bool | None] = {}
    for name in SYMPTOMS + HISTORY:
        base, slope = CLINICAL_TABLE[name]
        p = base + slope * (severity - 1)
        if name in HISTORY:
            p += 0.004 * (age - 50) * (1.0 if name in ("hypertension", "cardiovascular", "diabetes") else 0.3)
        val = None if rng.random() < P_UNKNOWN else bool(rng.random() < np.clip(p, 0.01, 0.95))
        (out_s if name in SYMPTOMS else out_h)[name] = val
    return {"age": None if rng.random() < 0.02 else age, "sex": sex, "symptoms": out_s, "history": out_h}


def make_patient(patient_id: str, severity: int, seed: int, frames: tuple[int, int] = (12, 40),
                 clutter_p: float = 0.3, probe: str | None = None) -> SynthPatient:
    """One synthetic patient (no pixels yet: each zone carries the seed that renders it)."""
    if severity not in SEVERITY_NAMES:
        raise ValueError(f"severity must be 1-4, not {severity}")
    rng = np.random.default_rng([int(seed), 11])
    level = float(np.clip(severity + rng.normal(0, 0.55), 1.0, 4.0))
    clinical = sample_clinical(severity, rng)
    pt = SynthPatient(patient_id=patient_id, severity=severity, involvement=round(level, 3), clinical=clinical,
                      seed=int(seed))
    # one probe per patient (the exam is usually done with one probe), unless forced
    pprobe = probe or ("convex" if rng.random() < 0.75 else "linear")
    for zi, zid in enumerate(ZONE_IDS):
        zseed = int(rng.integers(0, 2**31 - 1))
        zl = level + ZONE_BIAS[zid[1]] + rng.normal(0, 0.35)
        score = int(rng.choice(5, p=score_probs(zl)))
        if rng.random() < P_MISSING[score]:
            pt.zones[zid] = SynthZone(zid, "missing", score, seed=zseed)
            continue
        zrng = np.random.default_rng([zseed, 0])
        content = sample_content(score, zrng)
        params = sample_clip_params(zrng, probe=pprobe, clutter=bool(zrng.random() < clutter_p))
        still = rng.random() < P_STILL[score]
        n = 1 if still else int(rng.integers(frames[0], frames[1] + 1))
        pt.zones[zid] = SynthZone(zid, "still" if still else "clip", score, content, params, n, zseed)
    return pt


def make_cohort(n: int, seed: int = 0, severities: list[int] | None = None, **kw) -> list[SynthPatient]:
    """``n`` patients with balanced severities (each block of 4 is a permutation of 1-4) unless given."""
    rng = np.random.default_rng([int(seed), 7])
    if severities is None:
        blocks = [rng.permutation([1, 2, 3, 4]) for _ in range((n + 3) // 4)]
        severities = [int(s) for s in np.concatenate(blocks)[:n]] if blocks else []
    pids = [f"SYN-{seed:04d}-{i:05d}" for i in range(n)]
    seeds = rng.integers(0, 2**31 - 1, size=n)
    return [make_patient(pid, sev, int(s), **kw) for pid, sev, s in zip(pids, severities, seeds)]
