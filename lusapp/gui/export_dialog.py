"""File > Export dataset…: the store as a dataset folder (``lusapp export``, docs/export-format.md) from the app.

The dialog asks for a new output folder, whether to de-identify (on by default) and whether to add DICOM SEG /
SR; the export runs in a worker (:func:`lusapp.export.exporter.export_store`, the store opened read-only) with a
progress bar, and Cancel stops it between zones (nothing is left in the output folder then).
"""

from __future__ import annotations

import datetime as _dt
import threading
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget)

from lusapp.gui.workers import Job, start_job


class ExportDialog(QDialog):
    """Export ``store_root``; ``result`` holds the :class:`ExportResult` once an export finished."""

    def __init__(self, store_root: str | Path, parent: QWidget | None = None, settings: QSettings | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export dataset")
        self.store_root = Path(store_root)
        self.settings = settings
        self.job: Job | None = None
        self.result = None
        self._cancel = threading.Event()
        start = Path(str(settings.value("export/dir", "") or Path.home())) if settings else Path.home()
        self.folder = QLineEdit(str(start / f"lusapp-export-{_dt.date.today():%Y%m%d}"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.deidentify = QCheckBox("De-identify (keyed pseudonyms, shifted dates, cleaned DICOM, burned-in text "
                                    "blacked out)")
        self.deidentify.setChecked(True)
        self.dicom = QCheckBox("Also DICOM SEG of the masks and SR of the scores (DICOM zones)")
        from lusapp.export.deid import default_key_path

        self.key_note = QLabel(f"Site key: {default_key_path()} (created on first use; keep it at the site)")
        self.key_note.setWordWrap(True)
        self.deidentify.toggled.connect(self.key_note.setVisible)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Store", QLabel(str(self.store_root)))
        form.addRow("Output folder (new or empty)", row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.clicked.connect(self.start)
        self.buttons.rejected.connect(self.cancel)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        for w in (self.deidentify, self.key_note, self.dicom, self.progress, self.status, self.buttons):
            lay.addWidget(w)
        self.resize(640, self.sizeHint().height())

    def _browse(self) -> None:
        parent = QFileDialog.getExistingDirectory(self, "Folder to export into", str(Path(self.folder.text()).parent))
        if parent:
            self.folder.setText(str(Path(parent) / Path(self.folder.text()).name))

    def start(self) -> None:
        """Start the export in a worker (the Export button)."""
        if self.job is not None and self.job.running:
            return
        from lusapp.export.exporter import export_store

        out = Path(self.folder.text().strip()).expanduser()
        if self.settings is not None:
            self.settings.setValue("export/dir", str(out.parent))
        self._cancel.clear()
        self.result = None
        deid, dicom, root = self.deidentify.isChecked(), self.dicom.isChecked(), self.store_root

        def run():
            return export_store(root, out, deid, dicom=dicom, progress=lambda pct, msg: job.report(pct, msg),
                                cancelled=self._cancel.is_set)

        job = Job(run, name="export")
        job.progress.connect(lambda pct, msg: (self.progress.setValue(pct), self.status.setText(msg)))
        job.finished.connect(self._done)
        job.failed.connect(self._failed)
        self.job = job
        self.export_button.setEnabled(False)
        self.status.setText("Exporting…")
        start_job(job)

    def cancel(self) -> None:
        """Cancel: stops a running export (nothing is left), else closes the dialog."""
        if self.job is not None and self.job.running:
            self._cancel.set()
            self.status.setText("Cancelling…")
        else:
            self.reject()

    def _done(self, result) -> None:
        self.result = result
        self.export_button.setEnabled(True)
        self.progress.setValue(100)
        text = f"Exported {result.patients} patient(s), {result.mask_frames} labelled frame(s) to {result.path}"
        if result.warnings:
            text += "\n" + "\n".join(result.warnings[:10])
        self.status.setText(text)

    def _failed(self, exc: BaseException, _tb: str) -> None:
        self.export_button.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText(f"Not exported: {exc}")


def open_export_dialog(window) -> ExportDialog | None:
    """File > Export dataset…: saves the open patient first (the export reads the store), then shows the dialog."""
    s = window.session
    if s.store is None:
        window.statusBar().showMessage("No store open", 3000)
        return None
    if s.patient is not None and not s.readonly and not s.save():
        return None
    dlg = ExportDialog(s.store.root, window, getattr(window, "settings", None))
    dlg.show()
    window.export_dialog = dlg
    return dlg
