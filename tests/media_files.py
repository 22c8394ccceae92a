"""Files the tests write: video clips, still images and a small random-init model bundle.

One writer per kind of file; each test draws its own frames (what they show is part of the test) and hands
them here. Imported as ``from media_files import ...`` (the tests folder is on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float = 10.0, fourcc: str = "MJPG") -> Path:
    """Write grey (h, w) or BGR (h, w, 3) uint8 frames as a video; the size is the first frame's."""
    writer = None
    for frame in frames:
        frame = np.asarray(frame, np.uint8)
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h))
            if not writer.isOpened():
                raise OSError(f"{path}: OpenCV cannot write a {fourcc} video here")
        writer.write(frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    if writer is None:
        raise ValueError(f"{path}: no frames to write")
    writer.release()
    return Path(path)


def write_image(path: Path, image: np.ndarray, params: list[int] | None = None) -> Path:
    """Write one grey or BGR image (format from the suffix); raises when OpenCV refuses."""
    if not cv2.imwrite(str(path), np.asarray(image), params or []):
        raise OSError(f"{path}: OpenCV could not write this image")
    return Path(path)


def tiny_networks(seed: int = 0, clin_dim: int | None = None):
    """(seg, zone, severity) networks at random init, small enough for a test (64x64 input)."""
    import torch

    from lusapp.core.clinical import CLINICAL_DIM
    from lusapp.model.networks import SegNet, SeverityNet, ZoneScorer

    torch.manual_seed(seed)
    seg = SegNet(widths=(4, 8, 16), convs=(1, 1, 1))
    zone = ZoneScorer(seg.feat_dim)
    sev = SeverityNet(seg.feat_dim, CLINICAL_DIM if clin_dim is None else clin_dim, embed_dim=8, attn_dim=8,
                      proj_dim=8, clin_hidden=8)
    return seg, zone, sev


def make_bundle(path: Path, version: str = "0.0.1", name: str = "tiny-test", networks=None, **fields) -> Path:
    """A complete bundle (segmentation, zone score, severity) of ``networks`` or of :func:`tiny_networks`;
    ``fields`` add to or replace the manifest fields. Returns the bundle folder."""
    from lusapp.core.clinical import clinical_feature_names
    from lusapp.model.bundle import save_bundle

    seg, zone, sev = networks or tiny_networks()
    manifest = {"name": name, "version": version, "input_size": [64, 64], "training_data": "random init (tests)",
                "licences": ["MIT"]}
    if networks is None:
        manifest["clinical_features"] = list(clinical_feature_names())
    return save_bundle(path, seg, zone, sev, {**manifest, **fields})
