"""Opening a clip for the engine and finding its imaging region (no Qt). The engine, the clip report and training
code share these, so none of them imports another for them."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from lusapp.model import preprocess as pp
from lusapp.model.cache import is_path


def detect_crop(clip: Any, frames: Sequence[np.ndarray] | None = None) -> tuple[int, int, int, int]:
    """The clip's imaging region as (x0, y0, x1, y1): the DICOM region hint if any, else lusapp.io.crop on
    ``frames`` (already decoded ones, to save a second decode) or on the clip's own sample."""
    hint = getattr(clip, "region_hint", None)
    if hint:
        return pp.box_tuple(hint, clip.height, clip.width)
    from lusapp.io.crop import detect_imaging_region

    return pp.box_tuple(detect_imaging_region(list(frames) if frames else clip), clip.height, clip.width)


def open_clip(clip_or_path: Any):
    """(clip, owned): opens a path with lusapp.io.readers.open_media; a Clip is used as it is."""
    if is_path(clip_or_path):
        from lusapp.io.readers import open_media

        return open_media(clip_or_path), True
    return clip_or_path, False
