"""Class lock in the mask edit operations (drawing one class leaves a locked class's pixels) and the
outline-only overlay's label map (Qt-free: lusapp.core.mask_edit, lusapp.review.overlay)."""

from __future__ import annotations

import numpy as np
import pytest

from lusapp.core import mask_edit as me
from lusapp.core.labels import A_LINE, B_LINE, CONSOLIDATION, PLEURAL_LINE
from lusapp.review.overlay import outline_labels


def _pleura() -> np.ndarray:
    m = np.zeros((60, 80), np.uint8)
    m[20:23, 5:75] = PLEURAL_LINE
    return m


@pytest.mark.parametrize("paints, draw", [
    (True, lambda m, lk: me.brush_stroke(m, [(40, 5), (40, 55)], 4, B_LINE, lk)),
    (True, lambda m, lk: me.draw_polyline(m, [(40, 5), (40, 55)], 8, B_LINE, lk)),
    (True, lambda m, lk: me.fill_polygon(m, [(30, 5), (50, 5), (50, 55), (30, 55)], CONSOLIDATION, lk)),
    (False, lambda m, lk: me.erase_stroke(m, [(5, 21), (75, 21)], 5, None, lk)),
])
def test_a_locked_class_keeps_its_pixels_whatever_is_drawn_across_it(paints, draw):
    unlocked, locked = _pleura(), _pleura()
    draw(unlocked, ())
    draw(locked, {PLEURAL_LINE})
    assert (unlocked == PLEURAL_LINE).sum() < (_pleura() == PLEURAL_LINE).sum()  # without a lock it is hit
    assert np.array_equal(locked == PLEURAL_LINE, _pleura() == PLEURAL_LINE)
    assert (locked != _pleura()).any() == paints  # the other pixels are painted as usual


def test_the_stroke_still_paints_around_the_locked_pixels_and_its_own_class_adds_to_it():
    m = _pleura()
    me.brush_stroke(m, [(40, 5), (40, 55)], 3, B_LINE, {PLEURAL_LINE, A_LINE})
    assert (m[5:20, 38:43] == B_LINE).all() and (m[23:55, 38:43] == B_LINE).all()
    me.brush_stroke(m, [(10, 40), (70, 40)], 2, PLEURAL_LINE, {PLEURAL_LINE})  # drawing the locked class itself
    assert (m[40, 12:68] == PLEURAL_LINE).all()


def test_outline_keeps_edges_and_whole_thin_lines():
    m = np.zeros((60, 80), np.uint8)
    m[10:50, 10:50] = CONSOLIDATION
    m[55:57, 5:75] = A_LINE
    o = outline_labels(m, width=2)
    assert o[10, 30] == CONSOLIDATION and o[30, 11] == CONSOLIDATION  # edge pixels
    assert o[30, 30] == 0  # inside: the image shows through
    assert np.array_equal(o == A_LINE, m == A_LINE)  # a 2-px line is all edge
    assert set(np.unique(o)) <= set(np.unique(m))
    with pytest.raises(ValueError, match="uint8"):
        outline_labels(m.astype(np.int32))
