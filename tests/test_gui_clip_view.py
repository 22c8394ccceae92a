"""Clip view: overlay colours and toggles, playback, editing through the view, undo/redo, copy, labelling."""

from __future__ import annotations

import numpy as np
import pytest

from gui_clip_support import ArrayClip, moving_disc_clip
from lusapp.core.labels import A_LINE, B_LINE, CLASS_COLORS, CONSOLIDATION, PLEURAL_LINE
from lusapp.gui.clip_view import ClipView
from lusapp.review.mask_source import MemoryMaskSource
from lusapp.review.overlay import compose_overlay
from lusapp.gui.playback import format_time
from lusapp.gui.undo_commands import stack_bytes


@pytest.fixture
def view(qtbot):
    v = ClipView()
    qtbot.addWidget(v)
    v.resize(800, 600)
    yield v
    v.shutdown()


def _overlay_pixel(v: ClipView, y: int, x: int) -> np.ndarray:
    return np.asarray(v.overlay_item.image)[y, x]


def test_compose_overlay_colour_opacity_and_toggle():
    mask = np.zeros((4, 5), np.uint8)
    mask[1, 2] = B_LINE
    mask[3, 4] = PLEURAL_LINE
    rgba = compose_overlay(mask, {1: True, 2: True, 3: True, 4: True}, 0.6)
    assert tuple(rgba[1, 2]) == (*CLASS_COLORS[B_LINE], 153)
    assert tuple(rgba[3, 4]) == (*CLASS_COLORS[PLEURAL_LINE], 153)
    assert rgba[0, 0, 3] == 0
    off = compose_overlay(mask, {1: True, 2: True, 3: False, 4: True}, 0.6)
    assert tuple(off[1, 2]) == (0, 0, 0, 0) and off[3, 4, 3] == 153


def test_view_overlay_follows_toggles_and_opacity(view, qtbot):
    clip = moving_disc_clip(n=5)
    final = np.zeros((clip.height, clip.width), np.uint8)
    final[10:20, 30:40] = B_LINE
    final[50:60, 30:40] = CONSOLIDATION
    view.set_clip("R1", clip, MemoryMaskSource({0: final}))
    assert view.mask_kind(0) == "FINAL" and view.badge.text().strip() == "FINAL"
    view.set_opacity(0.4)
    assert tuple(_overlay_pixel(view, 15, 35)) == (*CLASS_COLORS[B_LINE], 102)
    view.set_class_visible(B_LINE, False)
    assert _overlay_pixel(view, 15, 35)[3] == 0
    assert tuple(_overlay_pixel(view, 55, 35)) == (*CLASS_COLORS[CONSOLIDATION], 102)
    view.set_class_visible(B_LINE, True)
    assert tuple(_overlay_pixel(view, 15, 35)[:3]) == CLASS_COLORS[B_LINE]
    view.toggle_masks()
    assert not np.asarray(view.overlay_item.image)[..., 3].any()
    view.step_forward()
    assert view.current_frame == 1 and view.mask_kind(1) is None


def test_playback_advances_with_the_timer_and_labels_show_time(view, qtbot):
    clip = moving_disc_clip(n=40, fps=50.0)
    view.set_clip("L2", clip)
    seen = []
    view.frameChanged.connect(seen.append)
    view.play()
    qtbot.waitUntil(lambda: view.current_frame >= 10, timeout=3000)
    view.pause()
    assert seen == sorted(seen) and len(set(seen)) >= 3
    f = view.current_frame
    qtbot.waitUntil(lambda: view.shown_frame == f, timeout=2000)
    assert view.transport.frame_label.text() == f"{f + 1} / 40"
    assert view.transport.time_label.text().startswith(format_time(f / 50.0))
    assert view.transport.slider.value() == f
    np.testing.assert_array_equal(view.frame_image, clip.read(f))
    shown = np.asarray(view.image_item.image)  # drawn as opaque RGBA (fast path of Qt's raster engine)
    np.testing.assert_array_equal(shown[..., 1], clip.read(f))
    assert (shown[..., 3] == 255).all()
    view.set_loop(False)
    view.seek(38)
    view.set_speed(2.0)
    view.play()
    qtbot.waitUntil(lambda: not view.playback.playing, timeout=3000)
    assert view.current_frame == 39
    view.step_back()
    assert view.current_frame == 38
    assert format_time(83.456) == "01:23.46"


