"""Measures of the current zone's clip (B-line count, pleura, consolidation) and the rule-based score.

When the clip has clinician-checked (FINAL) masks — pending edits in the session or in the store — the
measures use those frames only (what the clinician accepted); otherwise the model's masks the SegWorker
has cached so far. The computation (``clip_measures`` + ``rule_score``) runs in a worker, debounced while
masks stream in; the panel says which source it used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer

from lusapp.gui.session import SessionController
from lusapp.gui.workers import run_job


def measure_rows(m: Any) -> list[tuple[str, str]]:
    """Display rows (title, text) of a :class:`lusapp.model.measures.FrameMeasures`."""
    def mm(v: float | None, unit: str = "mm") -> str:
        return "—" if v is None else f"{v:.1f} {unit}"

    rows = [("B-lines", str(m.b_lines)),
            ("B-line coverage", f"{100 * m.b_line_coverage:.0f}% of pleura"),
            ("Pleural line", "found" if m.pleura_found else "not found")]
    if m.pleura_found:
        rows.append(("Pleural thickness", mm(m.pleural_thickness_mm) if m.pleural_thickness_mm is not None
                     else mm(m.pleural_thickness_px, "px")))
        rows.append(("Pleural irregularity", mm(m.pleural_irregularity_mm) if m.pleural_irregularity_mm is not None
                     else mm(m.pleural_irregularity_px, "px")))
    rows.append(("A-lines", "present" if m.a_line_present else "absent"))
    if m.consolidation_cm2 is not None:
        rows.append(("Consolidation", f"{m.consolidation_cm2:.2f} cm²"))
    else:
        rows.append(("Consolidation", f"{m.consolidation_px:.0f} px"))
    return rows


def compute(masks: list[np.ndarray], store, pid: str, zone_id: str, final_frames: list[int],
            spacing) -> tuple[list[tuple[str, str]], int, str, int]:
    """(rows, rule score, rule, n frames) — runs in a worker thread."""
    from lusapp.model.measures import clip_measures, rule_score

    all_masks = list(masks)
    if store is not None:
        for f in final_frames:
            m = store.load_mask(pid, zone_id, f, "final")
            if m is not None:
                all_masks.append(m)
    if not all_masks:
        raise ValueError("no masks")
    m = clip_measures(all_masks, spacing)
    score, rule = rule_score(m)
    return measure_rows(m), score, rule, len(all_masks)


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
        seg_worker.mask_ready.connect(self._on_mask)
        seg_worker.clip_done.connect(lambda key: self.recompute() if key == self.clip_key else None)

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
        pending = s.pending_masks(zid)
        finals = set(self.mask_source.final_frames()) if self.mask_source is not None else set()
        masks, store_frames = [], []
        for f in range(self.n_frames):
            if f in pending:
                masks.append(pending[f])
            elif f in finals:
                store_frames.append(f)
        if not masks and not store_frames and self.seg_worker is not None:
            # no clinician-checked frame yet: the model's masks (the frames segmented so far)
            for f in range(self.n_frames):
                m = self.seg_worker.cached(self.clip_key, f)
                if m is not None:
                    masks.append(m)
        if not masks and not store_frames:
            return
        rec = s.zone_record(zid)
        spacing = rec.media.pixel_spacing_mm if rec is not None and rec.media is not None else None
        n_final = len(pending) + len(store_frames)
        key = self.clip_key

        def done(result) -> None:
            self._job = None
            if key == self.clip_key:
                rows, score, rule, n = result
                src = f"from {n} clinician-checked frame(s)" if n_final else f"from the model's masks of {n} frame(s)"
                self.panel.set_measures(rows, score, rule, src)
            if self._again:
                self._again = False
                self.recompute()

        def failed(exc, _tb) -> None:
            self._job = None
            if key == self.clip_key:
                self.panel.set_measures([], None, f"measures unavailable ({exc})")

        self._job = run_job(compute, masks, s.store if store_frames else None, pid, zid, store_frames, spacing,
                            on_done=done, on_error=failed, name="measures")
