"""Training-free descriptors of a lung-ultrasound clip in its scan geometry (numpy + OpenCV, no torch).

The frames are the network's inputs (the crop, resized to the input size, uint8). A convex probe draws a fan;
``unroll`` resamples every row's imaging span onto a fixed number of columns, which maps each line through the
fan's apex onto one column (intercept theorem: rows are parallel, so a radial line keeps its fraction of the
row's span): B-lines and rib shadows become columns, A-lines and the pleura stay rows. On a linear probe the
span is the whole row and nothing moves.

``clip_descriptor`` returns a fixed-length vector (names in ``NAMES``): where the pleural line is and how
bright; how bright the lung below it is relative to the pleura, shallow and deep (white lung, consolidation
and effusion change this); how much of the image energy below the pleura is horizontal (A-lines, pleura) or
vertical (B-lines); repeats of the pleural echo at multiples of its depth (A-lines); lateral contrast of the
deep column profile; anechoic and bright shares below the pleura; temporal change (sliding, a frozen clip);
plus the frame quality numbers the engine warns on (blank frames). These are inputs of the findings head
(lusapp.model.findings), never a score by themselves.
"""

from __future__ import annotations

import cv2
import numpy as np

NAMES = ("pleura_depth", "pleura_contrast", "below_mean", "deep_ratio", "col_peak", "col_cv", "col_persist",
         "horiz", "horiz_deep", "a_period", "row_peaky", "tex_temporal", "spatial_cv", "dark_frac", "bright_frac",
         "motion")
UNROLL_COLS = 96


