"""Media files of an export: copied as they are (plain export) or rewritten de-identified.

De-identified, every frame keeps only its imaging region (the DICOM ultrasound region when the header has
one, else :func:`lusapp.io.crop.detect_imaging_region`, the crop the app's engine uses); the pixels outside it,
where devices burn in names, dates and ids, are set to 0. Frame count, size and frame rate are kept, so mask
frame indices stay valid.

* DICOM -> DICOM, header cleaned (:func:`lusapp.export.deid.clean_dicom_header`), pixel data uncompressed
  (Explicit VR Little Endian; YBR and palette colour become RGB).
* video -> MP4 (``mp4v``, written by OpenCV: no container metadata is carried over; lossy re-encode).
* still -> PNG.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np

from lusapp.core.errors import ReadError, StoreError
from lusapp.export.deid import black_outside, clean_dicom_header
from lusapp.io.crop import detect_imaging_region
from lusapp.io.readers import open_media


def imaging_box(clip) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the clip's imaging region: the DICOM region hint, else the detected crop."""
    hint = getattr(clip, "region_hint", None)
    if hint:
        x0, y0, x1, y1 = (int(v) for v in hint)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(int(clip.width), x1), min(int(clip.height), y1)
        if x1 > x0 and y1 > y0:
            return x0, y0, x1, y1
    box = detect_imaging_region(clip)
    return box.x0, box.y0, box.x1, box.y1


def copy_media(src: Path, dest_stem: Path) -> Path:
    """Plain export: the stored file as it is (lower-case extension kept)."""
    dest = dest_stem.with_suffix(src.suffix.lower())
    shutil.copyfile(src, dest)
    return dest


def deidentify_media(src: Path, dest_stem: Path, pseudonym: str, shift_days: int) -> tuple[Path, dict]:
    """Write ``src`` de-identified next to ``dest_stem`` (suffix chosen by kind); returns (path, info) where
    info holds ``box`` (the kept region) and ``n_frames``."""
    clip = open_media(src)
    try:
        box = imaging_box(clip)
        kind = clip.kind
        if kind == "dicom":
            dest = dest_stem.with_suffix(".dcm")
            _write_dicom(src, dest, box, pseudonym, shift_days, clip.n_frames)
        elif clip.n_frames == 1:
            dest = dest_stem.with_suffix(".png")
            _write_png(dest, black_outside(clip.read(0), box))
        else:
            dest = dest_stem.with_suffix(".mp4")
            _write_video(clip, dest, box)
        return dest, {"box": list(box), "n_frames": int(clip.n_frames)}
    finally:
        clip.close()


def _write_png(dest: Path, frame: np.ndarray) -> None:
    img = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if frame.ndim == 3 else frame
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - cv2 failure
        raise StoreError(dest, "the image could not be encoded as PNG")
    dest.write_bytes(buf.tobytes())


def _write_video(clip, dest: Path, box) -> None:
    fps = float(clip.fps or 15.0)
    size = (int(clip.width), int(clip.height))
    writer = cv2.VideoWriter(os.fspath(dest), cv2.VideoWriter_fourcc(*"mp4v"), fps, size, True)
    if not writer.isOpened():
        raise StoreError(dest, "OpenCV cannot write an MP4 video here (no mp4v encoder)")
    try:
        for i in range(clip.n_frames):
            frame = black_outside(clip.read(i), box)
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR if frame.ndim == 3 else cv2.COLOR_GRAY2BGR)
            writer.write(bgr)
    finally:
        writer.release()


def _write_dicom(src: Path, dest: Path, box, pseudonym: str, shift_days: int, n_frames: int) -> None:
    import pydicom
    from pydicom.pixels import apply_color_lut
    from pydicom.uid import ExplicitVRLittleEndian

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(src, force=True)
            arr = ds.pixel_array  # YBR is converted to RGB
    except Exception as exc:  # noqa: BLE001 - pydicom and its decoders raise anything for bad data
        raise ReadError(src, f"DICOM pixel data cannot be decoded for export ({type(exc).__name__}: {exc})") from None
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        arr = (arr >> 8).astype(np.uint8) if arr.dtype != np.uint8 else arr
        photometric = "RGB"
        for key in ("RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
                    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
                    "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData"):
            if key in ds:
                del ds[key]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    elif photometric.startswith("YBR"):
        photometric = "RGB"
    spp = 3 if photometric == "RGB" else 1
    frames = arr if n_frames > 1 and arr.ndim == (4 if spp == 3 else 3) else arr[None]
    background = 0
    if photometric == "MONOCHROME1":  # 0 is white there: black is the largest stored value
        background = (1 << int(ds.get("BitsStored", 8))) - 1
    out = np.empty_like(frames)
    x0, y0, x1, y1 = box
    out[...] = background
    out[:, y0:y1, x0:x1] = frames[:, y0:y1, x0:x1]
    clean_dicom_header(ds, pseudonym, shift_days)
    ds.PhotometricInterpretation = photometric
    ds.SamplesPerPixel = spp
    if spp == 3:
        ds.PlanarConfiguration = 0
    elif "PlanarConfiguration" in ds:
        del ds["PlanarConfiguration"]
    ds.PixelData = np.ascontiguousarray(out if n_frames > 1 else out[0]).tobytes()
    ds["PixelData"].VR = "OB" if int(ds.get("BitsAllocated", 8)) <= 8 else "OW"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(dest, enforce_file_format=True)
