"""Where the clip view reads FINAL masks from (Qt-free).

A mask source answers for one zone of one patient: which frames have a FINAL mask, the FINAL mask of a
frame, and whether an ORIGINAL (model) mask was already stored for it. Saving is *not* done here: the view
emits ``maskEdited`` / ``originalCaptured`` and the shell's session controller autosaves them
(``StoreMaskSource.save_final`` / ``save_original`` are there for a controller that wants to delegate).
Proposals (propagated / interpolated masks, never FINAL) are the exception: a source with
``save_proposals`` / ``drop_proposals`` stores them as they are made, so they survive a restart.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class MaskSource(Protocol):
    def final_frames(self) -> set[int]: ...

    def load_final(self, frame: int) -> np.ndarray | None: ...

    def has_original(self, frame: int) -> bool: ...


class MemoryMaskSource:
    """In-memory source (tests, unsaved sessions): ``final`` and ``original`` dicts frame -> mask."""

    def __init__(self, final: dict[int, np.ndarray] | None = None, original: dict[int, np.ndarray] | None = None):
        self.final: dict[int, np.ndarray] = dict(final or {})
        self.original: dict[int, np.ndarray] = dict(original or {})
        self.proposed: dict[int, np.ndarray] = {}

    def final_frames(self) -> set[int]:
        return set(self.final)

    def load_final(self, frame: int) -> np.ndarray | None:
        m = self.final.get(int(frame))
        return None if m is None else m.copy()

    def has_original(self, frame: int) -> bool:
        return int(frame) in self.original

    def save_final(self, frame: int, mask: np.ndarray, rater: str = "", model_version: str = "") -> None:
        self.final[int(frame)] = np.array(mask, np.uint8, copy=True)

    def save_original(self, frame: int, mask: np.ndarray, rater: str = "", model_version: str = "") -> None:
        self.original[int(frame)] = np.array(mask, np.uint8, copy=True)

    def forget_final(self, frame: int) -> None:
        self.final.pop(int(frame), None)

    # proposals (propagated / interpolated masks, not FINAL): see lusapp.store.proposals
    def proposal_frames(self) -> list[int]:
        return sorted(self.proposed)

    def load_proposal(self, frame: int) -> np.ndarray | None:
        m = self.proposed.get(int(frame))
        return None if m is None else m.copy()

    def save_proposals(self, masks: dict[int, np.ndarray], source: str = "flow", from_frame: int | None = None) -> None:
        self.proposed.update({int(f): np.array(m, np.uint8, copy=True) for f, m in masks.items()})

    def drop_proposals(self, frames) -> None:
        for f in frames:
            self.proposed.pop(int(f), None)

class StoreMaskSource:
    """FINAL / ORIGINAL masks of ``(pid, zone_id)`` in a ``lusapp.store.Store``."""

    def __init__(self, store, pid: str, zone_id: str, rater: str = ""):
        self.store, self.pid, self.zone_id, self.rater = store, pid, zone_id, rater
        self._final: set[int] | None = None
        self._original: set[int] | None = None

    def final_frames(self) -> set[int]:
        if self._final is None:
            self._final = {int(f) for f in self.store.mask_frames(self.pid, self.zone_id, "final")}
        return set(self._final)

    def load_final(self, frame: int) -> np.ndarray | None:
        """The current rater's own FINAL of the frame when they made one, else the frame's first rater's."""
        if int(frame) not in self.final_frames():
            return None
        own = self.store.load_rater_mask(self.pid, self.zone_id, int(frame), self.rater) if self.rater else None
        return own if own is not None else self.store.load_mask(self.pid, self.zone_id, int(frame), "final")

    def has_original(self, frame: int) -> bool:
        if self._original is None:
            self._original = {int(f) for f in self.store.mask_frames(self.pid, self.zone_id, "original")}
        return int(frame) in self._original

    def save_final(self, frame: int, mask: np.ndarray, rater: str | None = None, model_version: str = "") -> None:
        self.store.save_mask(self.pid, self.zone_id, int(frame), mask, kind="final",
                             rater=rater if rater is not None else self.rater, model_version=model_version)
        self.final_frames()
        self._final.add(int(frame))

    def forget_final(self, frame: int) -> None:
        """The frame was unlabelled in the view (the store deletes its FINAL mask at the next save)."""
        self.final_frames()
        self._final.discard(int(frame))

    def save_original(self, frame: int, mask: np.ndarray, rater: str | None = None, model_version: str = "") -> None:
        self.store.save_mask(self.pid, self.zone_id, int(frame), mask, kind="original",
                             rater=rater if rater is not None else "model", model_version=model_version)
        self.has_original(frame)
        self._original.add(int(frame))

    # proposals: stored at once (they are suggestions, not unsaved work), never on a read-only store
    def proposal_frames(self) -> list[int]:
        return sorted(self.store.proposals(self.pid, self.zone_id))

    def load_proposal(self, frame: int) -> np.ndarray | None:
        return self.store.load_proposal(self.pid, self.zone_id, int(frame))

    def save_proposals(self, masks: dict[int, np.ndarray], source: str = "flow", from_frame: int | None = None) -> None:
        if not getattr(self.store, "readonly", False) and masks:
            self.store.save_proposals(self.pid, self.zone_id, masks, self.rater or "unknown", source, from_frame)

    def drop_proposals(self, frames) -> None:
        if not getattr(self.store, "readonly", False):
            self.store.drop_proposals(self.pid, self.zone_id, frames, self.rater or "unknown")
