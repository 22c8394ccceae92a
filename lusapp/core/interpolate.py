"""Interpolation of label maps between two labelled keyframes, for the line classes (Qt-free; numpy + OpenCV).

A clinician labels frames 10 and 15; the frames between get *proposals* (never FINAL until accepted, like
propagated masks). For each line class (pleural line, A-line, B-line) the 8-connected regions of the two
keyframes are paired by the distance of their centres (nearest first, each region used once). A pair moves
from the first centre to the second in a straight line, and its shape morphs between the two: both shapes
are moved onto the in-between centre and their signed distance maps are blended with the frame's weight, so
a line that grows, shrinks or tilts changes smoothly and a thin line never breaks up the way a pixel-wise
blend of two distant lines would. A region without a partner (a B-line that appears) shows in the half of the
gap nearer its keyframe. Other classes (consolidation) are copied from the nearer keyframe.

The frame's weight is ``t = (frame - first) / (second - first)``.
"""

from __future__ import annotations

import cv2
import numpy as np

from lusapp.core.labels import A_LINE, B_LINE, CONSOLIDATION, DRAW_ORDER, PLEURAL_LINE

LINE_CLASSES: tuple[int, ...] = (PLEURAL_LINE, A_LINE, B_LINE)
MIN_REGION_PX = 3  # smaller specks are not interpolated (noise of a brush stroke)


def _regions(binary: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(region mask, centre (y, x)) of each 8-connected region of at least MIN_REGION_PX pixels."""
    n, lab, stats, centres = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    return [(lab == i, np.array([centres[i][1], centres[i][0]])) for i in range(1, n)
            if stats[i, cv2.CC_STAT_AREA] >= MIN_REGION_PX]


def _pairs(a: list, b: list) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pair regions of ``a`` and ``b`` by centre distance, nearest first; returns (pairs, lone a, lone b)."""
    cand = sorted((float(np.hypot(*(ra[1] - rb[1]))), i, j) for i, ra in enumerate(a) for j, rb in enumerate(b))
    used_a, used_b, pairs = set(), set(), []
    for _d, i, j in cand:
        if i not in used_a and j not in used_b:
            pairs.append((i, j))
            used_a.add(i)
            used_b.add(j)
    return pairs, [i for i in range(len(a)) if i not in used_a], [j for j in range(len(b)) if j not in used_b]


def _shift(binary: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``binary`` moved by whole pixels (what leaves the image is lost)."""
    h, w = binary.shape
    out = np.zeros_like(binary)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    if abs(dy) < h and abs(dx) < w:
        out[yd, xd] = binary[ys, xs]
    return out


def _distance_to(binary: np.ndarray) -> np.ndarray:
    """Distance of every pixel to the nearest pixel of ``binary`` (0 on it)."""
    return cv2.distanceTransform((~binary).astype(np.uint8), cv2.DIST_L2, 3)


def _morph(ra: np.ndarray, ca: np.ndarray, rb: np.ndarray, cb: np.ndarray, t: float) -> np.ndarray:
    """The shape between region ``ra`` (centre ``ca``) and ``rb`` (``cb``) at weight ``t``: both moved onto the
    in-between centre; what they share stays, what only ``rb`` covers grows in from the common part as ``t``
    rises, what only ``ra`` covers recedes (by distance to the other shape, so a line lengthens or shortens
    at its ends rather than thinning)."""
    d = cb - ca
    sa = _shift(ra, *np.rint(t * d).astype(int))
    sb = _shift(rb, *np.rint(-(1.0 - t) * d).astype(int))
    if not sa.any() or not sb.any():
        return sa if t < 0.5 else sb
    out = sa & sb
    only_b, only_a = sb & ~sa, sa & ~sb
    if only_b.any():
        db = _distance_to(sa)
        out |= only_b & (db <= t * float(db[only_b].max()))
    if only_a.any():
        da = _distance_to(sb)
        out |= only_a & (da < (1.0 - t) * float(da[only_a].max()) + 1e-6)
    return out


def interpolate_masks(mask_a: np.ndarray, frame_a: int, mask_b: np.ndarray, frame_b: int,
                      classes: tuple[int, ...] = LINE_CLASSES) -> dict[int, np.ndarray]:
    """Label maps for every frame strictly between ``frame_a`` and ``frame_b`` (either order): ``classes``
    interpolated (see the module docstring), every other pattern class from the nearer keyframe."""
    a, b = np.asarray(mask_a), np.asarray(mask_b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"keyframe masks must be two label maps of one size, got {a.shape} and {b.shape}")
    if int(frame_a) == int(frame_b):
        raise ValueError("the two keyframes must be different frames")
    if int(frame_a) > int(frame_b):
        a, b, frame_a, frame_b = b, a, frame_b, frame_a
    fa, fb = int(frame_a), int(frame_b)
    regions = {c: (_regions(a == c), _regions(b == c)) for c in classes}
    plans = {c: _pairs(ra, rb) for c, (ra, rb) in regions.items()}
    out: dict[int, np.ndarray] = {}
    for f in range(fa + 1, fb):
        t = (f - fa) / (fb - fa)
        near = a if t < 0.5 else b
        layers = {c: near == c for c in (PLEURAL_LINE, A_LINE, B_LINE, CONSOLIDATION) if c not in classes}
        for c in classes:
            ra, rb = regions[c]
            pairs, lone_a, lone_b = plans[c]
            layer = np.zeros(a.shape, bool)
            for i, j in pairs:
                layer |= _morph(ra[i][0], ra[i][1], rb[j][0], rb[j][1], t)
            for i in (lone_a if t < 0.5 else []):
                layer |= ra[i][0]
            for j in (lone_b if t >= 0.5 else []):
                layer |= rb[j][0]
            layers[c] = layer
        m = np.zeros(a.shape, np.uint8)
        for c in DRAW_ORDER:
            if c in layers:
                m[layers[c]] = c
        out[f] = m
    return out
