"""Outline-only overlay (switch and the O key) and per-class lock (the lock buttons of the overlay bar) in the
clip view (issue 11)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from gui_clip_support import moving_disc_clip
from lusapp.core.labels import B_LINE, PLEURAL_LINE
from lusapp.review.mask_source import MemoryMaskSource


def _with_pleura(view) -> np.ndarray:
    clip = moving_disc_clip(n=3)
    m = np.zeros((clip.height, clip.width), np.uint8)
    m[30:34, 5:120] = PLEURAL_LINE
    m[50:90, 20:60] = B_LINE
    view.set_clip("R1", clip, mask_source=MemoryMaskSource(final={0: m}))
    assert view.frames.wait_until_cached()
    view._show(0)
    return m


def test_drawing_across_a_locked_class_leaves_it(view):
    m = _with_pleura(view)
    view.overlay_controls.locks[PLEURAL_LINE].click()
    assert view.controller.locked == {PLEURAL_LINE}
    view.set_edit_class(B_LINE)
    view.tool_brush()
    view.controller.set_size(6)
    c = view.controller
    c.press(100, 10), c.move(100, 40), c.release(100, 60)
    now = view.current_mask()
    assert np.array_equal(now == PLEURAL_LINE, m == PLEURAL_LINE)
    assert now[20, 100] == B_LINE and now[45, 100] == B_LINE
    view.overlay_controls.locks[PLEURAL_LINE].click()  # unlocked: the next stroke goes over it
    c.press(110, 10), c.move(110, 40), c.release(110, 60)
    assert view.current_mask()[32, 110] == B_LINE


def test_outline_only_shows_edges_and_the_o_key_toggles_it(view, qtbot):
    from lusapp.gui.actions import ActionFactory, load_specs

    _with_pleura(view)
    filled = view.overlay_item.image.copy()
    assert filled[70, 40, 3] > 0  # inside the B-line region
    view.overlay_controls.outline_box.setChecked(True)
    outlined = view.overlay_item.image
    assert outlined[70, 40, 3] == 0 and outlined[50, 40, 3] > 0  # inside clear, edge drawn
    f = ActionFactory(view, load_specs())
    view.addAction(f.action("view.outline", view.navigation_actions()["view.outline"]))
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    qtbot.keyClick(view, Qt.Key.Key_O)
    assert not view.overlay_controls.outline_only and view.overlay_item.image[70, 40, 3] > 0
