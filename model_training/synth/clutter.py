"""Device clutter outside the imaging region: text, depth ruler with tick marks, a logo, black borders.

Drawn once per clip into a static overlay that ``Clutter.apply`` stamps onto each frame. Nothing is drawn
inside the imaging region, so the label maps stay exact (clutter pixels are background, label 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import Geometry
from .patterns import ClipParams

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
