"""Zone panel: the model's score probabilities, the rule-based score and measures, the clinician's score
(one click or keys 0-4 via the window's actions) and the zone's notes.

Binds to :class:`~lusapp.gui.session.SessionController`; measures come from the shell's measures job
(``set_measures``), since they need the clip's masks.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QButtonGroup, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit,
                               QPushButton, QVBoxLayout, QWidget)

from lusapp.gui import theme
from lusapp.gui.bars import ProbBars
from lusapp.gui.session import SessionController

class ZonePanel(QWidget):
    def __init__(self, session: SessionController, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.setObjectName("zonePanel")
        self._zone = ""
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.title = QLabel("No zone")
        self.title.setProperty("role", "heading")
        self.media_info = QLabel("")
        self.media_info.setProperty("role", "dim")
        self.media_info.setWordWrap(True)
        lay.addWidget(self.title)
        lay.addWidget(self.media_info)

        box = QGroupBox("Model score probabilities")
        bl = QVBoxLayout(box)
        self.bars = ProbBars([str(v) for v in range(5)], theme.SCORE_COLORS)
        self.model_info = QLabel("")
        self.model_info.setProperty("role", "dim")
        bl.addWidget(self.bars)
        bl.addWidget(self.model_info)
        lay.addWidget(box)

        mbox = QGroupBox("Rule-based score and measures")
        self.measure_form = QFormLayout(mbox)
        self.rule_label = QLabel("—")
        self.rule_label.setWordWrap(True)
        self.measure_form.addRow("Rule score", self.rule_label)
        lay.addWidget(mbox)

        cbox = QGroupBox("Clinician's score  (keys 0–4, Backspace clears)")
        cl = QHBoxLayout(cbox)
        self.score_group = QButtonGroup(self)
        self.score_group.setExclusive(False)
        self.score_buttons: list[QPushButton] = []
        for v in range(5):
            b = QPushButton(str(v))
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            b.setMinimumWidth(34)
            self.score_group.addButton(b, v)
            self.score_buttons.append(b)
            cl.addWidget(b)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        cl.addWidget(self.clear_button)
        self.score_group.idClicked.connect(self._on_score_clicked)
        self.clear_button.clicked.connect(lambda: self.session.set_clinician_score(None))
        lay.addWidget(cbox)

        lay.addWidget(QLabel("Zone notes"))
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("Notes on this zone…")
        self.notes.setMaximumHeight(80)
        self._notes_timer = QTimer(self, singleShot=True, interval=400)
        self._notes_timer.timeout.connect(self.commit_notes)
        self.notes.textChanged.connect(self._notes_timer.start)
        lay.addWidget(self.notes)
        lay.addStretch(1)

        session.zoneChanged.connect(self._on_zone)
        session.patientChanged.connect(lambda _p: self._on_zone(session.zone_id))
        session.dataChanged.connect(self._on_data)
        session.add_flush_hook(self.commit_notes)
        self._measure_rows: list[QLabel] = []
        self._on_zone(session.zone_id)

    # ------------------------------------------------------------------ session -> widgets
    def _on_zone(self, zone_id: str) -> None:
        self.commit_notes()
        self._zone = zone_id
        self.set_measures(None)
        self.refresh()

    def _on_data(self, what: str) -> None:
        if what in (f"zone:{self._zone}", "severity", f"media:{self._zone}"):
            self.refresh(keep_notes=True)

    def refresh(self, keep_notes: bool = False) -> None:
        rec = self.session.zone_record(self._zone) if self._zone else None
        patient = self.session.patient
        enabled = rec is not None
        for w in (*self.score_buttons, self.clear_button, self.notes):
            w.setEnabled(enabled)
        if rec is None:
            self.title.setText("No zone")
            self.media_info.setText("")
            self.bars.set_probs(None)
            self.model_info.setText("")
            for b in self.score_buttons:
                b.setChecked(False)
            if not keep_notes:
                self._set_notes("")
            return
        scale = patient.scale
        zone = patient.protocol.zone(rec.zone_id)
        self.title.setText(f"{rec.zone_id} — {zone.name}")
        if rec.media is None:
            self.media_info.setText("No image in this zone. Drop a clip on the board or use File > Import clip.")
        else:
            m = rec.media
            bits = [m.kind, m.original_name or m.file]
            if m.n_frames:
                bits.append(f"{m.n_frames} frames")
            if m.fps:
                bits.append(f"{m.fps:.0f} fps")
            if m.width and m.height:
                bits.append(f"{m.width}×{m.height}")
            self.media_info.setText(" · ".join(bits))
        labels = [str(v) for v in scale.values]
        if self.bars.labels() != labels:
            self.bars.set_labels(labels, [theme.score_color(v, scale.n_levels) for v in scale.values])
        clin = rec.clinician_score.value if rec.clinician_score is not None else None
        if rec.model_score is not None:
            self.bars.set_probs(rec.model_score.probs, marker=scale.values.index(clin) if clin is not None else None)
            ms = rec.model_score
            self.model_info.setText(f"model score {ms.score} (expected {ms.expected:.2f}) · model {ms.model_version}")
        else:
            self.bars.set_probs(None)
            self.model_info.setText("Run Assess to get the model's zone score.")
        for v, b in enumerate(self.score_buttons):
            b.setVisible(v in scale.values)
            b.setChecked(clin == v)
            b.setToolTip(f"{v}: {scale.level(v).description}" if v in scale.values else "")
        if not keep_notes:
            self._set_notes(rec.notes)

    def _set_notes(self, text: str) -> None:
        self.notes.blockSignals(True)
        self.notes.setPlainText(text)
        self.notes.blockSignals(False)
        self._notes_timer.stop()

    # ------------------------------------------------------------------ widgets -> session
    def _on_score_clicked(self, value: int) -> None:
        rec = self.session.zone_record(self._zone)
        if rec is None:
            return
        same = rec.clinician_score is not None and rec.clinician_score.value == value
        self.session.set_clinician_score(None if same else value, self._zone)
        self.refresh(keep_notes=True)

    def commit_notes(self) -> None:
        self._notes_timer.stop()
        rec = self.session.zone_record(self._zone) if self._zone else None
        if rec is not None and self.notes.toPlainText() != rec.notes:
            self.session.set_zone_notes(self.notes.toPlainText(), self._zone)

    # ------------------------------------------------------------------ measures
    def set_measures(self, rows: list[tuple[str, str]] | None, rule_score: int | None = None, rule: str = "",
                     source: str = "") -> None:
        """Show measures as (title, text) rows and the rule-based score with its rule (None clears them)."""
        while self.measure_form.rowCount() > 1:
            self.measure_form.removeRow(1)
        if rows is None:
            self.rule_label.setText("— (waiting for the clip's masks)" if self._zone else "—")
            return
        text = f"<b>{rule_score}</b> — {rule}" if rule_score is not None else (rule or "—")
        if source:
            text += f"<br><span style='color:{theme.TEXT_DIM.name()}'>{source}</span>"
        self.rule_label.setText(text)
        for title, shown in rows:
            self.measure_form.addRow(title, QLabel(shown))

    def measure_rows(self) -> list[tuple[str, str]]:
        out = []
        for r in range(1, self.measure_form.rowCount()):
            lab = self.measure_form.itemAt(r, QFormLayout.ItemRole.LabelRole).widget()
            val = self.measure_form.itemAt(r, QFormLayout.ItemRole.FieldRole).widget()
            out.append((lab.text(), val.text()))
        return out
