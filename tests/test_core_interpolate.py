"""Qt-free tests of keyframe interpolation for the line classes (lusapp.core.interpolate)."""

from __future__ import annotations

import numpy as np
import pytest

from lusapp.core.interpolate import interpolate_masks
from lusapp.core.labels import A_LINE, B_LINE, CONSOLIDATION, PLEURAL_LINE
from lusapp.core.propagate import class_dice


def scene(shift: int, b_len: int = 60, with_consolidation: bool = False) -> np.ndarray:
    """A pleural line, an A-line and two B-lines, all ``shift`` px right (B-line ``b_len`` px long)."""
    m = np.zeros((120, 200), np.uint8)
    m[30:33, 10 + shift:150 + shift] = PLEURAL_LINE
    m[60:62, 10 + shift:150 + shift] = A_LINE
    m[33:33 + b_len, 40 + shift:46 + shift] = B_LINE
    m[33:33 + b_len, 100 + shift:106 + shift] = B_LINE
    if with_consolidation:
        m[80:100, 160:190] = CONSOLIDATION
    return m


def test_frames_between_follow_a_steady_motion_of_thin_lines():
    """Lines 2-6 px thick moved 20 px between keyframes 10 and 15: a pixel-wise blend would lose them; the
    interpolated frames sit where the motion puts them."""
    out = interpolate_masks(scene(0), 10, scene(20), 15)
    assert sorted(out) == [11, 12, 13, 14]
    for f, m in out.items():
        truth = scene(4 * (f - 10))
        d = class_dice(m, truth)
        assert set(d) == {PLEURAL_LINE, A_LINE, B_LINE}
        assert min(d.values()) > 0.95, (f, d)
        assert m.dtype == np.uint8


def test_keyframes_in_either_order_give_the_same_frames():
    fwd = interpolate_masks(scene(0), 3, scene(8), 7)
    back = interpolate_masks(scene(8), 7, scene(0), 3)
    assert sorted(fwd) == sorted(back) == [4, 5, 6]
    for f in fwd:
        assert np.array_equal(fwd[f], back[f])


def test_a_growing_b_line_changes_length_smoothly():
    out = interpolate_masks(scene(0, b_len=40), 0, scene(0, b_len=80), 4)
    lengths = [int((out[f][:, 40:46] == B_LINE).any(axis=1).sum()) for f in (1, 2, 3)]
    assert lengths == sorted(lengths) and 45 <= lengths[0] < lengths[2] <= 75, lengths


def test_unpaired_region_shows_in_the_nearer_half_and_other_classes_come_from_the_nearer_keyframe():
    a = scene(0, with_consolidation=True)
    b = scene(0)
    b[33:93, 160:166] = B_LINE  # a third B-line appears in the second keyframe
    out = interpolate_masks(a, 0, b, 4)
    assert not (out[1][:, 160:166] == B_LINE).any() and (out[3][:, 160:166] == B_LINE).any()
    assert (out[1] == CONSOLIDATION).sum() == (a == CONSOLIDATION).sum()
    assert not (out[3] == CONSOLIDATION).any()


def test_adjacent_keyframes_give_nothing_and_bad_input_is_refused():
    assert interpolate_masks(scene(0), 4, scene(2), 5) == {}
    with pytest.raises(ValueError, match="different frames"):
        interpolate_masks(scene(0), 4, scene(2), 4)
    with pytest.raises(ValueError, match="one size"):
        interpolate_masks(scene(0), 0, np.zeros((10, 10), np.uint8), 3)
