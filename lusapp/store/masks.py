"""Per-frame mask storage: ``masks/<zone>/{original,final}/<frame:05d>.png`` plus ``labels.json``.

``original`` masks are what a model produced; ``final`` masks are the clinician-checked ones. Both are
kept side by side, so a correction never overwrites the model's output. ``labels.json`` holds the
provenance of every stored frame::

    {"format": "lusapp-mask-labels", "frames": {
        "original": {"12": {"kind": "original", "rater": "model", "time": "...", "model_version": "seg-1.0"}},
        "final":    {"12": {"kind": "final", "rater": "dr_a", "time": "...", "model_version": "seg-1.0",
                            "labelled": true}}},
     "raters":    {"dr_b": {"12": {"kind": "final", "rater": "dr_b", ...}}},
     "consensus": {"12": {"kind": "consensus", "rater": "dr_c", "time": "...", "from_rater": "dr_a"}}}

Several raters (schema v2): ``final/<frame>.png`` is the FINAL of the rater recorded for it in ``frames.final``
(the first rater to label that frame; so every labelled frame has a file there, as in v1); a further rater's
FINAL of the same frame is ``raters/r-<rater, %-encoded>/<frame>.png`` (``frames.raters``); an adjudicator's
decision is ``consensus/<frame>.png`` (``frames.consensus``). :mod:`lusapp.store.rater_masks` reads them.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

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


def rater_dir(zone_dir: Path, rater: str) -> Path:
    """The folder of a further rater's FINAL masks: ``raters/r-<rater %-encoded>`` (no separators, never
    ``.`` or ``..``)."""
    if not isinstance(rater, str) or not rater.strip() or len(rater) > 64:
        raise ValidationError("rater", f"{rater!r} should be a name of 1-64 characters")
    return zone_dir / "raters" / ("r-" + quote(rater, safe=""))


def rater_frame_path(zone_dir: Path, rater: str, frame: int) -> Path:
    return rater_dir(zone_dir, rater) / frame_path(zone_dir, "final", frame).name


def consensus_frame_path(zone_dir: Path, frame: int) -> Path:
    return zone_dir / "consensus" / frame_path(zone_dir, "final", frame).name


def read_labels(zone_dir: Path) -> dict:
    path = zone_dir / LABELS_NAME
    if not path.exists():
        return {"format": "lusapp-mask-labels", "frames": {k: {} for k in (*MASK_KINDS, "raters", "consensus")}}
    doc = read_json(path)
    frames = doc.get("frames")
    if doc.get("format") != "lusapp-mask-labels" or not isinstance(frames, dict) \
            or not all(isinstance(frames.get(k, {}), dict) for k in MASK_KINDS):
        raise DamagedDocument(path, "is not a lusapp-mask-labels document with frames.original / frames.final")
    for k in (*MASK_KINDS, "raters", "consensus"):
        if not isinstance(frames.setdefault(k, {}), dict):
            raise DamagedDocument(path, f"frames.{k} is not an object")
    if not all(isinstance(v, dict) for v in frames["raters"].values()):
        raise DamagedDocument(path, "frames.raters holds a rater whose frames are not an object")
    tables = [(k, frames[k]) for k in (*MASK_KINDS, "consensus")]
    tables += [(f"raters.{r}", t) for r, t in frames["raters"].items()]
    for name, table in tables:
        bad = next((k for k in table if not (isinstance(k, str) and k.isdigit() and len(k) <= 5)), None)
        if bad is not None:
            raise DamagedDocument(path, f"frames.{name} has the key {bad!r}, not a frame number")
    return doc


def prepare_masks(zone_dir: Path, masks: dict[int, np.ndarray], kind: str, rater: str, model_version: str,
                  new_path, from_rater: str = "") -> list[tuple[Path, Path]]:
    """Encode several frames of one kind and their updated ``labels.json`` into temporary files
    (``new_path(suffix)`` names them); returns (temporary, target) pairs, labels.json last. ``kind`` "final":
    ``rater``'s own FINAL (``final/`` unless another rater holds that frame there, else ``raters/``);
    "consensus": ``rater`` is the adjudicator, ``from_rater`` the rater whose mask was picked ("" if edited)."""
    if kind != "consensus":
        check_kind(kind)
    if not isinstance(rater, str) or not rater.strip():
        raise ValidationError("rater", "must name who (or which model) made the mask")
    checked = {int(i): check_mask(m, f"mask[{i}]") for i, m in masks.items()}
    for i in checked:
        frame_path(zone_dir, "final", i)  # a frame index 0-99999
    labels = read_labels(zone_dir)
    now = utc_now()
    out = []
    for i, m in checked.items():
        ok, buf = cv2.imencode(".png", m)
        if not ok:  # pragma: no cover - cv2 failure
            raise ValidationError(f"mask[{i}]", "could not be encoded as PNG")
        tmp = new_path(".png")
        atomic_write_bytes(tmp, buf.tobytes())
        entry = {"kind": kind, "rater": rater, "time": now, "model_version": model_version or ""}
        table, target = labels["frames"].get(kind), zone_dir / kind / f"{i:05d}.png"
        if kind == "final":
            entry["labelled"] = True
            held = table.get(str(i))
            owner = held.get("rater") if isinstance(held, dict) else None
            if owner is not None and owner != rater:  # a further rater of this frame
                table = labels["frames"]["raters"].setdefault(rater, {})
                target = rater_frame_path(zone_dir, rater, i)
        elif kind == "consensus":
            entry["from_rater"] = from_rater or ""
        out.append((tmp, target))
        table[str(i)] = entry
    tmp = new_path(".json")
    atomic_write_json(tmp, labels)
    out.append((tmp, zone_dir / LABELS_NAME))
    return out


def read_mask(zone_dir: Path, kind: str, frame: int) -> np.ndarray | None:
    return read_png(frame_path(zone_dir, kind, frame))


def read_png(path: Path) -> np.ndarray | None:
    """A stored label map, None when the file is absent; ``DamagedDocument`` naming it when it is not one."""
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
