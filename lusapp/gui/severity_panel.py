"""Severity panel: the model's 4-way probabilities, severe vs non-severe, the active model version, the
Assess action (``Engine.assess`` in a worker thread) and the clinician's final severity."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QButtonGroup, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget)

from lusapp.core.scales import SEVERITY_LEVELS
from lusapp.gui import theme
from lusapp.gui.bars import ProbBars
from lusapp.gui.model_ctl import ModelController
from lusapp.gui.flow_layout import FlowWidget
from lusapp.gui.session import SessionController

TITLES = [SEVERITY_LEVELS[i].capitalize() for i in sorted(SEVERITY_LEVELS)]


class SeverityPanel(QWidget):
    assessFinished = Signal(bool)  # True on success
    assessmentApplied = Signal(object)  # the engine Assessment, after it was applied to the open patient

    def __init__(self, session: SessionController, model: ModelController, assess_action: QAction | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.session, self.model = session, model
        self.setObjectName("severityPanel")
        self.job = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)

        self.model_label = QLabel("Model: loading…")
        self.model_label.setProperty("role", "dim")
        self.model_label.setWordWrap(True)
        lay.addWidget(self.model_label)

        box = QGroupBox("Model severity")
        bl = QVBoxLayout(box)
        self.bars = ProbBars(TITLES, [theme.severity_color(i) for i in sorted(SEVERITY_LEVELS)],
                             empty_text="not assessed")
        self.binary = QLabel("Severe vs non-severe: —")
        self.binary.setProperty("role", "heading")
        self.binary.setWordWrap(True)  # "SEVERE (P(severe or critical) = 68%)" must not widen the dock at 1366 px
        self.assessed = QLabel("")
        self.assessed.setProperty("role", "dim")
        self.assessed.setWordWrap(True)
        bl.addWidget(self.bars)
        bl.addWidget(self.binary)
        bl.addWidget(self.assessed)
        self.unlike_label = QLabel("")  # amber: zones the findings head calls unlike its training clips
        self.unlike_label.setObjectName("unlikeTraining")
        self.unlike_label.setWordWrap(True)
        self.unlike_label.setStyleSheet(f"color: {theme.WARN.name()};")
        self.unlike_label.setVisible(False)
        self._unlike: tuple | None = None  # (patient id, model time, model version, n unlike, n assessed)
        bl.addWidget(self.unlike_label)
        row = QHBoxLayout()
        self.assess_button = QPushButton("Assess")
        if assess_action is not None:
            self.assess_button.setToolTip(assess_action.toolTip())
            assess_action.triggered.connect(self.assess)
        self.assess_button.clicked.connect(self.assess)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setVisible(False)
        self.progress.setMaximumHeight(14)
        row.addWidget(self.assess_button)
        row.addWidget(self.progress, 1)
        bl.addLayout(row)
        lay.addWidget(box)

        cbox = QGroupBox("Clinician's final severity")
        cbl = QVBoxLayout(cbox)
        flow = FlowWidget(cbox, hspacing=6, vspacing=4)  # two rows when the dock is narrow
        cbl.addWidget(flow)
        self.clin_group = QButtonGroup(self)
        self.clin_group.setExclusive(False)
        self.clin_buttons = []
        for label in sorted(SEVERITY_LEVELS):
            b = QPushButton(SEVERITY_LEVELS[label])
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            self.clin_group.addButton(b, label)
            self.clin_buttons.append(b)
            flow.add(b)
        self.clin_group.idClicked.connect(self._on_clinician)
        lay.addWidget(cbox)
        self.total = QLabel("")
        lay.addWidget(self.total)
        lay.addStretch(1)

        self.stale_label = QLabel("")
        self.stale_label.setWordWrap(True)
        self.stale_label.setProperty("role", "error")
        self.stale_label.setVisible(False)
        self.reassess_button = QPushButton("Re-assess now")
        self.reassess_button.setToolTip("Run the model again on the patient as it is now")
        self.reassess_button.setVisible(False)
        self.reassess_button.clicked.connect(self.assess)
        bl.insertWidget(bl.indexOf(self.assessed) + 1, self.stale_label)
        bl.insertWidget(bl.indexOf(self.stale_label) + 1, self.reassess_button)
        self._basis: tuple | None = None  # what the shown assessment was made from (patient id, signature)
        self._masks_changed = False
        session.patientChanged.connect(lambda _p: self._new_patient())
        session.dataChanged.connect(self._on_data)
        model.engineChanged.connect(lambda _e: self._update_model())
        model.loadingChanged.connect(lambda _b: self._update_model())
        model.loadFailed.connect(lambda _m: self._update_model())
        self._update_model()
        self.refresh()

    # ------------------------------------------------------------------ out of date
    @staticmethod
    def _signature(p) -> tuple:
        """What an assessment depends on that the clinician can change: clinical information, zone scores,
        the zones' media."""
        import json

        scores = tuple(sorted((z, None if r.clinician_score is None else r.clinician_score.value,
                               None if r.media is None else r.media.sha256) for z, r in p.zones.items()))
        return json.dumps(p.clinical.to_dict(), sort_keys=True, default=str), scores

    def _new_patient(self) -> None:
        self._aid = None
        self.refresh()

    def _on_data(self, _what: str) -> None:
        self.refresh()

    _aid: tuple | None = None

    def _track_assessment(self, p) -> None:
        """A new assessment (or patient) on screen: what it was made from is the patient as it is now."""
        sev = p.severity
        aid = (p.patient_id, sev.model_time, sev.model_version, tuple(sev.model_probs or ()))
        if aid != self._aid:
            self._aid = aid
            self._masks_changed = False
            self._basis = (p.patient_id, self._signature(p))

    def masks_changed(self, *_args) -> None:
        """A mask was corrected: an assessment made before is out of date."""
        self._masks_changed = True
        self.refresh()

    def stale_reasons(self) -> list[str]:
        p = self.session.patient
        if p is None or not p.severity.model_probs or self._basis is None or self._basis[0] != p.patient_id:
            return []
        old_clin, old_scores = self._basis[1]
        new_clin, new_scores = self._signature(p)
        why = []
        if old_clin != new_clin:
            why.append("the clinical information")
        if [s[1] for s in old_scores] != [s[1] for s in new_scores]:
            why.append("a zone score")
        if [s[2] for s in old_scores] != [s[2] for s in new_scores]:
            why.append("a zone's clip")
        if self._masks_changed:
            why.append("a mask")
        return why

    # ------------------------------------------------------------------ display
    def _update_model(self) -> None:
        if self.model.loading:
            text = "Model: loading…"
        elif self.model.engine is None:
            text = f"Model: {self.model.description}"
        else:
            text = f"Active model: {self.model.description}"
        self.model_label.setText(text)
        self._update_enabled()

    def _update_enabled(self) -> None:
        ok = self.session.patient is not None and self.model.engine is not None and self.job is None
        self.assess_button.setEnabled(ok)
        if self.session.patient is None:
            self.assess_button.setToolTip("Open a patient first")
        elif self.model.engine is None:
            self.assess_button.setToolTip("No model loaded")
        else:
            self.assess_button.setToolTip("Run the severity model on this patient")

    @staticmethod
    def _unlike_saved(p) -> tuple | None:
        """The same tuple as ``_unlike`` from the findings saved with the zones' model scores of the patient's
        stored assessment (so the sentence is back after the patient is reopened)."""
        sev = p.severity
        if not sev.model_time:
            return None
        scores = [z.model_score for z in p.zones.values() if z.model_score is not None
                  and z.model_score.time == sev.model_time and z.model_score.findings]
        if not scores:
            return None
        n = sum(1 for ms in scores if ms.findings.get("unlike_training"))
        return p.patient_id, sev.model_time, sev.model_version, n, len(scores)

    def _show_unlike(self) -> None:
        """One sentence while the assessment on screen has zones unlike the training clips (from this session's
        assessment, else from the findings saved with the patient)."""
        p, u = self.session.patient, self._unlike
        if p is not None and (u is None or u[0] != p.patient_id):
            u = self._unlike_saved(p)
        show = (p is not None and u is not None and u[3] > 0
                and (p.patient_id, p.severity.model_time, p.severity.model_version) == u[:3])
        if show:
            self.unlike_label.setText(f"{u[3]} of {u[4]} zones are unlike the training clips: severity not backed "
                                      "by the model")
        self.unlike_label.setVisible(show)

    def refresh(self) -> None:
        p = self.session.patient
        self._show_unlike()
        for b in self.clin_buttons:
            b.setEnabled(p is not None)
        self._update_enabled()
        if p is None:
            self.bars.set_probs(None)
            self.binary.setText("Severe vs non-severe: —")
            self.assessed.setText("")
            self.total.setText("")
            for b in self.clin_buttons:
                b.setChecked(False)
            return
        sev = p.severity
        clin = sev.clinician_label
        self.bars.set_probs(sev.model_probs, marker=clin - 1 if clin else None)
        if sev.model_probs:
            p_severe = sum(sev.model_probs[2:])
            verdict = "SEVERE" if p_severe >= 0.5 else "non-severe"
            self.binary.setText(f"Severe vs non-severe: {verdict}  (P(severe or critical) = {p_severe:.0%})")
            self.assessed.setText(f"Assessed with model {sev.model_version} at {sev.model_time}")
        else:
            self.binary.setText("Severe vs non-severe: —")
            self.assessed.setText("Not assessed yet: press Assess (Ctrl+Enter).")
        for label, b in zip(sorted(SEVERITY_LEVELS), self.clin_buttons):
            b.setChecked(clin == label)
        self._track_assessment(p)
        why = self.stale_reasons()
        self.stale_label.setVisible(bool(why))
        self.reassess_button.setVisible(bool(why))
        self.reassess_button.setEnabled(self.assess_button.isEnabled())
        if why:
            self.stale_label.setText("Out of date: " + ", ".join(why) + " changed after this assessment.")
        total = p.total_score()
        scored = sum(1 for z in p.zones.values() if z.effective_score is not None)
        self.total.setText(f"Total LUS score: {total if total is not None else '—'}  "
                           f"({scored}/{len(p.zones)} zones scored)")

    def _on_clinician(self, label: int) -> None:
        p = self.session.patient
        if p is None:
            return
        self.session.set_clinician_severity(None if p.severity.clinician_label == label else label)

    # ------------------------------------------------------------------ assess
    def assess(self) -> None:
        if self.job is not None or self.session.patient is None:
            return
        if self.model.engine is None:
            if self.model.loading:
                self.assessed.setText("The model is still loading; Assess is available in a few seconds.")
            else:
                self.session.errorRaised.emit("Assess", "No model is loaded: " + self.model.description)
            return
        p = self.session.patient
        if not any(z.media is not None for z in p.zones.values()):
            self.session.errorRaised.emit("Assess", f"patient {p.patient_id}: no zone has a clip or still yet")
            return
        pid = p.patient_id
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.assessed.setText("Assessing…")

        def done(assessment) -> None:
            self._finish()
            p = self.session.patient
            if p is None or p.patient_id != pid:
                return  # the user moved on; the result belongs to another patient
            self.session.apply_assessment(assessment)
            found = getattr(assessment, "zone_findings", None) or {}
            self._unlike = (p.patient_id, p.severity.model_time, p.severity.model_version,
                            sum(1 for zf in found.values() if zf.unlike_training), len(assessment.zone_probs))
            self._show_unlike()
            self.assessmentApplied.emit(assessment)
            took = (getattr(assessment, "timings", None) or {}).get("total_s")
            if took is not None:
                self.assessed.setText(self.assessed.text() + f" (took {took:.1f} s)")
            if assessment.warnings:
                self.session.errorRaised.emit("Assessed with warnings", "\n".join(assessment.warnings))
            self.assessFinished.emit(True)

        def failed(exc: BaseException, _tb: str) -> None:
            self._finish()
            self.session.errorRaised.emit("Assess failed", f"patient {pid}: {exc}")
            self.refresh()
            self.assessFinished.emit(False)

        self.job = self.model.assess(self.session, done, failed)
        if self.job is not None:
            self.job.progress.connect(lambda pct, msg: (self.progress.setValue(pct), self.assessed.setText(f"Assessing {msg}…")))
        self._update_enabled()

    def _finish(self) -> None:
        self.job = None
        self.progress.setVisible(False)
        self._update_enabled()
