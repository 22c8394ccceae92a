"""Content sniffing: what a file really is (by magic bytes, not by its name), header image sizes and
container-level truncation checks, so that readers can raise precise typed errors before decoding."""

from __future__ import annotations

import os
import struct
from pathlib import Path

VIDEO_EXTS = {".mp4", ".m4v", ".avi", ".mov", ".mpeg", ".mpg", ".mkv", ".webm", ".wmv", ".asf", ".gif", ".ts"}
STILL_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
DICOM_EXTS = {".dcm", ".dicom", ".dic", ""}

#: (format, kind) for each recognised content signature.
STILL_FORMATS = {"png", "jpeg", "bmp", "tiff", "webp"}
VIDEO_FORMATS = {"isobmff", "avi", "mpeg-ps", "mpeg-es", "mpeg-ts", "matroska", "asf", "gif", "flv"}


def sniff(head: bytes) -> str | None:
    """Return the container/image format of a file from its first bytes, or None when unknown."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"BM") and len(head) >= 26:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"RIFF" and head[8:11] == b"AVI":
        return "avi"
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"):
        return "isobmff"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg-ps"
    if head[:4] == b"\x00\x00\x01\xb3":
        return "mpeg-es"
    if len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "mpeg-ts"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return "asf"
    if head[:3] == b"FLV":
        return "flv"
    # DICOM without the 128-byte preamble: starts with a group 0x0002 or 0x0008 little-endian tag.
    if len(head) >= 8 and head[1] == 0 and head[0] in (2, 8) and head[3] == 0:
        return "dicom-raw"
    return None


def looks_like_text(head: bytes) -> bool:
    """True when the bytes are plain text (no NULs, decodes as UTF-8 or is mostly printable ASCII)."""
    if not head:
        return False
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\t\n\r")
    return printable / max(1, len(text)) > 0.95


def image_header_size(path: str | Path, fmt: str, head: bytes) -> tuple[int, int] | None:
    """(width, height) read from a still image header without decoding it, or None when unknown."""
    try:
        if fmt == "png" and len(head) >= 24 and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return int(w), int(h)
        if fmt == "bmp" and len(head) >= 26:
            w, h = struct.unpack("<ii", head[18:26])
            return abs(int(w)), abs(int(h))
        if fmt == "gif" and len(head) >= 10:
            w, h = struct.unpack("<HH", head[6:10])
            return int(w), int(h)
        if fmt == "jpeg":
            return _jpeg_size(path)
        if fmt == "tiff":
            return _tiff_size(path, head)
    except (struct.error, OSError, ValueError):
        return None
    return None


def _jpeg_size(path: str | Path) -> tuple[int, int] | None:
    with open(path, "rb") as f:
        f.read(2)
        while True:
            b = f.read(1)
            while b and b != b"\xff":
                b = f.read(1)
            while b == b"\xff":
                b = f.read(1)
            if not b:
                return None
            marker = b[0]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                continue
            seg = f.read(2)
            if len(seg) < 2:
                return None
            length = struct.unpack(">H", seg)[0]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                data = f.read(5)
                if len(data) < 5:
                    return None
                h, w = struct.unpack(">HH", data[1:5])
                return int(w), int(h)
            f.seek(length - 2, os.SEEK_CUR)


def _tiff_size(path: str | Path, head: bytes) -> tuple[int, int] | None:
    end = "<" if head[:2] == b"II" else ">"
    with open(path, "rb") as f:
        f.seek(4)
        (ifd,) = struct.unpack(end + "I", f.read(4))
        f.seek(ifd)
        (n,) = struct.unpack(end + "H", f.read(2))
        w = h = None
        for _ in range(min(n, 512)):
            entry = f.read(12)
            if len(entry) < 12:
                break
            tag, typ, _count = struct.unpack(end + "HHI", entry[:8])
            val = struct.unpack(end + "H", entry[8:10])[0] if typ == 3 else struct.unpack(end + "I", entry[8:12])[0]
            if tag == 256:
                w = val
            elif tag == 257:
                h = val
        return (int(w), int(h)) if w and h else None


def container_truncation(path: str | Path, fmt: str) -> str | None:
    """A reason string when the container structure shows the file is cut short, else None."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            if fmt == "isobmff":
                return _isobmff_truncation(f, size)
            if fmt == "avi":
                head = f.read(8)
                (riff_size,) = struct.unpack("<I", head[4:8])
                if riff_size + 8 > size:
                    return f"AVI declares {riff_size + 8} bytes but the file has {size}"
            if fmt in ("png", "jpeg", "gif"):
                f.seek(max(0, size - 1024))  # some writers pad after the end marker
                tail = f.read().rstrip(b"\x00")
                if fmt == "png" and b"IEND" not in tail:
                    return "PNG has no end chunk"
                if fmt == "jpeg" and b"\xff\xd9" not in tail:
                    return "JPEG has no end-of-image marker"
                if fmt == "gif" and not tail.endswith(b";") and b"\x00;" not in tail[-16:]:
                    return "GIF has no trailer"
    except (OSError, struct.error):
        return None
    return None


def _isobmff_truncation(f, size: int) -> str | None:
    pos = 0
    seen = set()
    while pos + 8 <= size:
        f.seek(pos)
        hdr = f.read(16)
        box_size, box_type = struct.unpack(">I4s", hdr[:8])
        if box_size == 1 and len(hdr) >= 16:
            box_size = struct.unpack(">Q", hdr[8:16])[0]
        elif box_size == 0:
            box_size = size - pos
        if box_size < 8:
            return f"damaged MP4/MOV box at byte {pos}"
        seen.add(box_type)
        if pos + box_size > size:
            return (f"MP4/MOV box '{box_type.decode('latin-1')}' needs {pos + box_size} bytes "
                    f"but the file has {size}")
        pos += box_size
    if b"moov" not in seen:
        return "MP4/MOV has no 'moov' index (recording not finished or file cut)"
    return None
