"""The patient store: one folder, one writer, crash-safe documents. Format: docs/store-format.md."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lusapp.core.errors import DamagedDocument, LusError, SchemaTooNew, StoreError, ValidationError
from lusapp.core.patient import ClinicalInfo, MediaRef, Patient, check_patient_id, utc_now
from lusapp.io.readers import open_media
from lusapp.store import masks as _masks
from lusapp.store.durable import AUDIT_NAME, append_audit, atomic_write_json, fsync_dir, read_audit, read_json
from lusapp.store.lock import StoreLock
from lusapp.store.migrations import migrate

STORE_FORMAT = "lusapp-store"
STORE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class PatientSummary:
    patient_id: str
    exam_date: str | None
    n_zones_with_media: int
    n_scored: int
    model_severity: int | None
    clinician_severity: int | None
    problem: str = ""  # non-empty when patient.json cannot be read (the message says why)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def probe_media(src: Path) -> dict:
    """kind/n_frames/fps/width/height/pixel_spacing_mm of a media file via ``lusapp.io.readers.open_media``
    (raises its ``ReadError`` naming the file for unreadable input)."""
    clip = open_media(src)
    try:
        n = int(clip.n_frames)
        spacing = clip.pixel_spacing_mm
        return {"kind": "still" if n == 1 else "clip", "n_frames": n,
                "fps": float(clip.fps) if clip.fps else None, "width": int(clip.width), "height": int(clip.height),
                "pixel_spacing_mm": tuple(float(v) for v in spacing) if spacing else None}
    finally:
        clip.close()


class Store:
    """Open with :meth:`create` or :meth:`open`; use as a context manager or call :meth:`close`."""

    def __init__(self, root: Path, readonly: bool, lock: StoreLock | None):
        self.root = root
        self.readonly = readonly
        self._lock = lock
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, path: str | Path) -> Store:
        root = Path(path)
        if (root / "store.json").exists():
            raise StoreError(root, "is already a LUSApp store; open it instead")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise StoreError(root, "exists and is not an empty folder; choose a new or empty folder")
        try:
            (root / "patients").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(root, f"cannot create the store folder ({exc.strerror or exc})") from exc
        atomic_write_json(root / "store.json", {"format": STORE_FORMAT, "schema_version": STORE_SCHEMA_VERSION,
                                                "created": utc_now()})
        (root / AUDIT_NAME).touch()
        store = cls.open(root)
        store._audit("system", "create-store")
        return store

    @classmethod
    def open(cls, path: str | Path, readonly: bool = False) -> Store:
        root = Path(path)
        meta_path = root / "store.json"
        if not meta_path.is_file():
            raise StoreError(root, "is not a LUSApp store (no store.json)")
        meta = read_json(meta_path)
        if meta.get("format") != STORE_FORMAT:
            raise DamagedDocument(meta_path, f"format is {meta.get('format')!r}, expected {STORE_FORMAT!r}")
        version = meta.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise DamagedDocument(meta_path, f"schema_version {version!r} is not an integer")
        if version > STORE_SCHEMA_VERSION:
            raise SchemaTooNew(meta_path, f"store schema_version {version} is newer than this LUSApp reads "
                                          f"({STORE_SCHEMA_VERSION}); update LUSApp")
        lock = None
        if not readonly:
            lock = StoreLock(root)
            lock.acquire()
        return cls(root, readonly, lock)

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._closed = True

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # release the OS lock if the owner forgot
        try:
            self.close()
        except Exception:
            pass

    def _writable(self) -> None:
        if self._closed:
            raise StoreError(self.root, "store is closed")
        if self.readonly:
            raise StoreError(self.root, "store is open read-only")

    def _audit(self, actor: str, action: str, patient: str | None = None, zone: str | None = None,
               detail=None) -> None:
        append_audit(self.root / AUDIT_NAME, actor or "unknown", action, patient, zone, detail)

    def audit(self, patient: str | None = None) -> list[dict]:
        """Audit entries, oldest first (only those of ``patient`` when given)."""
        return read_audit(self.root / AUDIT_NAME, patient)

    # ------------------------------------------------------------------ patients
    def patient_dir(self, pid: str) -> Path:
        return self.root / "patients" / check_patient_id(pid)

    def _doc_path(self, pid: str) -> Path:
        return self.patient_dir(pid) / "patient.json"

    def has_patient(self, pid: str) -> bool:
        return self._doc_path(pid).is_file()

    def patient_ids(self) -> list[str]:
        folder = self.root / "patients"
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / "patient.json").is_file())

    def list_patients(self) -> list[PatientSummary]:
        out = []
        for pid in self.patient_ids():
            try:
                p = self.load_patient(pid)
            except LusError as exc:
                out.append(PatientSummary(pid, None, 0, 0, None, None, problem=str(exc)))
                continue
            out.append(PatientSummary(
                patient_id=p.patient_id, exam_date=p.exam_date,
                n_zones_with_media=sum(1 for z in p.zones.values() if z.media is not None),
                n_scored=sum(1 for z in p.zones.values() if z.effective_score is not None),
                model_severity=p.severity.model_label, clinician_severity=p.severity.clinician_label))
        return out

    def load_patient(self, pid: str) -> Patient:
        path = self._doc_path(pid)
        try:
            doc = read_json(path)
        except FileNotFoundError:
            raise StoreError(path, f"no patient {pid!r} in this store") from None
        doc, found = migrate(doc, path)
        try:
            patient = Patient.from_dict(doc)
        except ValidationError as exc:
            raise DamagedDocument(path, f"invalid content: {exc}") from exc
        if patient.patient_id != pid:
            raise DamagedDocument(path, f"holds patient_id {patient.patient_id!r}, but its folder is {pid!r}")
        if found != patient.schema_version and not self.readonly:
            backup = path.with_name(f"patient.v{found}.json")
            if not backup.exists():
                shutil.copy2(path, backup)
            atomic_write_json(path, patient.to_dict())
            self._audit("system", "migrate", pid, detail={"from": found, "to": patient.schema_version,
                                                          "backup": backup.name})
        return patient

    def new_patient(self, pid: str, protocol: str = "lus12", exam_date: str | None = None,
                    clinical: ClinicalInfo | None = None, actor: str = "user") -> Patient:
        self._writable()
        check_patient_id(pid)
        if self.has_patient(pid):
            raise StoreError(self.patient_dir(pid), f"patient {pid!r} already exists")
        p = Patient.new(pid, protocol, exam_date=exam_date, clinical=clinical)
        self._write_patient(p)
        self._audit(actor, "new-patient", pid, detail={"protocol": p.protocol_id, "exam_date": p.exam_date})
        return p

    def _write_patient(self, patient: Patient) -> None:
        folder = self.patient_dir(patient.patient_id)
        folder.mkdir(parents=True, exist_ok=True)
        fsync_dir(folder.parent)
        atomic_write_json(folder / "patient.json", patient.to_dict())

    def save_patient(self, patient: Patient, actor: str) -> None:
        """Validate and atomically write ``patient``; audit which sections changed. The on-disk revision
        must equal ``patient.revision`` (no lost updates); it is incremented on success."""
        self._writable()
        patient.validate()
        old_doc = None
        if self.has_patient(patient.patient_id):
            old = self.load_patient(patient.patient_id)
            if old.revision != patient.revision:
                raise StoreError(self._doc_path(patient.patient_id),
                                 f"changed since it was loaded (revision {old.revision} on disk, "
                                 f"{patient.revision} in memory); reload before saving")
            old_doc = old.to_dict()
        new_doc = patient.to_dict()
        changes = _changed_sections(old_doc, new_doc)
        if old_doc is not None and not changes:
            return
        patient.revision += 1
        try:
            self._write_patient(patient)
        except BaseException:
            patient.revision -= 1
            raise
        self._audit(actor, "save-patient" if old_doc else "new-patient", patient.patient_id,
                    detail={"changed": changes, "revision": patient.revision})

    # ------------------------------------------------------------------ media
    def add_media(self, pid: str, zone_id: str, src: str | Path, actor: str) -> MediaRef:
        """Copy ``src`` in as the zone's media (the old file, if any, and its masks move to
        ``replaced/<time>/``); records sha256 and clip metadata; resets the zone's model score."""
        self._writable()
        src = Path(src)
        patient = self.load_patient(pid)
        rec = patient.zone(zone_id)
        if not src.is_file():
            raise StoreError(src, "media file not found")
        info = probe_media(src)
        folder = self.patient_dir(pid)
        ext = src.suffix.lower() or ".bin"
        rel = f"media/{zone_id}{ext}"
        dest = folder / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{zone_id}.", suffix=".tmp", dir=str(dest.parent))
        h = hashlib.sha256()
        try:
            with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
                for chunk in iter(lambda: fin.read(1 << 20), b""):
                    h.update(chunk)
                    fout.write(chunk)
                fout.flush()
                os.fsync(fout.fileno())
            moved = self._set_aside(pid, zone_id, rec.media)
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        fsync_dir(dest.parent)
        ref = MediaRef(kind=info["kind"], file=rel, sha256=h.hexdigest(), n_frames=info.get("n_frames"),
                       fps=info.get("fps"), width=info.get("width"), height=info.get("height"),
                       original_name=src.name, pixel_spacing_mm=info.get("pixel_spacing_mm"))
        rec.media = ref
        rec.model_score = None
        self.save_patient(patient, actor)
        self._audit(actor, "add-media", pid, zone_id, detail={"file": rel, "sha256": ref.sha256,
                                                               "original_name": src.name, "set_aside": moved})
        return ref

    def _set_aside(self, pid: str, zone_id: str, old: MediaRef | None) -> list[str]:
        """Move the zone's previous media and masks under ``replaced/<time>/`` (never deleted)."""
        folder = self.patient_dir(pid)
        stamp = utc_now().replace(":", "").replace("-", "")
        moved = []
        targets = []
        if old is not None and (folder / old.file).exists():
            targets.append(old.file)
        if (folder / "masks" / zone_id).exists():
            targets.append(f"masks/{zone_id}")
        for rel in targets:
            dst = folder / "replaced" / stamp / rel
            n = 1
            while dst.exists():
                dst = folder / "replaced" / f"{stamp}-{n}" / rel
                n += 1
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder / rel, dst)
            moved.append(dst.relative_to(folder).as_posix())
        return moved

    def media_path(self, pid: str, zone_id: str) -> Path | None:
        ref = self.load_patient(pid).zone(zone_id).media
        return None if ref is None else self.patient_dir(pid) / ref.file

    def verify_media(self, pid: str, zone_id: str | None = None) -> dict[str, bool]:
        """Re-hash stored media; raises ``DamagedDocument`` naming the first missing or altered file."""
        patient = self.load_patient(pid)
        out = {}
        for zid, rec in patient.zones.items():
            if rec.media is None or (zone_id is not None and zid != zone_id):
                continue
            path = self.patient_dir(pid) / rec.media.file
            if not path.is_file():
                raise DamagedDocument(path, f"media of zone {zid} is missing")
            digest = sha256_file(path)
            if digest != rec.media.sha256:
                raise DamagedDocument(path, f"sha256 mismatch for zone {zid}: recorded {rec.media.sha256[:12]}..., "
                                            f"file has {digest[:12]}... (file altered or corrupt)")
            out[zid] = True
        return out

    # ------------------------------------------------------------------ masks
    def _zone_dir(self, pid: str, zone_id: str) -> Path:
        patient = self.load_patient(pid)
        patient.zone(zone_id)
        return self.patient_dir(pid) / "masks" / zone_id

    def save_masks(self, pid: str, zone_id: str, masks: dict[int, np.ndarray], kind: str = "original",
                   rater: str = "model", model_version: str = "") -> None:
        """Store several frames' label maps of one kind with one provenance update and one audit entry."""
        self._writable()
        if not masks:
            return
        _masks.write_masks(self._zone_dir(pid, zone_id), masks, kind, rater, model_version)
        self._audit(rater, f"save-mask-{kind}", pid, zone_id,
                    detail={"frames": sorted(int(i) for i in masks), "model_version": model_version})

    def save_mask(self, pid: str, zone_id: str, frame: int, mask: np.ndarray, kind: str = "original",
                  rater: str = "model", model_version: str = "") -> None:
        self.save_masks(pid, zone_id, {frame: mask}, kind, rater, model_version)

    def load_mask(self, pid: str, zone_id: str, frame: int, kind: str = "original") -> np.ndarray | None:
        """The stored label map, or None when that frame has no mask of that kind."""
        return _masks.read_mask(self._zone_dir(pid, zone_id), kind, frame)

    def load_effective_mask(self, pid: str, zone_id: str, frame: int) -> tuple[np.ndarray | None, str | None]:
        """(mask, kind): the FINAL mask when the clinician made one, else the ORIGINAL, else (None, None)."""
        zone_dir = self._zone_dir(pid, zone_id)
        for kind in ("final", "original"):
            m = _masks.read_mask(zone_dir, kind, frame)
            if m is not None:
                return m, kind
        return None, None

    def mask_frames(self, pid: str, zone_id: str, kind: str = "original") -> list[int]:
        return _masks.list_frames(self._zone_dir(pid, zone_id), kind)

    def mask_provenance(self, pid: str, zone_id: str, kind: str = "original") -> dict[int, dict]:
        doc = _masks.read_labels(self._zone_dir(pid, zone_id))
        return {int(k): v for k, v in doc["frames"][_masks.check_kind(kind)].items()}

    # ------------------------------------------------------------------ import
    def import_folder(self, folder: str | Path, actor: str) -> str:
        """Create a patient from a plain folder (see ``patient_folder``); returns its id. Every media file is
        probed first, so an unreadable one raises (naming the file) before anything is written."""
        from lusapp.store.patient_folder import open_patient_folder

        self._writable()
        contents = open_patient_folder(folder)
        patient, media = contents
        patient.validate()
        pid = patient.patient_id
        if self.has_patient(pid):
            raise StoreError(self.patient_dir(pid), f"patient {pid!r} already exists; not importing {folder}")
        for path in media.values():  # unreadable media (ReadError naming the file) stop the import up front
            probe_media(path)
        self._write_patient(patient)
        self._audit(actor, "import-folder", pid, detail={"folder": str(folder), "zones": sorted(media),
                                                         "warnings": list(contents.warnings)})
        for zid, path in media.items():
            self.add_media(pid, zid, path, actor)
        return pid


def _changed_sections(old: dict | None, new: dict) -> list[str]:
    if old is None:
        return ["all"]
    out = [k for k in ("exam_date", "protocol_id", "scale_id", "clinical", "severity", "notes")
           if old.get(k) != new.get(k)]
    for zid, z in new["zones"].items():
        oz = old["zones"].get(zid, {})
        out += [f"zones.{zid}.{k}" for k in ("media", "model_score", "clinician_score", "notes") if oz.get(k) != z.get(k)]
    return out
