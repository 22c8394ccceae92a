"""Closing the app does not wait for a network pass: the live-mask worker's pass in flight is stopped
(ONNX Runtime's terminate flag, per thread), other threads' passes go on, and nothing is reported as a failure."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from gui_clip_support import FakeEngine, FakeSegResult, moving_disc_clip
from lusapp.core.errors import RunCancelled
from lusapp.gui.seg_worker import SegWorker


@pytest.fixture(scope="module")
def engine():
    from lusapp.model.assess_cli import load_model
    from lusapp.model.engine import Engine

    e = Engine(load_model(None), threads=2, batch_size=16, backend="onnx")
    e.warm_up()
    return e


def test_a_threads_canceller_stops_its_passes_and_no_other_threads(engine):
    x = np.random.default_rng(0).random((64, 1, *engine.size), dtype=np.float32)
    started, outcome, cancel_box = threading.Event(), {}, {}

    def live_worker():
        cancel_box["cancel"] = engine.run_canceller()
        started.set()
        try:
            for _ in range(1000):  # passes until one is stopped (in flight, or refused at its start)
                engine.backend.frames(x, True)
            outcome["result"] = "never stopped"
        except RunCancelled:
            outcome["result"] = "cancelled"
            try:
                engine.backend.frames(x[:1], False)
                outcome["after"] = "ran"
            except RunCancelled:
                outcome["after"] = "refused"

    t = threading.Thread(target=live_worker)
    t.start()
    assert started.wait(30)
    cancel_box["cancel"]()
    t.join(60)
    assert not t.is_alive()
    assert outcome == {"result": "cancelled", "after": "refused"}
    feats, labels, _ = engine.backend.frames(x[:4], True)  # this thread's passes are not affected
    assert feats.shape[0] == 4 and labels.shape[0] == 4


class _PassInFlight(FakeEngine):
    """FAKE engine for the worker test: its pass blocks until its thread's canceller is called."""

    def __init__(self):
        super().__init__(delay=0.0)
        self.in_flight, self.cancelled = threading.Event(), threading.Event()

    def run_canceller(self):
        return self.cancelled.set

    def segment(self, clip, indices, crop=None):
        self.in_flight.set()
        if self.cancelled.wait(30):
            raise RunCancelled("frame pass cancelled")
        return FakeSegResult(indices, [np.zeros((clip.height, clip.width), np.uint8) for _ in indices])


def test_worker_shutdown_stops_the_pass_in_flight_instead_of_waiting(qtbot):
    engine = _PassInFlight()
    w = SegWorker(engine, batch_size=4)
    failures = []
    w.failed.connect(lambda key, msg: failures.append(msg))
    w.start("zone", moving_disc_clip(n=8))
    assert engine.in_flight.wait(10)
    w.shutdown(timeout_ms=5000)  # the pass would block for 30 s if it were waited for
    assert engine.cancelled.is_set()
    assert w._thread.isFinished()
    qtbot.wait(50)
    assert failures == []
