"""Undo commands of mask edits: one command per stroke, holding only the changed rectangle (MaskDiff).

A command addresses its mask by ``(clip key, zone id, frame)`` through a *target* (the clip view), so a
command keeps working after the user moved to another frame or zone; undo/redo re-emit the mask so the
session controller saves the restored FINAL mask.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtGui import QUndoCommand

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

