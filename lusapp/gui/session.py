"""The session controller: current store, patient and zone; edits, dirty state and debounced autosave.

Widgets never write to the store themselves. They call the ``set_*`` methods here, which change the
in-memory :class:`~lusapp.core.patient.Patient`, emit ``dataChanged`` and (re)start a debounce timer;
when it fires the patient and any pending masks are written through :mod:`lusapp.store`. Changing
patient, importing, retraining and closing flush first, so nothing entered is lost. A failed save keeps
the session dirty, reports the error and retries on the next change or on close (which then asks).
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from lusapp.core.errors import LusError, StoreLocked, StoreReadOnly, ValidationError
from lusapp.core.patient import ClinicalInfo, Patient, ScoreEntry, utc_now
from lusapp.core.raters import rater_score, set_rater_score
from lusapp.gui.workers import Job, run_job
from lusapp.review.unsaved import UnsavedChanges

AUTOSAVE_MS = 1200
READONLY_BANNER = "read-only: changes cannot be saved"


def default_rater() -> str:
    try:
        return getpass.getuser() or "clinician"
    except Exception:  # noqa: BLE001 - no login name (service accounts, containers)
        return "clinician"


class SessionController(QObject):
    storeChanged = Signal(object)        # Store | None
    patientsChanged = Signal()           # the patient list needs a refresh
    patientChanged = Signal(object)      # Patient | None
    zoneChanged = Signal(str)            # zone id ('' when none)
    dataChanged = Signal(str)            # 'zone:<id>', 'clinical', 'severity', 'notes', 'media:<id>'
    attentionChanged = Signal(object)    # {zone_id: weight} (empty when unknown)
    dirtyChanged = Signal(bool)
    saved = Signal(int)                  # patient revision after a successful save
    patientSaved = Signal(str)           # patient id after a successful save
    errorRaised = Signal(str, str)       # title, message (shown by the main window's error dialog)
    busyChanged = Signal(bool, str)      # a background store job (import) started / ended, with a message
    readonlyChanged = Signal(bool, str)  # the open store is read-only (True, why) / writable or none (False, '')

    def __init__(self, parent: QObject | None = None, rater: str | None = None, autosave_ms: int = AUTOSAVE_MS):
        super().__init__(parent)
        self.store: Any = None
        self.patient: Patient | None = None
        self.zone_id: str = ""
        self.attention: dict[str, float] = {}
        self.rater = rater or default_rater()
        self.readonly = False
        self.readonly_reason = ""  # why the open store is read-only (in use elsewhere, read-only medium...)
        self.unsaved = UnsavedChanges()  # unsaved masks (finals: shared with the clip view), record changes
        self._dirty_shown = False  # the dirty state last told through dirtyChanged
        self._flush_hooks: list[Callable[[], None]] = []
        self._busy = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(autosave_ms)
        self._timer.timeout.connect(self.save)

    # ------------------------------------------------------------------ state
    @property
    def dirty(self) -> bool:
        return self.unsaved.any

    def _set_dirty(self, value: bool) -> None:
        self.unsaved.record_changed = value
        self._tell_dirty()

    def _tell_dirty(self) -> None:
        if self.dirty != self._dirty_shown:
            self._dirty_shown = self.dirty
            self.dirtyChanged.emit(self._dirty_shown)

    def discard_changes(self) -> None:
        """Forget unsaved changes (the user chose to, e.g. quitting after a failed save)."""
        self._timer.stop()
        self.unsaved.clear()
        self._set_dirty(False)

    def touch(self, what: str) -> None:
        """Record an in-memory change: emit ``dataChanged(what)`` and schedule an autosave."""
        if self.patient is None:
            return
        self._set_dirty(True)
        self.dataChanged.emit(what)
        if not self.readonly:
            self._timer.start()

    def add_flush_hook(self, fn: Callable[[], None]) -> None:
        """``fn()`` runs before every save (e.g. a widget commits a half-typed field)."""
        self._flush_hooks.append(fn)

    @property
    def protocol(self):
        return self.patient.protocol if self.patient else None

    def zone_record(self, zone_id: str | None = None):
        if self.patient is None:
            return None
        zid = zone_id or self.zone_id
        return self.patient.zones.get(zid) if zid else None

    # ------------------------------------------------------------------ store & patient
    def open_store(self, path: str | Path, readonly: bool = False, create: bool = False) -> bool:
        """Open (or create) a store; False (and ``errorRaised``) when it cannot be opened."""
        from lusapp.store import Store

        if not self.close_store():
            return False
        p = Path(path)
        reason = "opened read-only" if readonly else ""
        try:
            if not readonly and (p / "store.json").is_file() and not os.access(p, os.W_OK):
                raise StoreReadOnly(p, "the store folder is not writable (no permission or a read-only medium)")
            store = Store.create(p) if create and not (p / "store.json").exists() else Store.open(p, readonly=readonly)
        except (StoreLocked, StoreReadOnly) as exc:  # in use elsewhere / read-only medium: look, but do not write
            try:
                store = Store.open(p, readonly=True)
            except (LusError, OSError):
                self.errorRaised.emit("Cannot open store", str(exc))
                return False
            readonly = True
            if isinstance(exc, StoreLocked):
                reason = "in use by another LUSApp"
                self.errorRaised.emit("Store in use", f"{exc}\nOpened read-only: changes will not be saved.")
            else:
                reason = "the store folder cannot be written"
                self.errorRaised.emit("Store is read-only", f"{exc}\nOpened read-only: you can view its patients, "
                                      "but changes cannot be saved.")
        except (LusError, OSError) as exc:
            self.errorRaised.emit("Cannot open store", str(exc) if isinstance(exc, LusError) else f"{path}: {exc}")
            return False
        self.store, self.readonly = store, readonly
        self.readonly_reason = reason if readonly else ""
        self.readonlyChanged.emit(readonly, self.readonly_reason)
        self.storeChanged.emit(store)
        self.patientsChanged.emit()
        return True

    def close_store(self) -> bool:
        if self.store is None:
            return True
        if not self.close_patient():
            return False
        try:
            self.store.close()
        except (LusError, OSError) as exc:
            self.errorRaised.emit("Store", str(exc))
        self.store = None
        if self.readonly:
            self.readonly, self.readonly_reason = False, ""
            self.readonlyChanged.emit(False, "")
        self.storeChanged.emit(None)
        self.patientsChanged.emit()
        return True

    def list_patients(self) -> list[str]:
        if self.store is None:
            return []
        return [p if isinstance(p, str) else p.patient_id for p in self.store.list_patients()]

    def open_patient(self, pid: str) -> bool:
        if self.store is None:
            return False
        if self.patient is not None and self.patient.patient_id == pid:
            return True
        if self._busy:
            self.errorRaised.emit("Busy", f"Wait until '{self._busy}' has finished.")
            return False
        if self.dirty and not self.readonly and not self.save():  # read-only: close_patient discards them
            return False
        try:  # load first: a damaged patient leaves the open one open
            patient = self.store.load_patient(pid)
        except (LusError, OSError) as exc:
            self.errorRaised.emit("Cannot open patient", str(exc))
            return False
        if not self.close_patient():
            return False
        self.patient = patient
        self.attention = dict(patient.severity.model_attention or {})
        self.patientChanged.emit(patient)
        self.attentionChanged.emit(self.attention)
        first = next((z.id for z in patient.protocol.zones
                      if patient.zones[z.id].media is not None), patient.protocol.zone_ids[0])
        self.set_zone(first)
        return True

    def close_patient(self) -> bool:
        """Flush and drop the current patient; False when unsaved changes could not be saved."""
        if self.patient is None:
            return True
        if self.readonly and self.dirty:  # the user was told at opening that nothing is saved here
            self.discard_changes()
        if self.dirty and not self.save():
            return False
        self.patient, self.zone_id = None, ""
        self.patientChanged.emit(None)
        self.zoneChanged.emit("")
        return True

    def _merge_media(self, zones: list[str]) -> None:
        """Adopt the store's new media of ``zones`` without dropping edits made while the import ran."""
        disk = self.store.load_patient(self.patient.patient_id)
        dropped = []
        for zid in zones:
            rec = self.patient.zones[zid]
            rec.media, rec.model_score = disk.zones[zid].media, disk.zones[zid].model_score
            if self.unsaved.drop_zone(zid):  # masks of the replaced clip
                dropped.append(zid)
            self.patient.severity.forget_attention(zid)  # the assessment does not explain the new media
        self.attention = dict(self.patient.severity.model_attention or {})
        self.attentionChanged.emit(self.attention)
        self.patient.revision = disk.revision
        for zid in zones:
            self.dataChanged.emit(f"media:{zid}")
        self.patientsChanged.emit()
        if dropped:
            self.errorRaised.emit("Mask edits discarded", "Edits made while a new clip was being imported into "
                                  f"zone(s) {', '.join(dropped)} belonged to the replaced clip and were not kept.")
        if self.dirty:
            self._timer.start()

    def new_patient(self, pid: str, protocol: str = "lus12") -> bool:
        if self.store is None:
            self.errorRaised.emit("New patient", "Open a store first (File > Open store).")
            return False
        try:
            if pid in self.list_patients():
                raise ValidationError("patient_id", f"{pid!r} already exists in this store")
            self.store.new_patient(pid, protocol, actor=self.rater)
        except (LusError, OSError) as exc:
            self.errorRaised.emit("New patient", str(exc))
            return False
        self.patientsChanged.emit()
        return self.open_patient(pid)

    # ------------------------------------------------------------------ zones
    def set_zone(self, zone_id: str, force: bool = False) -> None:
        if self.patient is None or zone_id not in self.patient.zones:
            return
        if zone_id == self.zone_id and not force:
            return
        if self.unsaved.masks_pending:  # the next zone's view reads masks from the store
            self.save()
        self.zone_id = zone_id
        self.zoneChanged.emit(zone_id)

    def step_zone(self, delta: int) -> None:
        if self.patient is None:
            return
        ids = list(self.patient.protocol.zone_ids)
        i = ids.index(self.zone_id) if self.zone_id in ids else -delta
        self.set_zone(ids[(i + delta) % len(ids)])

    def next_zone(self) -> None:
        self.step_zone(1)

    def prev_zone(self) -> None:
        self.step_zone(-1)

    # ------------------------------------------------------------------ edits
    def set_clinician_score(self, value: int | None, zone_id: str | None = None) -> None:
        """Set (None: withdraw) the current rater's own score of the zone; other raters' scores are kept."""
        rec = self.zone_record(zone_id)
        if rec is None:
            return
        if value is not None:
            self.patient.scale.check(value, f"zones.{rec.zone_id}.clinician_score")
        if set_rater_score(rec, self.rater, None if value is None else int(value)):
            self.touch(f"zone:{rec.zone_id}")

    def own_score(self, rec) -> ScoreEntry | None:
        """The current rater's own score of a zone record (None when this rater has not scored it)."""
        return rater_score(rec, self.rater)

    def set_zone_notes(self, text: str, zone_id: str | None = None) -> None:
        rec = self.zone_record(zone_id)
        if rec is None or rec.notes == text:
            return
        rec.notes = text
        self.touch(f"zone:{rec.zone_id}")

    def set_clinical(self, info: ClinicalInfo) -> None:
        if self.patient is None:
            return
        info.validate()
        if info.to_dict() == self.patient.clinical.to_dict():
            return
        self.patient.clinical = info
        self.touch("clinical")

    def set_patient_notes(self, text: str) -> None:
        if self.patient is None or self.patient.notes == text:
            return
        self.patient.notes = text
        self.touch("notes")

    def set_clinician_severity(self, label: int | None) -> None:
        if self.patient is None:
            return
        sev = self.patient.severity
        if sev.clinician_label == label:
            return
        sev.clinician_label = label
        sev.rater = self.rater if label is not None else ""
        sev.time = utc_now() if label is not None else ""
        self.touch("severity")

    def apply_assessment(self, assessment) -> None:
        """Store an engine Assessment in the open patient: severity probabilities, per-zone model scores and
        attention (saved with the patient, so the explanation survives a reopen)."""
        if self.patient is None:
            return
        from lusapp.model.apply import apply_assessment

        apply_assessment(self.patient, assessment)
        self.attention = dict(self.patient.severity.model_attention or {})
        self.attentionChanged.emit(self.attention)
        self.touch("severity")

    def _masks_changed(self) -> None:
        self._tell_dirty()
        if not self.readonly:
            self._timer.start()

    def queue_mask(self, zone_id: str, frame: int, mask: np.ndarray, kind: str = "final",
                   model_version: str = "") -> None:
        """A copy of ``mask`` to write with the next save: the model's ORIGINAL the first time a frame is
        edited, or a FINAL mask from outside the clip view (the view paints into ``unsaved.finals`` and calls
        :meth:`mask_edited`)."""
        if self.patient is None:
            return
        self.unsaved.queue_mask(zone_id, frame, mask, kind, model_version)
        self._masks_changed()

    def mask_edited(self, zone_id: str, frame: int, model_version: str = "") -> None:
        """The clip view changed the frame's FINAL mask in ``unsaved.finals`` (the model ``model_version``
        gave the mask it started from): write it with the next save."""
        if self.patient is None:
            return
        self.unsaved.finals.set_version(zone_id, frame, model_version)
        self._masks_changed()

    def unlabel_mask(self, zone_id: str, frame: int) -> None:
        """The frame's FINAL mask is withdrawn (undo of a first edit, 'Unlabel'): an edited FINAL is dropped and
        the stored one deleted at the next save (``Store.delete_mask``, when the store has it)."""
        if self.patient is None:
            return
        self.unsaved.unlabel(zone_id, frame)
        self._masks_changed()

    def pending_masks(self, zone_id: str, kind: str = "final") -> dict[int, np.ndarray]:
        """Masks of ``zone_id`` changed but not yet written, by frame."""
        return self.unsaved.pending(zone_id, kind)

    # ------------------------------------------------------------------ saving
    def save(self) -> bool:
        self._timer.stop()
        if self.patient is None or self.store is None:
            return True
        for hook in list(self._flush_hooks):
            hook()
        if not self.dirty:
            return True
        if self.readonly:
            self.errorRaised.emit("Read-only", f"{self.store.root}: {READONLY_BANNER} (the store was opened "
                                  f"read-only: {self.readonly_reason or 'opened read-only'}); your changes stay "
                                  "on screen until you open another patient or close the store.")
            return False
        if self._busy:  # a background job is writing to the store: save right after it
            self._timer.start()
            return False
        pid = self.patient.patient_id
        try:
            self.unsaved.write(self.store, self.patient, self.rater, warn=self.errorRaised.emit)
        except (LusError, OSError) as exc:
            self.errorRaised.emit("Save failed", str(exc) if isinstance(exc, LusError) else f"{pid}: {exc}")
            self._set_dirty(True)
            return False
        self._set_dirty(False)
        self.saved.emit(self.patient.revision)
        self.patientSaved.emit(pid)
        return True

    # ------------------------------------------------------------------ background store jobs
    @property
    def busy(self) -> str:
        return self._busy

    def _start_job(self, message: str, fn, *args, on_done) -> Job | None:
        if self.store is None:
            self.errorRaised.emit("No store", "Open a store first (File > Open store).")
            return None
        if self._busy:
            self.errorRaised.emit("Busy", f"Wait until '{self._busy}' has finished.")
            return None
        if self.readonly:
            self.errorRaised.emit("Read-only", f"{self.store.root}: opened read-only")
            return None
        if self.dirty and not self.save():
            return None
        self._busy = message
        self.busyChanged.emit(True, message)

        def done(result):
            self._busy = ""
            self.busyChanged.emit(False, "")
            on_done(result)

        def failed(exc, _tb):
            self._busy = ""
            self.busyChanged.emit(False, "")
            self.errorRaised.emit(message, str(exc) if isinstance(exc, (LusError, OSError)) else
                                  f"{type(exc).__name__}: {exc}")
            self.patientsChanged.emit()

        return run_job(fn, *args, on_done=done, on_error=failed, name=message)

    def import_folder(self, folder: str | Path) -> Job | None:
        """Import a plain patient folder in a worker; opens the new patient when done, then names every file
        the import skipped (unsupported, matching no zone, a second file for a zone...)."""
        skipped: list[str] = []

        def done(pid):
            self.patientsChanged.emit()
            self.open_patient(pid)
            if skipped:
                self.errorRaised.emit(f"Imported {pid} with {len(skipped)} warning(s)",
                                      "\n".join(skipped))

        return self._start_job(f"Importing {Path(folder).name}", self.store.import_folder if self.store else None,
                               str(folder), self.rater, skipped, on_done=done)

    def import_media(self, files: dict[str, str | Path]) -> Job | None:
        """Copy media into zones ``{zone_id: path}`` of the current patient in a worker, then reload."""
        if self.patient is None:
            self.errorRaised.emit("Import clip", "Open or create a patient first.")
            return None
        pid, store, rater = self.patient.patient_id, self.store, self.rater

        def work():
            done, errors = [], []
            for zid, path in files.items():
                try:
                    store.add_media(pid, zid, path, rater)
                    done.append(zid)
                except (LusError, OSError) as exc:
                    errors.append(str(exc) if isinstance(exc, LusError) else f"{path}: {exc}")
            return done, errors

        def finished(result):
            zones, errors = result
            if self.patient is not None and self.patient.patient_id == pid and zones:
                self._merge_media(zones)
            if errors:
                self.errorRaised.emit("Some files were not imported", "\n".join(errors))

        return self._start_job(f"Importing {len(files)} file(s)", work, on_done=finished)
