"""Zone content specification, the zone-score rule, and sampling content consistent with a target score.

The 0-4 zone score rule (applied to what is drawn; the B-line counts are ``lusapp.model.measures``'
thresholds, so the drawn score and the measured rule score agree):

====== ==========================================================================
score  content
====== ==========================================================================
0      A-lines, fewer than 3 B-lines, smooth pleura
1      3-5 separate B-lines
2      6 or more B-lines, or an irregular pleural line
3      fused B-lines ("white lung") or a thickened pleural line
4      consolidation (with any of the above)
====== ==========================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from lusapp.model.measures import MANY_B_LINES, SOME_B_LINES


@dataclass
class ZoneContent:
    """What one zone's clip shows. Serialised into the patient's synth.json sidecar."""

    n_blines: int = 0  # separate (non-fused) B-lines
    fused: bool = False  # confluent B-lines, white lung
    fused_fraction: float = 0.0  # fraction of the pleural width covered by the fused band(s)
    pleura: str = "smooth"  # smooth | irregular | thickened
    a_lines: bool = True  # A-lines drawn where no B-line erases them
    consolidation_cm2: float = 0.0  # area of the subpleural consolidation in cm^2 (0: none)
    bronchograms: bool = False  # air bronchograms inside the consolidation
    score: int = 0  # the rule applied to this content

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ZoneContent":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def rule_score(c: ZoneContent) -> int:
    """The zone score of a content spec (the table in the module docstring)."""
    if c.consolidation_cm2 > 0:
        return 4
    if c.fused or c.pleura == "thickened":
        return 3
    if c.n_blines >= MANY_B_LINES or c.pleura == "irregular":
        return 2
    if c.n_blines >= SOME_B_LINES:
        return 1
    return 0


def sample_content(score: int, rng: np.random.Generator) -> ZoneContent:
    """Random content whose rule score is exactly ``score`` (0-4)."""
    if score not in range(5):
        raise ValueError(f"zone score must be 0-4, not {score}")
    c = ZoneContent()
    if score == 0:
        c.n_blines = int(rng.choice([0, 0, 0, 1, 1, SOME_B_LINES - 1]))
        c.a_lines = True
    elif score == 1:
        c.n_blines = int(rng.integers(SOME_B_LINES, MANY_B_LINES))
        c.a_lines = bool(rng.random() < 0.6)
    elif score == 2:
        if rng.random() < 0.6:
            c.n_blines = int(rng.integers(MANY_B_LINES, 10))
            c.pleura = "irregular" if rng.random() < 0.4 else "smooth"
        else:
            c.n_blines = int(rng.integers(0, MANY_B_LINES))
            c.pleura = "irregular"
        c.a_lines = bool(rng.random() < 0.3)
    elif score == 3:
        mode = rng.random()
        if mode < 0.5:
            c.fused, c.pleura = True, str(rng.choice(["smooth", "irregular", "thickened"], p=[0.3, 0.4, 0.3]))
        elif mode < 0.8:
            c.fused, c.pleura = True, "thickened"
        else:
            c.pleura = "thickened"
            c.n_blines = int(rng.integers(2, 8))
        c.a_lines = bool(rng.random() < 0.15)
    else:
        c.consolidation_cm2 = float(np.round(rng.uniform(0.6, 6.0), 2))
        c.bronchograms = bool(rng.random() < 0.75)
        c.pleura = str(rng.choice(["irregular", "thickened"]))
        c.fused = bool(rng.random() < 0.4)
        c.n_blines = int(rng.integers(0, 5))
        c.a_lines = False
    if c.fused:
        c.fused_fraction = float(np.round(rng.uniform(0.35, 0.8), 2))
        c.n_blines = min(c.n_blines, int(rng.integers(0, 3)))
    c.score = rule_score(c)
    assert c.score == score, (c, score)
    return c


@dataclass
class ClipParams:
    """Imaging parameters of one clip (probe, depth, motion, appearance); all drawn from one rng."""

    probe: str = "convex"
    depth_cm: float = 12.0
    fan_deg: float = 70.0
    radius_cm: float = 4.0
    lateral_cm: float = 4.5
    fps: float = 20.0
    pleura_cm: float = 2.2  # depth of the pleural line (probe face to pleura)
    ribs: bool = True
    rib_gap_frac: float = 0.55  # intercostal gap as a fraction of the image width
    gain: float = 1.0
    dynamic: float = 0.5  # power-law compression exponent
    reject: float = 0.12  # black level: compressed values below it are black
    speckle_k: float = 0.6  # speckle reduction: the envelope speckle S enters as S**k (k=1 fully developed)
    noise_floor: float = 6.0  # grey levels of noise added after compression (rib shadows stay visible)
    attenuation: float = 0.08  # per cm (amplitude), partly compensated by TGC
    tgc: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0])  # TGC knots over depth
    speckle_lat: float = 4.0  # speckle smoothing sigma across beams (polar px)
    speckle_ax: float = 1.4  # along the beam
    resp_period_s: float = 4.0  # respiratory period
    sliding_px: float = 3.0  # lung sliding amplitude (beams)
    drift_px: float = 1.0  # probe drift amplitude (beams)
    clutter: bool = False  # device text, depth ruler, logo, black borders

    def to_dict(self) -> dict:
        return asdict(self)


def sample_clip_params(rng: np.random.Generator, probe: str | None = None, clutter: bool | None = None) -> ClipParams:
    p = ClipParams()
    p.probe = probe or ("convex" if rng.random() < 0.75 else "linear")
    if p.probe == "convex":
        p.depth_cm = float(np.round(rng.uniform(8.0, 16.0), 1))
        p.fan_deg = float(rng.uniform(50.0, 70.0))
        p.radius_cm = float(rng.uniform(4.0, 8.0))
        p.pleura_cm = float(np.clip(rng.uniform(0.2, 0.33) * p.depth_cm, 1.8, 4.2))
    else:
        p.depth_cm = float(np.round(rng.uniform(4.0, 8.0), 1))
        p.lateral_cm = float(rng.uniform(3.8, 5.0))
        p.pleura_cm = float(rng.uniform(0.8, 2.0))
    p.fps = float(rng.choice([10.0, 15.0, 20.0, 25.0, 30.0]))
    p.ribs = bool(rng.random() < 0.85)
    p.rib_gap_frac = float(rng.uniform(0.35, 0.6))
    p.gain = float(rng.uniform(0.5, 0.8))
    p.dynamic = float(rng.uniform(0.4, 0.55))
    p.reject = float(rng.uniform(0.08, 0.16))
    p.noise_floor = float(rng.uniform(4.0, 12.0))
    p.attenuation = float(rng.uniform(0.03, 0.07))
    p.tgc = [float(v) for v in np.array([1.0, 1.05, 1.1, 1.15]) * rng.uniform(0.85, 1.15, size=4)]
    p.speckle_k = float(rng.uniform(0.35, 0.6))
    p.speckle_lat = float(rng.uniform(3.0, 5.0))
    p.speckle_ax = float(rng.uniform(1.1, 1.7))
    p.resp_period_s = float(rng.uniform(2.5, 5.0))
    p.sliding_px = float(rng.uniform(1.5, 4.5))
    p.drift_px = float(rng.uniform(0.0, 1.5))
    p.clutter = bool(rng.random() < 0.3) if clutter is None else clutter
    return p
