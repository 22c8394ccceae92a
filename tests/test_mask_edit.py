"""Pure numpy tests of the mask edit operations (lusapp.core.mask_edit)."""

from __future__ import annotations

import numpy as np
import pytest

from lusapp.core import mask_edit as me
from lusapp.core.labels import A_LINE, B_LINE, CONSOLIDATION, PLEURAL_LINE


def blank(h=60, w=80):
    return np.zeros((h, w), np.uint8)


def test_brush_paints_a_disc_of_the_given_radius():
    m = blank()
    box = me.brush_stroke(m, [(40, 30)], radius=5, value=B_LINE)
    assert m[30, 40] == B_LINE and m[30, 45] == B_LINE and m[25, 40] == B_LINE
    assert m[30, 47] == 0 and m[22, 40] == 0 and m[27, 36] == B_LINE and m[26, 36] == 0
    assert m[33, 44] == B_LINE and m[34, 44] == 0  # 3^2+4^2=25 inside, 4^2+4^2=32 outside
    assert set(np.unique(m)) == {0, B_LINE}
    y0, y1, x0, x1 = box
    assert y0 <= 25 and y1 >= 36 and x0 <= 35 and x1 >= 46
    area = int((m == B_LINE).sum())
    assert abs(area - np.pi * 25) < 20


def test_brush_stroke_covers_the_segment_between_points():
    m = blank()
    me.brush_stroke(m, [(10, 30), (70, 30)], radius=2, value=A_LINE)
    assert (m[30, 10:71] == A_LINE).all()
    assert (m[28:33, 40] == A_LINE).all() and m[26, 40] == 0 and m[34, 40] == 0


def test_eraser_clears_everything_or_only_one_class():
    m = blank()
    m[20:40, 20:60] = B_LINE
    m[20:40, 40:60] = PLEURAL_LINE
    me.erase_stroke(m, [(30, 30), (50, 30)], radius=3, only_class=B_LINE)
    assert m[30, 30] == 0 and m[30, 50] == PLEURAL_LINE and m[30, 38] == 0
    me.erase_stroke(m, [(50, 30)], radius=3)
    assert m[30, 50] == 0 and m[30, 56] == PLEURAL_LINE and m[21, 21] == B_LINE


def test_line_has_class_thickness_and_polyline_bends():
    m = blank(200, 300)
    t = me.line_thickness(B_LINE, m.shape)
    assert t > me.line_thickness(PLEURAL_LINE, m.shape) >= 1
    me.draw_polyline(m, [(100, 20), (100, 180)], thickness=t, value=B_LINE)
    width = int((m[100] == B_LINE).sum())
    assert abs(width - t) <= 1
    assert m[20, 100] == B_LINE and m[180, 100] == B_LINE and m[100, 100 + t] == 0
    m2 = blank(200, 300)
    me.draw_polyline(m2, [(20, 50), (150, 50), (150, 150)], thickness=3, value=PLEURAL_LINE)
    assert m2[50, 80] == PLEURAL_LINE and m2[100, 150] == PLEURAL_LINE and m2[100, 80] == 0


def test_polygon_fill_fills_inside_only():
    m = blank()
    me.fill_polygon(m, [(10, 10), (50, 10), (50, 40), (10, 40)], CONSOLIDATION)
    assert (m[10:41, 10:51] == CONSOLIDATION).all()
    assert m[9, 30] == 0 and m[41, 30] == 0 and m[25, 52] == 0
    tri = blank()
    me.fill_polygon(tri, [(0, 0), (40, 0), (0, 40)], CONSOLIDATION)
    assert tri[5, 5] == CONSOLIDATION and tri[35, 35] == 0
    with pytest.raises(ValueError):
        me.fill_polygon(tri, [(0, 0), (1, 1)], CONSOLIDATION)


def test_strokes_outside_the_image_are_clipped_and_bad_input_refused():
    m = blank()
    assert me.brush_stroke(m, [(-50, -50)], radius=3, value=1) is None
    assert not m.any()
    me.brush_stroke(m, [(-2, 30)], radius=4, value=1)
    assert m[30, 0] == 1 and m[30, 3] == 0 or m[30, 2] == 1
    with pytest.raises(ValueError):
        me.brush_stroke(m, [(1, 1)], 2, value=9)
    with pytest.raises(ValueError):
        me.brush_stroke(m.astype(np.int32), [(1, 1)], 2, value=1)


def test_diff_roundtrip_restores_exact_masks_and_stays_small():
    rng = np.random.default_rng(0)
    before = rng.integers(0, 5, (480, 640)).astype(np.uint8)
    after = before.copy()
    box = me.brush_stroke(after, [(100, 100), (130, 110)], radius=6, value=CONSOLIDATION)
    d = me.diff_masks(before, after, hint=box)
    assert d is not None and d.nbytes < 2 * 50 * 50
    assert d == d and me.diff_masks(before, after).bbox == d.bbox
    m = before.copy()
    d.apply(m)
    assert np.array_equal(m, after)
    d.revert(m)
    assert np.array_equal(m, before)
    assert me.diff_masks(before, before.copy()) is None


def test_simplify_and_previous_labelled():
    path = [(x, 50 + 0.2 * np.sin(x)) for x in range(0, 100)]
    simple = me.simplify_path(path)
    assert 2 <= len(simple) <= 4 and simple[0][0] == 0 and simple[-1][0] == 99
    assert me.previous_labelled([0, 4, 9], 7) == 4
    assert me.previous_labelled([0, 4, 9], 0) is None
    assert me.previous_labelled([], 3) is None
