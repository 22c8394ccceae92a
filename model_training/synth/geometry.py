"""Probe geometry and scan conversion for the synthetic lung-ultrasound generator.

Everything is first drawn in *beam coordinates*: a polar image of shape ``(n_samples, n_beams)`` whose row is
the depth sample along a beam (row 0 = transducer face) and whose column is the beam index (left to right).
:class:`Geometry` holds the ``cv2.remap`` maps that turn such an image into the Cartesian output frame
(convex: a sector whose apex lies above the image; linear: a rectangle), and the ``inside`` mask of the
imaging region in the output frame.

Device clutter (``make_clutter``) outside the imaging region: text, a depth ruler with tick marks, a logo,
black borders. Drawn once per clip into a static overlay that ``Clutter.apply`` stamps onto each frame. Nothing is drawn
inside the imaging region, so the label maps stay exact (clutter pixels are background, label 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .patterns import ClipParams


@dataclass
class Geometry:
    kind: str  # "convex" | "linear"
    height: int  # output frame size
    width: int
    depth_cm: float
    n_samples: int  # polar grid size
    n_beams: int
    px_per_cm: float  # output pixels per cm (isotropic)
    map_x: np.ndarray = field(repr=False)  # (H, W) float32 beam index of each output pixel
    map_y: np.ndarray = field(repr=False)  # (H, W) float32 sample index of each output pixel
    inside: np.ndarray = field(repr=False)  # (H, W) bool imaging region
    apex: tuple[float, float] = (0.0, 0.0)  # convex: apex (x, y) in output px (y < 0); linear: unused
    r0: float = 0.0  # convex: radius of the probe face in px
    half_angle: float = 0.0  # convex: half fan angle in radians
    x0: float = 0.0  # linear: left edge of the image in px
    y0: float = 0.0  # top edge (linear) in px
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # bounding box x0, y0, x1, y1 of the imaging region

    @property
    def cm_per_sample(self) -> float:
        return self.depth_cm / (self.n_samples - 1)

    def to_cartesian(self, beam: np.ndarray, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Output pixel coordinates (x, y) of polar points (beam index, sample index)."""
        beam = np.asarray(beam, dtype=np.float64)
        sample = np.asarray(sample, dtype=np.float64)
        depth_px = sample * self.cm_per_sample * self.px_per_cm
        if self.kind == "convex":
            theta = (beam / (self.n_beams - 1) * 2.0 - 1.0) * self.half_angle
            r = self.r0 + depth_px
            return self.apex[0] + r * np.sin(theta), self.apex[1] + r * np.cos(theta)
        width_px = (self.box[2] - self.box[0])
        return self.x0 + beam / (self.n_beams - 1) * width_px, self.y0 + depth_px


def make_geometry(kind: str, size: tuple[int, int] = (480, 640), depth_cm: float = 12.0,
                  fan_deg: float = 70.0, radius_cm: float = 4.0, margin: tuple[int, int, int, int] = (0, 0, 0, 0),
                  lateral_cm: float = 4.0, resolution: float = 0.6) -> Geometry:
    """Build the scan-conversion maps.

    ``size`` is the output (H, W); ``margin`` (top, bottom, left, right) px of black border around the image;
    convex: ``fan_deg`` full fan angle, ``radius_cm`` probe face radius; linear: ``lateral_cm`` image width.
    ``resolution`` scales the polar grid relative to the output pixel density (speed vs sharpness).
    """
    if kind not in ("convex", "linear"):
        raise ValueError(f"probe kind must be 'convex' or 'linear', not {kind!r}")
    h, w = size
    top, bottom, left, right = margin
    avail_h, avail_w = h - top - bottom, w - left - right
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "convex":
        half = np.deg2rad(fan_deg) / 2.0
        # Fit the sector: vertical extent r_max - r0*cos(half) <= avail_h, width 2 r_max sin(half) <= avail_w.
        ratio = radius_cm / depth_cm
        # In units of depth_px: r0 = ratio * D, r_max = (1 + ratio) * D
        d_by_h = avail_h / ((1.0 + ratio) - ratio * np.cos(half))
        d_by_w = avail_w / (2.0 * (1.0 + ratio) * np.sin(half))
        depth_px = float(min(d_by_h, d_by_w)) * 0.98
        r0 = ratio * depth_px
        cx = left + avail_w / 2.0
        sector_h = (r0 + depth_px) - r0 * np.cos(half)
        top_y = top + (avail_h - sector_h) / 2.0
        ay = top_y - r0 * np.cos(half)
        px_per_cm = depth_px / depth_cm
        n_samples = int(round(depth_px * resolution * 1.2))
        n_beams = int(round(2 * (r0 + depth_px) * np.sin(half) * resolution))
        dx, dy = xx - cx, yy - ay
        r = np.sqrt(dx * dx + dy * dy)
        theta = np.arctan2(dx, dy)
        map_y = (r - r0) / depth_px * (n_samples - 1)
        map_x = (theta + half) / (2 * half) * (n_beams - 1)
        inside = (r >= r0) & (r <= r0 + depth_px) & (np.abs(theta) <= half)
        bx0 = int(np.floor(cx - (r0 + depth_px) * np.sin(half)))
        bx1 = int(np.ceil(cx + (r0 + depth_px) * np.sin(half)))
        box = (max(bx0, 0), int(np.floor(top_y)), min(bx1, w), int(np.ceil(top_y + sector_h)))
        extra = dict(apex=(float(cx), float(ay)), r0=float(r0), half_angle=float(half))
    else:
        px_per_cm = min(avail_h / depth_cm, avail_w / lateral_cm)
        depth_px, width_px = depth_cm * px_per_cm, lateral_cm * px_per_cm
        x0 = left + (avail_w - width_px) / 2.0
        y0 = top + (avail_h - depth_px) / 2.0
        n_samples = int(round(depth_px * resolution * 1.2))
        n_beams = int(round(width_px * resolution))
        map_y = (yy - y0) / depth_px * (n_samples - 1)
        map_x = (xx - x0) / width_px * (n_beams - 1)
        inside = (map_x >= 0) & (map_x <= n_beams - 1) & (map_y >= 0) & (map_y <= n_samples - 1)
        box = (int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x0 + width_px)), int(np.ceil(y0 + depth_px)))
        extra = dict(x0=float(x0), y0=float(y0))
    map_x = np.where(inside, map_x, -10.0).astype(np.float32)
    map_y = np.where(inside, map_y, -10.0).astype(np.float32)
    return Geometry(kind=kind, height=h, width=w, depth_cm=float(depth_cm), n_samples=n_samples,
                    n_beams=n_beams, px_per_cm=float(px_per_cm), map_x=map_x, map_y=map_y, inside=inside,
                    box=box, **extra)


