"""Still images (png, jpg, bmp, tif, webp): 8/16-bit grey or colour, one frame.

16-bit and float images are mapped linearly to uint8 for display; the mapping is recorded in
`clip.intensity_scaling` ({'source', 'low', 'high'}) so measurements can be traced back.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lusapp.core.errors import NotAnImage, TooLarge, TruncatedFile, UnsupportedFormat
from lusapp.io.clip import MAX_PIXELS, MAX_SIDE, Clip, has_colour
from lusapp.io.sniff import container_truncation, image_header_size


def scale_to_uint8(img: np.ndarray, low: float | None = None, high: float | None = None):
    """Linear map of any numeric array to uint8; returns (array, {'source', 'low', 'high'} or None)."""
    if img.dtype == np.uint8:
        return img, None
    data = img.astype(np.float64)
    finite = data[np.isfinite(data)]
    lo = float(finite.min()) if low is None and finite.size else float(low or 0.0)
    hi = float(finite.max()) if high is None and finite.size else float(high if high is not None else 1.0)
    if hi <= lo:
        hi = lo + 1.0
    out = np.clip((np.nan_to_num(data, nan=lo) - lo) * (255.0 / (hi - lo)), 0, 255)
    return np.rint(out).astype(np.uint8), {"source": str(img.dtype), "low": lo, "high": hi}


class StillClip(Clip):
    kind = "still"
    cache_capacity = 1

    def __init__(self, path: str | Path, fmt: str, head: bytes):
        path = str(path)
        size = image_header_size(path, fmt, head)
        if size is not None:
            w, h = size
            if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
                raise TooLarge(path, f"image is {w}x{h}, above the {MAX_SIDE} px / {MAX_PIXELS} pixel limit")
            if w == 0 or h == 0:
                raise NotAnImage(path, f"{fmt.upper()} header declares an empty {w}x{h} image")
        try:
            img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        except cv2.error as exc:
            img = None
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "decoder error"
        else:
            detail = "decoder returned nothing"
        if img is None or img.size == 0:
            trunc = container_truncation(path, fmt)
            if trunc:
                raise TruncatedFile(path, trunc)
            if size is not None and (size[0] * size[1] > 2**30):
                raise TooLarge(path, f"image is {size[0]}x{size[1]}")
            raise UnsupportedFormat(path, f"the {fmt.upper()} image could not be decoded ({detail})")
        if img.ndim == 3 and img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        elif img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
        elif img.ndim == 3 and img.shape[2] != 3:
            raise UnsupportedFormat(path, f"image has {img.shape[2]} channels")
        img8, scaling = scale_to_uint8(img)
        if img8.ndim == 3:
            rgb = cv2.cvtColor(img8, cv2.COLOR_BGR2RGB)
            colour = has_colour(rgb)
            frame = rgb if colour else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        else:
            colour, frame = False, img8
        super().__init__(path, n_frames=1, width=frame.shape[1], height=frame.shape[0], fps=None,
                         is_color=colour)
        self.intensity_scaling = scaling
        self.source_format = fmt
        self._frame = frame
        self._remember(0, frame)

    def _decode(self, i: int) -> np.ndarray:
        return self._frame

    def _release(self) -> None:
        self._frame = None
