"""Keeps the zone panel's measures (B-line count, pleura, consolidation) and rule score in step with the clip.

Which masks count and the computation are Qt-free in :mod:`lusapp.review.measures` (FINAL masks when the clip
has any: edited in this session, read from the session's ``unsaved.finals``, the masks the clip view shows, or
stored; else the model's masks the SegWorker has cached so far); this controller debounces while masks stream
in and runs the computation in a worker.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer

from lusapp.gui.session import SessionController
from lusapp.gui.workers import run_job
from lusapp.review.measures import choose_masks, compute, source_text


class MeasuresController(QObject):
    """Keeps the zone panel's measures in step with the current clip's masks."""

    def __init__(self, session: SessionController, zone_panel, parent: QObject | None = None,
                 debounce_ms: int = 700):
        super().__init__(parent)
        self.session, self.panel = session, zone_panel
        self.seg_worker = None
        self.clip_key = ""
        self.n_frames = 0
        self.mask_source = None
        self._job = None
        self._again = False
        self._timer = QTimer(self, singleShot=True, interval=debounce_ms)
        self._timer.timeout.connect(self.recompute)

    def attach(self, seg_worker) -> None:
        self.seg_worker = seg_worker
        seg_worker.maskReady.connect(self._on_mask)
        seg_worker.clipDone.connect(lambda key: self.recompute() if key == self.clip_key else None)

    def set_clip(self, clip_key: str, n_frames: int, mask_source=None) -> None:
        self.clip_key, self.n_frames, self.mask_source = clip_key, n_frames, mask_source
        self._timer.stop()
        if clip_key:
            self._timer.start()

    def _on_mask(self, key: str, _frame: int, _mask) -> None:
        if key == self.clip_key and not self._timer.isActive():
            self._timer.start()

    def masks_changed(self) -> None:
        """A FINAL mask was edited: recompute soon."""
        if self.clip_key:
            self._timer.start()

    def recompute(self) -> None:
        self._timer.stop()
        s = self.session
        if not self.clip_key or s.patient is None:
            return
        if self._job is not None:
            self._again = True
            return
        zid, pid = s.zone_id, s.patient.patient_id
        key = self.clip_key
        finals = set(self.mask_source.final_frames()) if self.mask_source is not None else set()
        model = (lambda f: self.seg_worker.cached(key, f)) if self.seg_worker is not None else None
        edited = {f: m.copy() for f, m in s.unsaved.finals.masks(zid, key).items()}  # the worker reads copies
        choice = choose_masks(self.n_frames, edited, finals, model)
        if choice.empty:
            return
        rec = s.zone_record(zid)
        spacing = rec.media.pixel_spacing_mm if rec is not None and rec.media is not None else None

        def done(result) -> None:
            self._job = None
            if key == self.clip_key:
                rows, score, rule, n = result
                self.panel.set_measures(rows, score, rule, source_text(n, choice.n_final))
            if self._again:
                self._again = False
                self.recompute()

        def failed(exc, _tb) -> None:
            self._job = None
            if key == self.clip_key:
                self.panel.set_measures([], None, f"measures unavailable ({exc})")

        self._job = run_job(compute, choice.masks, s.store if choice.store_frames else None, pid, zid,
                            choice.store_frames, spacing, on_done=done, on_error=failed, name="measures")
