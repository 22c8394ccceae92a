"""The model controller: loads the registry's active bundle into an :class:`~lusapp.model.engine.Engine`
off the GUI thread (ONNX Runtime sessions are created and warmed up there, after the window is shown; torch
only for a bundle without ONNX graphs) and runs assessments in a worker.

Signals carry the engine and its version to whoever needs them (the clip view's SegWorker, the
severity panel, the about dialog). ``reload()`` switches to the newest published model after finetune.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from lusapp.gui.workers import Job, run_job, start_job


def load_active(user_dir: str | None = None, bundled_dir: str | None = None) -> tuple[Any, str]:
    """(Engine, "name version") of the registry's active model; runs in a worker thread. Default folders:
    the registry's (bundled ``resources/models``, user ``$LUSAPP_MODELS_DIR`` or the user data folder)."""
    from lusapp.model.engine import Engine
    from lusapp.model.registry import ModelRegistry

    reg = ModelRegistry(bundled_dir=bundled_dir, user_dir=user_dir)
    bundle = reg.load_active()  # BundleError (naming the folder) when none is installed or it is damaged
    engine = Engine(bundle)
    engine.warm_up()  # the first run of each session allocates: not on the first live frame
    return engine, f"{bundle.name} {bundle.version}"


class ModelController(QObject):
    engineChanged = Signal(object)     # Engine | None
    loadingChanged = Signal(bool)
    loadFailed = Signal(str)           # message naming the bundle and the problem

    def __init__(self, parent: QObject | None = None, loader: Callable[[], tuple[Any, str]] | None = None):
        super().__init__(parent)
        self.engine: Any = None
        self.description = "not loaded"
        self.loading = False
        self._loader = loader or load_active
        self._job: Job | None = None

    @property
    def version(self) -> str:
        """The active model's version ('' when none)."""
        b = getattr(self.engine, "bundle", None)
        return str(b.version) if b is not None else ""

    @property
    def model_id(self) -> str:
        """The active model's identity ('lus-staged-1.2.0'; '' when none), as masks and scores record it."""
        return self.engine.model_id if self.engine is not None else ""

    def set_engine(self, engine: Any, description: str | None = None) -> None:
        self.engine = engine
        b = getattr(engine, "bundle", None)
        self.description = description or (f"{b.name} {b.version}" if b is not None else "none")
        self.engineChanged.emit(engine)

    def reload(self) -> Job | None:
        """(Re)load the active model in a worker; ``engineChanged`` when done."""
        if self.loading:
            return self._job
        self.loading = True
        self.loadingChanged.emit(True)
        self._job = run_job(self._loader, on_done=self._loaded, on_error=self._failed, name="load model")
        return self._job

    def _loaded(self, result: tuple[Any, str]) -> None:
        self.loading = False
        self.loadingChanged.emit(False)
        engine, desc = result
        self.set_engine(engine, desc)

    def _failed(self, exc: BaseException, _tb: str) -> None:
        self.loading = False
        self.loadingChanged.emit(False)
        self.description = f"failed to load ({exc})"
        self.loadFailed.emit(str(exc))

    # ------------------------------------------------------------------ assessment
    def assess(self, session, on_done: Callable[[Any], None],
               on_error: Callable[[BaseException, str], None]) -> Job | None:
        """Run ``engine.assess`` on a snapshot of the session's patient (its in-memory clinical information
        and the store's media files) in a worker; None when no engine or patient."""
        if self.engine is None or session.patient is None or session.store is None:
            return None
        patient = copy.deepcopy(session.patient)
        folder = session.store.patient_dir(patient.patient_id)
        media = {zid: folder / rec.media.file for zid, rec in patient.zones.items() if rec.media is not None}
        engine = self.engine

        def work():
            return engine.assess(patient, media, progress=job.report)

        job = Job(work, name="assess")  # built before it starts: the worker reports progress through it
        job.finished.connect(on_done)
        job.failed.connect(on_error)
        return start_job(job)
