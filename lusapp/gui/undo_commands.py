"""Undo commands of mask edits: one command per stroke, holding only the changed rectangle (MaskDiff).

A command addresses its mask by ``(clip key, zone id, frame)`` through a *target* (the clip view), so a
command keeps working after the user moved to another frame; undo/redo change the edited mask in place in
its one owner (``lusapp.review.final_edits.FinalEdits``, shared with the session) and re-emit it, so the
session controller autosaves it.

:class:`UndoHistory` keeps one ``QUndoStack`` per clip (a ``QUndoGroup``; the clip in view is the active
stack). Undo never reaches into a clip that is not on screen -- zone ids repeat across patients, so an undo
replayed after a patient change would otherwise write into the wrong patient -- and each zone keeps its
own history when the user comes back to it.
"""

from __future__ import annotations

from typing import Protocol

from collections import OrderedDict

from PySide6.QtCore import QObject
from PySide6.QtGui import QUndoCommand, QUndoGroup, QUndoStack

from lusapp.core.mask_edit import MaskDiff


class MaskTarget(Protocol):
    def apply_mask_diff(self, key: str, zone_id: str, frame: int, diff: MaskDiff, forward: bool,
                        emit: bool = True) -> None: ...

    def set_labelled(self, key: str, zone_id: str, frame: int, mask) -> None: ...

    def set_unlabelled(self, key: str, zone_id: str, frame: int) -> None: ...


class MaskEditCommand(QUndoCommand):
    """An edit already applied by the tool: the first ``redo`` (run by ``QUndoStack.push``) does nothing."""

    def __init__(self, target: MaskTarget, key: str, zone_id: str, frame: int, diff: MaskDiff, text: str,
                 labels: bool = False):
        """``labels``: the edit made the frame FINAL (it showed the model's mask before): undo unlabels it."""
        super().__init__(f"{text} (frame {int(frame) + 1})")
        self.target, self.key, self.zone_id, self.frame, self.diff = target, key, zone_id, int(frame), diff
        self.labels = bool(labels)
        self._pushed = False

    def redo(self) -> None:
        if not self._pushed:
            self._pushed = True
            return
        if self.labels:
            self.target.set_labelled(self.key, self.zone_id, self.frame, None)
        self.target.apply_mask_diff(self.key, self.zone_id, self.frame, self.diff, True)

    def undo(self) -> None:
        self.target.apply_mask_diff(self.key, self.zone_id, self.frame, self.diff, False, emit=not self.labels)
        if self.labels:
            self.target.set_unlabelled(self.key, self.zone_id, self.frame)

    @property
    def nbytes(self) -> int:
        return self.diff.nbytes


class LabelCommand(QUndoCommand):
    """Mark labelled (``on``) or unlabel / revert to the model (``not on``) one frame, as an undo step.
    ``mask``: the FINAL mask the frame had or gets (restored by undo of an unlabel)."""

    def __init__(self, target, key: str, zone_id: str, frame: int, on: bool, mask, text: str):
        super().__init__(f"{text} (frame {int(frame) + 1})")
        self.target, self.key, self.zone_id, self.frame, self.on, self.mask = target, key, zone_id, int(frame), on, mask
        self._pushed = False

    def _set(self, on: bool) -> None:
        if on:
            self.target.set_labelled(self.key, self.zone_id, self.frame, self.mask)
        else:
            self.target.set_unlabelled(self.key, self.zone_id, self.frame)

    def redo(self) -> None:
        if not self._pushed:  # already done by the view
            self._pushed = True
            return
        self._set(self.on)

    def undo(self) -> None:
        self._set(not self.on)

    nbytes = 0  # nothing held but the mask reference


class ProposalCommand(QUndoCommand):
    """Propagated masks appear (``after``) or are discarded: ``before`` / ``after`` map frame -> proposal
    mask or ``None`` (no proposal). The view has already applied ``after`` when it pushes the command."""

    def __init__(self, target, key: str, before: dict, after: dict, text: str):
        super().__init__(text)
        self.target, self.key, self.before, self.after = target, key, dict(before), dict(after)
        self._pushed = False

    def redo(self) -> None:
        if not self._pushed:
            self._pushed = True
            return
        self.target.set_proposals(self.key, self.after)

    def undo(self) -> None:
        self.target.set_proposals(self.key, self.before)

    nbytes = 0


class AcceptProposalsCommand(QUndoCommand):
    """Accept proposals (frame -> mask) as FINAL masks; undo makes them proposals again (not labelled)."""

    def __init__(self, target, key: str, zone_id: str, masks: dict, text: str):
        n = len(masks)
        first = min(masks) + 1 if masks else 0
        super().__init__(f"{text} (frame {first})" if n == 1 else f"{text} ({n} frames)")
        self.target, self.key, self.zone_id, self.masks = target, key, zone_id, dict(masks)

    def redo(self) -> None:  # also the first run, from push
        self.target.accept_proposals(self.key, self.zone_id, self.masks)

    def undo(self) -> None:
        self.target.unaccept_proposals(self.key, self.zone_id, self.masks)

    nbytes = 0


def stack_bytes(stack) -> int:
    """Memory held by the mask diffs of a QUndoStack (for the status bar and the memory test)."""
    total = 0
    for i in range(stack.count()):
        cmd = stack.command(i)
        total += getattr(cmd, "nbytes", 0) if isinstance(cmd, MaskEditCommand) else 0
    return total



class UndoHistory:
    """Per-clip undo stacks in a ``QUndoGroup`` (at most ``max_stacks``; the least recently shown go)."""

    def __init__(self, group: QUndoGroup | None = None, parent: QObject | None = None, max_stacks: int = 24,
                 undo_limit: int = 300):
        self.group = group if group is not None else QUndoGroup(parent)
        self.max_stacks, self.undo_limit = int(max_stacks), int(undo_limit)
        self._stacks: OrderedDict[str, QUndoStack] = OrderedDict()
        self._empty = QUndoStack(self.group)  # what 'active' returns while no clip is shown

    def activate(self, key: str | None) -> list[str]:
        """Make ``key``'s stack the active one (creating it); returns the keys whose history was dropped."""
        dropped: list[str] = []
        if key is None:
            self.group.setActiveStack(None)
            return dropped
        stack = self._stacks.get(key)
        if stack is None:
            stack = QUndoStack(self.group)
            stack.setUndoLimit(self.undo_limit)
            self._stacks[key] = stack
        self._stacks.move_to_end(key)
        self.group.setActiveStack(stack)
        while len(self._stacks) > self.max_stacks:
            old_key, old = self._stacks.popitem(last=False)
            self.group.removeStack(old)
            old.deleteLater()
            dropped.append(old_key)
        return dropped

    @property
    def active(self) -> QUndoStack:
        return self.group.activeStack() or self._empty

    def stack(self, key: str) -> QUndoStack | None:
        return self._stacks.get(key)

    def keys(self) -> list[str]:
        return list(self._stacks)
