"""The raters, at the top of the Review dock: every rater's score of the zone beside the model's and the consensus, the
raters' FINAL masks of the frame on screen (one drawn over the clip as an outline in that rater's colour),
adjudication (pick a rater's score or mask as the consensus, or set the consensus score), and the agreement dialog.

The data live in the store (``lusapp.core.raters``, ``lusapp.store.rater_masks``); the adjudicator is the
current rater (File > Rater). A consensus score is saved with the patient; a consensus mask is written at once.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QGridLayout, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from lusapp.core.errors import LusError, ValidationError
from lusapp.core.raters import clear_consensus, rater_scores, set_consensus

#: Outline colours by rater (in the order the zone's raters are listed); distinct from the class colours.
RATER_COLORS = ((255, 255, 255), (255, 200, 0), (0, 160, 255), (255, 80, 160), (120, 255, 120))


def outline_rgba(mask: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    """RGBA image: the borders between different labels of ``mask`` (around every pattern) in ``color``."""
    m = np.asarray(mask)
    edge = np.zeros(m.shape, bool)
    edge[:-1, :] |= m[:-1, :] != m[1:, :]
    edge[1:, :] |= m[1:, :] != m[:-1, :]
    edge[:, :-1] |= m[:, :-1] != m[:, 1:]
    edge[:, 1:] |= m[:, 1:] != m[:, :-1]
    rgba = np.zeros((*m.shape, 4), np.uint8)
    rgba[edge] = (*color, 255)
    return rgba


def _item(text: str) -> QTableWidgetItem:
    it = QTableWidgetItem(text)
    it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsEditable)
    return it


class RatersPanel(QWidget):
    def __init__(self, session, clip_view=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ratersPanel")
        self.session, self.clip_view = session, clip_view
        self._zone = ""
        self._frame_raters: dict[int, list[str]] = {}
        self._shown_rater = ""
        self.title = QLabel("")
        self.title.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("raterScores")
        self.table.setHorizontalHeaderLabels(["Rater", "Score", "Time"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setMinimumHeight(90)
        self.table.setMaximumHeight(150)
        self.adopt_score = QPushButton("Adopt selected")
        self.adopt_score.setToolTip("The selected rater's score becomes the zone's consensus (training uses it)")
        self.value = QSpinBox()
        self.set_score = QPushButton("Set consensus")
        self.clear_score = QPushButton("Clear")
        self.frame_info = QLabel("")
        self.frame_info.setWordWrap(True)
        self.show_rater = QComboBox()
        self.show_rater.setToolTip("Draw this rater's FINAL mask of the frame over the clip (outline)")
        self.adopt_mask = QPushButton("Adopt mask")
        self.adopt_mask.setToolTip("The shown rater's FINAL mask of this frame becomes the consensus mask")
        self.agreement_button = QPushButton("Agreement and review queue…")
        grid = QGridLayout()
        grid.addWidget(self.adopt_score, 0, 0, 1, 3)
        grid.addWidget(self.value, 1, 0)
        grid.addWidget(self.set_score, 1, 1)
        grid.addWidget(self.clear_score, 1, 2)
        masks = QHBoxLayout()
        masks.addWidget(QLabel("Show"))
        masks.addWidget(self.show_rater, 1)
        masks.addWidget(self.adopt_mask)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)  # inside the Review dock's group box: fits its 300 px column
        for w in (self.title, self.table):
            lay.addWidget(w)
        lay.addLayout(grid)
        lay.addWidget(self.frame_info)
        lay.addLayout(masks)
        lay.addWidget(self.agreement_button)
        lay.addStretch(1)
        self.overlay = None
        if clip_view is not None:
            self.overlay = pg.ImageItem(axisOrder="row-major")
            self.overlay.setZValue(12)
            clip_view.view_box.addItem(self.overlay)
            clip_view.frameChanged.connect(lambda _f: self.refresh_frame())
        self.adopt_score.clicked.connect(self.adopt_selected_score)
        self.set_score.clicked.connect(lambda: self.set_consensus_value(self.value.value()))
        self.clear_score.clicked.connect(self.clear_consensus)
        self.show_rater.currentIndexChanged.connect(lambda _i: self._draw())
        self.adopt_mask.clicked.connect(self.adopt_shown_mask)
        self.agreement_button.clicked.connect(self.open_agreement)
        session.zoneChanged.connect(lambda _z: self.refresh())
        session.patientChanged.connect(lambda _p: self.refresh())
        session.dataChanged.connect(lambda what: self.refresh() if what.startswith("zone:") else None)
        session.saved.connect(lambda _r: (self.load_raters(), self.refresh_frame()))
        self.refresh()

    # ------------------------------------------------------------------ view
    def _record(self):
        return self.session.zone_record(self.session.zone_id) if self.session.patient is not None else None

    def refresh(self) -> None:
        rec = self._record()
        self._zone = rec.zone_id if rec is not None else ""
        self.table.setRowCount(0)
        enabled = rec is not None and not self.session.readonly
        for w in (self.adopt_score, self.value, self.set_score, self.clear_score):
            w.setEnabled(enabled)
        self.load_raters()
        if rec is None:
            self.title.setText("Open a patient to see its raters.")
            self.refresh_frame()
            return
        scale = self.session.patient.scale
        self.value.setRange(min(scale.values), max(scale.values))
        rows = [(r, str(e.value), e.time) for r, e in rater_scores(rec).items()]
        if rec.model_score is not None:
            rows.append(("model", f"{rec.model_score.score} (expected {rec.model_score.expected:.1f})",
                         rec.model_score.time))
        if rec.consensus_score is not None:
            c = rec.consensus_score
            rows.append(("consensus", f"{c.value} ({'from ' + c.from_rater if c.from_rater else 'set'} by "
                                      f"{c.rater})", c.time))
        for r, (name, score, time) in enumerate(rows):
            self.table.insertRow(r)
            for col, text in enumerate((name + (" (you)" if name == self.session.rater else ""), score, time)):
                self.table.setItem(r, col, _item(text))
        n = len(rater_scores(rec))
        self.title.setText(f"Zone {rec.zone_id}: {n} rater{'s' if n != 1 else ''} scored it; you rate as "
                           f"{self.session.rater}.")
        self.refresh_frame()

    def _current_frame(self) -> int | None:
        cv = self.clip_view
        return None if cv is None or cv.clip is None else int(cv.current_frame)

    def load_raters(self) -> None:
        """Read which raters labelled which frames of the zone (on a zone change and after a save, not on every
        frame of playback)."""
        s = self.session
        self._frame_raters = {}
        if s.store is not None and s.patient is not None and self._zone:
            rec = s.zone_record(self._zone)
            if rec is not None and rec.media is not None:
                try:
                    self._frame_raters = s.store.final_raters(s.patient.patient_id, self._zone)
                except (LusError, KeyError, OSError):
                    self._frame_raters = {}

    def refresh_frame(self) -> None:
        """The raters' FINAL masks of the frame on screen, and the 'show rater' choices."""
        s, frame = self.session, self._current_frame()
        raters = self._frame_raters.get(frame, []) if frame is not None else []
        if frame is None:
            self.frame_info.setText("No clip on screen.")
        elif raters:
            self.frame_info.setText(f"Frame {frame + 1}: FINAL masks by {', '.join(raters)}.")
        else:
            self.frame_info.setText(f"Frame {frame + 1}: no rater's FINAL mask.")
        keep = self.show_rater.currentData() or self._shown_rater
        self.show_rater.blockSignals(True)
        self.show_rater.clear()
        self.show_rater.addItem("no other rater", "")
        for r in raters:
            self.show_rater.addItem(r, r)
        idx = self.show_rater.findData(keep)
        self.show_rater.setCurrentIndex(max(idx, 0))
        self.show_rater.blockSignals(False)
        self.adopt_mask.setEnabled(bool(raters) and not s.readonly)
        self._draw()

    def _draw(self) -> None:
        rater = self.show_rater.currentData() or ""
        self._shown_rater = rater
        if self.overlay is None:
            return
        s, frame = self.session, self._current_frame()
        mask = None
        if rater in self._frame_raters.get(frame, []) and s.store is not None and s.patient is not None:
            try:
                mask = s.store.load_rater_mask(s.patient.patient_id, self._zone, frame, rater)
            except (LusError, KeyError, OSError):
                mask = None
        if mask is None:
            self.overlay.clear()
            return
        order = self._frame_raters.get(frame, [])
        color = RATER_COLORS[order.index(rater) % len(RATER_COLORS)] if rater in order else RATER_COLORS[0]
        self.overlay.setImage(outline_rgba(mask, color), autoLevels=False)

    # ------------------------------------------------------------------ adjudication
    def _adjudicate(self, **kw) -> bool:
        rec = self._record()
        if rec is None or self.session.readonly:
            return False
        try:
            set_consensus(rec, self.session.rater, **kw)
        except ValidationError as exc:
            self.session.errorRaised.emit("Adjudication", str(exc))
            return False
        self.session.touch(f"zone:{rec.zone_id}")
        return True

    def adopt_selected_score(self) -> bool:
        row = self.table.currentRow()
        rec = self._record()
        names = list(rater_scores(rec)) if rec is not None else []
        if not 0 <= row < len(names):
            self.session.errorRaised.emit("Adjudication", "Select a rater's score first.")
            return False
        return self._adjudicate(from_rater=names[row])

    def set_consensus_value(self, value: int) -> bool:
        return self._adjudicate(value=int(value))

    def clear_consensus(self) -> bool:
        rec = self._record()
        if rec is None or self.session.readonly or not clear_consensus(rec):
            return False
        self.session.touch(f"zone:{rec.zone_id}")
        return True

    def adopt_shown_mask(self) -> bool:
        s, frame, rater = self.session, self._current_frame(), self.show_rater.currentData() or ""
        if frame is None or not rater or s.store is None or s.patient is None or s.readonly:
            return False
        try:
            s.store.pick_rater_masks(s.patient.patient_id, self._zone, [frame], rater, s.rater)
        except (LusError, ValueError) as exc:
            s.errorRaised.emit("Adjudication", str(exc))
            return False
        self.load_raters()
        self.refresh_frame()
        self.frame_info.setText(f"Frame {frame + 1}: {rater}'s mask is the consensus (by {s.rater}).")
        return True

    def open_agreement(self):
        from lusapp.gui.agreement_dialog import AgreementDialog

        dialog = AgreementDialog(self.session, self)
        dialog.show()
        return dialog
