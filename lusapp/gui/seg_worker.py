"""Live masks: a worker thread segments batches of frames ahead of the play head and emits them.

    worker = SegWorker(engine)
    worker.maskReady.connect(view.on_mask_ready)      # (clip key, frame index, uint8 HxW mask)
    worker.start("R1:/path/R1.mp4", clip)               # a new clip/zone: the old job is cancelled
    worker.set_playhead(40)                              # seek: the next batch starts at frame 40

The worker owns one ``QThread`` whose loop waits on a condition variable; the GUI thread only sets
fields under a lock and never waits for the model. A batch in flight when the zone changes is finished
by the engine but its masks are dropped (generation counter); at ``shutdown`` the pass in flight is stopped
(``Engine.run_canceller``), so closing the app does not wait for it. Masks are cached per clip key (LRU by
bytes; the Qt-free ``lusapp.review.mask_cache``), so coming back to a zone shows its masks at once.
"""

from __future__ import annotations

import logging
import threading
import traceback
import weakref

import numpy as np
import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

from lusapp.core.errors import RunCancelled
from lusapp.model.contract import ReviewEngine
from lusapp.review.mask_cache import DEFAULT_MASK_BUDGET, MaskCache, next_batch

_log = logging.getLogger(__name__)


def clip_findings(engine: ReviewEngine, clip, crop=None):
    """The clip's findings when the engine's model has a findings head (else None): the live masks then leave
    out the B-line / consolidation pixels of a finding the head calls absent (lusapp.model.clip_report
    .gate_labels), as the assessment's rule score does. A failure here only means ungated masks."""
    if engine.findings is None:
        return None
    try:
        if crop is not None:
            engine.segment(clip, [0], crop=crop)  # the user's crop becomes the clip's crop first
        return engine.clip_report(clip).findings
    except RunCancelled:  # the worker is shutting down
        return None
    except Exception:  # noqa: BLE001 - masks without gating are still masks
        _log.warning("findings of %s failed:\n%s", getattr(clip, "path", clip), traceback.format_exc())
        return None


def _check_engine(engine) -> None:
    if engine is not None and not isinstance(engine, ReviewEngine):
        raise TypeError(f"{type(engine).__name__} is not an engine (lusapp.model.contract.ReviewEngine: model_id, "
                        "findings, segment, clip_report, score_zone, assess)")


def gate_labels(mask: np.ndarray, findings) -> np.ndarray:
    if findings is None:
        return mask
    from lusapp.model.clip_report import gate_labels as gate

    return gate(mask, findings)


class _Job:
    def __init__(self, key: str, clip, crop, generation: int):
        self.key, self.clip, self.crop, self.generation = key, clip, crop, generation
        self.n_frames = int(clip.n_frames)
        self.playhead = 0
        self.failed = False
        self.findings = None  # the clip's findings (models with a findings head), judged once per job
        self.findings_done = False


_THREADS: set["_Loop"] = set()  # a QThread must outlive its run(): these are never destroyed while running


class _Loop(QThread):
    """Holds its SegWorker only weakly between steps, so a worker that is dropped (or whose C++ object a
    parent deleted) without ``shutdown()`` lets the thread end by itself instead of aborting the process."""

    def __init__(self, worker: "SegWorker"):
        super().__init__()
        self._ref = weakref.ref(worker)
        self.setObjectName("lusapp-seg-worker")

    def run(self) -> None:
        while True:
            worker = self._ref()
            if worker is None or not shiboken6.isValid(worker):
                return
            try:
                if not worker._step():
                    return
            except RuntimeError:  # the worker's C++ object is gone (its parent was deleted)
                return
            finally:
                del worker


