"""Every clip in ../shared/data/manifest.csv opens, yields its first and last frames, and gets a
sensible imaging-region crop. Skipped when the shared data is absent (as on a user's machine)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from lusapp.io import open_media
from lusapp.io.crop import detect_imaging_region

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
MANIFEST = DATA / "manifest.csv"
pytestmark = [pytest.mark.realdata, pytest.mark.skipif(not MANIFEST.exists(), reason="../shared/data absent")]


def _rows():
    if not MANIFEST.exists():
        return []
    with open(MANIFEST, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # reaching each clip's last frame decodes it fully (~18k frames in all): 15-35 s
def test_every_manifest_file_opens_with_first_last_frames_and_crop():
    rows = _rows()
    assert len(rows) > 100
    failures = []
    for row in rows:
        path = DATA / row["file"]
        try:
            with open_media(path) as clip:
                assert (clip.width, clip.height) == (int(row["width"]), int(row["height"]))
                # Crop samples 3 frames evenly (first and last included), so the first/last reads hit the cache.
                box = detect_imaging_region(clip, n_samples=3)
                first, last = clip.read(0), clip.read(clip.n_frames - 1)
                assert first.shape[:2] == last.shape[:2] == (clip.height, clip.width)
                assert abs(clip.n_frames - int(row["frames"])) <= max(2, int(row["frames"]) // 50)
                assert 0 <= box.x0 < box.x1 <= clip.width and 0 <= box.y0 < box.y1 <= clip.height
                if "task_195" not in row["file"]:
                    assert box.width * box.height >= 0.2 * clip.width * clip.height, box
        except Exception as exc:  # noqa: BLE001 - collect, to report every bad file at once
            failures.append(f"{row['file']}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures)


def test_screen_capture_crop_excludes_device_ui():
    rows = [r for r in _rows() if "task_195" in r["file"]]
    assert rows
    with open_media(DATA / rows[0]["file"]) as clip:
        assert (clip.width, clip.height) == (1280, 720)
        box = detect_imaging_region(clip)
    # The image is a narrow linear-probe rectangle near x 560..715; text/ruler/settings lie outside it.
    assert box.x0 > 540 and box.x1 < 740, box          # ruler (left), 'P' marker, settings column (right)
    assert box.y0 > 60, box                              # patient / date line at the top
    assert box.y1 - box.y0 > 200 and box.shape == "rect", box


def test_overcounting_container_is_corrected_on_reading_the_end():
    path = DATA / "pocus/videos/convex/Cov_denault_proposedUS_vid11.mov"
    if not path.exists():
        pytest.skip("clip absent")
    with open_media(path) as clip:
        declared = clip.n_frames
        last = clip.read(declared - 1)           # the container claims one frame more than it holds
        assert last.shape[:2] == (clip.height, clip.width)
        assert clip.n_frames < declared and clip.frame_count_verified
        assert any("decodable" in n for n in clip.notes)
        assert clip.read(clip.n_frames - 1).shape == last.shape
        # indices planned from the declared count (e.g. 30 frames sampled for assessment) keep working
        np.testing.assert_array_equal(clip.read(declared - 1), clip.read(clip.n_frames - 1))
        with pytest.raises(IndexError):
            clip.read(declared)
