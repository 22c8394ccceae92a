"""Binds the session to the clip-view engineer's ClipView and SegWorker.

- zone changes open the zone's media (``lusapp.io.open_media``) and hand it to ``ClipView.set_clip`` with
  the store's FINAL masks (``StoreMaskSource``); unreadable media -> error dialog, the view is cleared;
- the view's mask state paints its FINAL masks into the session's ``unsaved.finals`` (the one owner of an
  edited FINAL mask); ``maskEdited`` tells the session to autosave it (with rater, time and model version),
  ``originalCaptured`` queues the model's mask as ORIGINAL;
- the model controller's engine goes to the SegWorker; the measures controller follows the masks.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from lusapp.core.errors import LusError
from lusapp.gui.measures_ctl import MeasuresController
from lusapp.gui.model_ctl import ModelController
from lusapp.gui.session import SessionController


class ClipBinding(QObject):
    def __init__(self, session: SessionController, model: ModelController, clip_view, seg_worker,
                 measures: MeasuresController, parent: QObject | None = None):
        super().__init__(parent)
        self.session, self.model, self.view, self.worker, self.measures = session, model, clip_view, seg_worker, measures
        self.clip = None
        self._loaded: tuple[str, str, str] | None = None  # (pid, zone, sha256) now in the view
        session.zoneChanged.connect(self.load_zone)
        session.patientChanged.connect(lambda _p: self.load_zone(session.zone_id))
        session.dataChanged.connect(self._on_data)
        clip_view.masks.finals = session.unsaved.finals  # one owner: the view's edits are the session's
        clip_view.maskEdited.connect(self._on_edited)
        clip_view.originalCaptured.connect(self._on_original)
        clip_view.maskUnlabelled.connect(session.unlabel_mask)
        model.engineChanged.connect(self._on_engine)
        measures.attach(seg_worker)
        if model.engine is not None:
            seg_worker.set_engine(model.engine)

    def _on_engine(self, engine) -> None:
        self.worker.set_engine(engine)
        self._loaded = None
        self.load_zone(self.session.zone_id)  # re-segment the shown clip with the new model

    def _on_data(self, what: str) -> None:
        if what == f"media:{self.session.zone_id}":
            self.load_zone(self.session.zone_id)

    def load_zone(self, zone_id: str) -> None:
        s = self.session
        rec = s.zone_record(zone_id) if zone_id else None
        if s.patient is None or rec is None or rec.media is None or s.store is None:
            self._clear(zone_id)
            return
        ident = (s.patient.patient_id, zone_id, rec.media.sha256)
        if ident == self._loaded:
            return
        from lusapp.io import open_media
        from lusapp.review.mask_source import StoreMaskSource

        path = s.store.patient_dir(s.patient.patient_id) / rec.media.file
        try:
            clip = open_media(path)
        except (LusError, OSError) as exc:
            self._clear(zone_id)
            s.errorRaised.emit("Cannot show this zone's image", str(exc) if isinstance(exc, LusError)
                               else f"{path}: {exc}")
            return
        # the previous clip is not closed here: the SegWorker may still be reading a batch from it; it is
        # released when the last reference (the worker's finished job) goes
        self.clip = clip
        key = f"{ident[0]}/{zone_id}/{rec.media.sha256[:16]}"
        source = StoreMaskSource(s.store, s.patient.patient_id, zone_id, rater=s.rater)
        self.view.set_clip(zone_id, clip, source, clip_key=key)
        self._loaded = ident
        self.measures.set_clip(key, clip.n_frames, source)

    def _clear(self, zone_id: str) -> None:
        self.view.set_clip(zone_id or "", None)
        self.measures.set_clip("", 0)
        self._loaded = None
        self.clip = None

    def _on_edited(self, zone_id: str, frame: int, mask) -> None:
        self.session.mask_edited(zone_id, frame, self.worker.model_id or self.model.model_id)
        if zone_id == self.session.zone_id:
            self.measures.masks_changed()

    def _on_original(self, zone_id: str, frame: int, mask, model_version: str) -> None:
        self.session.queue_mask(zone_id, frame, mask, "original", model_version)

    def shutdown(self) -> None:
        self.view.shutdown()
        self.worker.shutdown()
        if self.clip is not None:
            self.clip.close()
            self.clip = None
