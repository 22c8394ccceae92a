"""Run a function off the GUI thread and get its result (or error) back on the GUI thread as a signal.

    job = run_job(engine.assess, patient, on_done=show, on_error=report)

``Job`` objects are QObjects living on the GUI thread; the function runs in ``QThreadPool.globalInstance()``
(or a given pool). Results are delivered by queued signals, so slots run on the GUI thread.
The module keeps a reference to running jobs so nobody has to hold one. A failed job's traceback goes to the
log (``lusapp.logs``: the app's log file) before ``failed`` is emitted, so the slots that show the user one
sentence (the session's, the model controller's) lose nothing.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from lusapp.core.errors import LusError

_log = logging.getLogger(__name__)


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(object, str)  # exception, formatted traceback
    progress = Signal(int, str)


class Job(QObject):
    """One background call. ``finished`` / ``failed`` are emitted on the GUI thread, exactly one of them."""

    finished = Signal(object)
    failed = Signal(object, str)
    progress = Signal(int, str)

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any):
        super().__init__()
        self.name = name or getattr(fn, "__name__", "job")
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._relay = _Relay()
        self._relay.done.connect(self._on_done)
        self._relay.failed.connect(self._on_failed)
        self._relay.progress.connect(self.progress)
        self.running = False
        self.result: Any = None
        self.error: BaseException | None = None

    def report(self, pct: int, message: str = "") -> None:
        """Thread-safe progress report, callable from inside the job's function."""
        self._relay.progress.emit(int(pct), message)

    def _run(self) -> None:  # worker thread
        try:
            result = self._fn(*self._args, **self._kwargs)
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the GUI as an error
            self._relay.failed.emit(exc, traceback.format_exc())
        else:
            self._relay.done.emit(result)

    @Slot(object)
    def _on_done(self, result: Any) -> None:
        self.running = False
        self.result = result
        _RUNNING.discard(self)
        self.finished.emit(result)

    @Slot(object, str)
    def _on_failed(self, exc: BaseException, tb: str) -> None:
        self.running = False
        self.error = exc
        _RUNNING.discard(self)
        expected = isinstance(exc, (LusError, OSError))  # a damaged file, a locked store: told to the user as is
        _log.log(logging.WARNING if expected else logging.ERROR, "job %r failed: %s: %s\n%s", self.name,
                 type(exc).__name__, exc, tb.rstrip())
        self.failed.emit(exc, tb)


class _Runnable(QRunnable):
    def __init__(self, job: Job):
        super().__init__()
        self._job = job
        self.setAutoDelete(True)

    def run(self) -> None:
        self._job._run()


_RUNNING: set[Job] = set()


def run_job(fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[BaseException, str], None] | None = None, pool: QThreadPool | None = None,
            name: str = "", **kwargs: Any) -> Job:
    """Start ``fn(*args, **kwargs)`` in the pool; returns the :class:`Job` (already started)."""
    job = Job(fn, *args, name=name, **kwargs)
    if on_done is not None:
        job.finished.connect(on_done)
    if on_error is not None:
        job.failed.connect(on_error)
    return start_job(job, pool)


def start_job(job: Job, pool: QThreadPool | None = None) -> Job:
    """Start a Job built beforehand (so its function can refer to the job, e.g. to ``report`` progress)."""
    job.running = True
    _RUNNING.add(job)
    (pool or QThreadPool.globalInstance()).start(_Runnable(job))
    return job


def wait_all(timeout_ms: int = 30000, pool: QThreadPool | None = None) -> bool:
    """Block until the pool is idle (used at shutdown and in tests)."""
    return (pool or QThreadPool.globalInstance()).waitForDone(timeout_ms)
