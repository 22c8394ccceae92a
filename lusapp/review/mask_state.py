"""Which mask a frame shows and what has been edited: the clip view's bookkeeping, without Qt.

For a frame of the clip in view the first match wins: the FINAL mask edited in this session (held by
``finals``, a :class:`~lusapp.review.final_edits.FinalEdits`: the one owner of an edited FINAL mask, shared
with the session's :class:`~lusapp.review.unsaved.UnsavedChanges` that writes it; kept across zones because
undo commands point at it), the FINAL mask of the mask source (the store; loaded lazily), the model's mask
(``model_lookup(key, frame)``, the SegWorker cache), nothing. Edits are filed under the zone id and the
clip key; methods that take a ``key`` of a clip not in view also take its ``zone_id``.

It also remembers which frames already had their model mask handed out as ORIGINAL, and which edited
frames still wait for their model mask to arrive (the edit came before segmentation reached the frame).

*Proposals* (``proposals``) are masks propagated from a FINAL frame by optical flow: shown (kind
``PROPOSED``) where a frame has no FINAL mask, never counted as labelled, never FINAL until accepted; a
source that keeps proposals (the store, :mod:`lusapp.store.proposals`) gets them as they are made and gives
them back when the clip is opened again.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from lusapp.core.mask_edit import MaskDiff, previous_labelled
from lusapp.review.final_edits import FinalEdits
from lusapp.review.mask_source import MaskSource

Key = tuple[str, int]  # (clip key, frame)


class MaskState:
    def __init__(self, model_lookup: Callable[[str, int], np.ndarray | None] | None = None,
                 finals: FinalEdits | None = None):
        self.model_lookup = model_lookup or (lambda key, frame: None)
        self.finals = finals if finals is not None else FinalEdits()
        self.key: str | None = None
        self.zone_id = ""
        self.source: MaskSource | None = None
        self._source_frames: set[int] = set()
        self._final_cache: dict[int, np.ndarray] = {}
        self.originals_done: set[Key] = set()
        self.awaiting_original: dict[Key, str] = {}  # -> zone id
        self.proposals: dict[Key, np.ndarray] = {}
        self._sources: dict[str, MaskSource] = {}  # clip key -> its source (proposals are written through it)

    def set_clip(self, key: str | None, source: MaskSource | None, zone_id: str | None = None) -> None:
        self.key = key
        if zone_id is not None:
            self.zone_id = str(zone_id)
        self.set_source(source)

    def set_source(self, source: MaskSource | None) -> None:
        self.source = source
        self._source_frames = set(source.final_frames()) if source is not None else set()
        self._final_cache = {}
        if source is None or self.key is None:
            return
        self._sources[self.key] = source
        stored = getattr(source, "proposal_frames", None)
        if stored is not None and not any(k == self.key for k, _ in self.proposals):
            for f in stored():  # proposals of an earlier session
                m = source.load_proposal(f)
                if m is not None:
                    self.proposals[(self.key, int(f))] = m

    def _zone(self, zone_id: str | None) -> str:
        """The zone of an edit: ``zone_id`` when given (a clip not in view), else the zone in view."""
        return zone_id if zone_id is not None else self.zone_id

    @property
    def edited(self) -> dict[Key, np.ndarray]:
        """(clip key, frame) -> edited FINAL mask, for every clip edited in a view (read-only snapshot)."""
        return self.finals.by_clip()

    def edited_mask(self, key: str | None, frame: int, zone_id: str | None = None) -> np.ndarray | None:
        """The edited FINAL mask of a frame of clip ``key`` (the array the tools paint into), or None."""
        return self.finals.mask(self._zone(zone_id), frame, key)

    # -- reading ---------------------------------------------------------------------------------
    def labelled_frames(self) -> list[int]:
        return sorted(self._source_frames | self.finals.frames(self.zone_id, self.key))

    def mask_and_kind(self, frame: int) -> tuple[np.ndarray | None, str | None]:
        frame = int(frame)
        m = self.finals.mask(self.zone_id, frame, self.key)
        if m is not None:
            return m, "FINAL"
        m = self._final_cache.get(frame)
        if m is None and frame in self._source_frames and self.source is not None:
            m = self.source.load_final(frame)
            if m is not None:
                self._final_cache[frame] = m
        if m is not None:
            return m, "FINAL"
        m = self.proposals.get((self.key, frame))
        if m is not None:
            return m, "PROPOSED"
        if self.key is not None:
            m = self.model_lookup(self.key, frame)
            if m is not None:
                return m, "MODEL"
        return None, None

    def proposed_frames(self) -> list[int]:
        """Frames of the clip in view with a proposal that is not hidden by a FINAL mask."""
        lab = set(self.labelled_frames())
        return sorted(f for (k, f) in self.proposals if k == self.key and f not in lab)

    def final_mask(self, frame: int) -> np.ndarray | None:
        m, kind = self.mask_and_kind(frame)
        return m if kind == "FINAL" else None

    def set_proposals(self, key: str, masks: dict[int, np.ndarray | None], how: str = "flow",
                      from_frame: int | None = None) -> None:
        """Set (a mask) or drop (``None``) the proposals of frames of clip ``key``, and store that through the
        clip's source when it keeps proposals (``how``: ``flow`` / ``interpolate`` / ``model+flow``;
        ``from_frame``: the FINAL frame they came from). A store error propagates after the change in memory."""
        for f, m in masks.items():
            if m is None:
                self.proposals.pop((key, int(f)), None)
            else:
                self.proposals[(key, int(f))] = m
        source = self._sources.get(key)
        if source is None or not hasattr(source, "save_proposals"):
            return
        drop = [int(f) for f, m in masks.items() if m is None]
        if drop:
            source.drop_proposals(drop)
        keep = {int(f): m for f, m in masks.items() if m is not None}
        if keep:
            source.save_proposals(keep, how, from_frame)

    def proposals_of(self, key: str, frames=None) -> dict[int, np.ndarray]:
        want = None if frames is None else {int(f) for f in frames}
        return {f: m for (k, f), m in self.proposals.items() if k == key and (want is None or f in want)}

    def previous_labelled(self, frame: int) -> int | None:
        return previous_labelled(self.labelled_frames(), frame)

    # -- editing ---------------------------------------------------------------------------------
    def working(self, frame: int, shape: tuple[int, int]) -> tuple[np.ndarray, bool]:
        """The editable FINAL mask of ``frame`` and whether it was created just now (from the shown mask,
        or empty). A new working copy is not an edit until :meth:`changed` says so."""
        if self.key is not None:
            self.finals.adopt(self.zone_id, frame, self.key)
        m = self.finals.mask(self.zone_id, frame, self.key)
        if m is not None:
            return m, False
        base, _ = self.mask_and_kind(frame)
        m = base.copy() if base is not None else np.zeros(shape, np.uint8)
        return self.finals.put(self.zone_id, frame, m, self.key, unsaved=False, copy=False), True

    def changed(self, key: str, frame: int, zone_id: str | None = None) -> None:
        """The edited mask of the frame changed (a stroke, 'Mark labelled'): it is unsaved."""
        self.finals.mark(self._zone(zone_id), frame, key)

    def discard(self, frame: int) -> None:
        """Forget a working mask created for an edit that changed nothing."""
        self.finals.drop(self.zone_id, frame, self.key)

    def unlabel(self, key: str, frame: int, zone_id: str | None = None) -> np.ndarray | None:
        """The frame is no longer FINAL (it shows the model's mask again; the stored FINAL is deleted at the
        next write); returns the FINAL mask it had."""
        frame = int(frame)
        zone = self._zone(zone_id)
        old = self.finals.withdraw(zone, frame, key)
        if key == self.key:
            if old is None and frame in self._source_frames:
                old = self._final_cache.get(frame)
                if old is None and self.source is not None:
                    old = self.source.load_final(frame)
            self._source_frames.discard(frame)
            self._final_cache.pop(frame, None)
            forget = getattr(self.source, "forget_final", None)
            if forget is not None:
                forget(frame)
        return old

    def relabel(self, key: str, frame: int, mask: np.ndarray, zone_id: str | None = None) -> np.ndarray:
        """Make ``mask`` the frame's FINAL mask again (redo of an unlabel, undo of a revert); unsaved."""
        return self.finals.put(self._zone(zone_id), frame, mask, key)

    def apply_diff(self, key: str, frame: int, diff: MaskDiff, forward: bool,
                   zone_id: str | None = None) -> np.ndarray | None:
        """Undo / redo a stroke on the frame's edited mask, in place (unsaved afterwards); None when the frame
        has no edited mask (it was discarded)."""
        zone = self._zone(zone_id)
        mask = self.finals.mask(zone, frame, key)
        if mask is not None:
            diff.apply(mask) if forward else diff.revert(mask)
            self.finals.mark(zone, frame, key)
        return mask

    def original_for(self, key: str, zone_id: str, frame: int, model_expected: bool) -> np.ndarray | None:
        """The model mask to keep as ORIGINAL for a frame being edited, once per frame: ``None`` when the
        source already has it, it was handed out before, or it is not segmented yet (then, if a model is
        running, the frame is remembered and :meth:`mask_arrived` returns its zone when it comes)."""
        k = (key, int(frame))
        if k in self.originals_done or k in self.awaiting_original:
            return None
        if key == self.key and self.source is not None and self.source.has_original(frame):
            self.originals_done.add(k)
            return None
        model = self.model_lookup(key, frame)
        if model is None:
            if model_expected:
                self.awaiting_original[k] = zone_id
            return None
        self.originals_done.add(k)
        return np.array(model, np.uint8, copy=True)

    def mask_arrived(self, key: str, frame: int) -> str | None:
        """A model mask came in: the zone id if it was awaited as ORIGINAL (now handed out)."""
        zone = self.awaiting_original.pop((key, int(frame)), None)
        if zone is not None:
            self.originals_done.add((key, int(frame)))
        return zone
