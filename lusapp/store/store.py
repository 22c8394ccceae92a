"""The patient store: one folder, one writer, crash-safe documents. Format: docs/store-format.md."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lusapp.core.errors import (DamagedDocument, LusError, ReadError, SchemaTooNew, SeveralReadErrors, StoreError,
                                ValidationError, display_path)
from lusapp.core.patient import ClinicalInfo, MediaRef, Patient, check_patient_id, normalise_model_id, utc_now
from lusapp.io.readers import open_media
from lusapp.store import masks as _masks
from lusapp.store.durable import AUDIT_NAME, atomic_write_json, read_audit, read_json
from lusapp.store.journal import Operation, operation, recover, store_os_error
from lusapp.store.lock import StoreLock
from lusapp.store.migrations import migrate
from lusapp.store.proposals import ProposalMasks
from lusapp.store.rater_masks import RaterMasks

STORE_FORMAT = "lusapp-store"
STORE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class PatientSummary:
    patient_id: str
    exam_date: str | None
    n_zones_with_media: int
    n_scored: int  # zones with a clinician score (the model's scores are not counted)
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


class Store(RaterMasks, ProposalMasks):
    """Open with :meth:`create` or :meth:`open`; use as a context manager or call :meth:`close`.
    Several raters' masks and the consensus: :class:`lusapp.store.rater_masks.RaterMasks`."""

    def __init__(self, root: Path, readonly: bool, lock: StoreLock | None):
        self.root = root
        self.readonly = readonly
        self._lock = lock
        self._closed = False
        #: Interrupted operations finished or undone when the store was opened (one line each).
        self.recovered: list[str] = []
        self._zone_cache: dict[str, tuple[tuple, frozenset]] = {}

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
            (root / AUDIT_NAME).touch()
        except OSError as exc:
            raise store_os_error(root, exc, "cannot create the store folder") from exc
        store = None
        try:
            atomic_write_json(root / "store.json", {"format": STORE_FORMAT, "schema_version": STORE_SCHEMA_VERSION,
                                                    "created": utc_now()})
            store = cls.open(root)
            store._audit("system", "create-store")
        except StoreError as exc:
            if store is not None:
                store.close()
            cause = exc.__cause__
            if isinstance(cause, OSError):
                raise store_os_error(exc.path, cause, "cannot create the store") from exc
            raise
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
            try:
                store = cls(root, readonly, lock)
                store.recovered = recover(root)
            except BaseException:
                lock.release()
                raise
            return store
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
        except Exception:  # noqa: BLE001 - a finaliser never raises
            pass

    def _writable(self) -> None:
        if self._closed:
            raise StoreError(self.root, "store is closed")
        if self.readonly:
            raise StoreError(self.root, "store is open read-only")

    def _audit(self, actor: str, action: str, patient: str | None = None, zone: str | None = None,
               detail=None) -> None:
        op = Operation(self.root, action)
        op.audit([_entry(actor, action, patient, zone, detail)])
        op.commit()

    def _inside(self, path: Path) -> Path:
        """``path`` if it lies inside the store once links are resolved; a link out of the store is refused."""
        real = os.path.realpath(path)
        root = os.path.realpath(self.root)
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            raise DamagedDocument(path, "is a link that leads outside the store; refused")
        return path

    def audit(self, patient: str | None = None) -> list[dict]:
        """Audit entries, oldest first (only those of ``patient`` when given)."""
        return read_audit(self.root / AUDIT_NAME, patient)

    # ------------------------------------------------------------------ patients
    def patient_dir(self, pid: str) -> Path:
        return self._inside(self.root / "patients" / check_patient_id(pid))

    def _doc_path(self, pid: str) -> Path:
        return self.patient_dir(pid) / "patient.json"

    def has_patient(self, pid: str) -> bool:
        return self._doc_path(pid).is_file()

    def patient_ids(self) -> list[str]:
        folder = self.root / "patients"
        if not folder.is_dir():
            return []
        out = []
        for p in folder.iterdir():
            try:
                check_patient_id(p.name)
            except ValidationError:
                continue
            if (p / "patient.json").is_file():
                out.append(p.name)
        return sorted(out)

    def list_patients(self) -> list[PatientSummary]:
        out = []
        for pid in self.patient_ids():
            try:
                p = self.load_patient(pid)
            except LusError as exc:
                out.append(PatientSummary(pid, None, 0, 0, None, None, problem=str(exc)))
                continue
            except (RecursionError, MemoryError, ValueError, TypeError, KeyError, OSError) as exc:
                out.append(PatientSummary(pid, None, 0, 0, None, None, problem=f"{display_path(self._doc_path(pid))}: "
                                          f"cannot be read ({type(exc).__name__})"))
                continue
            out.append(PatientSummary(
                patient_id=p.patient_id, exam_date=p.exam_date,
                n_zones_with_media=sum(1 for z in p.zones.values() if z.media is not None),
                n_scored=sum(1 for z in p.zones.values() if z.clinician_score is not None),
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
        except (RecursionError, TypeError, ValueError, KeyError, AttributeError) as exc:
            raise DamagedDocument(path, f"invalid content ({type(exc).__name__})") from None
        if patient.patient_id != pid:
            raise DamagedDocument(path, f"holds patient_id {patient.patient_id!r}, but its folder is {pid!r}")
        if found != patient.schema_version and not self.readonly:
            backup = path.with_name(f"patient.v{found}.json")
            op = Operation(self.root, "migrate")
            if not backup.exists():
                copy = op.prepare_path()
                shutil.copy2(path, copy)
                op.move(copy, backup)
            op.audit([_entry("system", "migrate", pid, None, {"from": found, "to": patient.schema_version,
                                                                "backup": backup.name})])
            op.steps.insert(0, op.steps.pop())  # the audit entry first
            op.replace(op.write_json(patient.to_dict()), path)
            op.commit()
        return patient

    def new_patient(self, pid: str, protocol: str = "lus12", exam_date: str | None = None,
                    clinical: ClinicalInfo | None = None, actor: str = "user") -> Patient:
        self._writable()
        check_patient_id(pid)
        if self.has_patient(pid):
            raise StoreError(self.patient_dir(pid), f"patient {pid!r} already exists")
        p = Patient.new(pid, protocol, exam_date=exam_date, clinical=clinical)
        op = Operation(self.root, "new-patient")
        op.audit([_entry(actor, "new-patient", pid, None, {"protocol": p.protocol_id, "exam_date": p.exam_date})])
        op.replace(op.write_json(p.to_dict()), self._doc_path(pid))
        op.commit()
        return p

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
            op = Operation(self.root, "save-patient")
            op.audit([_entry(actor, "save-patient" if old_doc else "new-patient", patient.patient_id, None,
                             {"changed": changes, "revision": patient.revision})])
            op.replace(op.write_json(patient.to_dict()), self._doc_path(patient.patient_id))
            op.commit()
        except BaseException:
            patient.revision -= 1
            raise

    # ------------------------------------------------------------------ media
    def add_media(self, pid: str, zone_id: str, src: str | Path, actor: str) -> MediaRef:
        """Copy ``src`` in as the zone's media (the old file, if any, and its masks move to
        ``replaced/<time>/``); records sha256 and clip metadata; resets the zone's model score.

        One journalled step: the new file is placed under a free name, the document is saved, then the old
        file and masks are set aside; a crash at any point is finished by the next open."""
        self._writable()
        src = Path(src)
        patient = self.load_patient(pid)
        patient.zone(zone_id)  # KeyError for a zone the patient does not have, before any copying
        if not src.is_file():
            raise StoreError(src, "media file not found")
        info = probe_media(src)
        with operation(self.root, "add-media") as op:
            tmp = op.prepare_path()
            digest = _copy_hashed(src, tmp)
            ref, entries, moves = self._media_change(patient, zone_id, src, tmp, digest, info, actor, op)
            op.audit(entries)
            for a, b in moves[:2]:
                op.move(a, b)
            op.replace(op.write_json(patient.to_dict()), self._doc_path(pid))
            for a, b in moves[2:]:
                op.move(a, b)
        return ref

    def _media_change(self, patient: Patient, zone_id: str, src: Path, tmp: Path, digest: str, info: dict,
                      actor: str, op: Operation, folder: Path | None = None):
        """Update ``patient`` (in memory) for new media of a zone; returns (ref, audit entries, moves):
        moves[0] places the new file, moves[1] sets old masks aside, moves[2:] the old media file."""
        pid = patient.patient_id
        folder = folder or self.patient_dir(pid)
        rec = patient.zone(zone_id)
        ext = "".join(c for c in src.suffix.lower() if c.isalnum() or c == ".")[:12] or ".bin"
        if ext == ".":
            ext = ".bin"
        rel = f"media/{zone_id}{ext}"
        n = 2
        while os.path.lexists(folder / rel) or (rec.media is not None and rec.media.file == rel):
            rel = f"media/{zone_id}-{n}{ext}"
            n += 1
        stamp = utc_now().replace(":", "").replace("-", "")
        aside = folder / "replaced" / stamp
        n = 1
        while os.path.lexists(aside):
            aside = folder / "replaced" / f"{stamp}-{n}"
            n += 1
        moves = [(tmp, folder / rel), (folder / "masks" / zone_id, aside / "masks" / zone_id)]
        set_aside = []
        if os.path.lexists(folder / "masks" / zone_id):
            set_aside.append((aside / "masks" / zone_id).relative_to(folder).as_posix())
        if rec.media is not None and os.path.lexists(folder / rec.media.file):
            moves.append((folder / rec.media.file, aside / rec.media.file))
            set_aside.insert(0, (aside / rec.media.file).relative_to(folder).as_posix())
        name = display_path(src.name)
        old_doc = patient.to_dict()
        ref = MediaRef(kind=info["kind"], file=rel, sha256=digest, n_frames=info.get("n_frames"),
                       fps=info.get("fps"), width=info.get("width"), height=info.get("height"),
                       original_name=name, pixel_spacing_mm=info.get("pixel_spacing_mm"))
        rec.media = ref
        rec.model_score = None
        patient.validate()
        patient.revision += 1
        changes = _changed_sections(old_doc, patient.to_dict())
        entries = [_entry(actor, "save-patient", pid, None, {"changed": changes, "revision": patient.revision}),
                   _entry(actor, "add-media", pid, zone_id, {"file": rel, "sha256": digest, "original_name": name,
                                                             "set_aside": set_aside})]
        self._zone_cache.pop(pid, None)
        return ref, entries, moves
    def media_path(self, pid: str, zone_id: str) -> Path | None:
        ref = self.load_patient(pid).zone(zone_id).media
        return None if ref is None else self._inside(self.patient_dir(pid) / ref.file)

    def verify_media(self, pid: str, zone_id: str | None = None) -> dict[str, bool]:
        """Re-hash stored media; raises ``DamagedDocument`` naming the first missing or altered file."""
        patient = self.load_patient(pid)
        out = {}
        for zid, rec in patient.zones.items():
            if rec.media is None or (zone_id is not None and zid != zone_id):
                continue
            path = self._inside(self.patient_dir(pid) / rec.media.file)
            if not path.is_file():
                raise DamagedDocument(path, f"media of zone {zid} is missing")
            digest = sha256_file(path)
            if digest != rec.media.sha256:
                raise DamagedDocument(path, f"sha256 mismatch for zone {zid}: recorded {rec.media.sha256[:12]}..., "
                                            f"file has {digest[:12]}... (file altered or corrupt)")
            out[zid] = True
        return out

    # ------------------------------------------------------------------ masks
    def _zone_ids(self, pid: str) -> frozenset:
        """The patient's zone ids, cached until patient.json changes (mask reads do not re-parse it)."""
        path = self._doc_path(pid)
        try:
            st = os.stat(path)
            sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            sig = None
        hit = self._zone_cache.get(pid)
        if sig is not None and hit is not None and hit[0] == sig:
            return hit[1]
        ids = frozenset(self.load_patient(pid).zones)
        if sig is not None:
            self._zone_cache[pid] = (sig, ids)
        return ids

    def _zone_dir(self, pid: str, zone_id: str) -> Path:
        if zone_id not in self._zone_ids(pid):
            self.load_patient(pid).zone(zone_id)  # raises the usual KeyError naming the zone
        return self._inside(self.patient_dir(pid) / "masks" / zone_id)

    def save_masks(self, pid: str, zone_id: str, masks: dict[int, np.ndarray], kind: str = "original",
                   rater: str = "model", model_version: str = "") -> None:
        """Store several frames' label maps of one kind with one provenance update and one audit entry
        (one journalled step: PNGs and labels.json change together or not at all)."""
        self._writable()
        if not masks:
            return
        zone_dir = self._zone_dir(pid, zone_id)
        for sub in (zone_dir, zone_dir / _masks.check_kind(kind)):
            self._inside(sub)
        with operation(self.root, f"save-mask-{kind}") as op:
            files = _masks.prepare_masks(zone_dir, masks, kind, rater, model_version, op.prepare_path)
            op.audit([_entry(rater, f"save-mask-{kind}", pid, zone_id,
                             {"frames": sorted(int(i) for i in masks), "model_version": model_version})])
            op.replace_all(files)

    def save_mask(self, pid: str, zone_id: str, frame: int, mask: np.ndarray, kind: str = "original",
                  rater: str = "model", model_version: str = "") -> None:
        self.save_masks(pid, zone_id, {frame: mask}, kind, rater, model_version)

    def load_mask(self, pid: str, zone_id: str, frame: int, kind: str = "original") -> np.ndarray | None:
        """The stored label map, or None when that frame has no mask of that kind."""
        return _masks.read_mask(self._zone_dir(pid, zone_id), kind, frame)

    def load_effective_mask(self, pid: str, zone_id: str, frame: int) -> tuple[np.ndarray | None, str | None]:
        """(mask, kind): the FINAL mask when the clinician made one (the frame's first rater's), else the
        ORIGINAL, else (None, None)."""
        zone_dir = self._zone_dir(pid, zone_id)
        for kind in ("final", "original"):
            m = _masks.read_mask(zone_dir, kind, frame)
            if m is not None:
                return m, kind
        return None, None

    def mask_frames(self, pid: str, zone_id: str, kind: str = "original") -> list[int]:
        return _masks.list_frames(self._zone_dir(pid, zone_id), kind)

    def mask_provenance(self, pid: str, zone_id: str, kind: str = "original") -> dict[int, dict]:
        """Per frame: kind, rater, time and the model identity (``model_version``, normalised as zone scores are:
        a bare "1.1.0" of an older app reads as "lus-staged-1.1.0")."""
        doc = _masks.read_labels(self._zone_dir(pid, zone_id))
        return {int(k): {**v, "model_version": normalise_model_id(str(v.get("model_version") or ""))}
                for k, v in doc["frames"][_masks.check_kind(kind)].items()}

    # ------------------------------------------------------------------ import
    def import_folder(self, folder: str | Path, actor: str, report: list[str] | None = None) -> str:
        """Create a patient from a plain folder (see ``patient_folder``); returns its id. Every media file is
        probed first, so unreadable ones raise (naming every one of them) before anything is written. The
        folder's warnings (skipped files...) are appended to ``report`` when given."""
        from lusapp.store.patient_folder import open_patient_folder

        self._writable()
        contents = open_patient_folder(folder)
        patient, media = contents
        patient.validate()
        pid = patient.patient_id
        if self.has_patient(pid) or os.path.lexists(self.root / "patients" / pid):
            raise StoreError(self.patient_dir(pid), f"patient {pid!r} already exists; not importing "
                                                    f"{display_path(folder)}")
        infos, unreadable = {}, []
        for zid, path in media.items():  # unreadable media stop the import here, all of them named
            try:
                infos[zid] = probe_media(path)
            except ReadError as exc:
                unreadable.append(exc)
        if len(unreadable) == 1:
            raise unreadable[0]
        if unreadable:
            raise SeveralReadErrors(folder, unreadable)
        if report is not None:
            report.extend(contents.warnings)
        # Everything is built in a journal folder and moved in as one folder: an import is all or nothing.
        op = Operation(self.root, "import-folder")
        try:
            staged = op.prepare_path(".patient")
            entries = [_entry(actor, "import-folder", pid, None, {
                "folder": display_path(folder), "zones": sorted(media), "warnings": list(contents.warnings)})]
            (staged / "media").mkdir(parents=True)
            for zid, path in media.items():
                tmp = op.prepare_path()
                digest = _copy_hashed(path, tmp)
                ref, more, moves = self._media_change(patient, zid, path, tmp, digest, infos[zid], actor, op,
                                                      folder=staged)
                os.replace(moves[0][0], moves[0][1])
                entries += more[1:]
            patient.revision = 0
            atomic_write_json(staged / "patient.json", patient.to_dict())
            op.audit(entries)
            op.move(staged, self.root / "patients" / pid)
        except OSError as exc:
            op.discard()
            raise store_os_error(self.root / "patients" / pid, exc, "cannot import") from exc
        except BaseException:
            op.discard()
            raise
        op.commit()
        return pid


def _entry(actor: str, action: str, patient: str | None, zone: str | None, detail) -> dict:
    return {"actor": actor or "unknown", "action": action, "patient": patient, "zone": zone, "detail": detail}


def _copy_hashed(src: Path, dest: Path) -> str:
    """Copy ``src`` to ``dest`` (fsynced, mode 0644 like the store's documents); returns the sha256."""
    h = hashlib.sha256()
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    except OSError as exc:
        raise store_os_error(dest, exc, "cannot copy the media file in") from exc
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o644)
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            for chunk in iter(lambda: fin.read(1 << 20), b""):
                h.update(chunk)
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
    except OSError as exc:
        if exc.filename and os.fsdecode(exc.filename) == os.fsdecode(src):
            raise StoreError(src, f"cannot be read ({exc.strerror or exc})") from exc
        raise store_os_error(dest, exc, "cannot copy the media file in") from exc
    return h.hexdigest()


def _changed_sections(old: dict | None, new: dict) -> list[str]:
    if old is None:
        return ["all"]
    out = [k for k in ("exam_date", "protocol_id", "scale_id", "clinical", "severity", "notes")
           if old.get(k) != new.get(k)]
    for zid, z in new["zones"].items():
        oz = old["zones"].get(zid, {})
        out += [f"zones.{zid}.{k}" for k in ("media", "model_score", "clinician_score", "other_scores",
                                             "consensus_score", "notes") if oz.get(k) != z.get(k)]
    return out
