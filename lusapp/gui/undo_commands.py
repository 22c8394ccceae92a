"""Undo commands of mask edits: one command per stroke, holding only the changed rectangle (MaskDiff).

A command addresses its mask by ``(clip key, zone id, frame)`` through a *target* (the clip view), so a
command keeps working after the user moved to another frame; undo/redo re-emit the mask so the session
controller saves the restored FINAL mask.

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
    def apply_mask_diff(self, key: str, zone_id: str, frame: int, diff: MaskDiff, forward: bool) -> None: ...


class MaskEditCommand(QUndoCommand):
    """An edit already applied by the tool: the first ``redo`` (run by ``QUndoStack.push``) does nothing."""

    def __init__(self, target: MaskTarget, key: str, zone_id: str, frame: int, diff: MaskDiff, text: str):
        super().__init__(f"{text} (frame {int(frame) + 1})")
        self.target, self.key, self.zone_id, self.frame, self.diff = target, key, zone_id, int(frame), diff
        self._pushed = False

    def redo(self) -> None:
        if not self._pushed:
            self._pushed = True
            return
        self.target.apply_mask_diff(self.key, self.zone_id, self.frame, self.diff, True)

    def undo(self) -> None:
        self.target.apply_mask_diff(self.key, self.zone_id, self.frame, self.diff, False)

    @property
    def nbytes(self) -> int:
        return self.diff.nbytes


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
