"""Live masks: a worker thread segments batches of frames ahead of the play head and emits them.

    worker = SegWorker(engine)
    worker.mask_ready.connect(view.on_mask_ready)      # (clip key, frame index, uint8 HxW mask)
    worker.start("R1:/path/R1.mp4", clip)               # a new clip/zone: the old job is cancelled
    worker.set_playhead(40)                              # seek: the next batch starts at frame 40

The worker owns one ``QThread`` whose loop waits on a condition variable; the GUI thread only sets
fields under a lock and never waits for the model. A batch in flight when the zone changes is finished
by the engine but its masks are dropped (generation counter). Masks are cached per clip key (LRU by
bytes), so coming back to a zone shows its masks at once.
"""

from __future__ import annotations

import logging
import threading
import traceback
import weakref
from collections import OrderedDict

import numpy as np
import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

DEFAULT_MASK_BUDGET = 384 << 20
_log = logging.getLogger(__name__)


def clip_findings(engine, clip, crop=None):
    """The clip's findings when the engine's model has a findings head (else None): the live masks then leave
    out the B-line / consolidation pixels of a finding the head calls absent (lusapp.model.clip_report
    .gate_labels), as the assessment's rule score does. A failure here only means ungated masks."""
    if getattr(engine, "findings", None) is None:
        return None
    try:
        if crop is not None:
            engine.segment(clip, [0], crop=crop)  # the user's crop becomes the clip's crop first
        return engine.clip_report(clip).findings
    except Exception:  # noqa: BLE001 - masks without gating are still masks
        _log.warning("findings of %s failed:\n%s", getattr(clip, "path", clip), traceback.format_exc())
        return None


def gate_labels(mask: np.ndarray, findings) -> np.ndarray:
    if findings is None:
        return mask
    from lusapp.model.clip_report import gate_labels as gate

    return gate(mask, findings)


def next_batch(n_frames: int, playhead: int, done: set[int], size: int, window: int | None = None) -> list[int]:
    """The next ``size`` frames to segment: the first not yet done going forward from the play head,
    wrapping around (so the frames the viewer is about to see come first), within ``window`` frames of
    the play head (default: the whole clip)."""
    out: list[int] = []
    if n_frames <= 0:
        return out
    start = int(playhead) % n_frames
    for k in range(n_frames if window is None else min(n_frames, max(1, int(window)))):
        i = (start + k) % n_frames
        if i not in done:
            out.append(i)
            if len(out) >= size:
                break
    return out


class MaskCache:
    """Model masks per clip key within ``max_bytes``: least-recently-used clips go first; when the clip in
    view alone is too big (long high-resolution cine loops), its frames farthest behind the play head go,
    and :meth:`window` tells the worker how far ahead of the play head it may segment."""

    def __init__(self, max_bytes: int = DEFAULT_MASK_BUDGET):
        self.max_bytes = int(max_bytes)
        self._clips: OrderedDict[str, dict[int, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str, frame: int) -> np.ndarray | None:
        with self._lock:
            masks = self._clips.get(key)
            return None if masks is None else masks.get(int(frame))

    def frames(self, key: str) -> set[int]:
        with self._lock:
            return set(self._clips.get(key, ()))

    def put(self, key: str, frame: int, mask: np.ndarray, playhead: int = 0, n_frames: int = 0) -> None:
        with self._lock:
            masks = self._clips.setdefault(key, {})
            self._clips.move_to_end(key)
            old = masks.get(int(frame))
            self._bytes += mask.nbytes - (old.nbytes if old is not None else 0)
            masks[int(frame)] = mask
            while self._bytes > self.max_bytes and len(self._clips) > 1:
                _, dropped = self._clips.popitem(last=False)
                self._bytes -= sum(m.nbytes for m in dropped.values())
            n = max(int(n_frames), max(masks) + 1)
            while self._bytes > self.max_bytes and len(masks) > 1:
                victim = max(masks, key=lambda f: (f - int(playhead)) % n)  # farthest behind the play head
                self._bytes -= masks.pop(victim).nbytes

    def window(self, key: str, n_frames: int) -> int:
        """How many frames from the play head fit in the budget (all of them for ordinary clips)."""
        with self._lock:
            masks = self._clips.get(key)
            if not masks:
                return int(n_frames)
            per = max(1, next(iter(masks.values())).nbytes)
            return int(min(n_frames, max(1, self.max_bytes // per)))

    def touch(self, key: str) -> None:
        with self._lock:
            if key in self._clips:
                self._clips.move_to_end(key)

    @property
    def nbytes(self) -> int:
        return self._bytes


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

    mask_ready = Signal(str, int, object)  # clip key, frame index, uint8 HxW mask (original coordinates)
    failed = Signal(str, str)  # clip key, message
    clip_done = Signal(str)  # every frame of the clip has a mask

    def __init__(self, engine=None, batch_size: int = 8, max_cache_bytes: int = DEFAULT_MASK_BUDGET,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._engine = engine
        self.batch_size = max(1, int(batch_size))
        self.cache = MaskCache(max_cache_bytes)
        self._cond = threading.Condition()
        self._job: _Job | None = None
        self._generation = 0
        self._stop = False
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
    def model_version(self) -> str:
        eng = self._engine
        for attr in ("model_id", "model_version", "version"):
            v = getattr(eng, attr, None)
            if isinstance(v, str) and v:
                return v
        bundle = getattr(eng, "bundle", None)
        v = getattr(bundle, "version", None)
        return f"{getattr(bundle, 'name', 'model')}-{v}" if v else ""

    def set_engine(self, engine) -> None:
        """A new model: cached masks belong to the old one, so they are dropped and the job restarts."""
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
        """Stop the thread (idempotent); a batch in flight finishes first."""
        with self._cond:
            self._stop = True
            self._job = None
            self._cond.notify_all()
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
                    self.clip_done.emit(job.key)
                self.busy = False
                self._cond.wait(0.5)
                return not self._stop
            self.busy = True
        job, generation, engine, batch = work
        if not job.findings_done:
            job.findings = clip_findings(engine, job.clip, job.crop)
            job.findings_done = True
        try:
            if job.crop is not None:
                result = engine.segment(job.clip, batch, crop=job.crop)
            else:
                result = engine.segment(job.clip, batch)
            indices = [int(i) for i in getattr(result, "indices", None) or batch]
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
            self.mask_ready.emit(job.key, i, m)
        return True