def fan_edges(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(left, right, top): per row the imaging span [left, right) from straight lines fitted to the edges of
    the frames' content, and the first content row."""
    h, w = frames.shape[1:]
    content = cv2.GaussianBlur(frames.max(0).astype(np.float32), (0, 0), 1.5) > 12
    left, right = np.full(h, np.nan), np.full(h, np.nan)
    for y in range(h):
        xs = np.flatnonzero(content[y])
        if xs.size > 0.1 * w:
            left[y], right[y] = xs[0], xs[-1] + 1
    ok = np.isfinite(left)
    if ok.sum() < 10:
        return np.zeros(h), np.full(h, float(w)), 0
    top = int(np.argmax(ok))
    ys = np.flatnonzero(ok)
    sel = ys[ys >= top + 0.1 * (h - top)]
    rows = np.arange(h)
    fits = []
    for edge, border in ((left, 0), (right, w)):  # rows where the edge sits on the frame border say nothing
        free = sel[np.abs(edge[sel] - border) > 1]
        use = free if free.size >= 5 else sel
        fits.append(np.polyval(np.polyfit(use, edge[use], 1), rows))
    lo = np.clip(fits[0], 0, w - 2)
    hi = np.clip(fits[1], lo + 2, w)
    return lo, hi, top


def unroll(frames: np.ndarray, cols: int = UNROLL_COLS) -> np.ndarray:
    """(T, H', cols) float32: the fan resampled to a rectangle from its first content row down."""
    h = frames.shape[1]
    lo, hi, top = fan_edges(frames)
    mapx = (lo[:, None] + (hi - lo)[:, None] * (np.arange(cols)[None, :] + 0.5) / cols).astype(np.float32)
    mapy = np.repeat(np.arange(h, dtype=np.float32)[:, None], cols, 1)
    out = np.stack([cv2.remap(np.ascontiguousarray(f), mapx, mapy, cv2.INTER_LINEAR) for f in frames])
    return out.astype(np.float32)[:, top:]


def _smooth(x: np.ndarray, k: int) -> np.ndarray:
    k = max(1, int(k))
    return np.convolve(np.pad(x, k, mode="edge"), np.ones(2 * k + 1) / (2 * k + 1), "valid")


def _energy_share(gy: np.ndarray, gx: np.ndarray) -> float:
    ey, ex = float((gy ** 2).sum()), float((gx ** 2).sum())
    return ey / (ex + ey + 1e-6)


def clip_descriptor(frames: np.ndarray) -> np.ndarray:
    """float32 vector of ``NAMES`` for (T, H, W) uint8 network-input frames of one clip (T >= 1)."""
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    u = unroll(frames.astype(np.uint8))
    t, h, w = u.shape
    if h < 20 or float(u.max()) < 8:  # nothing to describe (blank or tiny): a neutral, recognisable vector
        return np.zeros(len(NAMES), np.float32)
    central = u[:, :, int(0.15 * w):int(0.85 * w)]
    row_profile = central.mean((0, 2))
    rs = _smooth(row_profile, 1)
    lo, hi = int(0.04 * h), max(int(0.04 * h) + 1, int(0.55 * h))
    p = lo + int(np.argmax(rs[lo:hi]))  # the pleural line: the brightest row band in the upper half
    pv = float(rs[p]) + 1e-3
    below = u[:, p + max(2, int(0.04 * h)):, :]
    if below.shape[1] < 6:
        below = u[:, -6:, :]
    bh = below.shape[1]
    shallow, deep = below[:, :bh // 2], below[:, bh // 2:]
    f: dict[str, float] = {"pleura_depth": p / h, "pleura_contrast": pv / (float(np.median(row_profile)) + 1),
                           "below_mean": float(below.mean()) / pv,
                           "deep_ratio": float(deep.mean()) / (float(shallow.mean()) + 1)}
    col = deep.mean(1)  # (T, W) deep column profile per frame
    med = np.median(col, 1, keepdims=True) + 1
    f["col_peak"] = float(np.mean(np.percentile(col / med, 90, axis=1)))
    f["col_cv"] = float(np.mean(col.std(1) / med[:, 0]))
    c1 = shallow.mean(1)
    cc = [np.corrcoef(a, b)[0, 1] if a.std() > 1e-3 and b.std() > 1e-3 else 0.0 for a, b in zip(c1, col)]
    f["col_persist"] = float(np.mean(cc))
    blur = [cv2.GaussianBlur(x, (0, 0), 1.5) for x in below]
    gy = np.stack([cv2.Sobel(x, cv2.CV_32F, 0, 1) for x in blur])
    gx = np.stack([cv2.Sobel(x, cv2.CV_32F, 1, 0) for x in blur])
    f["horiz"] = _energy_share(gy, gx)
    f["horiz_deep"] = _energy_share(gy[:, bh // 2:], gx[:, bh // 2:])
    a_score = 0.0
    for k in (2, 3):  # A-lines: the pleural echo repeated at 2x and 3x its depth
        y = int(round(k * (p + 0.5)))
        if y + 3 < h:
            a_score += (float(rs[max(0, y - 3):y + 4].max()) - float(np.median(rs[max(0, y - 10):y + 11]))) / pv
    f["a_period"] = a_score
    tail = _smooth(row_profile[p + 3:], 1) if row_profile.size > p + 8 else np.zeros(1)
    f["row_peaky"] = (float(tail.max()) - float(np.median(tail))) / pv
    mean_below = below.mean(0)
    f["tex_temporal"] = float(below.std(0).mean() / (below.mean() + 1))
    f["spatial_cv"] = float(np.mean([x.std() for x in below]) / (below.mean() + 1))
    f["dark_frac"] = float((mean_below < 0.2 * pv).mean())
    f["bright_frac"] = float((mean_below > 0.6 * pv).mean())
    f["motion"] = float(np.abs(np.diff(u, axis=0)).mean() / (u.mean() + 1)) if t > 1 else 0.0
    return np.array([f[n] for n in NAMES], np.float32)


def frame_quality(frames: np.ndarray) -> dict[str, float]:
    """Numbers the engine warns on: mean and spread of grey (blank frames), the median over consecutive sampled
    frames of their mean absolute change (a frozen video)."""
    x = np.asarray(frames, np.float32)
    if x.ndim == 2:
        x = x[None]
    # the median over consecutive pairs: one odd frame (a codec's first frame) does not hide a frozen clip
    change = float(np.median(np.abs(np.diff(x, axis=0)).mean(axis=(1, 2)))) if len(x) > 1 else None
    return {"mean": float(x.mean()), "std": float(x.std()), "change": change if change is not None else -1.0}


def colour_fraction(rgb: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Share of the crop's pixels that are clearly coloured (a Doppler or other colour overlay)."""
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        return 0.0
    x0, y0, x1, y1 = box
    roi = rgb[y0:y1, x0:x1, :3].astype(np.int16)
    if roi.size == 0:
        return 0.0
    return float(((roi.max(-1) - roi.min(-1)) > 40).mean())
