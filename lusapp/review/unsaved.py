"""What the reviewer changed in the open patient and has not saved yet, and how it is written.

``UnsavedChanges`` holds, until :meth:`write` puts them in the store:

* the edited FINAL masks and their withdrawals: held by :class:`lusapp.review.final_edits.FinalEdits`
  (``finals``), the one owner of a FINAL mask the reviewer changed. The clip view's mask state paints into
  the same object (the clip binding hands it over), so the mask on screen, the one undo changes, the one the
  measures read and the one written are one array;
* the model's ORIGINAL masks, queued the first time a frame is edited, with the model identity they came
  from;
* whether the patient record itself (scores, notes, clinical data, severity) changed.

When a zone's clip is replaced, :meth:`drop_zone` forgets its masks (they belong to the old clip). The
session (``lusapp.gui.session.SessionController``) owns one of these and adds Qt's signals and the autosave
timer; everything here is plain Python, tested headless.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from lusapp.review.final_edits import FinalEdits

FINAL, ORIGINAL = "final", "original"


class UnsavedChanges:
    def __init__(self, finals: FinalEdits | None = None) -> None:
        self.finals = finals if finals is not None else FinalEdits()
        self._originals: dict[tuple[str, int], tuple[np.ndarray, str]] = {}
        self.record_changed = False

    # -- state -----------------------------------------------------------------------------------
    @property
    def any(self) -> bool:
        """Anything to write (a mask, a withdrawal or the record)."""
        return self.record_changed or self.masks_pending

    @property
    def masks_pending(self) -> bool:
        """A mask write or a withdrawal is waiting (the next zone's view reads masks from the store)."""
        return bool(self._originals) or self.finals.pending

    def clear(self) -> None:
        """Forget everything not written (the edited FINAL masks go back to the store's)."""
        self._originals.clear()
        self.finals.discard_unsaved()
        self.record_changed = False

    # -- masks -----------------------------------------------------------------------------------
    def queue_mask(self, zone_id: str, frame: int, mask: np.ndarray, kind: str = FINAL,
                   model_version: str = "") -> None:
        """Keep a copy of ``mask`` to write as ``kind``: a FINAL one from outside a clip view goes to
        ``finals`` (a later one of the same frame replaces it); an ORIGINAL is queued here."""
        if kind not in (FINAL, ORIGINAL):
            raise ValueError(f"mask kind must be {FINAL!r} or {ORIGINAL!r}, not {kind!r}")
        if kind == FINAL:
            self.finals.put(zone_id, frame, mask, clip=None, model_version=model_version)
        else:
            self._originals[(zone_id, int(frame))] = (np.array(mask, dtype=np.uint8, copy=True), model_version)

    def unlabel(self, zone_id: str, frame: int) -> None:
        """The frame's FINAL mask is withdrawn: an edited one is dropped, a stored one deleted at the write."""
        self.finals.withdraw(zone_id, frame)

    def pending(self, zone_id: str, kind: str = FINAL) -> dict[int, np.ndarray]:
        """Masks of ``zone_id`` changed but not yet written, by frame."""
        if kind == FINAL:
            return self.finals.unsaved(zone_id)
        return {f: m for (z, f), (m, _v) in self._originals.items() if z == zone_id}

    def unlabelled(self, zone_id: str) -> set[int]:
        return self.finals.withdrawn(zone_id)

    def drop_zone(self, zone_id: str) -> bool:
        """Forget the zone's masks and withdrawals (its clip was replaced); True when unsaved masks were lost."""
        stale = [k for k in self._originals if k[0] == zone_id]
        for k in stale:
            del self._originals[k]
        return self.finals.drop_zone(zone_id) or bool(stale)

    # -- writing ---------------------------------------------------------------------------------
    def write(self, store, patient, rater: str, warn: Callable[[str, str], None] | None = None) -> None:
        """Put everything in ``store``: masks, withdrawals, then the record. What is written is marked as it
        goes, so after a failure (the store's error propagates) only what is still unsaved stays. ``warn(title,
        message)`` hears of a withdrawal the store cannot perform (a store without ``delete_mask``)."""
        pid = patient.patient_id
        for key, mask, version in self.finals.to_write():
            store.save_mask(pid, key[0], key[1], mask, kind=FINAL, rater=rater, model_version=version)
            self.finals.written(key)
        for (zid, frame), (mask, version) in list(self._originals.items()):
            store.save_mask(pid, zid, frame, mask, kind=ORIGINAL, rater=rater, model_version=version)
            del self._originals[(zid, frame)]
        delete = getattr(store, "delete_mask", None)
        for zid, frame in self.finals.withdrawals():
            if frame in store.mask_frames(pid, zid, FINAL):
                if delete is None:
                    if warn is not None:
                        warn("Unlabel not saved", f"Zone {zid}, frame {frame + 1}: this store cannot delete a "
                                                  "FINAL mask yet; the frame will show as labelled after a restart.")
                else:
                    delete(pid, zid, frame, kind=FINAL, actor=rater)
            self.finals.withdrawal_done(zid, frame)
        if self.record_changed:
            store.save_patient(patient, rater)
            self.record_changed = False
