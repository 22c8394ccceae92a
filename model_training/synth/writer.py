"""Write synthetic patients into a :class:`lusapp.store.Store` or into a plain patient folder.

Per zone: clips as mp4 (``cv2.VideoWriter`` fourcc ``mp4v``), stills as PNG; FINAL masks (rater ``synth``)
for the frames of :func:`mask_frame_indices`; the clinician score = the generated score (rater ``synth``);
the clinician severity label (rater ``synth``); the clinical information. The per-zone content spec goes into
``synth.json`` in the patient folder (see docs/synthetic-data.md).
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np

from .patients import SynthPatient, SynthZone
from .render import SynthClip, render_clip

RATER = "synth"
MASK_EVERY = 5


def mask_frame_indices(n_frames: int, every: int = MASK_EVERY) -> list[int]:
    """Frames that get a stored FINAL mask: every ``every``-th frame from 0, plus the last."""
    if n_frames <= 0:
        return []
    return sorted(set(range(0, n_frames, every)) | {n_frames - 1})


def render_synth_zone(zone: SynthZone, size: tuple[int, int]) -> SynthClip:
    if zone.kind == "missing" or zone.content is None or zone.params is None:
        raise ValueError(f"zone {zone.zone_id} has no media")
    return render_clip(zone.content, zone.params, max(zone.n_frames, 1), size, zone.seed)


def write_video(path: str | Path, frames: np.ndarray, fps: float) -> None:
    """Grey uint8 frames (T, H, W) to an mp4 file; raises when the file does not read back complete."""
    path = str(path)
    t, h, w = frames.shape
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h), True)
    if not vw.isOpened():
        raise OSError(f"{path}: cv2.VideoWriter cannot open an mp4v writer")
    try:
        for f in frames:
            vw.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    finally:
        vw.release()
    cap = cv2.VideoCapture(path)
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    if n != t:
        raise OSError(f"{path}: wrote {t} frames but {n} read back")


def write_media(zone: SynthZone, clip: SynthClip, folder: Path, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stem = name or zone.zone_id
    if zone.kind == "still":
        path = folder / f"{stem}.png"
        if not cv2.imwrite(str(path), clip.frames[0]):
            raise OSError(f"{path}: cannot write PNG")
    else:
        path = folder / f"{stem}.mp4"
        write_video(path, clip.frames, clip.params.fps)
    return path


def sidecar(sp: SynthPatient, size: tuple[int, int]) -> dict:
    d = sp.to_dict()
    d["generator"] = "model_training.synth"
    d["size"] = list(size)
    d["mask_every"] = MASK_EVERY
    return d


def write_patient(store, sp: SynthPatient, size: tuple[int, int] = (480, 640), actor: str = RATER) -> dict:
    """Write one synthetic patient through the store API; returns {zone_id: n_frames} of written media."""
    from lusapp.core.patient import ClinicalInfo, ScoreEntry, utc_now

    pid = sp.patient_id
    store.new_patient(pid, clinical=ClinicalInfo.from_dict(sp.clinical), actor=actor)
    written: dict[str, int] = {}
    masks: dict[str, dict[int, np.ndarray]] = {}
    with tempfile.TemporaryDirectory(prefix="synth_") as tmp:
        for zid, zone in sp.zones.items():
            if zone.kind == "missing":
                continue
            clip = render_synth_zone(zone, size)
            path = write_media(zone, clip, Path(tmp))
            store.add_media(pid, zid, path, actor)
            written[zid] = len(clip.frames)
            masks[zid] = {i: clip.masks[i] for i in mask_frame_indices(len(clip.frames))}
    for zid, m in masks.items():
        store.save_masks(pid, zid, m, kind="final", rater=RATER, model_version="")
    patient = store.load_patient(pid)
    for zid in written:
        patient.zones[zid].clinician_score = ScoreEntry.now(sp.zones[zid].score, RATER)
    patient.severity.clinician_label = sp.severity
    patient.severity.rater = RATER
    patient.severity.time = utc_now()
    patient.notes = f"synthetic patient (model_training.synth, seed {sp.seed}); content spec in synth.json"
    store.save_patient(patient, actor)
    (store.patient_dir(pid) / "synth.json").write_text(json.dumps(sidecar(sp, size), indent=1), encoding="utf-8")
    return written


def write_patient_folder(folder: str | Path, sp: SynthPatient, size: tuple[int, int] = (480, 640),
                         with_sidecar: bool = True) -> dict:
    """A plain patient folder (R1.mp4 ... L6.png, clinical.json, scores.csv) readable by
    ``lusapp.store.patient_folder.open_patient_folder``; returns {zone_id: n_frames}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for zid, zone in sp.zones.items():
        for old in folder.glob(f"{zid}.*"):
            old.unlink()
        if zone.kind == "missing":
            continue
        clip = render_synth_zone(zone, size)
        write_media(zone, clip, folder)
        written[zid] = len(clip.frames)
    doc = {"patient_id": sp.patient_id, "severity": sp.severity, **sp.clinical,
           "notes": "Synthetic patient generated by model_training.synth; not real patient data."}
    (folder / "clinical.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    with open(folder / "scores.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["zone", "score"])
        for zid in written:
            w.writerow([zid, sp.zones[zid].score])
        w.writerow(["severity", sp.severity])
    if with_sidecar:
        (folder / "synth.json").write_text(json.dumps(sidecar(sp, size), indent=1), encoding="utf-8")
    return written


def read_sidecar(patient_folder: str | Path) -> dict:
    """The ``synth.json`` sidecar of a written patient folder (store patient dir or plain folder)."""
    return json.loads((Path(patient_folder) / "synth.json").read_text(encoding="utf-8"))


def rerender_zone(sidecar_doc: dict, zone_id: str) -> SynthClip:
    """Re-render one zone exactly from a sidecar (all frames, with masks for every frame)."""
    from .patterns import ClipParams, ZoneContent

    z = sidecar_doc["zones"][zone_id]
    if z["kind"] == "missing":
        raise ValueError(f"zone {zone_id} is missing in this patient")
    size = tuple(sidecar_doc["size"])
    return render_clip(ZoneContent.from_dict(z["content"]), ClipParams(**z["params"]), int(z["n_frames"]), size,
                       int(z["seed"]))