def test_still_is_a_one_frame_clip(view):
    still = ArrayClip(np.full((1, 30, 40, 3), 100, np.uint8), fps=None, path="memory://still.png")
    view.set_clip("R3", still)
    assert view.playback.n_frames == 1 and not view.transport.play_btn.isEnabled()
    view.play()
    assert not view.playback.playing
    assert np.asarray(view.image_item.image).shape == (30, 40, 4) and view.frame_image.shape == (30, 40, 3)
    view.set_clip("R3", None)
    assert view.clip is None and view.image_item.image is None


def test_brush_stroke_undo_redo_restores_exact_masks(view):
    clip = moving_disc_clip(n=5)
    rng = np.random.default_rng(1)
    start = rng.integers(0, 5, (clip.height, clip.width)).astype(np.uint8)
    src = MemoryMaskSource({2: start})
    edits, originals = [], []
    view.maskEdited.connect(lambda z, f, m: edits.append((z, f, m)))
    view.originalCaptured.connect(lambda *a: originals.append(a))
    view.set_clip("R2", clip, src)
    assert view.frames.wait_until_cached()  # seeks below show their frame at once
    view.seek(2)
    snapshots = [view.current_mask()]
    view.tool_brush()
    view.set_edit_class(A_LINE)
    view.set_brush_size(4)
    c = view.controller
    c.press(20, 20), c.move(40, 25), c.release(60, 30)
    snapshots.append(view.current_mask())
    view.tool_eraser()
    c.eraser_all = True
    c.press(40, 25), c.release(40, 25)
    snapshots.append(view.current_mask())
    assert snapshots[1][25, 40] == A_LINE and snapshots[2][25, 40] == 0
    assert view.undo_stack.count() == 2 and len(edits) == 2 and edits[-1][:2] == ("R2", 2)
    assert 0 < stack_bytes(view.undo_stack) < start.nbytes // 4  # bbox diffs, not full masks
    view.undo()
    np.testing.assert_array_equal(view.current_mask(), snapshots[1])
    view.undo()
    np.testing.assert_array_equal(view.current_mask(), snapshots[0])
    np.testing.assert_array_equal(edits[-1][2], start)  # the restored mask is re-saved as FINAL
    view.redo(), view.redo()
    np.testing.assert_array_equal(view.current_mask(), snapshots[2])
    assert originals == []  # no worker, no model mask to keep as ORIGINAL


def test_line_and_polygon_tools_through_the_view(view, qtbot):
    clip = moving_disc_clip(n=3)
    view.set_clip("L1", clip)
    view.tool_line()
    view.set_edit_class(B_LINE)
    c = view.controller
    c.press(64, 10)
    for y in range(11, 80, 7):
        c.move(64, y)
    c.release(64, 80)
    m = view.current_mask()
    assert m[45, 64] == B_LINE and m[45, 64 + 8] == 0 and view.mask_kind(0) == "FINAL"
    view.tool_polygon()
    view.set_edit_class(CONSOLIDATION)
    for x, y in [(10, 10), (40, 10), (40, 40)]:
        c.click(x, y)
    c.click(10, 40)
    view.setFocus()
    from PySide6.QtCore import Qt
    qtbot.keyClick(view, Qt.Key.Key_Return)
    m = view.current_mask()
    assert m[25, 25] == CONSOLIDATION and m[50, 25] == 0 and not c.polygon
    assert view.undo_stack.count() == 2
    qtbot.keyClick(view, Qt.Key.Key_BracketRight)
    assert c.size > 8
    qtbot.keyClick(view.graphics, Qt.Key.Key_BracketLeft)  # keys reaching the picture itself work too
    assert c.size == 8
    for x, y in [(60, 60), (70, 60), (70, 70)]:
        c.click(x, y)
    qtbot.keyClick(view.graphics, Qt.Key.Key_Delete)
    assert len(c.polygon) == 2
    qtbot.keyClick(view.graphics, Qt.Key.Key_Escape)
    assert c.polygon == [] and view.undo_stack.count() == 2
    view.undo()
    assert view.current_mask()[25, 25] == 0


