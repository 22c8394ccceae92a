"""A corpus of bad files made here: each gives a precise typed ReadError naming the file, never a raw
OpenCV/pydicom exception; borderline files (1x1, 8000x8000) still open."""

from __future__ import annotations

import os
import struct
import zlib

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lusapp.core.errors import (NotAnImage, ReadError, TooLarge, TruncatedFile, UnreadableFile, UnsupportedFormat,
                                ZeroFrames)
from lusapp.io import open_media
from media_files import write_video
from lusapp.io.crop import detect_imaging_region


def _mp4(path, n=30):
    return write_video(path, (np.random.default_rng(i).integers(0, 255, (80, 96, 3), dtype=np.uint8)
                              for i in range(n)), fourcc="mp4v")


def _dicom(path, n=4):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, generate_uid(), "US"
    ds.Rows, ds.Columns, ds.NumberOfFrames = 64, 64, n
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.random.default_rng(0).integers(0, 255, (n, 64, 64), dtype=np.uint8).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


def _expect(exc_type, path, words=()):
    with pytest.raises(exc_type) as info:
        open_media(path)
    msg = str(info.value)
    assert str(path) in msg, "the message names the file"
    for w in words:
        assert w in msg.lower()
    return info.value


def test_missing_file_and_folder(tmp_path):
    _expect(UnreadableFile, tmp_path / "nope.mp4", ["not found"])
    _expect(UnreadableFile, tmp_path, ["folder"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_permission_denied(tmp_path):
    p = tmp_path / "locked.png"
    cv2.imwrite(str(p), np.zeros((8, 8), np.uint8))
    p.chmod(0)
    _expect(UnreadableFile, p, ["permission"])


@pytest.mark.parametrize("name", ["empty.mp4", "empty.png", "empty.dcm"])
def test_zero_byte_files(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    _expect(ZeroFrames, tmp_path / name, ["empty"])


def test_truncated_mp4_first_half(tmp_path):
    full = _mp4(tmp_path / "full.mp4").read_bytes()
    (tmp_path / "half.mp4").write_bytes(full[: len(full) // 2])
    _expect(TruncatedFile, tmp_path / "half.mp4")


@pytest.mark.parametrize("name", ["notes.mp4", "notes.png", "notes.dcm", "notes.avi", "notes.jpg"])
def test_text_renamed_as_media(tmp_path, name):
    (tmp_path / name).write_text("Patient notes\nthis is not an image at all\n" * 20)
    _expect(NotAnImage, tmp_path / name, ["text"])


def test_random_binary_with_image_extension(tmp_path):
    (tmp_path / "noise.png").write_bytes(bytes(np.random.default_rng(0).integers(1, 255, 4000, dtype=np.uint8)))
    _expect(NotAnImage, tmp_path / "noise.png")


def test_unknown_extension(tmp_path):
    (tmp_path / "data.xyz").write_bytes(b"\x01\x02\x03\x04" * 100)
    _expect(UnsupportedFormat, tmp_path / "data.xyz", ["unsupported"])


def test_truncated_png_and_jpeg(tmp_path):
    img = np.random.default_rng(1).integers(0, 255, (200, 200), dtype=np.uint8)
    for ext in (".png", ".jpg"):
        cv2.imwrite(str(tmp_path / f"full{ext}"), img)
        data = (tmp_path / f"full{ext}").read_bytes()
        (tmp_path / f"cut{ext}").write_bytes(data[: len(data) // 3])
        with pytest.raises((TruncatedFile, UnsupportedFormat)) as info:
            clip = open_media(tmp_path / f"cut{ext}")
            clip.read(0)
            raise TruncatedFile(tmp_path / f"cut{ext}", "decoder accepted a cut file")  # libjpeg may pad
        assert str(tmp_path / f"cut{ext}") in str(info.value)


def test_cut_dicom_is_truncated(tmp_path):
    data = _dicom(tmp_path / "full.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 5000])
    _expect(TruncatedFile, tmp_path / "cut.dcm", ["pixel data"])


def test_dicom_header_cut_before_pixels(tmp_path):
    data = _dicom(tmp_path / "full.dcm").read_bytes()
    (tmp_path / "hdr.dcm").write_bytes(data[:200])
    e = _expect(ReadError, tmp_path / "hdr.dcm")
    assert isinstance(e, (TruncatedFile, NotAnImage))


def test_dicom_pixel_data_too_short_for_its_frames(tmp_path):
    path = _dicom(tmp_path / "short.dcm")
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 40  # header claims more frames than the pixel data holds
    ds.save_as(path)
    _expect(TruncatedFile, path, ["pixel data"])


def test_dicom_without_pixels_is_not_an_image(tmp_path):
    path = _dicom(tmp_path / "sr.dcm")
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    _expect(NotAnImage, path, ["no pixel data"])


def test_one_pixel_image_opens_and_crop_falls_back(tmp_path):
    cv2.imwrite(str(tmp_path / "dot.png"), np.full((1, 1), 128, np.uint8))
    with open_media(tmp_path / "dot.png") as clip:
        assert (clip.width, clip.height, clip.n_frames) == (1, 1, 1)
        box = detect_imaging_region(clip)
        assert (box.x0, box.y0, box.x1, box.y1) == (0, 0, 1, 1) and box.confidence <= 0.2


def test_8000_px_image_is_fine(tmp_path):
    img = np.zeros((8000, 8000), np.uint8)
    img[1000:7000, 2000:6000] = 90
    cv2.imwrite(str(tmp_path / "big.png"), img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    with open_media(tmp_path / "big.png") as clip:
        assert (clip.width, clip.height) == (8000, 8000)
        assert clip.read_gray(0)[4000, 4000] == 90


def _png_header_only(path, w, h):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("w,h", [(20000, 20000), (20000, 100), (16385, 64), (16000, 16800)])
def test_huge_image_header_is_too_large(tmp_path, w, h):
    _expect(TooLarge, _png_header_only(tmp_path / "huge.png", w, h), ["limit"])


def test_huge_dicom_header_is_too_large(tmp_path):
    path = _dicom(tmp_path / "huge.dcm", n=1)
    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = 30000, 30000
    ds.save_as(path)
    _expect(TooLarge, path)


def test_out_of_range_frame_is_index_error(tmp_path):
    with open_media(_mp4(tmp_path / "ok.mp4", n=5)) as clip:
        with pytest.raises(IndexError):
            clip.read(5)
        assert clip.read(-1).shape == (80, 96, 3)
