"""Typed errors. ``str(error)`` always names the file (or field) and the problem, for a clear dialog."""

from __future__ import annotations

import os
from pathlib import Path

#: Longest message part echoed back (a refused 100 MB string must not come back as a 100 MB message).
MAX_ECHO = 300


def shorten(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` cut to about ``limit`` characters (middle elided), printable whatever it holds."""
    text = str(text)
    if len(text) > limit:
        keep = max(8, limit // 2 - 8)
        text = f"{text[:keep]} ...[{len(text) - 2 * keep} characters]... {text[-keep:]}"
    return text


def display_path(path: str | Path) -> str:
    """A file name fit for a message: undecodable bytes (non-UTF-8 names) shown as U+FFFD, long names cut."""
    try:
        text = os.fsencode(path).decode("utf-8", "replace") if isinstance(path, (str, Path)) else str(path)
    except (TypeError, ValueError):
        text = str(path)
    return shorten(text, 2 * MAX_ECHO)


class LusError(Exception):
    """Base class of every error LUSApp raises on purpose."""


class RunCancelled(LusError, RuntimeError):
    """A network pass stopped on purpose (the live-mask worker at shutdown: ``Engine.run_canceller``)."""


class ValidationError(LusError, ValueError):
    def __init__(self, field: str, message: str):
        self.field = field
        self.message = shorten(message, 2 * MAX_ECHO)
        super().__init__(f"{display_path(field)}: {self.message}")


class _PathError(LusError):
    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = shorten(reason, 2 * MAX_ECHO)
        super().__init__(f"{display_path(self.path)}: {self.reason}")


class ReadError(_PathError):
    """A media file cannot be read."""


class UnreadableFile(ReadError):
    pass


class ZeroFrames(ReadError):
    pass


class UnsupportedFormat(ReadError):
    pass


class TruncatedFile(ReadError):
    pass


class NotAnImage(ReadError):
    pass


class TooLarge(ReadError):
    pass


class SeveralReadErrors(ReadError):
    """Several media files of one folder cannot be read: every one is named (``errors`` holds them)."""

    MAX_LISTED = 20

    def __init__(self, folder: str | Path, errors: list[ReadError]):
        self.errors = list(errors)
        lines = [shorten(str(e), MAX_ECHO) for e in self.errors[:self.MAX_LISTED]]
        if len(self.errors) > self.MAX_LISTED:
            lines.append(f"... and {len(self.errors) - self.MAX_LISTED} more")
        self.path = str(folder)
        self.reason = f"{len(self.errors)} media files cannot be read:\n" + "\n".join(lines)
        LusError.__init__(self, f"{display_path(self.path)}: {self.reason}")


class StoreError(_PathError):
    """The patient store cannot do what was asked."""


class StoreLocked(StoreError):
    pass


class DamagedDocument(StoreError):
    pass


class SchemaTooNew(StoreError):
    pass


class StoreReadOnly(StoreError):
    """The store cannot be written (read-only folder or medium, no permission): open it read-only to view it."""


class StoreFull(StoreError):
    """The disk (or a file-size limit) refused a write; nothing half-written is kept."""


class BundleError(_PathError):
    """A model bundle is missing, corrupt, tampered with or incompatible."""
