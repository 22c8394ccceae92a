"""Clinical information form: age, sex, symptoms and history (yes / no / unknown).

Each item is yes (checked), no (empty) or unknown (grey, italic; what a new patient starts with, and the
model encodes it as 0.5). One click gives "yes" (from unknown or no), a click on "yes" gives "no"; unknown
is set back from the item's right-click menu or, for all, stays until answered. The items flow into as
many columns as the dock is wide. Every change is validated and committed to the session at
once (autosaved); an invalid age shows a message next to the field and is not committed until fixed.
Under the items, the patient's free-text notes (``Patient.notes``) are committed as they are typed (so
switching patients straight after typing loses nothing) and autosaved like the rest.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMenu,
                               QPlainTextEdit, QPushButton, QVBoxLayout, QWidget)

from lusapp.core.clinical import HISTORY, SYMPTOMS
from lusapp.core.errors import ValidationError
from lusapp.core.patient import ClinicalInfo
from lusapp.gui.flow_layout import FlowWidget
from lusapp.gui.session import SessionController

TITLES = {
    "dyspnea": "Dyspnoea", "sore_throat": "Sore throat", "chest_pain": "Chest pain", "nervous_system": "Nervous system",
    "chronic_kidney": "Chronic kidney disease", "cardiovascular": "Cardiovascular disease",
    "digestive": "Digestive disease", "respiratory": "Respiratory disease",
}
SEXES = [("Unknown", None), ("Female", "F"), ("Male", "M")]
_STATE = {True: Qt.CheckState.Checked, False: Qt.CheckState.Unchecked, None: Qt.CheckState.PartiallyChecked}


def title(name: str) -> str:
    return TITLES.get(name, name.replace("_", " ").capitalize())


def parse_age(text: str) -> int | None:
    """'' -> None (unknown); otherwise an integer 0-120, else ``ValidationError('age', ...)``."""
    t = text.strip()
    if not t:
        return None
    try:
        age = int(t)
    except ValueError:
        raise ValidationError("age", f"{t!r} is not a whole number of years") from None
    if not 0 <= age <= 120:
        raise ValidationError("age", f"{age} is outside 0–120")
    return age


class YesNoBox(QCheckBox):
    """A check box for yes / no / unknown: a click gives yes (from unknown or no) or no (from yes);
    the right-click menu sets any of the three, unknown included."""

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setTristate(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)

    def nextCheckState(self) -> None:  # noqa: N802
        self.setCheckState(Qt.CheckState.Unchecked if self.checkState() == Qt.CheckState.Checked
                           else Qt.CheckState.Checked)

    def _menu(self, pos) -> None:
        menu = QMenu(self)
        for label, state in (("Yes", Qt.CheckState.Checked), ("No", Qt.CheckState.Unchecked),
                             ("Unknown", Qt.CheckState.PartiallyChecked)):
            act = menu.addAction(label)
            act.setCheckable(True)
            act.setChecked(self.checkState() == state)
            act.triggered.connect(lambda _c=False, st=state: self.setCheckState(st))
        menu.popup(self.mapToGlobal(pos))


class ClinicalForm(QWidget):
    def __init__(self, session: SessionController, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.setObjectName("clinicalForm")
        self._loading = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        top = QFormLayout()
        self.age = QLineEdit()
        self.age.setPlaceholderText("unknown")
        self.age.setMaximumWidth(90)
        self.age.setAccessibleName("Age in years")
        self.age_error = QLabel("")
        self.age_error.setProperty("role", "error")
        age_row = QHBoxLayout()
        age_row.addWidget(self.age)
        age_row.addWidget(self.age_error, 1)
        top.addRow("Age (years)", age_row)
        self.sex = QComboBox()
        for text, _v in SEXES:
            self.sex.addItem(text)
        top.addRow("Sex", self.sex)
        lay.addLayout(top)

        self.symptoms = self._group(lay, "Symptoms", SYMPTOMS)
        self.history = self._group(lay, "History", HISTORY)
        legend = QLabel("Click: yes; click again: no. Grey, italic = unknown (right-click an item to set it "
                        "back to unknown).")
        legend.setWordWrap(True)
        legend.setProperty("role", "dim")
        self.unknown_to_no = QPushButton("Unknown → No")
        self.unknown_to_no.setToolTip("Set every symptom and history item still unknown to 'no'")
        self.unknown_to_no.clicked.connect(self._unknown_to_no)
        lay.addWidget(legend)
        row = QHBoxLayout()
        row.addWidget(self.unknown_to_no)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addWidget(QLabel("Patient notes"))
        self.notes = QPlainTextEdit()
        self.notes.setObjectName("patientNotes")
        self.notes.setAccessibleName("Patient notes")
        self.notes.setPlaceholderText("Notes on this patient…")
        self.notes.setMaximumHeight(80)
        self.notes.textChanged.connect(self.commit_notes)
        lay.addWidget(self.notes)
        lay.addStretch(1)

        self.age.textEdited.connect(self._validate_age)
        self.age.editingFinished.connect(self.commit)
        self.sex.currentIndexChanged.connect(lambda _i: self.commit())
        session.patientChanged.connect(self.load)
        session.dataChanged.connect(lambda what: self.load(session.patient) if what in ("clinical", "notes") else None)
        session.add_flush_hook(self.commit)
        self.load(session.patient)

    def _group(self, lay: QVBoxLayout, name: str, fields: tuple[str, ...]) -> dict[str, QCheckBox]:
        box = QGroupBox(name)
        outer = QVBoxLayout(box)
        outer.setContentsMargins(6, 4, 6, 4)
        flow = FlowWidget(box, hspacing=10, vspacing=2)  # as many columns as fit
        outer.addWidget(flow)
        boxes: dict[str, QCheckBox] = {}
        for i, f in enumerate(fields):
            cb = YesNoBox(title(f))
            cb.setCheckState(Qt.CheckState.PartiallyChecked)
            cb.setObjectName(f"{name.lower()}.{f}")
            cb.setProperty("unknown", True)
            cb.checkStateChanged.connect(lambda state, cb=cb: self._on_state(cb, state))
            flow.add(cb)
            boxes[f] = cb
        width = max(cb.sizeHint().width() for cb in boxes.values()) + 4
        for cb in boxes.values():  # equal widths: the flow reads as columns
            cb.setFixedWidth(width)
        lay.addWidget(box)
        return boxes

    def _on_state(self, cb: QCheckBox, state) -> None:
        unknown = state == Qt.CheckState.PartiallyChecked
        if cb.property("unknown") != unknown:
            cb.setProperty("unknown", unknown)  # unknown items read dim and italic
            cb.style().unpolish(cb)
            cb.style().polish(cb)
        cb.setToolTip(f"{cb.text()}: " + {Qt.CheckState.Checked: "yes", Qt.CheckState.Unchecked: "no"}.get(
            state, "unknown") + " (click: yes / no; right-click: unknown)")
        self.commit()

    # ------------------------------------------------------------------ patient -> form
    def load(self, patient) -> None:
        self._loading = True
        try:
            self.setEnabled(patient is not None)
            info = patient.clinical if patient is not None else ClinicalInfo()
            self.age.setText("" if info.age is None else str(info.age))
            self._validate_age(self.age.text())
            self.sex.setCurrentIndex([v for _t, v in SEXES].index(info.sex))
            for d, boxes in ((info.symptoms, self.symptoms), (info.history, self.history)):
                for f, cb in boxes.items():
                    cb.setCheckState(_STATE[d.get(f)])
            notes = patient.notes if patient is not None else ""
            if self.notes.toPlainText() != notes:
                self.notes.setPlainText(notes)
        finally:
            self._loading = False

    # ------------------------------------------------------------------ form -> patient
    def _validate_age(self, text: str) -> bool:
        try:
            parse_age(text)
        except ValidationError as exc:
            self.age_error.setText(exc.message)
            self.age.setProperty("invalid", True)
            ok = False
        else:
            self.age_error.setText("")
            self.age.setProperty("invalid", False)
            ok = True
        self.age.style().unpolish(self.age)
        self.age.style().polish(self.age)
        return ok

    def info(self) -> ClinicalInfo:
        """The form's content as a validated ClinicalInfo (raises ValidationError on a bad age)."""
        def flags(boxes: dict[str, QCheckBox]) -> dict[str, bool | None]:
            inv = {v: k for k, v in _STATE.items()}
            return {f: inv[cb.checkState()] for f, cb in boxes.items()}

        info = ClinicalInfo(age=parse_age(self.age.text()), sex=SEXES[self.sex.currentIndex()][1],
                            symptoms=flags(self.symptoms), history=flags(self.history))
        info.validate()
        return info

    def commit(self) -> bool:
        if self._loading or self.session.patient is None:
            return False
        if not self._validate_age(self.age.text()):
            # keep the last valid age; everything else still goes in
            info = self.info_without_age()
        else:
            info = self.info()
        self.session.set_clinical(info)
        return True

    def commit_notes(self) -> None:
        """The notes field to the session's patient (a no-op when nothing changed)."""
        if not self._loading and self.session.patient is not None:
            self.session.set_patient_notes(self.notes.toPlainText())

    def info_without_age(self) -> ClinicalInfo:
        saved_age = self.session.patient.clinical.age if self.session.patient else None
        text = self.age.text()
        self.age.blockSignals(True)
        self.age.setText("" if saved_age is None else str(saved_age))
        try:
            return self.info()
        finally:
            self.age.setText(text)
            self.age.blockSignals(False)

    def _unknown_to_no(self) -> None:
        self._loading = True
        for boxes in (self.symptoms, self.history):
            for cb in boxes.values():
                if cb.checkState() == Qt.CheckState.PartiallyChecked:
                    cb.setCheckState(Qt.CheckState.Unchecked)
        self._loading = False
        self.commit()