def test_copy_from_previous_and_mark_labelled(view):
    clip = moving_disc_clip(n=8)
    prev = np.zeros((clip.height, clip.width), np.uint8)
    prev[5:15, 5:50] = PLEURAL_LINE
    src = MemoryMaskSource({1: prev})
    saved = []
    view.maskEdited.connect(lambda z, f, m: saved.append((f, m)))
    view.set_clip("R5", clip, src)
    assert view.frames.wait_until_cached()  # seeks below show their frame at once
    view.seek(0)
    assert not view.copy_from_previous()  # nothing labelled before frame 0
    view.seek(5)
    assert view.mask_kind(5) is None
    assert view.copy_from_previous()
    np.testing.assert_array_equal(view.current_mask(), prev)
    assert view.mask_kind(5) == "FINAL" and view.labelled_frames() == [1, 5]
    assert saved[-1][0] == 5
    view.undo()  # undo also withdraws "labelled" (issue 11): frame 5 had no mask before the copy
    assert view.current_mask() is None and view.mask_kind(5) is None and view.labelled_frames() == [1]
    view.redo()
    np.testing.assert_array_equal(view.current_mask(), prev)
    assert view.labelled_frames() == [1, 5]
    view.undo()
    view.seek(6)
    assert view.mark_labelled() and view.labelled_frames() == [1, 6]
    assert view.overlay_controls.labelled_label.text() == "Labelled: 2 (2, 7)"
    assert saved[-1][0] == 6 and not saved[-1][1].any()
    view.seek(7)
    view.copy_from_previous()  # previous labelled is now frame 6 (empty)
    assert not view.current_mask().any()


def test_frame_to_rgba_and_overlay_out_buffer():
    from lusapp.review.overlay import frame_to_rgba, overlay_lut

    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    g = frame_to_rgba(grey)
    assert g.shape == (3, 4, 4) and (g[..., 0] == grey).all() and (g[..., 2] == grey).all() and (g[..., 3] == 255).all()
    rgb = np.random.default_rng(0).integers(0, 256, (3, 4, 3)).astype(np.uint8)
    c = frame_to_rgba(rgb)
    assert (c[..., :3] == rgb).all() and (c[..., 3] == 255).all()
    mask = np.array([[0, 1], [3, 4]], np.uint8)
    buf = np.zeros((2, 2, 4), np.uint8)
    out = compose_overlay(mask, [1, 3, 4], 1.0, lut=overlay_lut([1, 3, 4], 1.0), out=buf)
    assert out is buf and tuple(buf[1, 0]) == (*CLASS_COLORS[B_LINE], 255) and buf[0, 0, 3] == 0


