"""DICOM images and cine loops via pydicom: single/multi-frame, MONOCHROME1/2, RGB, YBR_FULL(_422),
PALETTE COLOR; native and (where a decoder is installed) compressed transfer syntaxes.

Frames are decoded one at a time from the open file (`pydicom.pixels.pixel_array(f, index=i)`).
Frame rate comes from FrameTime / FrameTimeVector / CineRate / RecommendedDisplayFrameRate; pixel
spacing from PixelSpacing or the ultrasound region calibration (PhysicalDeltaX/Y in cm), whose
region box also becomes `region_hint` for the imaging-region crop.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, get_decoder, pixel_array

from lusapp.core.errors import NotAnImage, TooLarge, TruncatedFile, UnsupportedFormat
from lusapp.io.clip import MAX_PIXELS, MAX_SIDE, Clip, has_colour, scale_to_uint8

_IMPLICIT_LE = "1.2.840.10008.1.2"


def _float(value) -> float | None:
    try:
        if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
            value = value[0]
        v = float(value)
        return v if np.isfinite(v) else None
    except (TypeError, ValueError, IndexError):
        return None


def dicom_fps(ds) -> float | None:
    """Frame rate of a cine loop from the usual timing attributes, or None."""
    ft = _float(ds.get("FrameTime"))
    if ft and ft > 0:
        return 1000.0 / ft
    ftv = ds.get("FrameTimeVector")
    if ftv is not None:
        vals = [v for v in (_float(x) for x in list(ftv)[1:]) if v and v > 0]
        if vals:
            return 1000.0 / float(np.mean(vals))
    for key in ("CineRate", "RecommendedDisplayFrameRate"):
        v = _float(ds.get(key))
        if v and v > 0:
            return v
    return None


def dicom_spacing(ds) -> tuple[tuple[float, float] | None, tuple[int, int, int, int] | None]:
    """((row_mm, col_mm) or None, ultrasound region box (x0, y0, x1, y1) or None)."""
    ps = ds.get("PixelSpacing")
    spacing = None
    if ps is not None and len(ps) >= 2:
        r, c = _float(ps[0]), _float(ps[1])
        if r and c and r > 0 and c > 0:
            spacing = (r, c)
    box = None
    best = -1
    for region in ds.get("SequenceOfUltrasoundRegions", []) or []:
        try:
            x0, y0 = int(region.RegionLocationMinX0), int(region.RegionLocationMinY0)
            x1, y1 = int(region.RegionLocationMaxX1) + 1, int(region.RegionLocationMaxY1) + 1
        except (AttributeError, TypeError, ValueError):
            continue
        area = (x1 - x0) * (y1 - y0)
        spatial = int(region.get("RegionSpatialFormat", 1) or 0)
        if spatial != 1 or area <= best:
            continue
        best = area
        box = (x0, y0, x1, y1)
        ux, uy = region.get("PhysicalUnitsXDirection"), region.get("PhysicalUnitsYDirection")
        dx, dy = _float(region.get("PhysicalDeltaX")), _float(region.get("PhysicalDeltaY"))
        if spacing is None and ux == 3 and uy == 3 and dx and dy:
            spacing = (abs(dy) * 10.0, abs(dx) * 10.0)  # cm per pixel -> mm
    return spacing, box


class DicomClip(Clip):
    kind = "dicom"
    cache_capacity = 16

    def __init__(self, path: str | Path):
        path = str(path)
        try:
            self._fh = open(path, "rb")
        except OSError as exc:
            from lusapp.core.errors import UnreadableFile
            raise UnreadableFile(path, f"cannot open: {exc.strerror or exc}") from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(self._fh, stop_before_pixels=True, force=True)
            self._pixel_elem = _pixel_element(self._fh)
            self._check(path, ds)
            meta = self._geometry(path, ds)
        except (InvalidDicomError, EOFError, ValueError, KeyError, AttributeError, TypeError, OSError) as exc:
            self._fh.close()
            raise TruncatedFile(path, f"DICOM header cannot be parsed ({type(exc).__name__}: {exc})") from None
        except BaseException:
            self._fh.close()
            raise
        rows, cols, frames, spp, photometric = meta
        self._ds = ds
        self._spp = spp
        self._photometric = photometric
        self._window = self._voi_window(ds)
        self.transfer_syntax = str(self._tsyntax)
        fps = dicom_fps(ds) if frames > 1 else None
        spacing, box = dicom_spacing(ds)
        self._is_color_src = spp == 3 or photometric == "PALETTE COLOR"
        self.is_color = self._is_color_src  # provisional, for the first decode
        super().__init__(path, n_frames=frames, width=cols, height=rows, fps=fps,
                         is_color=self._is_color_src, pixel_spacing_mm=spacing)
        self.region_hint = box
        if getattr(self, "_frames_note", None):
            self.notes.append(self._frames_note)
        try:
            first = self._decode_raw(0)
        except BaseException:
            self.close()
            raise
        colour = self._is_color_src and has_colour(first)
        self.is_color = colour
        self._remember(0, first if colour or first.ndim == 2 else _rgb_to_gray(first))

    # -- header validation ------------------------------------------------------------------------
    def _check(self, path: str, ds) -> None:
        if self._pixel_elem is None:
            if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
                raise UnsupportedFormat(path, "DICOM float pixel data is not supported")
            if "SOPClassUID" in ds or "Modality" in ds or "PatientID" in ds:
                raise NotAnImage(path, "DICOM file has no pixel data (report or other non-image object)")
            raise NotAnImage(path, "not a DICOM image (no DICOM header or pixel data found)")
        meta = getattr(ds, "file_meta", None)
        uid = meta.get("TransferSyntaxUID") if meta is not None else None
        self._tsyntax = pydicom.uid.UID(str(uid) if uid else _IMPLICIT_LE)
        try:
            decoder = get_decoder(self._tsyntax)
        except NotImplementedError:
            raise UnsupportedFormat(path, f"DICOM transfer syntax {self._tsyntax} "
                                          f"({self._tsyntax.name}) has no decoder") from None
        if not decoder.is_available:
            raise UnsupportedFormat(path, f"DICOM transfer syntax '{self._tsyntax.name}' ({self._tsyntax}) needs "
                                          f"a decoder package that is not installed")

    def _geometry(self, path: str, ds):
        rows, cols = int(ds.Rows), int(ds.Columns)
        declared_nf = _float(ds.get("NumberOfFrames"))
        frames = int(declared_nf or 1)
        if declared_nf is not None and declared_nf <= 0:
            frames = 1
            self._frames_note = f"NumberOfFrames is {declared_nf:g}"
        spp = int(ds.get("SamplesPerPixel", 1) or 1)
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
        if rows <= 0 or cols <= 0 or frames <= 0:
            raise NotAnImage(path, f"DICOM declares an empty image ({cols}x{rows}, {frames} frames)")
        if rows > MAX_SIDE or cols > MAX_SIDE or rows * cols > MAX_PIXELS:
            raise TooLarge(path, f"DICOM frames are {cols}x{rows}, above the {MAX_SIDE} px / "
                                 f"{MAX_PIXELS} pixel limit")
        if not self._tsyntax.is_compressed:
            tell, length = self._pixel_elem
            bits = int(ds.get("BitsAllocated", 8) or 8)
            need = rows * cols * frames * spp * bits // 8
            if photometric == "YBR_FULL_422":
                need = need * 2 // 3
            if length is not None and length != 0xFFFFFFFF and tell is not None:
                per_frame = need // max(frames, 1)
                if getattr(self, "_frames_note", None) and per_frame > 0 and length >= 2 * per_frame:
                    frames = int(length // per_frame)  # the header's count is wrong: read what the data holds
                    need = per_frame * frames
                    self._frames_note += f"; the pixel data holds {frames} frames, all are read"
                if tell + length > os.fstat(self._fh.fileno()).st_size:
                    raise TruncatedFile(path, f"pixel data is cut short: {length} bytes declared, file ends first")
                if length < need:
                    raise TruncatedFile(path, f"pixel data holds {length} bytes, {need} needed for "
                                              f"{frames} frame(s) of {cols}x{rows}")
        return rows, cols, frames, spp, photometric

    @staticmethod
    def _voi_window(ds) -> tuple[float, float] | None:
        c, w = _float(ds.get("WindowCenter")), _float(ds.get("WindowWidth"))
        if c is not None and w and w > 0:
            return c - w / 2.0, c + w / 2.0
        return None

    # -- decoding ---------------------------------------------------------------------------------
    def _decode_raw(self, i: int) -> np.ndarray:
        try:
            self._fh.seek(0)
            extra = {"number_of_frames": self.n_frames} if getattr(self, "_frames_note", None) else {}
            with warnings.catch_warnings():  # pydicom warns about header values this reader already handles
                warnings.simplefilter("ignore")
                arr = pixel_array(self._fh, index=i, **extra)
            if self._photometric == "PALETTE COLOR":
                arr = apply_color_lut(arr, self._ds)
        except Exception as exc:  # noqa: BLE001 - decoder plugins raise anything
            raise TruncatedFile(self.path, f"frame {i} pixel data cannot be decoded "
                                           f"({type(exc).__name__}: {exc})") from None
        if arr.ndim == 3 and arr.shape[2] not in (3,) and self._spp == 1:
            arr = arr[0]
        if arr.dtype != np.uint8 or self.intensity_scaling is not None:
            if self.intensity_scaling is None:
                lo, hi = self._window or (None, None)
                if self._photometric == "PALETTE COLOR" and arr.dtype == np.uint16:
                    lo, hi = 0.0, 65535.0
                arr, self.intensity_scaling = scale_to_uint8(arr, lo, hi)
            else:
                arr, _ = scale_to_uint8(arr, self.intensity_scaling["low"], self.intensity_scaling["high"])
        if self._photometric == "MONOCHROME1":
            arr = 255 - arr
        return np.ascontiguousarray(arr)

    def _decode(self, i: int) -> np.ndarray:
        frame = self._decode_raw(i)
        if frame.ndim == 3 and not self.is_color:
            return _rgb_to_gray(frame)
        return frame

    def _release(self) -> None:
        fh = getattr(self, "_fh", None)
        if fh is not None:
            fh.close()


def _pixel_element(fh) -> tuple[int, int] | None:
    """(value offset, declared length) of the Pixel Data element where a stop_before_pixels read
    stopped, or None when the file has no (little-endian) Pixel Data element there."""
    pos = fh.tell()
    hdr = fh.read(12)
    fh.seek(pos)
    if len(hdr) < 8 or hdr[:4] != b"\xe0\x7f\x10\x00":
        return None
    if hdr[4:6] in (b"OB", b"OW", b"OD", b"OF", b"UN", b"OV") and len(hdr) == 12:
        return pos + 12, struct.unpack("<I", hdr[8:12])[0]
    return pos + 8, struct.unpack("<I", hdr[4:8])[0]


def _rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    import cv2
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
