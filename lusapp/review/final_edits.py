"""The FINAL masks the reviewer edited in this session: the one owner of an unsaved FINAL mask.

One array per (zone, frame, clip), the one the tools paint into: the clip view shows it, undo and redo
change it in place, the measures read it and the session's save
(:meth:`lusapp.review.unsaved.UnsavedChanges.write`) writes it. Nothing holds a second copy to keep in step
by hand.

``clip`` is the clip an edit was made on: the clip view's key, which names the patient, the zone and the
media, so the view of another clip of the same zone id (another patient, a replaced clip) does not see it;
``None`` for a mask handed in from outside a view, which counts for the zone's clip in view. Each edit also
remembers

* ``unsaved``: it changed since it was last written. A working copy made for a stroke is not unsaved until
  the stroke has changed it (:meth:`mark`), so an autosave in the middle of a stroke never writes the model's
  mask as FINAL;
* ``model_version``: the model the frame's mask came from (written with the mask).

A written edit stays (its undo history paints into it) until its clip's history goes
(:meth:`forget_clip`); one from outside a view is dropped once written. A withdrawal ('Unlabel', undo of a
first edit) removes the edit and is kept until the write deletes the stored FINAL mask; a later edit of the
frame cancels it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FinalEdit:
    mask: np.ndarray
    unsaved: bool
    model_version: str = ""


Key = tuple[str, int, "str | None"]  # (zone, frame, clip)


class FinalEdits:
    def __init__(self) -> None:
        self._edits: dict[Key, FinalEdit] = {}
        self._withdrawn: set[tuple[str, int]] = set()

    # -- reading ---------------------------------------------------------------------------------
    def _entry(self, zone_id: str, frame: int, clip: str | None) -> tuple[Key, FinalEdit] | tuple[None, None]:
        if clip is None:
            return None, None
        for k in ((zone_id, int(frame), clip), (zone_id, int(frame), None)):
            e = self._edits.get(k)
            if e is not None:
                return k, e
        return None, None

    def mask(self, zone_id: str, frame: int, clip: str | None) -> np.ndarray | None:
        """The edited FINAL mask of the frame of ``clip`` (None: no clip, nothing)."""
        e = self._entry(zone_id, frame, clip)[1]
        return None if e is None else e.mask

    def masks(self, zone_id: str, clip: str | None) -> dict[int, np.ndarray]:
        """Frame -> edited FINAL mask of the zone's ``clip`` (also those handed in from outside a view)."""
        out = {f: e.mask for (z, f, c), e in self._edits.items() if z == zone_id and c is None}
        out.update({f: e.mask for (z, f, c), e in self._edits.items()
                    if z == zone_id and clip is not None and c == clip})
        return out

    def frames(self, zone_id: str, clip: str | None) -> set[int]:
        return set(self.masks(zone_id, clip)) if clip is not None else set()

    def unsaved(self, zone_id: str) -> dict[int, np.ndarray]:
        """Frame -> FINAL mask of the zone changed since it was last written."""
        return {f: e.mask for (z, f, _c), e in self._edits.items() if z == zone_id and e.unsaved}

    def withdrawn(self, zone_id: str) -> set[int]:
        return {f for z, f in self._withdrawn if z == zone_id}

    @property
    def pending(self) -> bool:
        """A FINAL mask or a withdrawal waits to be written."""
        return bool(self._withdrawn) or any(e.unsaved for e in self._edits.values())

    def by_clip(self) -> dict[tuple[str, int], np.ndarray]:
        """(clip, frame) -> mask of the edits made on a clip view (for inspection)."""
        return {(c, f): e.mask for (_z, f, c), e in self._edits.items() if c is not None}

    # -- changing --------------------------------------------------------------------------------
    def put(self, zone_id: str, frame: int, mask: np.ndarray, clip: str | None, unsaved: bool = True,
            model_version: str | None = None, copy: bool = True) -> np.ndarray:
        """Make ``mask`` (a copy unless ``copy`` is False) the frame's edited FINAL mask on ``clip`` (it
        replaces one handed in from outside a view); returns the array held. ``unsaved=False``: a working copy
        that is not an edit yet (see :meth:`mark`)."""
        k = (zone_id, int(frame), clip)
        m = np.array(mask, dtype=np.uint8, copy=True) if copy else mask
        loose = self._edits.pop((zone_id, int(frame), None), None) if clip is not None else None
        old = self._edits.get(k) or loose
        version = model_version if model_version is not None else (old.model_version if old is not None else "")
        self._edits[k] = FinalEdit(m, bool(unsaved) or (loose is not None and loose.unsaved), version)
        if unsaved:
            self._withdrawn.discard((zone_id, int(frame)))
        return m

    def adopt(self, zone_id: str, frame: int, clip: str) -> None:
        """A mask handed in from outside a view is being edited on ``clip``: file it under that clip (same
        array, same flags), so it stays for undo once written."""
        loose = self._edits.pop((zone_id, int(frame), None), None)
        if loose is not None and (zone_id, int(frame), clip) not in self._edits:
            self._edits[(zone_id, int(frame), clip)] = loose

    def mark(self, zone_id: str, frame: int, clip: str | None) -> bool:
        """The frame's edited mask on ``clip`` changed (a stroke ended, an undo step): it is unsaved and no
        longer withdrawn. False when there is no such mask."""
        _k, e = self._entry(zone_id, frame, clip)
        if e is None:
            return False
        e.unsaved = True
        self._withdrawn.discard((zone_id, int(frame)))
        return True

    def set_version(self, zone_id: str, frame: int, model_version: str) -> None:
        """The model identity to write with the frame's unsaved FINAL mask (the model its edit started from)."""
        for (z, f, _c), e in self._edits.items():
            if z == zone_id and f == int(frame) and e.unsaved and model_version:
                e.model_version = model_version

    def drop(self, zone_id: str, frame: int, clip: str | None) -> None:
        """Forget a working copy made for an edit that changed nothing (no withdrawal)."""
        k, _e = self._entry(zone_id, frame, clip)
        if k is not None:
            del self._edits[k]

    def withdraw(self, zone_id: str, frame: int, clip: str | None = None) -> np.ndarray | None:
        """The frame is no longer FINAL: its edited mask on ``clip`` goes (returned; ``clip`` None: its unsaved
        masks, whatever the clip) and the stored one is deleted at the next write."""
        f = int(frame)
        if clip is not None:
            k, e = self._entry(zone_id, f, clip)
            gone = [k] if k is not None else []
        else:
            gone = [k for k, e in self._edits.items() if k[:2] == (zone_id, f) and (e.unsaved or k[2] is None)]
        masks = [self._edits.pop(k).mask for k in gone]
        self._withdrawn.add((zone_id, f))
        return masks[0] if masks else None

    def drop_zone(self, zone_id: str) -> bool:
        """Forget the zone's edits and withdrawals (its clip was replaced); True when unsaved masks were lost."""
        lost = any(e.unsaved for k, e in self._edits.items() if k[0] == zone_id)
        self._edits = {k: e for k, e in self._edits.items() if k[0] != zone_id}
        self._withdrawn = {k for k in self._withdrawn if k[0] != zone_id}
        return lost

    def forget_clip(self, clip: str) -> None:
        """The clip's undo history is gone: its written edits are no longer needed (unsaved ones stay)."""
        self._edits = {k: e for k, e in self._edits.items() if k[2] != clip or e.unsaved}

    def discard_unsaved(self) -> None:
        """Forget what was not written (the reviewer chose to, as the patient closes): the store's masks show
        again (a frame written earlier and changed since: once its clip is opened again, as the clip view's
        mask source reads the store's list of FINAL frames when it is made)."""
        self._edits = {k: e for k, e in self._edits.items() if not e.unsaved}
        self._withdrawn.clear()

    # -- writing (UnsavedChanges.write) ----------------------------------------------------------
    def to_write(self) -> list[tuple[Key, np.ndarray, str]]:
        """((zone, frame, clip), mask, model version) of each unsaved edit."""
        return [(k, e.mask, e.model_version) for k, e in self._edits.items() if e.unsaved]

    def written(self, key: Key) -> None:
        """The edit is in the store: no longer unsaved (one from outside a view is forgotten)."""
        e = self._edits.get(key)
        if e is None:
            return
        if key[2] is None:
            del self._edits[key]
        else:
            e.unsaved = False

    def withdrawals(self) -> list[tuple[str, int]]:
        return sorted(self._withdrawn)

    def withdrawal_done(self, zone_id: str, frame: int) -> None:
        self._withdrawn.discard((zone_id, int(frame)))
