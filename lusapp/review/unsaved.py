"""What the reviewer changed in the open patient and has not saved yet: the one owner of unsaved masks.

``UnsavedChanges`` holds, until :meth:`write` puts them in the store:

* masks queued for writing, by (zone, frame, kind): a FINAL mask after an edit, the model's ORIGINAL the
  first time a frame is edited, each with the model identity it came from;
* FINAL masks withdrawn (undo of a first edit, 'Unlabel'), deleted from the store at the next write;
* whether the patient record itself (scores, notes, clinical data, severity) changed.

A queued FINAL and a withdrawal of the same frame cancel each other (the later one wins). When a zone's
clip is replaced, :meth:`drop_zone` forgets its masks (they belong to the old clip). The session
(``lusapp.gui.session.SessionController``) owns one of these and adds Qt's signals and the autosave timer;
everything here is plain Python, tested headless.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

FINAL, ORIGINAL = "final", "original"


class UnsavedChanges:
    def __init__(self) -> None:
        self._masks: dict[tuple[str, int, str], tuple[np.ndarray, str]] = {}
        self._unlabelled: set[tuple[str, int]] = set()
        self.record_changed = False

    # -- state -----------------------------------------------------------------------------------
    @property
    def any(self) -> bool:
        """Anything to write (a mask, a withdrawal or the record)."""
        return self.record_changed or bool(self._masks) or bool(self._unlabelled)

    @property
    def masks_pending(self) -> bool:
        """A mask write or a withdrawal is waiting (the next zone's view reads masks from the store)."""
        return bool(self._masks) or bool(self._unlabelled)

    def clear(self) -> None:
        self._masks.clear()
        self._unlabelled.clear()
        self.record_changed = False

    # -- masks -----------------------------------------------------------------------------------
    def queue_mask(self, zone_id: str, frame: int, mask: np.ndarray, kind: str = FINAL,
                   model_version: str = "") -> None:
        """Keep a copy of ``mask`` to write as ``kind`` (a later queue of the same frame and kind replaces it)."""
        if kind not in (FINAL, ORIGINAL):
            raise ValueError(f"mask kind must be {FINAL!r} or {ORIGINAL!r}, not {kind!r}")
        self._masks[(zone_id, int(frame), kind)] = (np.array(mask, dtype=np.uint8, copy=True), model_version)
        if kind == FINAL:
            self._unlabelled.discard((zone_id, int(frame)))

    def unlabel(self, zone_id: str, frame: int) -> None:
        """The frame's FINAL mask is withdrawn: a queued one is dropped, a stored one deleted at the write."""
        self._masks.pop((zone_id, int(frame), FINAL), None)
        self._unlabelled.add((zone_id, int(frame)))

    def pending(self, zone_id: str, kind: str = FINAL) -> dict[int, np.ndarray]:
        """Masks of ``zone_id`` queued but not yet written, by frame."""
        return {f: m for (z, f, k), (m, _v) in self._masks.items() if z == zone_id and k == kind}

    def unlabelled(self, zone_id: str) -> set[int]:
        return {f for z, f in self._unlabelled if z == zone_id}

    def drop_zone(self, zone_id: str) -> bool:
        """Forget the zone's queued masks and withdrawals (its clip was replaced); True when masks were lost."""
        stale = [k for k in self._masks if k[0] == zone_id]
        for k in stale:
            del self._masks[k]
        self._unlabelled = {k for k in self._unlabelled if k[0] != zone_id}
        return bool(stale)

    # -- writing ---------------------------------------------------------------------------------
    def write(self, store, patient, rater: str, warn: Callable[[str, str], None] | None = None) -> None:
        """Put everything in ``store``: masks, withdrawals, then the record. What is written is forgotten as it
        goes, so after a failure (the store's error propagates) only what is still unsaved stays. ``warn(title,
        message)`` hears of a withdrawal the store cannot perform (a store without ``delete_mask``)."""
        pid = patient.patient_id
        for (zid, frame, kind), (mask, version) in list(self._masks.items()):
            store.save_mask(pid, zid, frame, mask, kind=kind, rater=rater, model_version=version)
            del self._masks[(zid, frame, kind)]
        delete = getattr(store, "delete_mask", None)
        for zid, frame in sorted(self._unlabelled):
            if frame in store.mask_frames(pid, zid, FINAL):
                if delete is None:
                    if warn is not None:
                        warn("Unlabel not saved", f"Zone {zid}, frame {frame + 1}: this store cannot delete a "
                                                  "FINAL mask yet; the frame will show as labelled after a restart.")
                else:
                    delete(pid, zid, frame, kind=FINAL, actor=rater)
            self._unlabelled.discard((zid, frame))
        if self.record_changed:
            store.save_patient(patient, rater)
            self.record_changed = False