class SegWorker(QObject):
    """Segments frames of the clip in view, ahead of the play head, in its own thread."""

    maskReady = Signal(str, int, object)  # clip key, frame index, uint8 HxW mask (original coordinates)
    failed = Signal(str, str)  # clip key, message
    clipDone = Signal(str)  # every frame of the clip has a mask

    def __init__(self, engine=None, batch_size: int = 8, max_cache_bytes: int = DEFAULT_MASK_BUDGET,
                 parent: QObject | None = None):
        super().__init__(parent)
        _check_engine(engine)
        self._engine = engine
        self.batch_size = max(1, int(batch_size))
        self.cache = MaskCache(max_cache_bytes)
        self._cond = threading.Condition()
        self._job: _Job | None = None
        self._generation = 0
        self._stop = False
        self._cancel_run = None  # stops the worker thread's network pass in flight (set by that thread)
        self.batches_run = 0
        self.busy = False
        self._announced: set[tuple[str, int]] = set()
        for t in [t for t in _THREADS if t.isFinished()]:
            _THREADS.discard(t)
        self._thread = _Loop(self)
        _THREADS.add(self._thread)
        self._thread.start()
        app = QCoreApplication.instance()
        if app is not None:  # never leave a running QThread behind at exit
            app.aboutToQuit.connect(self.shutdown)

    # -- GUI-thread API (never blocks on the model) ----------------------------------------------
    @property
    def engine(self):
        return self._engine

    @property
    def model_id(self) -> str:
        """The identity of the model making the masks ('' without one): written with the masks it made."""
        return self._engine.model_id if self._engine is not None else ""

    def set_engine(self, engine: ReviewEngine | None) -> None:
        """A new model: cached masks belong to the old one, so they are dropped and the job restarts."""
        _check_engine(engine)
        with self._cond:
            self._engine = engine
            self.cache = MaskCache(self.cache.max_bytes)
            if self._job is not None:
                self._generation += 1
                self._job.generation = self._generation
            self._cond.notify_all()

    def start(self, key: str, clip, crop=None, playhead: int = 0) -> None:
        """Segment ``clip`` (any object with the Clip interface) under ``key``; cancels the previous job."""
        with self._cond:
            self._generation += 1
            self._job = _Job(str(key), clip, crop, self._generation)
            self._job.playhead = int(playhead)
            self.cache.touch(str(key))
            self._cond.notify_all()

    def set_playhead(self, frame: int) -> None:
        with self._cond:
            if self._job is not None and self._job.playhead != int(frame):
                self._job.playhead = int(frame)
                self._cond.notify_all()

    def cancel(self) -> None:
        """Stop work on the current clip (zone change); its finished masks stay cached."""
        with self._cond:
            self._generation += 1
            self._job = None
            self._cond.notify_all()

    @property
    def current_key(self) -> str | None:
        job = self._job
        return job.key if job is not None else None

    def cached(self, key: str, frame: int) -> np.ndarray | None:
        return self.cache.get(key, frame)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Stop the thread (idempotent); a network pass in flight is stopped, not waited for (ONNX Runtime)."""
        with self._cond:
            self._stop = True
            self._job = None
            cancel = self._cancel_run
            self._cond.notify_all()
        if cancel is not None:
            cancel()
        self._thread.wait(timeout_ms)

    # -- worker thread ---------------------------------------------------------------------------
    def _pick(self):
        """Under the lock: (job, generation, engine, batch) of the next piece of work, or None."""
        job, engine = self._job, self._engine
        if job is None or engine is None or job.failed:
            return None
        n = min(job.n_frames, int(job.clip.n_frames))  # readers may find fewer frames than declared
        window = self.cache.window(job.key, n)
        done = self.cache.frames(job.key)
        # the frame on screen has no mask yet (new clip, seek): a small batch shows it sooner
        size = self.batch_size if job.playhead % max(1, n) in done else max(1, self.batch_size // 4)
        batch = next_batch(n, job.playhead, done, size, window)
        if not batch:
            return None
        return job, job.generation, engine, batch  # priority order: nearest ahead of the play head first

    def _step(self) -> bool:
        """One piece of work (or a short wait for some); False when the worker is shut down."""
        with self._cond:
            if self._stop:
                self.busy = False
                return False
            work = self._pick()
            if work is None:
                job = self._job
                if job is not None and not job.failed and self._engine is not None \
                        and (job.key, job.generation) not in self._announced:
                    self._announced.add((job.key, job.generation))
                    self.clipDone.emit(job.key)
                self.busy = False
                self._cond.wait(0.5)
                return not self._stop
            self.busy = True
        job, generation, engine, batch = work
        make_canceller = getattr(engine, "run_canceller", None)
        if make_canceller is not None:
            cancel = make_canceller()
            with self._cond:
                self._cancel_run = cancel
                if self._stop:  # shut down while this step started: do not start a pass
                    self.busy = False
                    return False
        if not job.findings_done:
            job.findings = clip_findings(engine, job.clip, job.crop)
            job.findings_done = True
        try:
            result = engine.segment(job.clip, batch, crop=job.crop)
            indices = [int(i) for i in result.indices]
            masks = [gate_labels(np.asarray(m, dtype=np.uint8), job.findings) for m in result.masks]
        except Exception as exc:  # noqa: BLE001 - report and stop this job, keep the thread alive
            with self._cond:
                job.failed = True
                stale = generation != job.generation or self._job is not job
            if not stale:
                _log.error("segmentation of %s failed:\n%s", job.key, traceback.format_exc())
                self.failed.emit(job.key, str(exc) or type(exc).__name__)
            return True
        with self._cond:
            self.batches_run += 1
            if generation != job.generation or self._stop:
                return True  # cancelled or model changed while the batch ran: drop it
            cache = self.cache
            n = min(job.n_frames, int(job.clip.n_frames))
            for i, m in zip(indices, masks):
                cache.put(job.key, i, m, job.playhead, n)
        for i, m in zip(indices, masks):
            self.maskReady.emit(job.key, i, m)
        return True
