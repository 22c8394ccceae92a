"""``export_store``: a store's patients as a dataset folder (docs/export-format.md), plain or de-identified.

The store is opened read-only (it may be open for writing in the app; nothing in it changes). Everything is
written into a hidden ``.<OUT>.partial-<random>`` folder beside ``OUT`` and renamed to ``OUT`` at the end, so
an export that fails or is cancelled leaves nothing that looks complete (the partial folder is removed).
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2

from lusapp import __version__
from lusapp.core.errors import LusError, StoreError, ValidationError, display_path
from lusapp.core.labels import CLASS_NAMES
from lusapp.core.patient import utc_now
from lusapp.export import annotations as ann
from lusapp.export import documents as docs
from lusapp.export.deid import Pseudonymizer, load_site_key
from lusapp.export.media import copy_media, deidentify_media
from lusapp.io.readers import open_media
from lusapp.store import Store
from lusapp.store.durable import atomic_write_bytes, atomic_write_json
from lusapp.store.store import sha256_file

EXPORT_FORMAT = "lusapp-export"
EXPORT_VERSION = 1


class ExportCancelled(LusError):
    """The user cancelled; nothing was left in the output folder."""


class ExportWriteError(StoreError):
    """The output folder cannot be written (the message names the file); nothing was left there."""


@dataclass
class ExportResult:
    path: Path
    patients: int = 0
    media: int = 0
    mask_frames: int = 0
    dicom_objects: int = 0
    warnings: list[str] = field(default_factory=list)


def _is_dicom(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(132)
    return head[128:132] == b"DICM"


def _staging(out: Path) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValidationError(str(out), "exists and is not an empty folder; choose a new or empty folder")
    tmp = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    try:
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise ExportWriteError(out.parent, f"cannot be written ({exc.strerror or exc}); choose another folder") from None
    return tmp


def export_store(store_path: str | Path, out: str | Path, deidentify: bool = False, *, dicom: bool = False,
                 key_path: str | Path | None = None, patients: list[str] | None = None,
                 progress: Callable[[int, str], None] | None = None,
                 cancelled: Callable[[], bool] | None = None) -> ExportResult:
    """Export the store's patients (all, or ``patients``) into the new folder ``out``.

    ``dicom``: also DICOM SEG / SR objects for zones whose media is DICOM (:mod:`lusapp.export.dicom_objects`).
    ``progress(percent, message)`` is called per zone; ``cancelled()`` is polled there and stops the export
    (:class:`ExportCancelled`). Errors name the file (damaged media, unwritable folder); nothing is left then."""
    out = Path(out)
    say = progress or (lambda pct, msg: None)
    pseud = Pseudonymizer(load_site_key(key_path)) if deidentify else None
    store = Store.open(store_path, readonly=True)
    tmp = None
    try:
        ids = store.patient_ids() if patients is None else list(patients)
        tmp = _staging(out)
        result = ExportResult(out)
        exported, all_rows, score_rows, images = [], [], [], []
        for n, pid in enumerate(ids):
            doc, rows, imgs, n_media, n_masks, n_dicom = _export_patient(
                store, pid, tmp, pseud, dicom, result.warnings, cancelled,
                lambda k, total, msg, n=n: say(int(100 * (n + k / max(total, 1)) / max(len(ids), 1)),
                                               f"patient {n + 1} of {len(ids)}, {msg}"))
            exported.append(doc["patient_id"])
            all_rows.append(docs.patient_row(doc))
            score_rows += rows
            images += imgs
            result.media += n_media
            result.mask_frames += n_masks
            result.dicom_objects += n_dicom
        result.patients = len(exported)
        atomic_write_bytes(tmp / "patients.csv", docs.csv_bytes(all_rows, docs.PATIENT_COLUMNS))
        atomic_write_bytes(tmp / "scores.csv", docs.csv_bytes(score_rows, docs.SCORE_COLUMNS))
        info = {"description": "LUSApp export", "version": str(EXPORT_VERSION), "date_created": utc_now()}
        atomic_write_json(tmp / "annotations" / "coco.json", ann.coco_document(images, info))
        atomic_write_bytes(tmp / "annotations" / "cvat.xml", ann.cvat_xml(images, out.name))
        atomic_write_json(tmp / "dataset.json", {
            "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "created": utc_now(), "app_version": __version__,
            "deidentified": bool(deidentify), "key_id": pseud.key_id if pseud else None,
            "classes": {str(i): name for i, name in enumerate(CLASS_NAMES)}, "patients": exported,
            "counts": {"patients": result.patients, "media": result.media, "final_mask_frames": result.mask_frames,
                       "dicom_objects": result.dicom_objects}})
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
        tmp = None
        say(100, f"exported {result.patients} patient(s) to {display_path(out)}")
        return result
    except OSError as exc:
        where = Path(os.fsdecode(exc.filename)) if exc.filename else out
        if tmp is not None and (where == tmp or tmp in where.parents or where == out):
            raise ExportWriteError(out, f"cannot be written ({exc.strerror or exc}); nothing was exported") from None
        raise StoreError(where, f"cannot be read ({exc.strerror or exc}); nothing was exported") from None
    finally:
        store.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _png(img) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img)
    if not ok:  # pragma: no cover - cv2 failure
        raise ValidationError("png", "an image could not be encoded as PNG")
    return buf.tobytes()


def _mask_provenance(store: Store, pid: str, zid: str, frame: int, source: str) -> dict:
    if source == "consensus":
        e = store.consensus(pid, zid).get(frame, {})
        return {"source": "consensus", "rater": e.get("rater", ""), "time": e.get("time", ""),
                "from_rater": e.get("from_rater", "")}
    e = store.mask_provenance(pid, zid, "final").get(frame, {})
    return {"source": "rater", "rater": source, "time": e.get("time", "") if e.get("rater") == source else ""}


def _export_patient(store: Store, pid: str, tmp: Path, pseud, dicom: bool, warnings: list[str], cancelled, say):
    patient = store.load_patient(pid)
    store.verify_media(pid)  # DamagedDocument naming a missing or altered file
    tf = docs.DocumentTransform(pseud, pid)
    pdir = tmp / "patients" / tf.new_id
    if pdir.exists():
        raise ValidationError(pid, f"gives the same exported id {tf.new_id} as another patient")
    (pdir / "media").mkdir(parents=True)
    media, final_frames, images = {}, {}, []
    zones = [z for z, rec in patient.zones.items() if rec.media is not None]
    n_masks = n_dicom = 0
    dicom_sources = {}
    for k, zid in enumerate(zones):
        if cancelled is not None and cancelled():
            raise ExportCancelled("export cancelled; nothing was written")
        say(k, len(zones), f"zone {zid}")
        src = store.media_path(pid, zid)
        if pseud:
            dest, _info = deidentify_media(src, pdir / "media" / zid, tf.new_id, tf.days)
        else:
            dest = copy_media(src, pdir / "media" / zid)
        media[zid] = {"file": dest.relative_to(pdir).as_posix(), "sha256": sha256_file(dest)}
        if dicom and _is_dicom(dest):
            dicom_sources[zid] = dest
        sources = store.training_mask_sources(pid, zid)  # the store's rule: consensus, else the only FINAL
        frames = sorted(sources)
        final_frames[zid] = frames
        if not frames:
            continue
        mdir = pdir / "masks" / zid
        fdir = pdir / "frames" / zid
        mdir.mkdir(parents=True)
        fdir.mkdir(parents=True)
        prov = {}
        clip = open_media(dest)
        try:
            for f in frames:
                mask = store.load_training_mask(pid, zid, f)
                if mask is None or f >= clip.n_frames or mask.shape != (clip.height, clip.width):
                    warnings.append(f"{tf.new_id} {zid} frame {f}: the mask does not fit the media; left out")
                    continue
                prov[f] = _mask_provenance(store, pid, zid, f, sources[f])
                (mdir / f"{f:05d}.png").write_bytes(_png(mask))
                (fdir / f"{f:05d}.png").write_bytes(_png(clip.read(f)))
                images.append({"file": f"patients/{tf.new_id}/frames/{zid}/{f:05d}.png", "width": clip.width,
                               "height": clip.height, "patient_id": tf.new_id, "zone_id": zid, "frame": f,
                               "regions": ann.polygons(mask)})
                n_masks += 1
        finally:
            clip.close()
        final_frames[zid] = sorted(prov)
        atomic_write_json(mdir / "labels.json", tf.provenance(prov))
    doc = tf.patient_doc(patient, media)
    atomic_write_json(pdir / "patient.json", doc)
    if dicom and dicom_sources:
        from lusapp.export.dicom_objects import write_dicom_objects

        n_dicom = write_dicom_objects(doc, pdir, dicom_sources, warnings)
    return doc, docs.score_rows(doc, final_frames), images, len(media), n_masks, n_dicom
