"""Patient list dock content: the open store, its patients (completeness, model and clinician severity),
new patient, import of a patient folder, and import of clips into zones (file dialog or drag and drop).

Dropping a folder on the list imports it as a patient; dropping files on the zone board (or choosing them
here) imports them into zones: one file dropped on a tile goes to that tile, otherwise each file goes to
the zone its name starts with (``R1.mp4``, ``l3_still.png``) and the rest are reported.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QInputDialog, QLabel,
                               QLineEdit, QPushButton, QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from lusapp.core.errors import ValidationError
from lusapp.core.patient import check_patient_id
from lusapp.core.scales import SEVERITY_LEVELS
from lusapp.gui import theme
from lusapp.gui.session import READONLY_BANNER, SessionController
from lusapp.store import PatientSummary

MEDIA_FILTER = "Clips and stills (*.mp4 *.avi *.mov *.mkv *.gif *.png *.jpg *.jpeg *.bmp *.tif *.tiff *.dcm);;All files (*)"
COLUMNS = ("Patient", "Exam", "Images", "Scored", "Model", "Clinician")


def assign_files(paths: list[str], zone_ids: tuple[str, ...], target_zone: str = "") -> tuple[dict[str, str], list[str]]:
    """``({zone: path}, unassigned)``: one file with a target zone goes there; else by the file name's
    leading zone id (case-insensitive, followed by a non-alphanumeric character or the end)."""
    if target_zone and len(paths) == 1:
        return {target_zone: paths[0]}, []
    out: dict[str, str] = {}
    rest: list[str] = []
    by_lower = {z.lower(): z for z in zone_ids}
    for p in paths:
        m = re.match(r"^([A-Za-z]+\d+)(?![A-Za-z0-9])", Path(p).stem)
        zid = by_lower.get(m.group(1).lower()) if m else None
        if zid is None or zid in out:
            rest.append(p)
        else:
            out[zid] = p
    return out, rest


def _sev_text(label: int | None) -> str:
    return SEVERITY_LEVELS.get(label, "—") if label else "—"


class PathLabel(QLabel):
    """One line: a path with its middle elided to the width the label gets (a long store path does not widen
    the dock beyond a 1280 px screen's 300 px); the whole text is in the tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.full_text = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(60)
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self.full_text = text
        self._elide()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideMiddle, max(self.width(), 1)))


