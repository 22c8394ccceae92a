"""Mask propagation by optical flow, and mask agreement (Qt-free; numpy + OpenCV).

A corrected (FINAL) label map of one frame is carried to its neighbours by warping it with the dense optical
flow between the grey frames (OpenCV DIS by default, Farneback on request). The flow is computed *backward*
(from the target frame to the source frame), so every target pixel looks up the label of the source pixel it
came from; labels are remapped with nearest neighbour, so no class values are invented at borders. Frames are
chained: frame k+2 is warped from the warped mask of k+1, so slow drift over many frames is followed.

The results are *proposals*: the clip view shows them apart from FINAL masks until the clinician accepts them.

:func:`mask_dice` compares two label maps on the four pattern classes (the timeline marks frames where the
model's mask and the FINAL mask disagree).
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np

from lusapp.core.labels import A_LINE, B_LINE, CONSOLIDATION, DRAW_ORDER, PLEURAL_LINE

PATTERN_CLASSES: tuple[int, ...] = (PLEURAL_LINE, A_LINE, B_LINE, CONSOLIDATION)
METHODS: tuple[str, ...] = ("dis", "farneback")
DISAGREE_DICE = 0.7  # below this mean Dice (pattern classes) the model and FINAL masks "disagree"


def _grey(frame: np.ndarray) -> np.ndarray:
    a = np.asarray(frame)
    if a.ndim == 3:
        a = cv2.cvtColor(a[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def optical_flow(src: np.ndarray, dst: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow (H, W, 2) float32 from grey ``src`` to ``dst``: ``src[y, x]`` moved to ``(x, y) + flow``."""
    a, b = _grey(src), _grey(dst)
    if a.shape != b.shape:
        raise ValueError(f"frame shapes differ: {a.shape} vs {b.shape}")
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(a, b, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=4, winsize=21, iterations=3,
                                            poly_n=7, poly_sigma=1.5, flags=cv2.OPTFLOW_FARNEBACK_GAUSSIAN)
    raise ValueError(f"unknown flow method {method!r} (one of {', '.join(METHODS)})")


def warp_mask(mask: np.ndarray, src_frame: np.ndarray, dst_frame: np.ndarray, method: str = "dis") -> np.ndarray:
    """The label map ``mask`` of ``src_frame`` carried to ``dst_frame`` (nearest-neighbour remap; uint8)."""
    mask = np.asarray(mask)
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"mask must be a uint8 HxW label map, got {mask.dtype} {mask.shape}")
    if mask.shape != _grey(src_frame).shape:
        raise ValueError(f"mask {mask.shape} and frame {_grey(src_frame).shape} differ in size")
    back = optical_flow(dst_frame, src_frame, method)  # dst pixel -> where it was in src
    h, w = mask.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, gx + back[..., 0], gy + back[..., 1], interpolation=cv2.INTER_NEAREST,
                     borderMode=cv2.BORDER_REPLICATE)


def propagation_frames(start: int, direction: int, n_frames: int, labelled: Iterable[int],
                       count: int | None = None) -> list[int]:
    """Frames a mask of ``start`` propagates to: step ``direction`` (+1 / -1), at most ``count`` frames
    (``None`` or 0: no limit), never past the clip's ends, and stopping before the next labelled frame."""
    if direction not in (1, -1):
        raise ValueError("direction must be +1 or -1")
    stop = set(int(f) for f in labelled)
    out: list[int] = []
    f = int(start) + direction
    while 0 <= f < int(n_frames) and f not in stop and (not count or len(out) < int(count)):
        out.append(f)
        f += direction
    return out


MODES: tuple[str, ...] = ("regions", "dense")


