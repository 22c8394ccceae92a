"""The fast paths of the video decoder, the imaging-region crop, the colour check and the network-input
preparation give exactly what the plain formulations give (the engine's crops, network inputs and scores must
not move when these are sped up): one FFmpeg decoding thread gives OpenCV's default decoder's frames; the hull of a component from its outer contour is the hull of all its pixels; the frame mean / std
without the float32 stack are bit-identical to numpy's; the channel spread channel by channel is the
``max(axis=2) - min(axis=2)`` of the int16 frame; the uint8 batch scaled by ``to_input`` is the float input
``prepare_array`` gives, and rounding that input back to uint8 gives the uint8 batch; a label map resized straight
into its box of the frame mask is the one resized and then pasted there."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lusapp.bench import write_demo_video
from lusapp.io import crop as C
from lusapp.io import open_media
from lusapp.io import video as V
from lusapp.io.clip import channel_spread, has_colour
from lusapp.model import preprocess as pp


def hull_of_all_pixels(comp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(filled hull, hull vertices) taken over every pixel of the component: the plain definition."""
    hull = cv2.convexHull(cv2.findNonZero(comp.astype(np.uint8)))
    out = np.zeros(comp.shape, np.uint8)
    cv2.fillConvexPoly(out, hull, 1)
    return out.astype(bool), hull