class PatientList(QWidget):
    def __init__(self, session: SessionController, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.setObjectName("patientList")
        self.setAcceptDrops(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(3)  # compact: the list, its table row and buttons fit the 1280 x 720 dock unscrolled
        top = QHBoxLayout()
        self.store_label = PathLabel("No store open")
        self.store_label.setProperty("role", "dim")
        self.open_button = QPushButton("Open store…")
        self.open_button.clicked.connect(self.open_store_dialog)
        top.addWidget(self.store_label, 1)
        top.addWidget(self.open_button)
        lay.addLayout(top)
        self.readonly_banner = QLabel("")  # amber, while the store is read-only
        self.readonly_banner.setObjectName("readonlyBanner")
        self.readonly_banner.setWordWrap(True)
        self.readonly_banner.setStyleSheet(f"color: {theme.WARN.name()}; font-weight: 600;")
        self.readonly_banner.setVisible(False)
        lay.addWidget(self.readonly_banner)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter patients…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        lay.addWidget(self.filter)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeaderItem(COLUMNS.index("Scored")).setToolTip(
            "Zones with a clinician score (the model's scores are not counted)")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setMinimumHeight(64)  # header + one row: the dock stays short on a 720 px screen
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._on_selection)
        lay.addWidget(self.table, 1)
        row = QHBoxLayout()  # one row of short labels: fits the 300 px dock of a 1280 px screen
        self.new_button = QPushButton("New…")
        self.new_button.setToolTip("New patient")
        self.import_button = QPushButton("Folder…")
        self.import_button.setToolTip("Import a plain patient folder (R1.mp4, …, clinical.json, scores.csv); "
                                      "or drop the folder on this list")
        self.clips_button = QPushButton("Clips…")
        self.clips_button.setToolTip("Import clips or stills into zones; or drop them on the zone board")
        self.new_button.clicked.connect(self.new_patient_dialog)
        self.import_button.clicked.connect(self.import_folder_dialog)
        self.clips_button.clicked.connect(lambda: self.import_clips_dialog())
        row.addWidget(self.new_button)
        row.addWidget(QLabel(" Import:"))
        row.addWidget(self.import_button)
        row.addWidget(self.clips_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.busy_label = QLabel("")
        self.busy_label.setProperty("role", "dim")
        self.busy_label.setVisible(False)  # shown while an import runs (its line would cost the table a row)
        lay.addWidget(self.busy_label)

        session.storeChanged.connect(lambda _s: self.refresh())
        session.patientsChanged.connect(self.refresh)
        session.patientSaved.connect(self.update_patient_row)
        session.patientChanged.connect(lambda _p: self._select_current())
        session.busyChanged.connect(self._on_busy)
        self._selecting = False
        self.refresh()

    # ------------------------------------------------------------------ list
    def refresh(self) -> None:
        store = self.session.store
        self.store_label.set_full_text(f"Store: {store.root}" + (" (read-only)" if store.readonly else "")
                                       if store is not None else "No store open")
        self.store_label.setToolTip(str(store.root) if store is not None else "")
        ro = store is not None and store.readonly
        why = self.session.readonly_reason if ro else ""
        self.readonly_banner.setText(f"⚠ {READONLY_BANNER}" + (f" ({why})" if why else "") if ro else "")
        self.readonly_banner.setVisible(ro)
        for b in (self.new_button, self.import_button):
            b.setEnabled(store is not None and not store.readonly)
        self.clips_button.setEnabled(self.session.patient is not None and store is not None and not store.readonly)
        self._selecting = True
        self.table.setRowCount(0)
        summaries = store.list_patients() if store is not None else []
        n_zones = len(self.session.patient.zones) if self.session.patient else 12
        for summary in summaries:
            self.table.insertRow(self.table.rowCount())
            self._fill_row(self.table.rowCount() - 1, summary, n_zones)
        self._selecting = False
        self._apply_filter(self.filter.text())
        self._select_current()

    def _fill_row(self, r: int, s, n_zones: int) -> None:
        if s.problem:
            cells = (s.patient_id, "damaged", "", "", "", "")
        else:
            cells = (s.patient_id, s.exam_date or "", f"{s.n_zones_with_media}/{n_zones}",
                     f"{s.n_scored}/{n_zones}", _sev_text(s.model_severity), _sev_text(s.clinician_severity))
        for c, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, s.patient_id)
            if s.problem:
                item.setForeground(theme.ERROR)
                item.setToolTip(s.problem)
            elif c == 4 and s.model_severity:
                item.setForeground(theme.severity_color(s.model_severity).lighter(120))
            elif c == 5 and s.clinician_severity:
                item.setForeground(theme.severity_color(s.clinician_severity).lighter(120))
            elif c == 2 and s.n_zones_with_media < n_zones:
                item.setForeground(QColor(theme.TEXT_DIM))
            self.table.setItem(r, c, item)

    def update_patient_row(self, pid: str) -> None:
        """Refresh the open patient's row from memory after a save (no re-reading of the whole store)."""
        p = self.session.patient
        if p is None or p.patient_id != pid:
            return
        zones = p.zones.values()
        summary = PatientSummary(p.patient_id, p.exam_date, sum(1 for z in zones if z.media is not None),
                                 sum(1 for z in zones if z.clinician_score is not None), p.severity.model_label,
                                 p.severity.clinician_label)
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() == pid:
                self._selecting = True
                self._fill_row(r, summary, len(p.zones))
                self._selecting = False
                return
        self.refresh()  # a new row

    def patient_ids(self) -> list[str]:
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount())]

    def _apply_filter(self, text: str) -> None:
        t = text.strip().lower()
        for r in range(self.table.rowCount()):
            self.table.setRowHidden(r, bool(t) and t not in self.table.item(r, 0).text().lower())

    def _select_current(self) -> None:
        pid = self.session.patient.patient_id if self.session.patient else None
        self._selecting = True
        self.table.clearSelection()
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() == pid:
                self.table.selectRow(r)
                break
        self._selecting = False
        self.clips_button.setEnabled(self.session.patient is not None and self.session.store is not None
                                     and not self.session.store.readonly)

    def _on_selection(self) -> None:
        if self._selecting:
            return
        rows = self.table.selectionModel().selectedRows()
        if rows:
            pid = self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
            if not self.session.open_patient(pid):
                self._select_current()

    def _on_busy(self, busy: bool, message: str) -> None:
        self.busy_label.setText(f"{message}…" if busy else "")
        self.busy_label.setVisible(bool(busy))
        for b in (self.new_button, self.import_button, self.clips_button, self.open_button):
            b.setEnabled(not busy)
        if not busy:
            self.refresh()

    # ------------------------------------------------------------------ dialogs
    def open_store_dialog(self) -> None:
        start = str(self.session.store.root) if self.session.store is not None else ""
        folder = QFileDialog.getExistingDirectory(self, "Open or create a patient store", start)
        if not folder:
            return
        path = Path(folder)
        is_new = not (path / "store.json").exists() and (not path.exists() or not any(path.iterdir()))
        self.session.open_store(path, create=is_new)

    def new_patient_dialog(self) -> None:
        pid, ok = QInputDialog.getText(self, "New patient", "Pseudonymous patient id (letters, digits, - _ .):")
        if not ok or not pid.strip():
            return
        try:
            check_patient_id(pid.strip())
        except ValidationError as exc:
            self.session.errorRaised.emit("New patient", str(exc))
            return
        self.session.new_patient(pid.strip())

    def import_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a patient folder")
        if folder:
            self.session.import_folder(folder)

    def import_clips_dialog(self, zone_id: str = "") -> None:
        if self.session.patient is None:
            self.session.errorRaised.emit("Import clips", "Open or create a patient first.")
            return
        zone_id = zone_id or self.session.zone_id
        files, _ = QFileDialog.getOpenFileNames(self, f"Import clips (one file goes to zone {zone_id})", "",
                                                MEDIA_FILTER)
        if files:
            self.import_files(files, zone_id if len(files) == 1 else "")

    def import_files(self, paths: list[str], zone_id: str = "") -> None:
        """Import ``paths`` into zones (see :func:`assign_files`); reports files that match no zone."""
        if self.session.patient is None:
            self.session.errorRaised.emit("Import clips", "Open or create a patient first.")
            return
        assigned, rest = assign_files(paths, self.session.patient.protocol.zone_ids, zone_id)
        if rest:
            self.session.errorRaised.emit(
                "Some files were not imported",
                "These files do not name a zone (e.g. R1.mp4) — drop them one at a time on a zone tile:\n"
                + "\n".join(rest))
        if assigned:
            self.session.import_media(assigned)

    # ------------------------------------------------------------------ drop a folder to import a patient
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and self.session.store is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        folders = [p for p in paths if p.is_dir()]
        if folders:
            event.acceptProposedAction()
            self.session.import_folder(folders[0])
            if len(folders) > 1:
                self.session.errorRaised.emit("Import", "One folder at a time; imported only " + str(folders[0]))
        elif paths:
            event.acceptProposedAction()
            self.import_files([str(p) for p in paths])
