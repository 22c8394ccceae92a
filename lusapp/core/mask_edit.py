"""Qt-free edit operations on uint8 label maps (the clip view's brush, eraser, line and polygon tools).

Coordinates are image coordinates ``(x, y)`` = (column, row), floats allowed; points outside the image are
clipped. Every drawing operation edits ``mask`` in place and returns the bounding box of the pixels it
*may* have touched as ``(y0, y1, x0, x1)`` (half-open) or ``None`` when the stroke lies wholly outside.

*Class lock*: every drawing operation takes ``locked`` (classes whose pixels it must not change): a brush,
line or polygon of another class paints around a locked class's pixels, and the eraser leaves them, so a
pleural line traced with care survives a B-line drawn across it. Pixels of the class being drawn are never
protected from that class itself (painting a locked class adds to it).

Undo data is a :class:`MaskDiff`: the changed bounding box with its before/after contents, so one brush
stroke on a 600x800 frame costs a few kilobytes, not a full mask copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import cv2
import numpy as np

from lusapp.core.labels import A_LINE, B_LINE, CONSOLIDATION, N_CLASSES, PLEURAL_LINE

BBox = tuple[int, int, int, int]  # y0, y1, x0, x1 (half-open)

# Line tool thickness as a fraction of the frame's shorter side: the pleural line and A-lines are thin
# bright horizontal echoes, B-lines are wide vertical comet-tail bands.
LINE_THICKNESS: dict[int, float] = {PLEURAL_LINE: 0.012, A_LINE: 0.010, B_LINE: 0.035, CONSOLIDATION: 0.012}


def line_thickness(cls: int, shape: Sequence[int]) -> int:
    """Pixel thickness of the line tool for class ``cls`` on a frame of ``shape`` (H, W)."""
    frac = LINE_THICKNESS.get(int(cls), 0.012)
    return max(1, int(round(frac * min(int(shape[0]), int(shape[1])))))


def _check(mask: np.ndarray, value: int) -> None:
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"mask must be a uint8 HxW label map, got {mask.dtype} {mask.shape}")
    if not 0 <= int(value) < N_CLASSES:
        raise ValueError(f"class {value} is not a label (0..{N_CLASSES - 1})")


def _points(points: Iterable[Sequence[float]]) -> np.ndarray:
    pts = np.asarray([(float(p[0]), float(p[1])) for p in points], dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        raise ValueError("a stroke needs at least one point")
    return pts


def _region(shape: Sequence[int], pts: np.ndarray, pad: int) -> BBox | None:
    h, w = int(shape[0]), int(shape[1])
    x0 = max(0, int(np.floor(pts[:, 0].min())) - pad)
    x1 = min(w, int(np.ceil(pts[:, 0].max())) + pad + 1)
    y0 = max(0, int(np.floor(pts[:, 1].min())) - pad)
    y1 = min(h, int(np.ceil(pts[:, 1].max())) + pad + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    return y0, y1, x0, x1


def _apply_footprint(mask: np.ndarray, box: BBox, footprint: np.ndarray, value: int, only: int | None,
                     locked: Iterable[int] = ()) -> None:
    y0, y1, x0, x1 = box
    sub = mask[y0:y1, x0:x1]
    hit = footprint > 0
    if only is not None:
        hit &= sub == only
    protect = [int(c) for c in locked if int(c) != int(value) and int(c) != 0]
    if protect:
        hit &= ~np.isin(sub, protect)
    sub[hit] = value


def _capsules(footprint: np.ndarray, local: np.ndarray, half_width: float) -> None:
    """Mark pixels within ``half_width`` of the polyline ``local`` (Euclidean, exact; pure numpy)."""
    h, w = footprint.shape
    r = float(half_width)
    pad = int(np.ceil(r)) + 1
    segs = list(zip(local[:-1], local[1:])) if len(local) > 1 else [(local[0], local[0])]
    for a, b in segs:
        sx0 = max(0, int(np.floor(min(a[0], b[0]))) - pad)
        sx1 = min(w, int(np.ceil(max(a[0], b[0]))) + pad + 1)
        sy0 = max(0, int(np.floor(min(a[1], b[1]))) - pad)
        sy1 = min(h, int(np.ceil(max(a[1], b[1]))) + pad + 1)
        if sx0 >= sx1 or sy0 >= sy1:
            continue
        yy, xx = np.mgrid[sy0:sy1, sx0:sx1]
        d = b - a
        L2 = float(d @ d)
        if L2 == 0.0:
            px, py = xx - a[0], yy - a[1]
        else:
            t = np.clip(((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / L2, 0.0, 1.0)
            px, py = xx - (a[0] + t * d[0]), yy - (a[1] + t * d[1])
        footprint[sy0:sy1, sx0:sx1] |= (px * px + py * py <= r * r + 1e-9).astype(np.uint8)


def _stroke(mask: np.ndarray, points, half_width: float, value: int, only: int | None,
            locked: Iterable[int] = ()) -> BBox | None:
    _check(mask, value)
    pts = _points(points)
    box = _region(mask.shape, pts, int(np.ceil(half_width)) + 1)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    footprint = np.zeros((y1 - y0, x1 - x0), np.uint8)
    _capsules(footprint, np.rint(pts) - (x0, y0), half_width)
    _apply_footprint(mask, box, footprint, value, only, locked)
    return box


def brush_stroke(mask: np.ndarray, points, radius: float, value: int, locked: Iterable[int] = ()) -> BBox | None:
    """Paint class ``value`` along ``points`` with a round brush of ``radius`` pixels (0 = one pixel)."""
    return _stroke(mask, points, max(0.0, float(radius)), value, None, locked)


def erase_stroke(mask: np.ndarray, points, radius: float, only_class: int | None = None,
                 locked: Iterable[int] = ()) -> BBox | None:
    """Set pixels under the brush to background; with ``only_class`` only pixels of that class are erased;
    pixels of a ``locked`` class are never erased."""
    return _stroke(mask, points, max(0.0, float(radius)), 0, only_class, locked)


def draw_polyline(mask: np.ndarray, points, thickness: int, value: int, locked: Iterable[int] = ()) -> BBox | None:
    """Draw an open polyline of class ``value`` and ``thickness`` pixels (round caps) through ``points``."""
    return _stroke(mask, points, (max(1, int(thickness)) - 1) / 2.0 + 0.5 - 1e-6, value, None, locked)


def fill_polygon(mask: np.ndarray, points, value: int, locked: Iterable[int] = ()) -> BBox | None:
    """Fill the closed polygon through ``points`` (at least 3) with class ``value``."""
    _check(mask, value)
    pts = _points(points)
    if len(pts) < 3:
        raise ValueError("a polygon needs at least 3 points")
    box = _region(mask.shape, pts, 1)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    footprint = np.zeros((y1 - y0, x1 - x0), np.uint8)
    local = np.rint(pts - (x0, y0)).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(footprint, [local], 1, lineType=cv2.LINE_8)
    _apply_footprint(mask, box, footprint, value, None, locked)
    return box


def simplify_path(points, tolerance: float = 1.5) -> list[tuple[float, float]]:
    """Douglas-Peucker simplification of a freehand drag into a polyline (keeps both end points)."""
    pts = _points(points)
    if len(pts) <= 2:
        return [tuple(p) for p in pts.tolist()]
    approx = cv2.approxPolyDP(pts.astype(np.float32).reshape(-1, 1, 2), float(tolerance), False)
    return [(float(x), float(y)) for x, y in approx.reshape(-1, 2)]


@dataclass(frozen=True)
class MaskDiff:
    """The changed rectangle of one edit: ``before`` and ``after`` are its contents (uint8, same shape)."""

    y0: int
    x0: int
    before: np.ndarray
    after: np.ndarray

    @property
    def bbox(self) -> BBox:
        h, w = self.before.shape
        return self.y0, self.y0 + h, self.x0, self.x0 + w

    @property
    def nbytes(self) -> int:
        return int(self.before.nbytes + self.after.nbytes)

    def apply(self, mask: np.ndarray) -> None:
        y0, y1, x0, x1 = self.bbox
        mask[y0:y1, x0:x1] = self.after

    def revert(self, mask: np.ndarray) -> None:
        y0, y1, x0, x1 = self.bbox
        mask[y0:y1, x0:x1] = self.before


def diff_masks(before: np.ndarray, after: np.ndarray, hint: BBox | None = None) -> MaskDiff | None:
    """The minimal rectangle where ``before`` and ``after`` differ (``None`` if identical).

    ``hint`` (a box known to contain every change) limits the comparison to that region.
    """
    if before.shape != after.shape:
        raise ValueError(f"mask shapes differ: {before.shape} vs {after.shape}")
    oy, ox = 0, 0
    b, a = before, after
    if hint is not None:
        oy, y1, ox, x1 = hint
        b, a = before[oy:y1, ox:x1], after[oy:y1, ox:x1]
    changed = b != a
    rows = np.flatnonzero(changed.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(changed.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return MaskDiff(int(oy + y0), int(ox + x0), b[y0:y1, x0:x1].copy(), a[y0:y1, x0:x1].copy())


def previous_labelled(frames: Iterable[int], frame: int) -> int | None:
    """The largest labelled frame index strictly before ``frame``, or ``None``."""
    earlier = [int(f) for f in frames if int(f) < int(frame)]
    return max(earlier) if earlier else None
