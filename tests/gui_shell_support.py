"""Helpers of the GUI shell tests: a tiny plain patient folder, a random-init model bundle, a window."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np


def sector_frame(i: int, h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A grey frame with a bright horizontal 'pleura', a few vertical streaks and speckle."""
    rng = np.random.default_rng([seed, i])
    img = rng.integers(10, 60, (h, w)).astype(np.uint8)
    img[h // 4: h // 4 + 3, 10:w - 10] = 220
    for x in (30 + i % 5, 70, 100 - i % 3):
        img[h // 4 + 3:, x:x + 3] = 150
    return img


def write_clip(path: Path, n: int = 10, h: int = 96, w: int = 128, fps: float = 10.0, seed: int = 0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h), False)
    for i in range(n):
        writer.write(sector_frame(i, h, w, seed))
    writer.release()
    return path


def make_patient_folder(root: Path, pid: str = "TEST-001", clips=("R1", "R2", "L1"), stills=("L3",),
                        age: int | None = 61) -> Path:
    folder = root / pid
    folder.mkdir(parents=True)
    for k, z in enumerate(clips):
        write_clip(folder / f"{z}.mp4", seed=k)
    for z in stills:
        cv2.imwrite(str(folder / f"{z}.png"), sector_frame(0, seed=9))
    (folder / "clinical.json").write_text(json.dumps({"patient_id": pid, "age": age, "sex": "F",
                                                      "symptoms": {"fever": True, "cough": False}}))
    return folder


def make_bundle(path: Path, version: str = "0.0.1", name: str = "tiny-test"):
    """A random-init (untrained) but complete bundle: segmentation, zone score and severity networks."""
    import torch

    from lusapp.core.clinical import CLINICAL_DIM, clinical_feature_names
    from lusapp.model.bundle import save_bundle
    from lusapp.model.networks import SegNet, SeverityNet, ZoneScorer

    torch.manual_seed(0)
    seg = SegNet(widths=(4, 8, 16), convs=(1, 1, 1))
    zone = ZoneScorer(seg.feat_dim)
    sev = SeverityNet(seg.feat_dim, CLINICAL_DIM, embed_dim=8, attn_dim=8, proj_dim=8, clin_hidden=8)
    return save_bundle(path, seg, zone, sev, {"name": name, "version": version, "input_size": [64, 64],
                                              "clinical_features": list(clinical_feature_names()),
                                              "training_data": "random init (GUI tests)", "licences": ["MIT"]})


def make_engine(path: Path):
    from lusapp.model.bundle import load_bundle
    from lusapp.model.engine import Engine

    make_bundle(path)
    return Engine(load_bundle(path), threads=1)


def ini_settings(tmp: Path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
