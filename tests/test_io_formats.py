"""Every supported format, generated here, opens lazily with the right geometry, colour and timing."""

from __future__ import annotations

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lusapp.core.errors import UnsupportedFormat
from lusapp.io import open_media
import media_files


def level(i: int) -> int:
    return 20 + (5 * i) % 230


def frame_pattern(i: int, h: int = 64, w: int = 80) -> np.ndarray:
    """A grey frame whose background brightness encodes its index (robust to lossy codecs)."""
    img = np.full((h, w), level(i), np.uint8)
    img[8:24, 8 + i:28 + i] = 250
    return img


def write_video(path, n=12, fps=10.0, fourcc="mp4v", colour=False, size=(80, 64)):
    w, h = size
    frames = []
    for i in range(n):
        bgr = cv2.cvtColor(frame_pattern(i, h, w), cv2.COLOR_GRAY2BGR)
        if colour:
            bgr[40:60, 40:70] = (0, 0, 255)
        frames.append(bgr)
    return media_files.write_video(path, frames, fps, fourcc)


def write_dicom(path, frames: np.ndarray, photometric="MONOCHROME2", frame_time=None, spacing=None,
                us_region=None, bits=8):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.PatientID = "TEST"
    multi = frames.ndim == 4 or (frames.ndim == 3 and photometric.startswith("MONO"))
    n = frames.shape[0] if multi else 1
    rows, cols = frames.shape[-3:-1] if frames.shape[-1] == 3 and not photometric.startswith("MONO") \
        else frames.shape[-2:]
    ds.Rows, ds.Columns = int(rows), int(cols)
    ds.SamplesPerPixel = 1 if photometric.startswith("MONO") else 3
    ds.PhotometricInterpretation = photometric
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if multi:
        ds.NumberOfFrames = n
    if frame_time:
        ds.FrameTime = frame_time
    if spacing:
        ds.PixelSpacing = list(spacing)
    if us_region:
        r = Dataset()
        x0, y0, x1, y1, dx, dy = us_region
        r.RegionSpatialFormat = 1
        r.RegionLocationMinX0, r.RegionLocationMinY0 = x0, y0
        r.RegionLocationMaxX1, r.RegionLocationMaxY1 = x1 - 1, y1 - 1
        r.PhysicalUnitsXDirection = 3
        r.PhysicalUnitsYDirection = 3
        r.PhysicalDeltaX, r.PhysicalDeltaY = dx, dy
        ds.SequenceOfUltrasoundRegions = [r]
    ds.PixelData = frames.astype(np.uint16 if bits == 16 else np.uint8).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


@pytest.mark.parametrize("ext,fourcc,fps", [(".mp4", "mp4v", 10.0), (".avi", "MJPG", 10.0), (".mov", "mp4v", 10.0),
                                            (".mkv", "MJPG", 10.0), (".mpg", "PIM1", 25.0), (".wmv", "WMV2", 10.0)])
def test_video_containers_open_with_geometry_and_fps(tmp_path, ext, fourcc, fps):
    path = write_video(tmp_path / f"clip{ext}", n=12, fps=fps, fourcc=fourcc)
    with open_media(path) as clip:
        assert clip.kind == "video"
        assert (clip.width, clip.height) == (80, 64)
        assert abs(clip.n_frames - 12) <= 1
        assert clip.fps == pytest.approx(fps, rel=0.05)
        assert clip.is_color is False
        f = clip.read(5)
        assert f.dtype == np.uint8 and f.shape == (64, 80)
        # The frame index is encoded in the background brightness: frame 5 is really frame 5.
        assert abs(int(np.median(f)) - level(5)) <= 4


def test_video_reading_is_lazy_and_random_access_is_exact(tmp_path):
    path = write_video(tmp_path / "lazy.mp4", n=40)
    clip = open_media(path)
    clip.read(5)
    assert clip.cache_size <= 2, "reading frame 5 must not decode the whole clip into memory"
    for i in (30, 3, 39, 0, 17):
        assert abs(int(np.median(clip.read_gray(i))) - level(i)) <= 4, i
    assert clip.cache_size <= clip.cache_capacity
    frames = list(clip.iter_frames(gray=True))
    assert len(frames) == clip.n_frames == 40
    assert clip.cache_size <= clip.cache_capacity
    clip.close()
    with pytest.raises(ValueError):
        clip.read(0)


