"""Mask overlay pixels: label map -> RGBA image (CLASS_COLORS, per-class visibility, opacity), frame -> RGBA;
``outline_labels`` keeps only the regions' edges (the outline-only mode).

``compose_overlay`` is plain numpy (a 256-entry lookup table indexed by the label map), so it is cheap
enough to run on every frame of playback (about 2 ms for 600x800 on one core). The control bar that sets
visibility and opacity is ``lusapp.gui.overlay.OverlayControls``.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import cv2
import numpy as np

from lusapp.core.labels import CLASS_COLORS, DRAW_ORDER


def overlay_lut(visible: Mapping[int, bool] | Iterable[int], opacity: float) -> np.ndarray:
    """(256, 4) uint8 table: visible classes get their colour at ``opacity``, everything else transparent."""
    shown = {c for c, on in visible.items() if on} if isinstance(visible, Mapping) else set(visible)
    alpha = int(round(255 * min(1.0, max(0.0, float(opacity)))))
    lut = np.zeros((256, 4), np.uint8)
    for cls in DRAW_ORDER:
        if cls in shown:
            lut[cls, :3] = CLASS_COLORS[cls]
            lut[cls, 3] = alpha
    return lut


def outline_labels(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """The label map with only each region's edge kept (``width`` px inside the edge, 0 elsewhere): the
    outline-only overlay mode, which leaves the image under a mask visible. Thin lines stay whole."""
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"mask must be a uint8 HxW label map, got {mask.dtype} {mask.shape}")
    k = np.ones((2 * int(width) + 1, 2 * int(width) + 1), np.uint8)
    edge = (cv2.erode(mask, k, borderType=cv2.BORDER_REPLICATE) != mask) | \
        (cv2.dilate(mask, k, borderType=cv2.BORDER_REPLICATE) != mask)
    return np.where(edge, mask, 0).astype(np.uint8)


def compose_overlay(mask: np.ndarray, visible: Mapping[int, bool] | Iterable[int], opacity: float,
                    lut: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """RGBA (H, W, 4) uint8 overlay of a label map (pass a prepared ``lut`` to skip rebuilding it, and an
    ``out`` buffer of the right shape to skip the allocation). The table is read as one uint32 per entry,
    which is ~8x faster than indexing the (256, 4) table directly."""
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"mask must be a uint8 HxW label map, got {mask.dtype} {mask.shape}")
    table = overlay_lut(visible, opacity) if lut is None else np.ascontiguousarray(lut, np.uint8)
    lut32 = table.view(np.uint32).reshape(256)
    h, w = mask.shape
    if out is not None and out.shape == (h, w, 4) and out.dtype == np.uint8 and out.flags.c_contiguous:
        np.take(lut32, mask, out=out.view(np.uint32).reshape(h, w))
        return out
    return np.take(lut32, mask).view(np.uint8).reshape(h, w, 4)


_GREY32 = (np.arange(256, dtype=np.uint32) * 0x010101 | np.uint32(0xFF000000)).astype("<u4")


def frame_to_rgba(frame: np.ndarray) -> np.ndarray:
    """Opaque RGBA (H, W, 4) uint8 of a grey (H, W) or RGB (H, W, 3) frame.

    Qt's raster engine draws a scaled RGBA8888 image about 6x faster than a Grayscale8 one (0.6 vs 3.4 ms
    for 600x800 into a 1260x780 viewport), far more than the 0.4 ms this conversion costs."""
    h, w = frame.shape[:2]
    if frame.ndim == 2:
        return np.take(_GREY32, frame).view(np.uint8).reshape(h, w, 4)
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = frame[..., :3]
    out[..., 3] = 255
    return out
