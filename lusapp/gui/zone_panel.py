"""Zone panel: the model's score probabilities, the rule-based score and measures, the model's findings
(models with a findings head), the clinician's score (one click or keys 0-4 via the window's actions) and the
zone's notes.

Binds to :class:`~lusapp.gui.session.SessionController`; measures come from the shell's measures job
(``set_measures``), since they need the clip's masks; findings from the last assessment of the open patient
(``set_assessment``, fed by the severity panel after it applied the assessment) or, after a reopen, from the
findings saved with the zone's model score (``ModelZoneScore.findings``). Findings are shown only while the
zone's model score is the one they belong to. What the clip's reader noticed while opening the file
(``clip.notes``: "file appears truncated ...") is shown in amber under the media line (``set_clip_notes``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QButtonGroup, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPlainTextEdit, QPushButton, QVBoxLayout, QWidget)

from lusapp.core.raters import others_line
from lusapp.gui import theme
from lusapp.gui.bars import ProbBars
from lusapp.gui.session import SessionController

# the findings head's findings, in display order (lusapp.model.findings.FINDINGS / FINDING_NAMES; repeated
# here so the panel does not import the model package before the model is loaded)
FINDINGS = (("b_lines", "B-lines"), ("a_lines", "A-lines"), ("consolidation", "Consolidation"),
            ("pleural_irregular", "Irregular pleura"), ("effusion", "Effusion"))


def findings_text(name: str, prob: float) -> str:
    return f"{name} {100 * prob:.0f} %"


class ZonePanel(QWidget):
    def __init__(self, session: SessionController, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.setObjectName("zonePanel")
        self._zone = ""
        self._rule_waiting = True  # no measures shown yet for the zone in view
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.title = QLabel("No zone")
        self.title.setProperty("role", "heading")
        self.media_info = QLabel("")
        self.media_info.setProperty("role", "dim")
        self.media_info.setWordWrap(True)
        self.media_warning = QLabel("")  # amber: the reader's notes on the clip (truncated file...)
        self.media_warning.setObjectName("mediaWarning")
        self.media_warning.setWordWrap(True)
        self.media_warning.setStyleSheet(f"color: {theme.WARN.name()};")
        self.media_warning.setVisible(False)
        self._clip_notes: tuple[str, list[str]] = ("", [])  # (zone id, notes) of the clip in the view
        lay.addWidget(self.title)
        lay.addWidget(self.media_info)
        lay.addWidget(self.media_warning)

        box = QGroupBox("Model score probabilities")
        bl = QVBoxLayout(box)
        self.bars = ProbBars([str(v) for v in range(5)], theme.SCORE_COLORS)
        self.model_info = QLabel("")
        self.model_info.setProperty("role", "dim")
        self.model_info.setWordWrap(True)
        bl.addWidget(self.bars)
        bl.addWidget(self.model_info)
        lay.addWidget(box)

        mbox = QGroupBox("Rule-based score and measures")
        self.measure_form = QFormLayout(mbox)
        self.rule_label = QLabel("—")
        self.rule_label.setWordWrap(True)
        self.measure_form.addRow("Rule score", self.rule_label)
        lay.addWidget(mbox)

        self.findings_box = QGroupBox("Findings (model)")
        fl = QVBoxLayout(self.findings_box)
        fl.setSpacing(2)
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(1)
        self.finding_labels: dict[str, QLabel] = {}
        for i, (key, name) in enumerate(FINDINGS):
            lab = QLabel(name)
            grid.addWidget(lab, i // 2, i % 2)
            self.finding_labels[key] = lab
        fl.addLayout(grid)
        self.findings_info = QLabel("")
        self.findings_info.setProperty("role", "dim")
        self.findings_info.setWordWrap(True)
        fl.addWidget(self.findings_info)
        self.findings_warning = QLabel("")  # amber: the model cannot back this zone's numbers
        self.findings_warning.setObjectName("findingsWarning")
        self.findings_warning.setWordWrap(True)
        self.findings_warning.setStyleSheet(f"color: {theme.WARN.name()};")
        self.findings_warning.setVisible(False)
        fl.addWidget(self.findings_warning)
        self.findings_box.setVisible(False)
        lay.addWidget(self.findings_box)
        self._findings: dict[str, dict[str, tuple]] = {}  # patient id -> zone -> (ZoneFindings, score stamp)

        cbox = QGroupBox("Clinician's score  (keys 0–4)")  # short: the panel fits the 1280 px screen's dock
        cbox.setToolTip("Keys 0–4 score the zone, Backspace clears the score")
        cl = QHBoxLayout(cbox)
        cl.setContentsMargins(6, 6, 6, 6)
        cl.setSpacing(4)
        self.score_group = QButtonGroup(self)
        self.score_group.setExclusive(False)
        self.score_buttons: list[QPushButton] = []
        for v in range(5):
            b = QPushButton(str(v))
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            b.setMinimumWidth(34)
            b.setToolTip(f"Score {v} (key {v})")
            self.score_group.addButton(b, v)
            self.score_buttons.append(b)
            cl.addWidget(b)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the clinician's score (Backspace)")
        self.clear_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        cl.addWidget(self.clear_button)
        self.score_group.idClicked.connect(self._on_score_clicked)
        self.clear_button.clicked.connect(lambda: self.session.set_clinician_score(None))
        lay.addWidget(cbox)
        self.raters_info = QLabel("")  # the other raters' scores and the consensus (Raters dock: details)
        self.raters_info.setProperty("role", "dim")
        self.raters_info.setWordWrap(True)
        self.raters_info.setVisible(False)
        lay.addWidget(self.raters_info)

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
        if zone_id != self._zone:
            self._clip_notes = ("", [])
        self._zone = zone_id
        self.set_measures(None)
        self.refresh()

    def _on_data(self, what: str) -> None:
        if what == f"media:{self._zone}":
            self._clip_notes = ("", [])  # a new clip: its notes come with it
        if what in (f"zone:{self._zone}", "severity", f"media:{self._zone}"):
            self.refresh(keep_notes=True)

    def set_clip_notes(self, zone_id: str, notes: list[str]) -> None:
        """The notes of the clip shown for ``zone_id`` (``Clip.notes``: a truncated file, a corrected frame
        count...); an empty list clears them."""
        self._clip_notes = (zone_id, [str(n) for n in notes or []])
        self._show_clip_notes()

    def clip_notes(self) -> list[str]:
        """The reader's notes shown for the zone in view."""
        zid, notes = self._clip_notes
        return list(notes) if zid and zid == self._zone else []

    def _show_clip_notes(self) -> None:
        notes = self.clip_notes()
        self.media_warning.setText("\n".join(f"⚠ {n}" for n in notes))
        self.media_warning.setToolTip("What LUSApp noticed while reading this file: it shows what the file holds"
                                      if notes else "")
        self.media_warning.setVisible(bool(notes))

    def refresh(self, keep_notes: bool = False) -> None:
        rec = self.session.zone_record(self._zone) if self._zone else None
        patient = self.session.patient
        enabled = rec is not None
        for w in (*self.score_buttons, self.clear_button, self.notes):
            w.setEnabled(enabled)
        self._show_clip_notes()
        if self._rule_waiting:
            self._show_rule_waiting()  # an image imported into (or removed from) the zone in view
        if rec is None:
            self.title.setText("No zone")
            self.media_info.setText("")
            self.bars.set_probs(None)
            self.model_info.setText("")
            self._show_findings(None)
            for b in self.score_buttons:
                b.setChecked(False)
            self.raters_info.setVisible(False)
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
        shown = self.session.own_score(rec) or rec.clinician_score  # own score, else the first rater's
        clin = shown.value if shown is not None else None
        if rec.model_score is not None:
            self.bars.set_probs(rec.model_score.probs, marker=scale.values.index(clin) if clin is not None else None)
            ms = rec.model_score
            self.model_info.setText(f"model score {ms.score} (expected {ms.expected:.2f}) · model {ms.model_version}")
        else:
            self.bars.set_probs(None)
            self.model_info.setText("Run Assess to get the model's zone score.")
        self._show_findings(rec)
        for v, b in enumerate(self.score_buttons):
            b.setVisible(v in scale.values)
            b.setChecked(clin == v)
            b.setToolTip(f"{v}: {scale.level(v).description}" if v in scale.values else "")
        others = others_line(rec, self.session.rater)
        self.raters_info.setText(others)
        self.raters_info.setVisible(bool(others))
        if not keep_notes:
            self._set_notes(rec.notes)

    # ------------------------------------------------------------------ findings
    @staticmethod
    def _stamp(rec) -> tuple | None:
        ms = rec.model_score if rec is not None else None
        return None if ms is None else (ms.model_version, ms.time)

    def set_assessment(self, assessment) -> None:
        """Keep an assessment's per-zone findings (``Assessment.zone_findings``; empty for models without a
        findings head) for the open patient. Call it after the assessment was applied to the patient."""
        p = self.session.patient
        if p is None:
            return
        found = getattr(assessment, "zone_findings", None) or {}
        self._findings[p.patient_id] = {zid: (zf, self._stamp(p.zones.get(zid))) for zid, zf in found.items()
                                        if self._stamp(p.zones.get(zid)) is not None}
        self.refresh(keep_notes=True)

    def zone_findings(self, zone_id: str | None = None):
        """The ZoneFindings behind the zone's model score, or None (not assessed in this session, assessed by
        a model without findings, or the score has changed since). After a reopen see ``shown_findings``."""
        p = self.session.patient
        zid = zone_id or self._zone
        if p is None or not zid:
            return None
        zf, stamp = self._findings.get(p.patient_id, {}).get(zid, (None, None))
        return zf if zf is not None and stamp == self._stamp(p.zones.get(zid)) else None

    def shown_findings(self, zone_id: str | None = None) -> dict | None:
        """The findings behind the zone's model score in their saved form (``ZoneFindings.to_dict()``): this
        session's assessment, else those saved with the model score (a reopened patient); None when neither."""
        zf = self.zone_findings(zone_id)
        if zf is not None:
            return zf.to_dict()
        rec = self.session.zone_record(zone_id or self._zone) if (zone_id or self._zone) else None
        ms = rec.model_score if rec is not None else None
        return ms.findings if ms is not None and ms.findings else None

    def _show_findings(self, rec) -> None:
        if rec is None or rec.model_score is None:
            self.findings_box.setVisible(False)
            return
        self.findings_box.setVisible(True)
        zf = self.shown_findings(rec.zone_id)
        probs = (zf.get("findings") or {}) if zf is not None else {}
        present_ = (zf.get("present") or {}) if zf is not None else {}
        for key, name in FINDINGS:
            lab = self.finding_labels[key]
            p = probs.get(key)
            lab.setVisible(zf is not None)
            if p is None:
                lab.setText(f"{name} —")
                lab.setStyleSheet(f"color: {theme.TEXT_DIM.name()};")
                lab.setToolTip("")
                continue
            present = bool(present_.get(key))
            lab.setText(findings_text(name, p))
            lab.setStyleSheet("font-weight: 600;" if present else f"color: {theme.TEXT_DIM.name()};")
            lab.setToolTip(f"{name}: P = {p:.2f}; {'present' if present else 'absent'} at the model's operating "
                           "point")
        if zf is None:
            self.findings_info.setText("No findings for this score: the model has none, or the assessment was "
                                       "made by an older LUSApp (press Assess).")
            self.findings_warning.setVisible(False)
            return
        grade = [float(g) for g in (zf.get("b_line_grade_probs") or [])]
        info = f"3 or more B-lines {100 * (grade[1] + grade[2]):.0f} % · confluent {100 * grade[2]:.0f} %" \
            if len(grade) == 3 else ""
        if zf.get("ood") is not None:
            info += f"{' · ' if info else ''}distance from training clips {float(zf['ood']):.1f}× the limit"
        self.findings_info.setText(info)
        warnings = [str(w) for w in zf.get("warnings") or []]
        if zf.get("unlike_training") and not any("unlike" in w for w in warnings):
            warnings.append("this clip is unlike the clips the model was trained on")
        self.findings_warning.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.findings_warning.setVisible(bool(warnings))

    def findings_rows(self) -> list[str]:
        """What the findings block shows (tests, self-test): the finding texts, then the warning line if any."""
        if not self.findings_box.isVisibleTo(self):
            return []
        out = [lab.text() for lab in self.finding_labels.values() if lab.isVisibleTo(self)]
        if self.findings_warning.isVisibleTo(self):
            out.append(self.findings_warning.text())
        return out

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
        own = self.session.own_score(rec)
        same = own is not None and own.value == value
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
        self._rule_waiting = rows is None
        if rows is None:
            self._show_rule_waiting()
            return
        text = f"<b>{rule_score}</b> — {rule}" if rule_score is not None else (rule or "—")
        if source:
            text += f"<br><span style='color:{theme.TEXT_DIM.name()}'>{source}</span>"
        self.rule_label.setText(text)
        for title, shown in rows:
            self.measure_form.addRow(title, QLabel(shown))

    def _show_rule_waiting(self) -> None:
        """The rule score's line before any measures: no zone, no image, or waiting for the masks."""
        rec = self.session.zone_record(self._zone) if self._zone else None
        if rec is None:
            self.rule_label.setText("—")
        elif rec.media is None:
            self.rule_label.setText("— (no image in this zone)")
        else:
            what = "clip's" if rec.media.kind == "clip" else "image's"
            self.rule_label.setText(f"— (waiting for the {what} masks)")

    def measure_rows(self) -> list[tuple[str, str]]:
        out = []
        for r in range(1, self.measure_form.rowCount()):
            lab = self.measure_form.itemAt(r, QFormLayout.ItemRole.LabelRole).widget()
            val = self.measure_form.itemAt(r, QFormLayout.ItemRole.FieldRole).widget()
            out.append((lab.text(), val.text()))
        return out