def test_returned_frames_are_private_copies(tmp_path):
    with open_media(write_video(tmp_path / "c.avi", fourcc="MJPG")) as clip:
        a = clip.read(2)
        a[:] = 0
        assert clip.read(2).max() > 0


def test_colour_video_reads_rgb(tmp_path):
    with open_media(write_video(tmp_path / "col.mp4", colour=True)) as clip:
        assert clip.is_color
        f = clip.read(1)
        assert f.shape == (64, 80, 3)
        r, g, b = f[50, 55].astype(int)
        assert r > 180 and g < 80 and b < 80, "frames are RGB, not BGR"
        assert clip.read_gray(1).shape == (64, 80)


def test_sample_indices_even_and_random(tmp_path):
    with open_media(write_video(tmp_path / "s.avi", n=20, fourcc="MJPG")) as clip:
        assert clip.sample_indices(5) == [0, 5, 10, 14, 19]
        assert clip.sample_indices(100) == list(range(20))
        r = clip.sample_indices(6, rng=np.random.default_rng(1))
        assert len(r) == 6 and r == sorted(set(r)) and all(0 <= i < 20 for i in r)
        assert r == clip.sample_indices(6, rng=np.random.default_rng(1))


def test_gif_is_a_video(tmp_path):
    frames = []
    for i in range(6):  # black frames with a white block moving right by 6 px per frame
        f = np.zeros((64, 80, 3), np.uint8)
        f[20:40, 10 + 6 * i:20 + 6 * i] = 255
        frames.append(f)
    path = tmp_path / "anim.gif"
    assert cv2.imwritemulti(str(path), frames) or path.exists()
    with open_media(path) as clip:
        assert clip.n_frames == 6 and (clip.width, clip.height) == (80, 64)
        for i in (4, 1, 5):
            cols = np.nonzero(clip.read_gray(i)[30] > 128)[0]
            assert cols.min() == 10 + 6 * i, i


@pytest.mark.parametrize("ext", [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"])
def test_grey_and_colour_stills(tmp_path, ext):
    g = frame_pattern(3)
    cv2.imwrite(str(tmp_path / f"g{ext}"), g)
    c = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
    c[40:60, 40:70] = (255, 0, 0)  # blue in BGR
    cv2.imwrite(str(tmp_path / f"c{ext}"), c)
    with open_media(tmp_path / f"g{ext}") as clip:
        assert (clip.kind, clip.n_frames, clip.fps, clip.is_color) == ("still", 1, None, False)
        assert clip.read(0).shape == (64, 80) and clip.sample_indices(8) == [0]
    with open_media(tmp_path / f"c{ext}") as clip:
        assert clip.is_color and clip.read(0).shape == (64, 80, 3)
        assert clip.read(0)[50, 50, 2] > 200, "RGB order"


def test_16bit_png_is_scaled_and_the_scaling_recorded(tmp_path):
    img = np.linspace(1000, 5000, 64 * 80).reshape(64, 80).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), img)
    with open_media(tmp_path / "deep.png") as clip:
        f = clip.read(0)
        assert f.dtype == np.uint8 and f.min() == 0 and f.max() == 255
        assert clip.intensity_scaling == {"source": "uint16", "low": 1000.0, "high": 5000.0}


def test_content_decides_not_the_extension(tmp_path):
    cv2.imwrite(str(tmp_path / "x.jpg"), frame_pattern(1))
    (tmp_path / "x.png").write_bytes((tmp_path / "x.jpg").read_bytes())
    with open_media(tmp_path / "x.png") as clip:
        assert clip.kind == "still" and clip.source_format == "jpeg"


def test_dicom_multiframe_mono_with_timing_and_spacing(tmp_path):
    frames = np.stack([frame_pattern(i) for i in range(7)])
    path = write_dicom(tmp_path / "cine.dcm", frames, frame_time=40.0, spacing=(0.2, 0.25))
    with open_media(path) as clip:
        assert (clip.kind, clip.n_frames, clip.width, clip.height) == ("dicom", 7, 80, 64)
        assert clip.fps == pytest.approx(25.0)
        assert clip.pixel_spacing_mm == (0.2, 0.25)
        assert np.array_equal(clip.read(6), frames[6])
        assert clip.cache_size <= 2


def test_dicom_monochrome1_is_inverted(tmp_path):
    path = write_dicom(tmp_path / "m1.dcm", frame_pattern(0), photometric="MONOCHROME1")
    with open_media(path) as clip:
        assert clip.n_frames == 1 and clip.fps is None
        assert np.array_equal(clip.read(0), 255 - frame_pattern(0))


