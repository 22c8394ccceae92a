"""`open_media(path) -> Clip`: open any supported lung-ultrasound media file for lazy frame access.

The format is decided from the file's content (magic bytes), the extension only breaks ties, so a
JPEG named .png still opens and a text file named .mp4 is reported as such. Still images (png, jpg,
bmp, tif, webp; 8/16-bit grey or colour) are read here by `StillClip`; 16-bit and float images are
mapped linearly to uint8 and the mapping is recorded in `clip.intensity_scaling`. Every failure is a typed
`lusapp.core.errors.ReadError` whose message names the file and the problem; no OpenCV or pydicom
exception escapes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import cv2
import numpy as np

from lusapp.core.errors import (NotAnImage, ReadError, TooLarge, TruncatedFile, UnreadableFile, UnsupportedFormat,
                                ZeroFrames)
from lusapp.io.clip import MAX_FILE_BYTES, MAX_PIXELS, MAX_SIDE, Clip, has_colour, read_limited, scale_to_uint8
from lusapp.io.sniff import (DICOM_EXTS, STILL_EXTS, STILL_FORMATS, VIDEO_EXTS, VIDEO_FORMATS, container_truncation,
                             image_header_size, looks_like_text, sniff)

__all__ = ["open_media", "Clip", "StillClip", "SUPPORTED_EXTENSIONS", "MAX_SIDE", "MAX_PIXELS"]

SUPPORTED_EXTENSIONS = sorted(VIDEO_EXTS | STILL_EXTS | (DICOM_EXTS - {""}))


def _head(path: str) -> tuple[bytes, int]:
    """First 4 KiB and size of a regular file. FIFOs, devices and sockets are refused before any read
    (opening a FIFO would block); the file is opened non-blocking and checked with fstat, so a file swapped
    for a FIFO after a stat cannot hang the reader either."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise UnreadableFile(path, "file not found") from None
    except PermissionError:
        raise UnreadableFile(path, "permission denied") from None
    except IsADirectoryError:
        raise UnreadableFile(path, "is a folder, not a file") from None
    except (OSError, ValueError) as exc:
        raise UnreadableFile(path, f"cannot access: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UnreadableFile(path, "is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            what = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a device" if
                    (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) else
                    "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise UnreadableFile(path, f"is {what}, not a media file")
        head = os.read(fd, 4096)
    except PermissionError:
        raise UnreadableFile(path, "permission denied") from None
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return head, st.st_size


def open_media(path: str | Path) -> Clip:
    """Open a video, GIF, still image or DICOM file. Raises a `ReadError` subclass on failure."""
    path = str(path)
    head, size = _head(path)
    if size == 0:
        raise ZeroFrames(path, "empty file (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise TooLarge(path, f"file is {size} bytes, above the {MAX_FILE_BYTES} byte limit")
    ext = Path(path).suffix.lower()
    fmt = sniff(head)
    try:
        return _open(path, ext, fmt, head)
    except ReadError:
        raise
    except MemoryError:
        raise TooLarge(path, "not enough memory to decode this file") from None
    except RecursionError:
        raise UnsupportedFormat(path, "structure nested too deeply to be read") from None
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


class StillClip(Clip):
    kind = "still"
    cache_capacity = 1

    def __init__(self, path: str | Path, fmt: str, head: bytes):
        path = str(path)
        size = image_header_size(path, fmt, head)
        if size is not None:
            w, h = size
            if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
                raise TooLarge(path, f"image is {w}x{h}, above the {MAX_SIDE} px / {MAX_PIXELS} pixel limit")
            if w == 0 or h == 0:
                raise NotAnImage(path, f"{fmt.upper()} header declares an empty {w}x{h} image")
        trunc = container_truncation(path, fmt)
        try:  # decoded from memory: OpenCV never sees the file name (non-UTF-8 names crash its path API)
            data = read_limited(path)
            if fmt == "jpeg" and trunc:  # let the decoder show what is there (imdecode refuses a cut stream)
                data = np.concatenate([data, np.array([0xFF, 0xD9], np.uint8)])
            img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        except cv2.error as exc:
            img = None
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "decoder error"
        else:
            detail = "decoder returned nothing"
        if img is None or img.size == 0:
            if trunc:
                raise TruncatedFile(path, trunc)
            if size is not None and (size[0] * size[1] > 2**30):
                raise TooLarge(path, f"image is {size[0]}x{size[1]}")
            raise UnsupportedFormat(path, f"the {fmt.upper()} image could not be decoded ({detail})")
        if img.ndim == 3 and img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        elif img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
        elif img.ndim == 3 and img.shape[2] != 3:
            raise UnsupportedFormat(path, f"image has {img.shape[2]} channels")
        img8, scaling = scale_to_uint8(img)
        if img8.ndim == 3:
            rgb = cv2.cvtColor(img8, cv2.COLOR_BGR2RGB)
            colour = has_colour(rgb)
            frame = rgb if colour else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        else:
            colour, frame = False, img8
        super().__init__(path, n_frames=1, width=frame.shape[1], height=frame.shape[0], fps=None,
                         is_color=colour)
        self.intensity_scaling = scaling
        self.source_format = fmt
        self._frame = frame
        if trunc:
            self.notes.append(f"file appears truncated ({trunc}); the missing part shows as blank")
        self._remember(0, frame)

    def _decode(self, i: int) -> np.ndarray:
        return self._frame

    def _release(self) -> None:
        self._frame = None