def _regions(mask: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(class, rows, columns) of each 8-connected region of each pattern class, in drawing order."""
    out = []
    for c in DRAW_ORDER:
        n, lab = cv2.connectedComponents((mask == c).astype(np.uint8), connectivity=8)
        for i in range(1, n):
            ys, xs = np.nonzero(lab == i)
            out.append((int(c), ys.astype(np.float64), xs.astype(np.float64)))
    return out


def propagate(mask: np.ndarray, start: int, targets: Sequence[int], read_frame: Callable[[int], np.ndarray],
              method: str = "dis", mode: str = "regions") -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame, propagated mask)`` for each of ``targets`` (consecutive frames walking away from
    ``start``); ``read_frame(i)`` returns frame ``i`` (grey or RGB).

    ``mode="regions"`` (default): each connected region of each class moves as a whole by the median flow
    under it, accumulated over the frames with sub-pixel precision, so thin lines stay whole and the speckle's
    noise does not fray them (A-/B-lines are artefacts that move with the probe and the pleura, not with each
    speckle). ``mode="dense"``: every pixel follows the dense flow (:func:`warp_mask`, chained)."""
    if mode not in MODES:
        raise ValueError(f"unknown propagation mode {mode!r} (one of {', '.join(MODES)})")
    cur, prev_frame = np.asarray(mask, np.uint8), read_frame(int(start))
    h, w = cur.shape
    regions = _regions(cur) if mode == "regions" else []
    offsets = np.zeros((len(regions), 2))  # (dy, dx) of each region so far
    for t in targets:
        frame = read_frame(int(t))
        if mode == "dense":
            cur = warp_mask(cur, prev_frame, frame, method)
        else:
            flow = optical_flow(prev_frame, frame, method)
            cur = np.zeros((h, w), np.uint8)
            for j, (c, ys, xs) in enumerate(regions):
                yy = np.clip(np.rint(ys + offsets[j, 0]), 0, h - 1).astype(np.intp)
                xx = np.clip(np.rint(xs + offsets[j, 1]), 0, w - 1).astype(np.intp)
                f = flow[yy, xx]
                offsets[j, 0] += float(np.median(f[:, 1]))
                offsets[j, 1] += float(np.median(f[:, 0]))
                yy = np.rint(ys + offsets[j, 0]).astype(np.intp)
                xx = np.rint(xs + offsets[j, 1]).astype(np.intp)
                keep = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
                cur[yy[keep], xx[keep]] = c
        prev_frame = frame
        yield int(t), cur


def guide_with_model(flow_mask: np.ndarray, model_mask: np.ndarray | None,
                     classes: Iterable[int] = PATTERN_CLASSES) -> np.ndarray:
    """A propagated mask corrected by the model's mask of the same frame (model-guided propagation).

    Per class: each 8-connected region of the model's mask that overlaps the flow-warped (clinician-corrected)
    mask is kept whole -- the model's outline, which follows this frame's image, for a pattern the clinician
    confirmed -- and each warped region the model has nothing under is kept as warped (a pattern the model
    missed). Model regions away from every warped region of their class are dropped (the clinician removed
    them on the keyframe). Without a model mask (not segmented yet) the warped mask is returned."""
    flow_mask = np.asarray(flow_mask, np.uint8)
    if model_mask is None:
        return flow_mask.copy()
    model_mask = np.asarray(model_mask, np.uint8)
    if model_mask.shape != flow_mask.shape:
        raise ValueError(f"mask shapes differ: {flow_mask.shape} vs {model_mask.shape}")
    layers: dict[int, np.ndarray] = {}
    for c in classes:
        warped, model = flow_mask == c, model_mask == c
        keep = np.zeros_like(warped)
        for src, other in ((model, warped), (warped, model)):
            n, lab = cv2.connectedComponents(src.astype(np.uint8), connectivity=8)
            if n <= 1:
                continue
            touched = np.unique(lab[other & src])
            if src is model:
                keep |= np.isin(lab, touched[touched > 0])
            else:
                lone = np.setdiff1d(np.arange(1, n), touched)
                keep |= np.isin(lab, lone)
        layers[int(c)] = keep
    out = np.where(np.isin(flow_mask, list(layers)), 0, flow_mask).astype(np.uint8)
    for c in DRAW_ORDER:
        if c in layers:
            out[layers[c]] = c
    return out


def class_dice(a: np.ndarray, b: np.ndarray, classes: Iterable[int] = PATTERN_CLASSES) -> dict[int, float]:
    """Dice per class of two label maps; a class absent from both is left out."""
    if a.shape != b.shape:
        raise ValueError(f"mask shapes differ: {a.shape} vs {b.shape}")
    out: dict[int, float] = {}
    for c in classes:
        x, y = a == c, b == c
        s = int(x.sum()) + int(y.sum())
        if s:
            out[int(c)] = 2.0 * float(np.logical_and(x, y).sum()) / s
    return out


def mask_dice(a: np.ndarray, b: np.ndarray, classes: Iterable[int] = PATTERN_CLASSES) -> float:
    """Mean Dice over the classes present in either map (1.0 when both are empty)."""
    d = class_dice(a, b, classes)
    return float(np.mean(list(d.values()))) if d else 1.0


def disagree(model: np.ndarray | None, final: np.ndarray | None, threshold: float = DISAGREE_DICE) -> bool:
    """Whether the model's mask and the FINAL mask of a frame disagree (mean pattern Dice < ``threshold``)."""
    if model is None or final is None or model.shape != final.shape:
        return False
    return mask_dice(model, final) < threshold


def next_frame(frames: Iterable[int], frame: int, direction: int) -> int | None:
    """The nearest of ``frames`` strictly after (``direction`` +1) or before (-1) ``frame``, or None."""
    fs = [int(f) for f in frames]
    if direction > 0:
        later = [f for f in fs if f > frame]
        return min(later) if later else None
    earlier = [f for f in fs if f < frame]
    return max(earlier) if earlier else None


def next_unlabelled(labelled: Iterable[int], frame: int, direction: int, n_frames: int) -> int | None:
    """The nearest frame strictly after / before ``frame`` that is not labelled, or None."""
    lab = set(int(f) for f in labelled)
    f = int(frame) + direction
    while 0 <= f < int(n_frames):
        if f not in lab:
            return f
        f += direction
    return None
