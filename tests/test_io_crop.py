"""Imaging-region crop on synthetic screens (sector / rect images with device text, rulers and colour
markers) and the probe command's JSON contract."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from lusapp.io import open_media
from media_files import write_video
from lusapp.io.crop import CropBox, detect_imaging_region
from lusapp.io.probe import probe_main


def screen(i: int, shape: str, h=360, w=480) -> np.ndarray:
    """RGB device screen: speckle image in a fan (apex above the top) or a rectangle, plus UI."""
    rng = np.random.default_rng(i)
    img = np.zeros((h, w, 3), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    if shape == "sector":
        ax, ay = 240, 20
        ang = np.degrees(np.arctan2(xx - ax, yy - ay))
        r = np.hypot(xx - ax, yy - ay)
        region = (np.abs(ang) < 35) & (r > 40) & (r < 320)
    else:
        region = (xx >= 180) & (xx < 300) & (yy >= 40) & (yy < 330)
    speckle = (rng.rayleigh(40, (h, w)) + 30).clip(0, 255).astype(np.uint8)
    for c in range(3):
        img[..., c][region] = speckle[region]
    cv2.putText(img, "PATIENT 12345  18.10.2021", (5, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (230, 230, 230), 1)
    for k, y in enumerate(range(50, 330, 25)):  # depth ruler
        cv2.line(img, (20, y), (28, y), (255, 255, 255), 2)
        cv2.putText(img, str(k), (32, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)
    for k, txt in enumerate(["MI 0.4", "Gain 50", "Depth 12cm"]):
        cv2.putText(img, txt, (400, 60 + 30 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (220, 220, 220), 1)
    cv2.circle(img, (440, 300), 12, (255, 140, 0), -1)  # coloured logo
    return img


@pytest.mark.parametrize("shape", ["sector", "rect"])
def test_region_excludes_ui_and_finds_shape(shape):
    frames = [screen(i, shape) for i in range(6)]
    box = detect_imaging_region(frames)
    assert box.shape == shape
    if shape == "rect":
        expect = (180, 40, 300, 330)
    else:
        expect = (240 - int(320 * np.sin(np.radians(35))), 20 + int(40 * np.cos(np.radians(35))), 240 + int(320 * np.sin(np.radians(35))), 340)
    for got, want in zip((box.x0, box.y0, box.x1, box.y1), expect):
        assert abs(got - want) <= 12, (box, expect)
    assert box.confidence > 0.5


def test_still_image_crop_and_apply():
    img = screen(0, "sector")
    box = detect_imaging_region([img])
    assert 40 < box.x0 < 120 and 360 < box.x1 < 440 and box.y0 < 70 and box.y1 > 320
    crop = box.apply(img)
    assert crop.shape[:2] == (box.height, box.width)


def test_blank_frames_fall_back_to_full_frame():
    box = detect_imaging_region([np.zeros((120, 160), np.uint8)] * 3)
    assert (box.x0, box.y0, box.x1, box.y1) == (0, 0, 160, 120) and box.confidence <= 0.2


def test_cropbox_dict_round_trip_and_validation():
    box = CropBox(3, 4, 100, 90, "sector", 0.8)
    assert CropBox.from_dict(json.loads(json.dumps(box.to_dict()))) == box
    with pytest.raises(ValueError):
        CropBox.from_dict({"x0": 10, "y0": 0, "x1": 5, "y1": 9, "shape": "rect"})
    with pytest.raises(ValueError):
        CropBox.from_dict({"x0": 0, "y0": 0, "x1": 5, "y1": 9, "shape": "oval"})


def test_crop_from_a_clip_video(tmp_path):
    path = tmp_path / "screen.avi"
    write_video(path, (screen(i, "rect")[..., ::-1] for i in range(10)))
    with open_media(path) as clip:
        box = detect_imaging_region(clip, n_samples=5)
    assert abs(box.x0 - 180) <= 12 and abs(box.x1 - 300) <= 12 and box.shape == "rect"


def test_probe_prints_one_json_line_per_file(tmp_path, capsys):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), screen(1, "sector")[..., ::-1])
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    assert probe_main([str(good)]) == 0
    rc = probe_main([str(good), str(bad), str(tmp_path / "missing.avi")])
    assert rc == 1
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert len(lines) == 4
    ok = lines[1]
    assert ok["ok"] and ok["kind"] == "still" and ok["frames"] == 1 and ok["fps"] is None
    assert (ok["width"], ok["height"]) == (480, 360) and ok["pixel_spacing_mm"] is None
    assert set(ok["crop"]) >= {"x0", "y0", "x1", "y1", "shape"}
    assert lines[2] == {"path": str(bad), "ok": False, "error_type": "NotAnImage", "error": lines[2]["error"]}
    assert str(bad) in lines[2]["error"]
    assert lines[3]["error_type"] == "UnreadableFile"
    assert probe_main([]) == 2
