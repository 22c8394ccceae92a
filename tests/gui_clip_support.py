"""Helpers of the clip-view tests: an in-memory Clip, a labelled fake engine and ``shown`` (a widget the test
owns, sized and on screen; the ``view`` fixture of conftest.py is a ``ClipView`` made with it)."""

from __future__ import annotations

import threading
import time

import numpy as np

from lusapp.io.clip import Clip


def shown(qtbot, widget, width: int, height: int):
    """``widget`` handed to qtbot (closed after the test), resized to ``width`` x ``height`` and shown."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    return widget


class ArrayClip(Clip):
    """A real ``Clip`` (the io base class: LRU, grey conversion) decoding from a numpy array."""

    kind = "video"

    def __init__(self, frames: np.ndarray, fps: float | None = 30.0, path: str = "memory://clip",
                 decode_delay: float = 0.0):
        frames = np.asarray(frames, np.uint8)
        super().__init__(path, n_frames=len(frames), width=frames.shape[2], height=frames.shape[1], fps=fps,
                         is_color=frames.ndim == 4)
        if len(frames) == 1:
            self.kind = "still"
        self._data = frames
        self.decode_delay = decode_delay
        self.decode_count = 0

    def _decode(self, i: int) -> np.ndarray:
        self.decode_count += 1
        if self.decode_delay:
            time.sleep(self.decode_delay)
        return self._data[i].copy()


def open_shifted_clip(view, n: int = 10, k: int = 3, source=None, clip_key: str | None = None):
    """Show ``test_core_propagate.shifted_clip(n, k)`` (a texture moving ``k`` px a frame) in ``view``, decoded and
    on screen; returns (frames, exact masks)."""
    from test_core_propagate import shifted_clip

    frames, masks = shifted_clip(n, k=k)
    view.set_clip("R1", ArrayClip(frames, path="memory://shift"), mask_source=source, clip_key=clip_key)
    assert view.frames.wait_until_cached()
    view._show(view.current_frame)
    return frames, masks


def label_frame(view, frame: int, mask: np.ndarray) -> None:
    """Make ``frame`` FINAL with ``mask`` the way a clinician does: edit it (one undo step)."""
    view.seek(frame)
    m = view.begin_edit()
    before = m.copy()
    m[...] = mask
    view.end_edit(before, None, "test edit")


def moving_disc_clip(n: int = 40, h: int = 96, w: int = 128, fps: float = 30.0, **kw) -> ArrayClip:
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.zeros((n, h, w), np.uint8)
    for i in range(n):
        frames[i] = np.where((xx - (10 + 2 * i) % w) ** 2 + (yy - h // 2) ** 2 < 100, 220, 30)
    return ArrayClip(frames, fps=fps, **kw)


class FakeSegResult:
    def __init__(self, indices, masks):
        self.indices, self.masks = list(indices), masks


class FakeEngine:
    """FAKE engine (same interface as lusapp.model.engine.Engine.segment) used ONLY by the worker-scheduling
    tests: the mask of frame i is filled with value i % 5, each call sleeps ``delay`` seconds (off the GUI
    thread) and every call's indices are recorded in order."""

    model_id = "fake-0.0.1"
    findings = None  # no findings head: masks are not gated

    def __init__(self, delay: float = 0.03):
        self.delay = delay
        self.calls: list[list[int]] = []
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def segment(self, clip, indices, crop=None):
        with self._lock:
            self.calls.append(list(indices))
            self.threads.add(threading.get_ident())
        time.sleep(self.delay)
        masks = [np.full((clip.height, clip.width), i % 5, np.uint8) for i in indices]
        return FakeSegResult(indices, masks)

    # The rest of lusapp.model.contract.ReviewEngine: the live-mask worker must never call these.
    def clip_report(self, clip):
        raise AssertionError("the worker asked a model without a findings head for a clip report")

    def score_zone(self, features):
        raise AssertionError("the live-mask worker does not score zones")

    def assess(self, patient, media, clinical=None, n_frames=30, samplings=1, measure_frames=6, progress=None):
        raise AssertionError("the live-mask worker does not assess patients")
