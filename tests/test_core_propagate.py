"""Qt-free tests of mask propagation by optical flow (lusapp.core.propagate)."""

from __future__ import annotations

import numpy as np
import pytest

from lusapp.core import propagate as pr
from lusapp.core.labels import A_LINE, B_LINE, CONSOLIDATION, PLEURAL_LINE


def speckle(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (speckle-like) with structure at several scales, so the flow is well posed."""
    import cv2

    rng = np.random.default_rng(seed)
    big = rng.random((h + 64, w + 64)).astype(np.float32)
    tex = cv2.GaussianBlur(big, (0, 0), 2.0) * 0.6 + cv2.GaussianBlur(big, (0, 0), 6.0) * 0.4
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    return (tex[:h, :w] * 255).astype(np.uint8)


def shifted_clip(n: int, k: int, h: int = 120, w: int = 160, dy: int = 0):
    """``n`` frames of a texture moving ``k`` px right (and ``dy`` down) per frame, with the exact masks."""
    tex = speckle(h, w + k * n + 40)
    base = np.zeros((h, w + k * n + 40), np.uint8)
    base[30:34, :] = PLEURAL_LINE
    base[60:63, :] = A_LINE
    base[34:110, 60:75] = B_LINE
    base[70:100, 100:140] = CONSOLIDATION
    frames, masks = [], []
    for i in range(n):
        x0 = 20 + k * n - k * i  # the window moves left, so the content moves right by k per frame
        frames.append(np.roll(tex, dy * i, axis=0)[:, x0:x0 + w].copy())
        masks.append(np.roll(base, dy * i, axis=0)[:, x0:x0 + w].copy())
    return np.stack(frames), np.stack(masks)


@pytest.mark.parametrize("method", pr.METHODS)
@pytest.mark.parametrize("mode", pr.MODES)
def test_propagation_follows_a_known_translation(method, mode):
    frames, masks = shifted_clip(8, k=3)
    targets = list(range(1, 8))
    out = dict(pr.propagate(masks[0], 0, targets, lambda i: frames[i], method, mode))
    assert sorted(out) == targets
    for t in targets:
        d = pr.mask_dice(out[t], masks[t])
        assert d > 0.9, (method, mode, t, pr.class_dice(out[t], masks[t]))
        # and clearly better than not moving the mask at all
        assert d >= pr.mask_dice(masks[0], masks[t])
    assert out[7].dtype == np.uint8 and set(np.unique(out[7])) <= {0, 1, 2, 3, 4}


@pytest.mark.parametrize("mode", pr.MODES)
def test_propagation_backward_and_diagonal(mode):
    frames, masks = shifted_clip(6, k=2, dy=1)
    out = dict(pr.propagate(masks[5], 5, [4, 3, 2, 1, 0], lambda i: frames[i], mode=mode))
    for t in range(5):
        assert pr.mask_dice(out[t], masks[t]) > 0.9


def test_subpixel_motion_accumulates_in_region_mode():
    """0.5 px per frame: after 8 frames the regions have moved 4 px (rounding each step would leave them)."""
    import cv2

    frames, masks = shifted_clip(9, k=4)  # 4 px per frame; resample to half steps
    half = [cv2.warpAffine(frames[0], np.float32([[1, 0, 0.5 * i], [0, 1, 0]]), frames[0].shape[::-1],
                           flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT) for i in range(9)]
    out = dict(pr.propagate(masks[0], 0, list(range(1, 9)), lambda i: half[i]))
    assert pr.mask_dice(out[8], masks[1]) > pr.mask_dice(out[8], masks[0])
    with pytest.raises(ValueError):
        list(pr.propagate(masks[0], 0, [1], lambda i: half[i], mode="nope"))


def test_warp_keeps_labels_exact_and_checks_shapes():
    frames, masks = shifted_clip(2, k=0)
    same = pr.warp_mask(masks[0], frames[0], frames[0])
    assert pr.mask_dice(same, masks[0]) > 0.99
    with pytest.raises(ValueError):
        pr.warp_mask(masks[0][:10], frames[0], frames[1])
    with pytest.raises(ValueError):
        pr.optical_flow(frames[0], frames[1], method="nope")


def test_propagation_frames_stop_before_labelled_and_at_the_ends():
    assert pr.propagation_frames(5, 1, 20, labelled=[5, 9], count=10) == [6, 7, 8]
    assert pr.propagation_frames(5, 1, 20, labelled=[5], count=3) == [6, 7, 8]
    assert pr.propagation_frames(5, -1, 20, labelled=[5], count=0) == [4, 3, 2, 1, 0]
    assert pr.propagation_frames(18, 1, 20, labelled=[], count=None) == [19]
    with pytest.raises(ValueError):
        pr.propagation_frames(0, 2, 20, [])


def test_dice_and_disagreement():
    a = np.zeros((20, 20), np.uint8)
    b = a.copy()
    assert pr.mask_dice(a, b) == 1.0 and not pr.disagree(a, b)
    a[2:6, :] = PLEURAL_LINE
    b[2:6, :] = PLEURAL_LINE
    b[10:20, 10:20] = CONSOLIDATION  # consolidation only in b: Dice 0 for that class
    assert pr.class_dice(a, b) == {PLEURAL_LINE: 1.0, CONSOLIDATION: 0.0}
    assert pr.mask_dice(a, b) == pytest.approx(0.5)
    assert pr.disagree(a, b) and not pr.disagree(None, b)


def test_jump_helpers():
    assert pr.next_frame([0, 5, 10], 5, 1) == 10 and pr.next_frame([0, 5, 10], 5, -1) == 0
    assert pr.next_frame([0, 5], 7, 1) is None
    assert pr.next_unlabelled([3, 4, 5], 3, 1, 10) == 6
    assert pr.next_unlabelled([0, 1, 2], 2, -1, 10) is None


def test_model_guidance_keeps_the_models_outline_of_confirmed_patterns_only():
    """guide_with_model: a model region overlapping the warped mask is kept whole (its outline follows the
    frame), a model region the clinician removed is dropped, a warped region the model missed stays."""
    warped = np.zeros((60, 80), np.uint8)
    warped[20:23, 10:60] = PLEURAL_LINE  # warped slightly off
    warped[30:50, 65:70] = B_LINE  # a B-line the model does not see
    model = np.zeros_like(warped)
    model[21:25, 5:70] = PLEURAL_LINE  # the model's pleural line on this frame
    model[40:55, 20:40] = CONSOLIDATION  # removed by the clinician on the keyframe
    out = pr.guide_with_model(warped, model)
    assert np.array_equal(out == PLEURAL_LINE, model == PLEURAL_LINE)
    assert np.array_equal(out == B_LINE, warped == B_LINE)
    assert not (out == CONSOLIDATION).any()
    assert np.array_equal(pr.guide_with_model(warped, None), warped)
    with pytest.raises(ValueError, match="shapes differ"):
        pr.guide_with_model(warped, model[:10])
