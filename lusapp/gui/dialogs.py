"""Error, about and keyboard-shortcut dialogs."""

from __future__ import annotations

import platform

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QLabel, QMessageBox, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

import lusapp


def error_box(parent: QWidget | None, title: str, message: str, modal: bool = True) -> QMessageBox:
    """A warning box whose text names the file and the problem (``str`` of a LusError). Non-modal boxes
    are shown and returned at once (used by tests and for errors raised from background jobs)."""
    box = QMessageBox(parent)
    box.setObjectName("errorBox")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    first, _, rest = message.partition("\n")
    box.setText(first)
    if rest:
        box.setInformativeText(rest)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    if modal:
        box.exec()
    else:
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()
    return box


def about_text(model_description: str) -> str:
    return (f"<h3>LUSApp {lusapp.__version__}</h3>"
            "<p>Lung-ultrasound review: live pattern masks (pleural line, A-line, B-line, consolidation), "
            "zone scores 0–4 and patient severity with per-zone attention.</p>"
            f"<p><b>Active model:</b> {model_description}</p>"
            f"<p>Python {platform.python_version()} · {platform.system()} {platform.machine()}</p>"
            "<p>For research and training use; not a medical device. Every model output is shown next to "
            "the clinician's own assessment and can be corrected.</p>")


class AboutDialog(QDialog):
    def __init__(self, model_description: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About LUSApp")
        self.setObjectName("aboutDialog")
        lay = QVBoxLayout(self)
        self.label = QLabel(about_text(model_description))
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        buttons.accepted.connect(self.accept)
        lay.addWidget(buttons)
        self.resize(420, 260)


class ShortcutsDialog(QDialog):
    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcutsDialog")
        lay = QVBoxLayout(self)
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(("Action", "Keys"))
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (text, keys) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(text))
            table.setItem(r, 1, QTableWidgetItem(keys))
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table = table
        lay.addWidget(table)
        note = QLabel("Change keys in <user data>/shortcuts.json (same format as resources/config/shortcuts.json).")
        note.setProperty("role", "dim")
        note.setWordWrap(True)
        lay.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(460, 560)
