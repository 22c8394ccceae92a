"""Per-frame mask storage: ``masks/<zone>/{original,final}/<frame:05d>.png`` plus ``labels.json``.

``original`` masks are what a model produced; ``final`` masks are the clinician-checked ones. Both are
kept side by side, so a correction never overwrites the model's output. ``labels.json`` holds the
provenance of every stored frame::

    {"format": "lusapp-mask-labels", "frames": {
        "original": {"12": {"kind": "original", "rater": "model", "time": "...", "model_version": "seg-1.0"}},
        "final":    {"12": {"kind": "final", "rater": "dr_a", "time": "...", "model_version": "seg-1.0",
                            "labelled": true}}}}
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from lusapp.core.errors import DamagedDocument, ValidationError
from lusapp.core.labels import N_CLASSES
from lusapp.core.patient import utc_now
from lusapp.store.durable import atomic_write_bytes, atomic_write_json, read_json

MASK_KINDS = ("original", "final")
LABELS_NAME = "labels.json"


def check_kind(kind: str) -> str:
    if kind not in MASK_KINDS:
        raise ValidationError("kind", f"{kind!r} should be 'original' or 'final'")
    return kind


def check_mask(mask: np.ndarray, fld: str = "mask") -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2 or m.size == 0:
        raise ValidationError(fld, f"should be a 2-D label map, got shape {m.shape}")
    if m.dtype != np.uint8:
        if not np.issubdtype(m.dtype, np.integer) or (m.size and (m.min() < 0 or m.max() > 255)):
            raise ValidationError(fld, f"should hold integer labels, got dtype {m.dtype}")
        m = m.astype(np.uint8)
    if m.max() >= N_CLASSES:
        raise ValidationError(fld, f"holds label {int(m.max())}; labels are 0-{N_CLASSES - 1}")
    return m


def frame_path(zone_dir: Path, kind: str, frame: int) -> Path:
    if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)) or frame < 0 or frame > 99999:
        raise ValidationError("frame", f"{frame!r} should be a frame index 0-99999")
    return zone_dir / check_kind(kind) / f"{int(frame):05d}.png"


def read_labels(zone_dir: Path) -> dict:
    path = zone_dir / LABELS_NAME
    if not path.exists():
        return {"format": "lusapp-mask-labels", "frames": {k: {} for k in MASK_KINDS}}
    doc = read_json(path)
    frames = doc.get("frames")
    if doc.get("format") != "lusapp-mask-labels" or not isinstance(frames, dict) \
            or not all(isinstance(frames.get(k, {}), dict) for k in MASK_KINDS):
        raise DamagedDocument(path, "is not a lusapp-mask-labels document with frames.original / frames.final")
    for k in MASK_KINDS:
        frames.setdefault(k, {})
    return doc


def prepare_masks(zone_dir: Path, masks: dict[int, np.ndarray], kind: str, rater: str, model_version: str,
                  new_path) -> list[tuple[Path, Path]]:
    """Encode several frames of one kind and their updated ``labels.json`` into temporary files
    (``new_path(suffix)`` names them); returns (temporary, target) pairs, labels.json last."""
    check_kind(kind)
    if not isinstance(rater, str) or not rater.strip():
        raise ValidationError("rater", "must name who (or which model) made the mask")
    checked = {int(i): check_mask(m, f"mask[{i}]") for i, m in masks.items()}
    for i in checked:
        frame_path(zone_dir, kind, i)
    labels = read_labels(zone_dir)
    now = utc_now()
    out = []
    for i, m in checked.items():
        ok, buf = cv2.imencode(".png", m)
        if not ok:  # pragma: no cover - cv2 failure
            raise ValidationError(f"mask[{i}]", "could not be encoded as PNG")
        tmp = new_path(".png")
        atomic_write_bytes(tmp, buf.tobytes())
        out.append((tmp, frame_path(zone_dir, kind, i)))
        entry = {"kind": kind, "rater": rater, "time": now, "model_version": model_version or ""}
        if kind == "final":
            entry["labelled"] = True
        labels["frames"][kind][str(i)] = entry
    tmp = new_path(".json")
    atomic_write_json(tmp, labels)
    out.append((tmp, zone_dir / LABELS_NAME))
    return out


def read_mask(zone_dir: Path, kind: str, frame: int) -> np.ndarray | None:
    path = frame_path(zone_dir, kind, frame)
    if not path.exists():
        return None
    if path.is_symlink():
        raise DamagedDocument(path, "is a link, not a mask written by LUSApp; refused")
    data = np.fromfile(str(path), dtype=np.uint8)
    m = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if m is None:
        raise DamagedDocument(path, "is not a readable PNG")
    if m.ndim != 2 or m.dtype != np.uint8:
        raise DamagedDocument(path, f"is not a single-channel 8-bit label map (shape {m.shape}, dtype {m.dtype})")
    if m.max() >= N_CLASSES:
        raise DamagedDocument(path, f"holds label {int(m.max())}; labels are 0-{N_CLASSES - 1}")
    return m


def list_frames(zone_dir: Path, kind: str) -> list[int]:
    folder = zone_dir / check_kind(kind)
    if not folder.is_dir():
        return []
    out = []
    for name in os.listdir(folder):
        if name.endswith(".png") and len(name) == 9 and name[:5].isdigit():
            out.append(int(name[:5]))
    return sorted(out)