# ----------------------------------------------------------------------------- device clutter
PROBES = {"convex": ("C5-2", "C6-1", "C60x", "CA430"), "linear": ("L12-4", "L11-3", "HFL38", "LA523")}
PRESETS = ("LUNG", "Lung", "ABD", "PULM", "COVID")


@dataclass
class Clutter:
    index: np.ndarray  # flat pixel indices
    values: np.ndarray  # uint8 grey values

    def apply(self, frame: np.ndarray) -> None:
        frame.reshape(-1)[self.index] = self.values


def make_clutter(g: Geometry, p: ClipParams, rng: np.random.Generator) -> Clutter:
    h, w = g.height, g.width
    canvas = np.zeros((h, w), np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(h, w) / 1400.0
    th = max(1, int(round(scale * 2)))
    grey = int(rng.integers(170, 240))
    x0, y0, x1, y1 = g.box
    lines = [
        f"{rng.choice(PROBES[p.probe])}  {rng.choice(PRESETS)}",
        f"D {p.depth_cm:.1f} cm",
        f"G {int(rng.integers(30, 70))}",
        f"FR {int(p.fps)} Hz",
        f"MI {rng.uniform(0.4, 1.3):.1f}  TIS {rng.uniform(0.1, 0.6):.1f}",
    ]
    yy = int(h * 0.12) + y0 // 2
    for text in lines:
        cv2.putText(canvas, text, (4, yy), font, scale, grey, th, cv2.LINE_AA)
        yy += int(34 * scale) + 6
    # top banner: hospital / date
    banner = f"{rng.choice(['ICU', 'ED', 'WARD 3', 'RESP'])}  {int(rng.integers(2020, 2024))}-" \
             f"{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}  {int(rng.integers(0, 24)):02d}:" \
             f"{int(rng.integers(0, 60)):02d}"
    cv2.putText(canvas, banner, (int(w * 0.3), max(int(22 * scale) + 2, y0 - 6)), font, scale, grey, th,
                cv2.LINE_AA)
    # depth ruler right of the image: a tick each cm, longer every 5 cm, labels
    rx = min(x1 + 6, w - 26)
    top = g.to_cartesian(np.array([g.n_beams / 2]), np.array([0.0]))[1][0]
    for cm in range(0, int(g.depth_cm) + 1):
        y = int(round(top + cm * g.px_per_cm))
        if y >= h:
            break
        ln = 10 if cm % 5 == 0 else 5
        cv2.line(canvas, (rx, y), (rx + ln, y), grey, 1)
        if cm % 5 == 0 and cm > 0:
            cv2.putText(canvas, str(cm), (rx + 12, y + 4), font, scale * 0.8, grey, 1, cv2.LINE_AA)
    # logo: a ringed letter in a corner
    lx, ly = w - int(40 * max(scale, 0.5)) - 4, h - int(40 * max(scale, 0.5)) - 4
    r = int(14 * max(scale, 0.5))
    cv2.circle(canvas, (lx + r, ly + r), r, grey, max(1, th))
    cv2.putText(canvas, str(rng.choice(list("SGMPE"))), (lx + r // 2, ly + r + r // 2), font, scale, grey, th,
                cv2.LINE_AA)
    # orientation marker dot near the top left of the image
    cv2.circle(canvas, (max(x0 + int(0.2 * (x1 - x0)), 6), max(y0 - 8, 6)), 3, 255, -1)
    canvas[g.inside] = 0
    idx = np.flatnonzero(canvas)
    return Clutter(index=idx, values=canvas.reshape(-1)[idx].copy())