def test_dicom_rgb_and_ultrasound_region_calibration(tmp_path):
    rgb = np.zeros((64, 80, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[10:50, 20:60] = (30, 40, 220)
    path = write_dicom(tmp_path / "rgb", rgb, photometric="RGB", us_region=(10, 5, 70, 60, 0.01, 0.02))
    with open_media(path) as clip:  # no extension: found by content
        assert clip.is_color and np.array_equal(clip.read(0), rgb)
        assert clip.pixel_spacing_mm == pytest.approx((0.2, 0.1))
        assert clip.region_hint == (10, 5, 70, 60)


def test_dicom_ybr_full_is_converted_to_rgb(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, :8] = (220, 30, 30)
    ybr = pydicom.pixels.convert_color_space(rgb, "RGB", "YBR_FULL")
    with open_media(write_dicom(tmp_path / "ybr.dcm", ybr, photometric="YBR_FULL")) as clip:
        assert np.abs(clip.read(0).astype(int) - rgb).max() <= 3


def test_dicom_16bit_uses_window(tmp_path):
    img = np.linspace(0, 4000, 64 * 80).reshape(64, 80).astype(np.uint16)
    path = write_dicom(tmp_path / "w.dcm", img, bits=16)
    ds = pydicom.dcmread(path)
    ds.WindowCenter, ds.WindowWidth = 2000, 2000
    ds.save_as(path)
    with open_media(path) as clip:
        assert clip.intensity_scaling["low"] == 1000.0 and clip.intensity_scaling["high"] == 3000.0
        f = clip.read(0)
        assert f[0, 0] == 0 and f[-1, -1] == 255


def test_dicom_unknown_transfer_syntax_is_named(tmp_path):
    path = write_dicom(tmp_path / "ts.dcm", frame_pattern(0))
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 video: no pixel decoder exists
    ds.PixelData = pydicom.encaps.encapsulate([b"\x00\x00\x01\xb3" + bytes(96)])
    ds.save_as(path)
    with pytest.raises(UnsupportedFormat, match="1.2.840.10008.1.2.4.100"):
        open_media(path)


def test_dicom_rle_compressed_multiframe(tmp_path):
    frames = np.stack([frame_pattern(i) for i in range(3)])
    path = write_dicom(tmp_path / "rle.dcm", frames, frame_time=50.0)
    ds = pydicom.dcmread(path)
    ds.compress(pydicom.uid.RLELossless)
    ds.save_as(path)
    with open_media(path) as clip:
        assert clip.transfer_syntax == pydicom.uid.RLELossless
        assert clip.n_frames == 3 and clip.fps == pytest.approx(20.0)
        assert np.array_equal(clip.read(2), frames[2])


def test_dicom_jpeg_baseline_colour_ybr_full_422(tmp_path):
    rgb = np.zeros((64, 80, 3), np.uint8)
    rgb[..., :] = 40
    rgb[10:50, 10:40] = (230, 40, 40)
    ok, jpg = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    path = write_dicom(tmp_path / "jpeg.dcm", rgb, photometric="RGB")
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGBaseline8Bit
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = pydicom.encaps.encapsulate([jpg.tobytes()])
    ds["PixelData"].VR = "OB"
    ds.save_as(path)
    with open_media(path) as clip:
        assert clip.is_color
        f = clip.read(0).astype(int)
        assert np.abs(f[30, 25] - (230, 40, 40)).max() <= 12 and np.abs(f[55, 70] - 40).max() <= 12


def test_dicom_jpeg_with_garbage_payload_is_a_typed_error(tmp_path):
    path = write_dicom(tmp_path / "bad.dcm", frame_pattern(0))
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGBaseline8Bit
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4])
    ds["PixelData"].VR = "OB"
    ds.save_as(path)
    from lusapp.core.errors import ReadError
    with pytest.raises(ReadError, match="bad.dcm"):
        open_media(path)


def test_sequential_playback_never_reopens_or_skips(tmp_path):
    with open_media(write_video(tmp_path / "play.mp4", n=50)) as clip:  # more frames than the cache holds
        for i in range(clip.n_frames):
            clip.read_gray(i)
        assert clip.stats == {"reopens": 0, "skipped": 0}
        clip.read_gray(45)  # cached: no work
        clip.read_gray(2)   # backward past the cache: one re-open, then forward reading
        assert clip.stats["reopens"] == 1 and clip.stats["skipped"] == 2
