"""Typed errors. ``str(error)`` always names the file (or field) and the problem, for a clear dialog."""

from __future__ import annotations

from pathlib import Path


class LusError(Exception):
    """Base class of every error LUSApp raises on purpose."""


class ValidationError(LusError, ValueError):
    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class _PathError(LusError):
    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


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


class StoreError(_PathError):
    """The patient store cannot do what was asked."""


class StoreLocked(StoreError):
    pass


class DamagedDocument(StoreError):
    pass


class SchemaTooNew(StoreError):
    pass


class BundleError(_PathError):
    """A model bundle is missing, corrupt, tampered with or incompatible."""
