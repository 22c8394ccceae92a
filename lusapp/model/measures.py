"""Quantitative measures of a pattern mask and the rule-based zone score (numpy only: imported with the model).

Frame measures (``frame_measures(mask, spacing_mm)``; mask = uint8 label map, lusapp.core.labels):

* pleural line (class 1): its width is the number of columns holding class-1 pixels (its horizontal span
  used for coverage is the columns from the first to the last of them); thickness is the median over those
  columns of the vertical extent (last - first row + 1) of class 1; irregularity is the standard deviation of
  the line's centre row per column after removing a fitted quadratic (convex probes draw the pleura as an arc).
* B-lines (class 3): the column profile counts B-line pixels per column; a column belongs to a B-line when
  it holds at least ``B_MIN_LENGTH`` of the mask height (B-lines are long vertical artefacts, specks are not).
  Distinct B-lines are the peaks of the (lightly smoothed) profile, at least ``B_MIN_SEPARATION`` of the width
  apart and with a prominence of at least ``B_MIN_PROMINENCE`` of their height (a flat-topped wide band counts
  once) -- or, when larger, the number of separate B-line origins just under the pleural line (lines that fan
  out and merge deeper down on a sector image still start apart). Coverage: the share of pleural columns under
  which B-line pixels fill at least half of a band ``COVER_BAND`` x height deep (where B-lines start), and the
  widest continuous such stretch; without a pleural line, the share of all columns holding a B-line.
  (Checked on the exact masks of 40 synthetic clips, full and network resolution: rule score = generator's
  score in 39-40/40, B-line counts exact but one.)
* A-line present: class-2 pixels over at least ``A_MIN_FRACTION`` of the area.
* consolidation (class 4): area in pixels and cm^2 when the spacing is known.

Lengths are reported in pixels of the original frame (``scale`` converts mask pixels to original pixels when
the mask is the network's small map) and in mm / cm^2 when ``spacing_mm`` (row, col mm per original pixel) is
known. The thresholds below that are physical use the spacing; without it they assume the frame height spans
``DEFAULT_DEPTH_MM`` of depth (a typical lung preset).

Rule score (first rule that fires wins; paper's 0-4 scale):
  4  consolidation >= ``CONSOLIDATION_MIN_CM2`` cm^2
  3  fused B-lines: coverage >= ``FUSED_COVERAGE`` of the pleura, or one B-line band >= ``FUSED_BAND`` wide;
     or thickened pleura: thickness >= ``THICK_PLEURA_MM``
  2  >= ``MANY_B_LINES`` (6) B-lines, or irregular pleura: irregularity >= ``IRREGULAR_MM``
  1  ``SOME_B_LINES`` (3) to 5 B-lines
  0  otherwise (A-lines, < 3 B-lines)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from lusapp.core.labels import A_LINE, B_LINE, CONSOLIDATION, PLEURAL_LINE

DEFAULT_DEPTH_MM = 100.0
B_MIN_LENGTH = 0.08  # of the mask height
B_MIN_SEPARATION = 0.02  # of the mask width (minimum distance between two B-line centres)
B_MIN_PROMINENCE = 0.3  # of the peak height
A_MIN_FRACTION = 0.002
CONSOLIDATION_MIN_CM2 = 0.25
FUSED_COVERAGE = 0.5
FUSED_BAND = 0.25  # one continuous B-line band this share of the pleural span is "fused" too
THICK_PLEURA_MM = 3.0
IRREGULAR_MM = 1.0
SOME_B_LINES = 3  # this many separate B-lines score 1 (the synthetic renderer's rule uses the same two)
MANY_B_LINES = 6  # and this many score 2
COVER_BAND = 0.04  # of the mask height: the band under the pleura where B-line coverage is measured
CLIP_PERCENTILE = 90  # clip counts / areas: robust maximum over frames


@dataclass
class FrameMeasures:
    height: int
    width: int
    b_lines: int = 0
    b_line_coverage: float = 0.0  # 0..1 of the pleural span
    widest_b_band: float = 0.0  # 0..1 of the pleural span
    pleura_found: bool = False
    pleural_width_px: float = 0.0
    pleural_thickness_px: float | None = None
    pleural_thickness_mm: float | None = None
    pleural_irregularity_px: float | None = None
    pleural_irregularity_mm: float | None = None
    a_line_present: bool = False
    consolidation_px: float = 0.0
    consolidation_cm2: float | None = None
    spacing_mm: tuple[float, float] | None = None
    n_frames: int = 1
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _spacing(spacing_mm) -> tuple[float, float] | None:
    if spacing_mm is None:
        return None
    if np.isscalar(spacing_mm):
        return float(spacing_mm), float(spacing_mm)
    r, c = spacing_mm
    return float(r), float(c)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) runs of True in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _pleura(mask: np.ndarray):
    pl = mask == PLEURAL_LINE
    cols = np.flatnonzero(pl.any(axis=0))
    if cols.size == 0:
        return None
    sub = pl[:, cols]
    rows = np.arange(mask.shape[0])[:, None]
    first = np.argmax(sub, axis=0)
    last = mask.shape[0] - 1 - np.argmax(sub[::-1], axis=0)
    extent = last - first + 1
    centre = (sub * rows).sum(axis=0) / sub.sum(axis=0)
    if cols.size >= 5:
        deg = 2 if cols.size >= 12 else 1
        fit = np.polyval(np.polyfit(cols.astype(float), centre, deg), cols)
        irregularity = float(np.std(centre - fit))
    else:
        irregularity = 0.0
    return cols, float(np.median(extent)), irregularity, last


def find_peaks(x: np.ndarray, height: float, distance: int) -> tuple[np.ndarray, np.ndarray]:
    """(peak indices, their prominences) of a 1-D profile: ``scipy.signal.find_peaks(x, height=height,
    distance=distance, prominence=0)`` step for step (plateau midpoints, height, then distance by priority, then
    prominence), so that importing the app's model does not pay scipy.signal's 0.7 s import for one function.
    tests/test_model_measures.py checks it against scipy on random profiles."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    peaks = []
    i = 1
    while i < n - 1:  # local maxima; a flat top counts once, at its middle
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < n - 1 and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                peaks.append((i + ahead - 1) // 2)
                i = ahead
        i += 1
    pk = np.array([p for p in peaks if x[p] >= height], dtype=np.intp)
    if distance > 1 and len(pk) > 1:  # higher peaks first remove lower ones closer than ``distance``
        keep = np.ones(len(pk), bool)
        order = np.argsort(x[pk])
        for j in order[::-1]:
            if not keep[j]:
                continue
            k = j - 1
            while k >= 0 and pk[j] - pk[k] < distance:
                keep[k] = False
                k -= 1
            k = j + 1
            while k < len(pk) and pk[k] - pk[j] < distance:
                keep[k] = False
                k += 1
        pk = pk[keep]
    prom = np.empty(len(pk))
    for m, p in enumerate(pk):  # prominence: height above the higher of the two lowest points before a higher peak
        lo = p
        left_min = x[p]
        while lo >= 0 and x[lo] <= x[p]:
            left_min = min(left_min, x[lo])
            lo -= 1
        hi = p
        right_min = x[p]
        while hi < n and x[hi] <= x[p]:
            right_min = min(right_min, x[hi])
            hi += 1
        prom[m] = x[p] - max(left_min, right_min)
    return pk, prom


def smooth_profile(profile: np.ndarray) -> np.ndarray:
    """The 3-column mean of a column profile, zero beyond its ends (scipy's ``uniform_filter1d(x, 3,
    mode="constant")`` without importing scipy)."""
    padded = np.pad(np.asarray(profile, float), 1)
    return (padded[:-2] + padded[1:-1] + padded[2:]) / 3


def _b_lines(mask: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of distinct B-lines from the column profile, bool per column: holds a B-line)."""
    h, w = mask.shape
    profile = (mask == B_LINE).sum(axis=0).astype(float)
    min_len = max(2.0, B_MIN_LENGTH * h)
    on = profile >= min_len
    if not on.any():
        return 0, on
    smooth = smooth_profile(profile) if w >= 30 else profile
    padded = np.concatenate([[0.0], smooth, [0.0]])
    peaks, prominences = find_peaks(padded, height=min_len, distance=max(1, int(round(B_MIN_SEPARATION * w))))
    keep = prominences >= B_MIN_PROMINENCE * padded[peaks]
    return max(int(keep.sum()), 1), on


def _coverage(mask: np.ndarray, on: np.ndarray, pleura) -> tuple[float, float, int]:
    """(share of the pleura with a B-line starting under it, widest continuous such stretch (both 0..1),
    number of separate B-line origins under the pleura).

    With a pleural line: a pleural column is covered when B-line pixels fill at least half of the band of
    ``COVER_BAND`` x height just below it (where B-lines start: narrow and separate, even on a sector image
    where they fan out deeper down). Without one: the share of all columns holding a B-line."""
    if pleura is None:
        w = max(1, mask.shape[1])
        return float(on.sum()) / w, max((b - a for a, b in _runs(on)), default=0) / w, 0
    cols, bottoms = pleura[0], pleura[3]
    h = mask.shape[0]
    band = max(2, int(round(COVER_BAND * h)))
    rows = bottoms[None, :] + 1 + np.arange(band)[:, None]
    valid = rows < h
    vals = mask[np.minimum(rows, h - 1), cols[None, :]] == B_LINE
    filled = (vals & valid).sum(axis=0) / np.maximum(valid.sum(axis=0), 1)
    covered = filled >= 0.5
    n = max(1, cols.size)
    # runs over consecutive pleural columns (gaps in the pleura break a run)
    breaks = np.flatnonzero(np.diff(cols) > 1) + 1
    runs = [b - a for seg in np.split(covered, breaks) for a, b in _runs(seg)]
    return float(covered.sum()) / n, max(runs, default=0) / n, len(runs)


def frame_measures(mask: np.ndarray, spacing_mm=None, scale: Sequence[float] | None = None) -> FrameMeasures:
    """Measures of one uint8 label map. ``spacing_mm``: (row, col) mm per ORIGINAL pixel (or one float);
    ``scale``: (rows, cols) of original pixels per mask pixel, when the mask is a resized map."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"frame_measures: mask must be 2-D, got shape {mask.shape}")
    h, w = mask.shape
    sy, sx = (float(scale[0]), float(scale[1])) if scale is not None else (1.0, 1.0)
    sp = _spacing(spacing_mm)
    m = FrameMeasures(height=int(round(h * sy)), width=int(round(w * sx)), spacing_mm=sp)
    pleura = _pleura(mask)
    if pleura is not None:
        cols, thick, irr, _ = pleura
        m.pleura_found = True
        m.pleural_width_px = float(cols.size * sx)
        m.pleural_thickness_px = thick * sy
        m.pleural_irregularity_px = irr * sy
        if sp is not None:
            m.pleural_thickness_mm = m.pleural_thickness_px * sp[0]
            m.pleural_irregularity_mm = m.pleural_irregularity_px * sp[0]
    m.b_lines, on = _b_lines(mask)
    if m.b_lines:
        m.b_line_coverage, m.widest_b_band, origins = _coverage(mask, on, pleura)
        m.b_lines = max(m.b_lines, origins)  # lines merging deeper down still start apart
    m.a_line_present = bool((mask == A_LINE).sum() >= max(1.0, A_MIN_FRACTION * h * w))
    m.consolidation_px = float((mask == CONSOLIDATION).sum() * sy * sx)
    if sp is not None:
        m.consolidation_cm2 = m.consolidation_px * sp[0] * sp[1] / 100.0
    return m


def clip_measures(masks: Sequence[np.ndarray] | Sequence[FrameMeasures], spacing_mm=None,
                  scale: Sequence[float] | None = None) -> FrameMeasures:
    """One summary of a clip's frames (label maps or FrameMeasures): counts, coverage and areas take the
    ``CLIP_PERCENTILE``-th percentile over frames (a robust maximum), pleural thickness / irregularity the
    median over frames where the pleura was found, A-line present when in at least a third of the frames."""
    frames = [f if isinstance(f, FrameMeasures) else frame_measures(f, spacing_mm, scale) for f in masks]
    if not frames:
        raise ValueError("clip_measures: no frames")
    if len(frames) == 1:
        return frames[0]

    def robust_max(values):
        return float(np.percentile(np.asarray(values, dtype=float), CLIP_PERCENTILE, method="nearest"))

    first = frames[0]
    out = FrameMeasures(height=first.height, width=first.width, spacing_mm=first.spacing_mm, n_frames=len(frames))
    out.b_lines = int(robust_max([f.b_lines for f in frames]))
    out.b_line_coverage = robust_max([f.b_line_coverage for f in frames])
    out.widest_b_band = robust_max([f.widest_b_band for f in frames])
    out.consolidation_px = robust_max([f.consolidation_px for f in frames])
    if all(f.consolidation_cm2 is not None for f in frames):
        out.consolidation_cm2 = robust_max([f.consolidation_cm2 for f in frames])
    out.a_line_present = sum(f.a_line_present for f in frames) * 3 >= len(frames)
    with_pleura = [f for f in frames if f.pleura_found]
    if with_pleura:
        out.pleura_found = True
        out.pleural_width_px = float(np.median([f.pleural_width_px for f in with_pleura]))
        for name in ("pleural_thickness_px", "pleural_thickness_mm", "pleural_irregularity_px",
                     "pleural_irregularity_mm"):
            vals = [getattr(f, name) for f in with_pleura if getattr(f, name) is not None]
            setattr(out, name, float(np.median(vals)) if vals else None)
    return out


def _mm(m: FrameMeasures, px: float | None, known_mm: float | None) -> float | None:
    """A vertical length in mm: the measured one, else from the default depth assumption."""
    if known_mm is not None:
        return known_mm
    if px is None or m.height <= 0:
        return None
    return px * DEFAULT_DEPTH_MM / m.height


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def rule_score(m: FrameMeasures) -> tuple[int, str]:
    """(score 0-4, the rule that fired as short text) for frame or clip measures."""
    if m.consolidation_cm2 is not None:
        cm2 = m.consolidation_cm2
    else:
        px_mm = DEFAULT_DEPTH_MM / max(1, m.height)
        cm2 = m.consolidation_px * px_mm * px_mm / 100.0
    if cm2 >= CONSOLIDATION_MIN_CM2:
        return 4, f"consolidation {cm2:.1f} cm^2" + ("" if m.consolidation_cm2 is not None else " (assumed depth)")
    if m.b_lines and (m.b_line_coverage >= FUSED_COVERAGE or m.widest_b_band >= FUSED_BAND):
        return 3, f"fused B-lines ({100 * m.b_line_coverage:.0f}% of pleura)"
    thick = _mm(m, m.pleural_thickness_px, m.pleural_thickness_mm)
    if thick is not None and thick >= THICK_PLEURA_MM:
        return 3, f"thickened pleura ({thick:.1f} mm)"
    if m.b_lines >= MANY_B_LINES:
        return 2, f"{m.b_lines} B-lines"
    irr = _mm(m, m.pleural_irregularity_px, m.pleural_irregularity_mm)
    if irr is not None and irr >= IRREGULAR_MM:
        return 2, f"irregular pleura ({irr:.1f} mm)"
    if m.b_lines >= SOME_B_LINES:
        return 1, f"{m.b_lines} B-lines"
    parts = []
    if m.a_line_present:
        parts.append("A-lines")
    parts.append(_plural(m.b_lines, "B-line") if m.b_lines else "no B-lines")
    return 0, ", ".join(parts)