def random_masks(n: int, seed: int = 0):
    """Binary masks of many kinds: noise, unions of discs, random polygons, speckled sectors, thin lines."""
    rng = np.random.default_rng(seed)
    for t in range(n):
        h, w = (int(v) for v in rng.integers(8, 160, 2))
        m = np.zeros((h, w), np.uint8)
        kind = t % 5
        if kind == 0:
            m[:] = rng.random((h, w)) < rng.uniform(0.05, 0.9)
        elif kind == 1:
            for _ in range(int(rng.integers(1, 6))):
                cv2.circle(m, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(1, 40)), 1, -1)
        elif kind == 2:
            cv2.fillPoly(m, [rng.integers(0, [w, h], (int(rng.integers(3, 9)), 2)).astype(np.int32)], 1)
        elif kind == 3:
            cv2.ellipse(m, (w // 2, -h // 4), (int(w * 0.6), int(h * 1.1)), 90, -35, 35, 1, -1)
            m &= (rng.random((h, w)) < 0.97).astype(np.uint8)
        else:
            cv2.line(m, (int(rng.integers(0, w)), 0), (int(rng.integers(0, w)), h - 1), 1, int(rng.integers(1, 3)))
        comp = C._largest_component(m.astype(bool))
        if comp is None:
            n_lab, labels = cv2.connectedComponents(m, connectivity=8)
            if n_lab < 2:
                continue
            comp = labels == 1
        yield comp


def test_hull_from_the_outer_contour_is_the_hull_of_all_pixels():
    n = 0
    for comp in random_masks(1500):
        ref_fill, ref_hull = hull_of_all_pixels(comp)
        contours, _ = cv2.findContours(comp.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hull = cv2.convexHull(np.concatenate(contours))
        assert sorted(map(tuple, hull.reshape(-1, 2).tolist())) == sorted(map(tuple, ref_hull.reshape(-1, 2).tolist()))
        assert np.array_equal(C._filled_hull(comp), ref_fill)
        assert C._filled_hull_u8(comp).dtype == np.uint8
        n += 1
    assert n > 1400


def numpy_mean_std(grays):
    stack = np.stack([g.astype(np.float32) for g in grays])
    return stack.mean(axis=0), (stack.std(axis=0) if len(grays) > 1 else np.zeros_like(stack[0]))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_frame_mean_and_std_are_numpys_bit_for_bit(dtype):
    rng = np.random.default_rng(1)
    for _ in range(150):
        n = int(rng.integers(1, 9))
        h, w = (int(v) for v in rng.integers(4, 90, 2))
        base = rng.uniform(0, 255, (h, w))
        grays = [np.clip(base + rng.normal(0, rng.uniform(0, 80), (h, w)), 0, 255).astype(dtype) for _ in range(n)]
        mean, std = C._mean_std(grays)
        ref_mean, ref_std = numpy_mean_std(grays)
        assert mean.dtype == std.dtype == np.float32
        assert np.array_equal(mean, ref_mean) and np.array_equal(std, ref_std)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_channel_spread_is_the_int16_max_minus_min(dtype):
    rng = np.random.default_rng(2)
    hi = np.iinfo(dtype).max
    frame = rng.integers(0 if dtype != np.int16 else -hi, hi, (37, 53, 3), endpoint=True).astype(dtype)
    for f in (frame, frame[..., ::-1], frame[::3, ::2]):
        s16 = f.astype(np.int16)
        assert np.array_equal(channel_spread(f), s16.max(axis=2) - s16.min(axis=2))


def test_colour_check_unchanged_on_grey_tinted_and_coloured_frames():
    rng = np.random.default_rng(3)
    grey = np.repeat(rng.integers(0, 256, (480, 640, 1), dtype=np.uint8), 3, axis=2)
    assert not has_colour(grey)
    noisy = np.clip(grey.astype(np.int16) + rng.integers(-10, 11, grey.shape), 0, 255).astype(np.uint8)
    assert not has_colour(noisy)  # codec noise below the spread
    marked = grey.copy()
    marked[100:120, 100:140] = (255, 140, 0)  # 800 coloured pixels: above 5e-4 of the frame
    assert has_colour(marked)
    marked_small = grey.copy()
    marked_small[100:101, 100:104] = (255, 0, 0)  # 4 pixels: not enough
    assert not has_colour(marked_small)


def test_uint8_batch_scaled_is_the_float_input_and_rounds_back_exactly():
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 256, (90, 120), dtype=np.uint8) for _ in range(5)]
    for box, size in (((10, 5, 110, 85), (32, 32)), (None, (128, 96)), ((0, 0, 40, 30), (64, 64))):  # shrink, enlarge
        u8 = pp.prepare_batch_u8(frames, box, size)
        x = pp.to_input(u8)
        assert u8.dtype == np.uint8 and x.dtype == np.float32 and x.shape == (5, 1, *size)
        ref = np.stack([pp.prepare_array(f, box, size) for f in frames])[:, None]
        assert np.array_equal(x, ref) and np.array_equal(pp.prepare_batch_array(frames, box, size), ref)
    every = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    assert np.array_equal((pp.to_input(every)[:, 0] * 255.0 + 0.5).astype(np.uint8), every)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_one_decoding_thread_gives_the_default_decoders_frames(tmp_path, monkeypatch, suffix):
    path = write_demo_video(tmp_path / f"clip{suffix}", n_frames=24, size=(96, 128), seed=5)
    with open_media(path) as clip:
        ours = [clip.read(i) for i in range(clip.n_frames)]
        assert clip._cap.get(cv2.CAP_PROP_N_THREADS) == 1
    monkeypatch.setattr(V, "DECODER_PARAMS", [])  # OpenCV's default: one thread per core
    with open_media(path) as clip:
        default = [clip.read(i) for i in range(clip.n_frames)]
    assert len(ours) == len(default) == 24 and all(np.array_equal(a, b) for a, b in zip(ours, default))


def test_masks_projected_into_the_box_are_the_resized_label_maps_pasted_there():
    rng = np.random.default_rng(6)
    for box, shape in (((60, 30, 580, 450), (480, 640)), (None, (480, 640)), ((0, 0, 64, 48), (96, 128)),
                       ((5, 7, 9, 12), (20, 20)), ((-10, -10, 900, 900), (72, 96))):
        labels = rng.integers(0, 5, (32, 32), dtype=np.uint8)
        x0, y0, x1, y1 = pp.box_tuple(box, *shape)
        plain = np.zeros(shape, np.uint8)
        plain[y0:y1, x0:x1] = cv2.resize(labels, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
        assert np.array_equal(pp.project_mask(labels, box, shape), plain)
