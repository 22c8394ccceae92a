"""`open_media(path) -> Clip`: open any supported lung-ultrasound media file for lazy frame access.

The format is decided from the file's content (magic bytes), the extension only breaks ties, so a
JPEG named .png still opens and a text file named .mp4 is reported as such. Every failure is a typed
`lusapp.core.errors.ReadError` whose message names the file and the problem; no OpenCV or pydicom
exception escapes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from lusapp.core.errors import (NotAnImage, ReadError, TooLarge, TruncatedFile, UnreadableFile, UnsupportedFormat,
                                ZeroFrames)
from lusapp.io.clip import MAX_PIXELS, MAX_SIDE, Clip
from lusapp.io.sniff import (DICOM_EXTS, STILL_EXTS, STILL_FORMATS, VIDEO_EXTS, VIDEO_FORMATS, looks_like_text,
                             sniff)

__all__ = ["open_media", "Clip", "SUPPORTED_EXTENSIONS", "MAX_SIDE", "MAX_PIXELS"]

SUPPORTED_EXTENSIONS = sorted(VIDEO_EXTS | STILL_EXTS | (DICOM_EXTS - {""}))


def _head(path: str) -> tuple[bytes, int]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UnreadableFile(path, "file not found") from None
    except PermissionError:
        raise UnreadableFile(path, "permission denied") from None
    except OSError as exc:
        raise UnreadableFile(path, f"cannot access: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UnreadableFile(path, "is a folder, not a file")
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except PermissionError:
        raise UnreadableFile(path, "permission denied") from None
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read: {exc.strerror or exc}") from None
    return head, st.st_size


def open_media(path: str | Path) -> Clip:
    """Open a video, GIF, still image or DICOM file. Raises a `ReadError` subclass on failure."""
    path = str(path)
    head, size = _head(path)
    if size == 0:
        raise ZeroFrames(path, "empty file (0 bytes)")
    ext = Path(path).suffix.lower()
    fmt = sniff(head)
    try:
        return _open(path, ext, fmt, head)
    except ReadError:
        raise
    except MemoryError:
        raise TooLarge(path, "not enough memory to decode this file") from None
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a raw library error
        raise UnsupportedFormat(path, f"cannot be read ({type(exc).__name__}: {exc})") from None


def _open(path: str, ext: str, fmt: str | None, head: bytes) -> Clip:
    if fmt in ("dicom", "dicom-raw") or (fmt is None and ext in (".dcm", ".dicom", ".dic")):
        from lusapp.io.dicom import DicomClip
        try:
            return DicomClip(path)
        except (NotAnImage, TruncatedFile):
            if fmt == "dicom":
                raise
            if looks_like_text(head):
                raise NotAnImage(path, "contains text, not an image, video or DICOM file") from None
            raise
    if fmt in STILL_FORMATS:
        from lusapp.io.still import StillClip
        return StillClip(path, fmt, head)
    if fmt in VIDEO_FORMATS:
        from lusapp.io.video import VideoClip
        return VideoClip(path, fmt)
    # Unknown content.
    if looks_like_text(head):
        raise NotAnImage(path, "contains text, not an image or video")
    if ext in VIDEO_EXTS:
        # Some streams (raw elementary streams, exotic containers) have no simple signature: let FFmpeg try.
        from lusapp.io.video import VideoClip
        return VideoClip(path, "unknown")
    if ext in STILL_EXTS:
        raise NotAnImage(path, f"content is not a {ext[1:].upper()} image (unrecognised data)")
    raise UnsupportedFormat(path, f"unsupported file type '{ext or '(no extension)'}'; supported: "
                                  + ", ".join(SUPPORTED_EXTENSIONS))
