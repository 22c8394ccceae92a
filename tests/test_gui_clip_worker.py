"""Live masks: the segmentation worker (scheduling with a FAKE engine, then the real Engine on a random-init
bundle), the view's MODEL/FINAL/ORIGINAL handling, and the frame prefetch cache."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from gui_clip_support import FakeEngine, moving_disc_clip
from lusapp.core.labels import B_LINE
from lusapp.gui.clip_view import ClipView
from lusapp.review.frame_cache import CachedClip, FrameCache
from lusapp.review.mask_source import MemoryMaskSource
from lusapp.gui.seg_worker import SegWorker
from lusapp.review.mask_cache import MaskCache, next_batch


@pytest.fixture
def worker():
    w = SegWorker(batch_size=4)
    yield w
    w.shutdown()


def test_next_batch_goes_forward_from_the_play_head_and_wraps():
    assert next_batch(10, 7, set(), 4) == [7, 8, 9, 0]
    assert next_batch(10, 7, {7, 8}, 3) == [9, 0, 1]
    assert next_batch(10, 0, set(range(10)), 4) == []
    c = MaskCache(max_bytes=250)
    c.put("a", 0, np.zeros(100, np.uint8))
    c.put("b", 0, np.zeros(100, np.uint8))
    c.put("b", 1, np.zeros(100, np.uint8))  # over budget: the least recently used clip goes
    assert c.get("a", 0) is None and c.frames("b") == {0, 1}


def test_fake_engine_worker_delivers_ahead_while_gui_stays_responsive(qtbot, worker):
    """FAKE engine (scheduling only): masks arrive for the frames ahead of the play head, in order of
    distance, from another thread, while a 5 ms QTimer on the GUI thread keeps ticking."""
    engine = FakeEngine(delay=0.04)
    worker.set_engine(engine)
    clip = moving_disc_clip(n=24)
    got: list[int] = []
    worker.maskReady.connect(lambda key, i, m: got.append(i) if key == "k1" else None)
    ticks = [0]
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start(5)
    t0 = time.perf_counter()
    worker.start("k1", clip, playhead=10)
    qtbot.waitUntil(lambda: len(got) >= 12, timeout=5000)
    elapsed = time.perf_counter() - t0
    timer.stop()
    assert got[:12] == list(range(10, 22))
    assert ticks[0] >= 0.4 * elapsed / 0.005  # the GUI thread was free while the model ran
    assert threading.get_ident() not in engine.threads
    m = worker.cached("k1", 13)
    assert m.shape == (clip.height, clip.width) and (m == 13 % 5).all()
    done = []
    worker.clipDone.connect(done.append)
    qtbot.waitUntil(lambda: done == ["k1"], timeout=5000)
    assert sorted(got) == list(range(24)) and worker.model_id == "fake-0.0.1"


def test_fake_engine_seek_reprioritises_and_zone_change_cancels(qtbot, worker):
    """FAKE engine (scheduling only)."""
    engine = FakeEngine(delay=0.05)
    worker.set_engine(engine)
    got: list[tuple[str, int]] = []
    worker.maskReady.connect(lambda key, i, m: got.append((key, i)))
    worker.start("a", moving_disc_clip(n=60), playhead=0)
    qtbot.waitUntil(lambda: len(engine.calls) >= 1, timeout=3000)
    worker.set_playhead(40)
    qtbot.waitUntil(lambda: len(engine.calls) >= 3, timeout=3000)
    assert engine.calls[0] == [0]  # the frame on screen first, alone
    assert any(call == [40] for call in engine.calls[1:3])  # the next batch after the seek is frame 40
    qtbot.waitUntil(lambda: [41, 42, 43, 44] in engine.calls, timeout=3000)  # then full batches ahead
    worker.start("b", moving_disc_clip(n=10), playhead=0)  # zone change
    n_calls = len(engine.calls)
    qtbot.waitUntil(lambda: any(k == "b" for k, _ in got), timeout=3000)
    switch = next(j for j, (k, _) in enumerate(got) if k == "b")
    qtbot.wait(150)
    assert all(k == "b" for k, _ in got[switch:])  # nothing of "a" after "b" started
    assert sum(1 for c in engine.calls[n_calls:] if max(c) >= 10) <= 1  # at most the batch already picked
    worker.cancel()
    qtbot.wait(120)
    calls_after_cancel = len(engine.calls)
    qtbot.wait(200)
    assert len(engine.calls) == calls_after_cancel


def test_view_shows_model_masks_and_saves_original_on_first_edit(qtbot, worker):
    """FAKE engine (scheduling only): MODEL badge, FINAL precedence, ORIGINAL kept beside FINAL."""
    worker.set_engine(FakeEngine(delay=0.01))
    view = ClipView(seg_worker=worker)
    qtbot.addWidget(view)
    clip = moving_disc_clip(n=12)
    final = np.full((clip.height, clip.width), B_LINE, np.uint8)
    originals, finals = [], []
    view.originalCaptured.connect(lambda z, f, m, v: originals.append((z, f, m, v)))
    view.maskEdited.connect(lambda z, f, m: finals.append((z, f, m)))
    view.set_clip("L4", clip, MemoryMaskSource({0: final}))
    assert view.frames.wait_until_cached()
    assert view.mask_kind(0) == "FINAL"
    view.seek(3)
    qtbot.waitUntil(lambda: view.last_kind == "MODEL", timeout=3000)
    assert view.badge.text().strip() == "MODEL"
    view.tool_brush()
    view.controller.press(5, 5)
    view.controller.release(5, 5)
    assert [(z, f, v) for z, f, _, v in originals] == [("L4", 3, "fake-0.0.1")]
    assert (originals[0][2] == 3).all()  # the model's mask, before the edit
    assert finals[-1][1] == 3 and finals[-1][2][5, 5] == view.controller.edit_class
    assert view.mask_kind(3) == "FINAL" and view.badge.text().strip() == "FINAL"
    view.controller.press(9, 9)
    view.controller.release(9, 9)
    assert len(originals) == 1  # only once per frame
    view.set_clip("L5", None)
    assert worker.current_key is None
    view.shutdown()


def test_real_engine_random_bundle_through_the_worker(qtbot, tmp_path, worker):
    """The real Engine on a random-init bundle: masks in original coordinates, uint8 labels 0..4."""
    from lusapp.model.bundle import load_bundle, save_bundle
    from lusapp.model.engine import Engine
    from lusapp.model.networks import SegNet

    import torch
    torch.manual_seed(0)
    bdir = save_bundle(tmp_path / "bundle", SegNet(), manifest_fields={"name": "rand", "version": "0.0.1"})
    engine = Engine(load_bundle(bdir))
    worker.set_engine(engine)
    clip = moving_disc_clip(n=10, h=120, w=160)
    cache = FrameCache(clip)
    got: dict[int, np.ndarray] = {}
    worker.maskReady.connect(lambda key, i, m: got.__setitem__(i, m))
    worker.start("real", CachedClip(cache), playhead=6)
    qtbot.waitUntil(lambda: len(got) == 10, timeout=20000)
    cache.close()
    assert min(got) == 0 and max(got) == 9
    for m in got.values():
        assert m.dtype == np.uint8 and m.shape == (120, 160) and int(m.max()) <= 4
    assert worker.model_id == engine.model_id
    assert engine.stats["frames_run"] >= 10


def test_frame_cache_prefetches_ahead_and_respects_its_budget():
    clip = moving_disc_clip(n=30, decode_delay=0.001)
    cache = FrameCache(clip)
    assert cache.wait_until_cached(timeout=10)
    assert cache.cached_count() == 30
    decoded = clip.decode_count
    np.testing.assert_array_equal(cache.get(17), clip.read(17))
    assert clip.decode_count == decoded  # served from the cache
    cache.close()
    frame_bytes = clip.height * clip.width
    small = FrameCache(moving_disc_clip(n=30), max_bytes=10 * frame_bytes)
    small.set_playhead(20)
    small.wait_until_cached(10, timeout=10)
    time.sleep(0.05)
    assert small.cached_count() <= 10 and small.peek(20) is not None and small.peek(29) is not None
    wrapped = CachedClip(small)
    assert wrapped.read_gray(3).shape == (clip.height, clip.width) and wrapped.n_frames == 30
    small.close()


def test_view_follows_a_clip_that_turns_out_shorter_than_declared(qtbot):
    """Readers correct n_frames when a container over-counts; the cache, the slider and playback follow."""
    from gui_clip_support import ArrayClip

    class OverCounted(ArrayClip):
        def _decode(self, i):
            real = len(self._data)
            if i >= real:
                self.n_frames = real
                return self._data[real - 1].copy()
            return self._data[i].copy()

    frames = moving_disc_clip(n=20)._data
    clip = OverCounted(frames)
    clip.n_frames = 30  # what the container declared
    view = ClipView()
    qtbot.addWidget(view)
    view.set_clip("R1", clip)
    qtbot.waitUntil(lambda: view.playback.n_frames == 20, timeout=3000)
    assert view.transport.slider.maximum() == 19 and view.frames.n_frames == 20
    assert max(k for k in range(30) if view.frames.peek(k) is not None) <= 19
    view.shutdown()


def test_mask_budget_smaller_than_the_clip_keeps_a_window_ahead_of_the_play_head(qtbot):
    """FAKE engine (scheduling only): a long clip whose masks exceed the budget is segmented in a window
    ahead of the play head; a seek moves the window."""
    clip = moving_disc_clip(n=40)
    per = clip.height * clip.width
    w = SegWorker(FakeEngine(delay=0.005), batch_size=4, max_cache_bytes=10 * per)
    try:
        w.start("long", clip, playhead=5)
        qtbot.waitUntil(lambda: w.cache.frames("long") == set(range(5, 15)), timeout=3000)
        qtbot.wait(100)
        assert w.cache.frames("long") == set(range(5, 15)) and w.cache.nbytes <= 10 * per  # no thrashing
        w.set_playhead(30)
        qtbot.waitUntil(lambda: set(range(30, 38)) <= w.cache.frames("long"), timeout=3000)
        assert len(w.cache.frames("long")) <= 10
    finally:
        w.shutdown()
    assert next_batch(40, 38, set(), 4, window=3) == [38, 39, 0]


def test_engine_failure_is_reported_once_and_the_worker_survives(qtbot, worker):
    """FAKE engine (scheduling only) that raises: one 'failed' signal naming the problem, then a new job
    still runs."""

    class Broken(FakeEngine):
        def segment(self, clip, indices, crop=None):
            raise OSError("R1.mp4: decoder lost")

    failures = []
    worker.failed.connect(lambda key, msg: failures.append((key, msg)))
    worker.set_engine(Broken())
    worker.start("bad", moving_disc_clip(n=6))
    qtbot.waitUntil(lambda: failures == [("bad", "R1.mp4: decoder lost")], timeout=3000)
    qtbot.wait(100)
    assert len(failures) == 1
    got = []
    worker.maskReady.connect(lambda k, i, m: got.append(i))
    worker.set_engine(FakeEngine(delay=0.0))
    worker.start("good", moving_disc_clip(n=6))
    qtbot.waitUntil(lambda: len(got) == 6, timeout=3000)


def test_a_worker_dropped_without_shutdown_ends_its_thread(qtbot):
    import gc

    import shiboken6
    from PySide6.QtCore import QObject

    w = SegWorker(FakeEngine(delay=0.0))
    w.start("x", moving_disc_clip(n=4))
    thread = w._thread
    del w
    gc.collect()
    qtbot.waitUntil(thread.isFinished, timeout=3000)
    parent = QObject()
    w2 = SegWorker(parent=parent)
    thread2 = w2._thread
    shiboken6.delete(parent)  # the parent takes the worker's C++ object with it
    qtbot.waitUntil(thread2.isFinished, timeout=3000)