def test_bench_clip_runs_and_reports_median_and_p95(capsys):
    from lusapp.gui import bench_clip

    assert bench_clip.main(["--frames", "12", "--size", "96x128", "--seeks", "15", "--play-seconds", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "median" in out and "p95" in out and "seek + overlay redraw" in out and "playback 1x" in out


def _drag(view, a, b, steps=10):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    vp = view.graphics.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for k in range(1, steps + 1):
        QTest.qWait(12)  # pyqtgraph drops mouse moves closer than 10 ms (mouseRateLimit)
        QTest.mouseMove(vp, a + (b - a) * k / steps)
        QApplication.processEvents()
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def test_real_mouse_events_paint_with_a_tool_and_pan_without(view, qtbot):
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest

    view.show()
    view.set_clip("R1", moving_disc_clip(n=3))
    qtbot.waitExposed(view)
    view.fit()
    qtbot.wait(20)

    def vp(x, y):
        return view.graphics.mapFromScene(view.overlay_item.mapToScene(QPointF(x + 0.5, y + 0.5)))

    view.tool_brush()
    view.set_edit_class(A_LINE)
    view.set_brush_size(3)
    _drag(view, vp(20, 50), vp(100, 50))
    m = view.current_mask()
    assert (m[50, 22:99] == A_LINE).all() and m[40, 60] == 0 and view.undo_stack.count() == 1
    view.tool_pan()
    before = view.view_box.viewRange()[0]
    _drag(view, vp(20, 50), vp(100, 50))
    after = view.view_box.viewRange()[0]
    assert after[0] < before[0] - 30 and view.undo_stack.count() == 1  # panned, nothing painted
    view.fit()
    view.tool_polygon()
    view.set_edit_class(CONSOLIDATION)
    port = view.graphics.viewport()
    for x, y in [(60, 60), (90, 60), (90, 90)]:
        QTest.mouseClick(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp(x, y))
        qtbot.wait(250)  # slower than a double-click
    # a real double-click: press, release, press + double-click event, release
    QTest.mouseClick(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp(60, 90))
    QTest.mouseDClick(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp(60, 90))
    QTest.mouseRelease(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp(60, 90))
    qtbot.waitUntil(lambda: view.undo_stack.count() == 2, timeout=2000)
    assert view.current_mask()[75, 75] == CONSOLIDATION


def test_seek_to_an_undecoded_frame_never_blocks_the_gui(view, qtbot):
    """A slow reader (0.5 s a frame): seek returns long before one decode could finish (no decode on the GUI
    thread), the frame appears when the prefetch thread has decoded it; editing waits until the frame on
    screen is the current one."""
    import time

    clip = moving_disc_clip(n=60, decode_delay=0.5)
    view.set_clip("R6", clip)
    assert view.shown_frame == 0
    t = time.perf_counter()
    view.seek(45)
    assert time.perf_counter() - t < 0.25  # a decode on the GUI thread would take >= 0.5 s
    assert view.current_frame == 45 and view.transport.frame_label.text() == "46 / 60"
    view.tool_brush()
    assert view.begin_edit() is None  # frame 45 is not on screen yet
    qtbot.waitUntil(lambda: view.shown_frame == 45, timeout=3000)
    np.testing.assert_array_equal(view.frame_image, clip.read(45))
    assert view.begin_edit() is not None


def test_each_clip_keeps_its_own_undo_history(view):
    """Undo only touches the clip on screen (zone ids repeat across patients); coming back restores the
    zone's history."""
    a, b = moving_disc_clip(n=3), moving_disc_clip(n=3)
    edits = []
    view.maskEdited.connect(lambda z, f, m: edits.append((z, f, m.copy())))
    unlabelled = []
    view.maskUnlabelled.connect(lambda z, f: unlabelled.append((z, f, view.key)))
    view.set_clip("R1", a, clip_key="P1/R1")
    view.tool_brush()
    view.controller.press(10, 10), view.controller.release(10, 10)
    edited_a = view.current_mask()
    view.set_clip("R1", b, clip_key="P2/R1")  # same zone id, another patient
    assert view.undo_stack.count() == 0 and not view.toolbar.undo_btn.isEnabled()
    n = len(edits)
    view.undo()
    assert len(edits) == n and unlabelled == []  # nothing of patient P1 was touched
    view.tool_brush()  # the tool fell back to pan/zoom with the new clip
    view.controller.press(30, 30), view.controller.release(30, 30)
    assert view.undo_stack.count() == 1
    view.set_clip("R1", a, clip_key="P1/R1")
    np.testing.assert_array_equal(view.current_mask(), edited_a)
    assert view.undo_stack.count() == 1 and view.toolbar.undo_btn.isEnabled()
    view.undo()  # the first edit made frame 0 FINAL: undoing it withdraws the FINAL mask (issue 11)
    assert view.mask_kind(0) is None and view.current_mask() is None and unlabelled == [("R1", 0, "P1/R1")]
    assert view.history.keys() == ["P2/R1", "P1/R1"]


def test_zone_change_does_not_wait_for_a_slow_decode(view, qtbot):
    import time

    slow = moving_disc_clip(n=10, decode_delay=1.0)
    view.set_clip("L1", slow)  # the first frame is decoded here (1 s); then the prefetcher is mid-decode
    qtbot.wait(30)
    t = time.perf_counter()
    view.set_clip("L2", moving_disc_clip(n=5))
    assert time.perf_counter() - t < 0.5  # waiting for the prefetcher's decode would take up to 1 s
    assert view.shown_frame == 0 and view.zone_id == "L2"


def test_a_stroke_stays_on_its_frame_when_the_frame_changes_mid_stroke(view):
    clip = moving_disc_clip(n=6)
    view.set_clip("R4", clip)
    assert view.frames.wait_until_cached()
    view.seek(2)
    view.play()
    view.tool_brush()
    c = view.controller
    c.press(10, 10)
    assert not view.playback.playing  # editing pauses playback
    view.step_forward()  # e.g. the Right key during the drag
    c.move(20, 10), c.release(30, 10)
    assert view.mask_kind(3) is None and view.mask_kind(2) == "FINAL"
    assert view.mask_and_kind(2)[0][10, 20] == c.edit_class and view.undo_stack.count() == 1
