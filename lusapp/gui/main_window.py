"""The main window: the clip view in the centre, docks around it, menus and toolbar from the action
factory. It only assembles and wires; behaviour lives in the session, model, clip-binding and measures
controllers and in the dock widgets."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import (QDockWidget, QFrame, QGroupBox, QLabel, QMainWindow, QMessageBox, QScrollArea,
                               QSplitter, QToolBar, QVBoxLayout, QWidget)

from PySide6.QtWidgets import QApplication

from lusapp.gui import theme
from lusapp.gui.actions import ActionFactory, load_specs_checked
from lusapp.gui.clinical_form import ClinicalForm
from lusapp.gui.clip_binding import ClipBinding
from lusapp.gui.dialogs import AboutDialog, ShortcutsDialog, error_box
from lusapp.gui.export_dialog import open_export_dialog
from lusapp.gui.label_next import LabelNextPanel
from lusapp.gui.measures_ctl import MeasuresController
from lusapp.gui.message_line import install_message_line
from lusapp.gui.model_ctl import ModelController
from lusapp.gui.patient_list import PatientList
from lusapp.gui.raters_panel import RatersPanel
from lusapp.gui.session import READONLY_BANNER, SessionController
from lusapp.gui.severity_panel import SeverityPanel
from lusapp.gui.zone_board import ZoneBoard
from lusapp.gui.zone_panel import ZonePanel

STATE_VERSION = 3  # 2: docks hold scroll areas, compact layout on small screens; 3: one Review dock (Raters + Label next)
COMPACT_BELOW = (1500, 950)  # available screen width / height under which the right docks are tabbed
DEFAULT_SIZE = (1500, 920)


def scrolled(widget: QWidget, name: str) -> QScrollArea:
    """``widget`` in a frameless scroll area, so a dock never forces the window beyond the screen."""
    area = QScrollArea()
    area.setObjectName(f"scroll.{name}")
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    area.setMinimumSize(120, 80)
    return area


def review_panel(raters: QWidget, label_next: QWidget) -> QSplitter:
    """The Review dock: the zone's raters (scores, masks, adjudication) above what to label next, in one tab
    rather than two so that the right dock's tabs read in full on a 1280 px screen (issue 11)."""
    split = QSplitter(Qt.Orientation.Vertical)
    split.setObjectName("reviewPanel")
    split.setChildrenCollapsible(False)
    for title, widget in (("Raters of this zone", scrolled(raters, "raters")), ("Label next", label_next)):
        box = QGroupBox(title)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(widget)
        split.addWidget(box)
    split.setStretchFactor(0, 3)
    split.setStretchFactor(1, 2)
    return split


class MainWindow(QMainWindow):
    def __init__(self, session: SessionController | None = None, model: ModelController | None = None,
                 settings: QSettings | None = None, modal_errors: bool = True):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("LUSApp")
        self.settings = settings if settings is not None else QSettings()
        self.modal_errors = modal_errors
        self.session = session or SessionController(self)
        self.model = model or ModelController(self)
        specs, shortcut_problem = load_specs_checked()
        self.actions_ = ActionFactory(self, specs)
        self.error_boxes: list = []
        if shortcut_problem:  # after the window is up, not in the way of building it
            QTimer.singleShot(0, lambda: self.show_error("Keyboard shortcuts", shortcut_problem))

        from lusapp.gui.clip_view import ClipView
        from lusapp.gui.seg_worker import SegWorker

        self.seg_worker = SegWorker(parent=self)
        self.clip_view = ClipView(self, seg_worker=self.seg_worker)
        self.setCentralWidget(self.clip_view)
        self.board = ZoneBoard()
        self.patients = PatientList(self.session)
        self.zone_panel = ZonePanel(self.session)
        self.clinical = ClinicalForm(self.session)
        self.raters = RatersPanel(self.session, self.clip_view)  # several raters, adjudication, agreement
        self.label_next = LabelNextPanel(self.session)  # what to label next (the review queue)
        self.severity = SeverityPanel(self.session, self.model, self.actions_.action("model.assess"))
        self.measures = MeasuresController(self.session, self.zone_panel, self)
        self.severity.assessmentApplied.connect(self.zone_panel.set_assessment)  # findings to the zone panel
        self.binding = ClipBinding(self.session, self.model, self.clip_view, self.seg_worker, self.measures, self)
        self.docks = {}
        self._build_docks()
        self._build_actions()
        self._wire()
        self.session.rater = str(self.settings.value("session/rater", self.session.rater) or self.session.rater)
        self.status_save = QLabel("")
        self.status_model = QLabel("")
        self.status_rater = QLabel(f"rater: {self.session.rater}")
        self.status_readonly = QLabel("")  # amber banner while the store is read-only
        self.status_readonly.setObjectName("readonlyBanner")
        self.status_readonly.setStyleSheet(f"color: {theme.WARN.name()}; font-weight: 600;")
        self.status_readonly.setVisible(False)
        self.statusBar().addPermanentWidget(self.status_readonly)
        self.statusBar().addPermanentWidget(self.status_rater)
        self.statusBar().addPermanentWidget(self.status_save)
        self.statusBar().addPermanentWidget(self.status_model)
        self.message_line = install_message_line(self)  # the last message stays until the next one
        self._update_title()
        self._update_model_status()
        self._on_readonly(self.session.readonly, self.session.readonly_reason)
        self.restore_state()

    # ------------------------------------------------------------------ assembly
    def _dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(f"dock.{key}")
        d.setWidget(widget if key in ("board", "review") else scrolled(widget, key))  # these size themselves
        d.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                      | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                      | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, d)
        self.docks[key] = d
        return d

    def _build_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self._dock("patients", "Patients", self.patients, left)
        self._dock("board", "Zones", self.board, left)
        self._dock("zone", "Zone", self.zone_panel, right)
        self._dock("severity", "Severity", self.severity, right)
        # short titles: the four tabs read in full in the 300 px right column of a maximised 1280 x 720 window
        self._dock("clinical", "Clinical", self.clinical, right)
        self.tabifyDockWidget(self.docks["severity"], self.docks["clinical"])
        self._dock("review", "Review", review_panel(self.raters, self.label_next), right)
        self.tabifyDockWidget(self.docks["severity"], self.docks["review"])
        self.docks["severity"].raise_()
        self.compact = False

    def available_screen(self):
        screen = self.screen() or QApplication.primaryScreen()
        return screen.availableGeometry() if screen is not None else None

    def use_compact_layout(self) -> None:
        """Small screens (1366 x 768, 1280 x 720): Zone, Severity, Clinical and Review share one tabbed dock on
        the right (one click apart) instead of being stacked; every dock scrolls."""
        self.compact = True
        for key in ("severity", "clinical", "review"):
            self.tabifyDockWidget(self.docks["zone"], self.docks[key])
        self.docks["zone"].raise_()

    def default_dock_sizes(self) -> None:
        """First-run proportions: a board big enough to read, the clip view as large as possible."""
        avail = self.available_screen()
        small = avail is not None and avail.height() < 900
        left_w, right_w = (325, 345) if self.compact else (420, 400)
        self.resizeDocks([self.docks["patients"], self.docks["board"]], [210, 470] if small else [240, 560],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["patients"], self.docks["zone"]], [left_w, right_w], Qt.Orientation.Horizontal)
        if not self.compact:
            self.resizeDocks([self.docks["zone"], self.docks["severity"]], [560, 330], Qt.Orientation.Vertical)

    def default_geometry(self) -> None:
        """First run: 1500 x 920, or the whole screen when it is smaller (compact layout)."""
        avail = self.available_screen()
        w, h = DEFAULT_SIZE
        if avail is None:
            self.resize(w, h)
            return
        if avail.width() < COMPACT_BELOW[0] or avail.height() < COMPACT_BELOW[1]:
            self.use_compact_layout()
        if avail.width() <= w or avail.height() <= h:
            self.resize(min(w, avail.width()), min(h, avail.height()))
            self.setWindowState(self.windowState() | Qt.WindowState.WindowMaximized)
        else:  # a large screen: most of it (1632 x 994 on 1920 x 1080), so both right docks fit unscrolled
            self.resize(max(w, int(avail.width() * 0.85)), max(h, int(avail.height() * 0.92)))

    def _build_actions(self) -> None:
        a, s, v, pl = self.actions_.action, self.session, self.clip_view, self.patients
        file_ids = {"file.open_store": pl.open_store_dialog, "file.new_patient": pl.new_patient_dialog,
                    "file.import_folder": pl.import_folder_dialog,
                    "file.import_clips": lambda: pl.import_clips_dialog(), "file.export_report": self.export_report,
                    "file.export_dataset": lambda: open_export_dialog(self),
                    "file.save": self.save_now,
                    "file.rater": self.ask_rater, "file.quit": self.close}
        edit_ids = {"edit.undo": v.undo, "edit.redo": v.redo}
        play_ids = {"play.toggle": v.toggle_play, "frame.next": v.step_forward, "frame.prev": v.step_back,
                    "frame.first": v.first_frame, "frame.last": v.last_frame,
                    "zone.next": s.next_zone, "zone.prev": s.prev_zone}
        play_ids.update(v.navigation_actions())  # jump to (un)labelled frames, fit / 100 % zoom
        tool_ids = {"tool.brush": v.tool_brush, "tool.eraser": v.tool_eraser, "tool.line": v.tool_line,
                    "tool.polygon": v.tool_polygon, "view.masks": v.toggle_masks}
        tool_ids.update(v.propagation_actions())  # propagate masks, accept / discard proposals
        tool_ids.update({f"tool.class{c}": (lambda _c=False, c=c: v.set_edit_class(c)) for c in range(1, 5)})
        score_ids = {f"score.{i}": (lambda _c=False, i=i: self._score(i)) for i in range(5)}
        score_ids["score.clear"] = lambda: self._score(None)
        model_ids = {"model.retrain": self.open_retrain}
        help_ids = {"help.shortcuts": self.show_shortcuts, "help.about": self.show_about}
        mb = self.menuBar()
        for title, ids in (("&File", file_ids), ("&Edit", edit_ids), ("&Playback", play_ids),
                           ("&Tools", tool_ids), ("&Score", score_ids), ("&Model", model_ids), ("&Help", help_ids)):
            menu = mb.addMenu(title)
            if title == "&Model":
                menu.addAction(a("model.assess"))  # triggered -> severity panel
            for aid, slot in ids.items():
                menu.addAction(a(aid, slot))
            if title == "&File":
                menu.insertSeparator(a("file.save"))
        view_menu = mb.addMenu("&View")
        for d in self.docks.values():
            view_menu.addAction(d.toggleViewAction())
        self.addActions(list(self.actions_.created().values()))  # shortcuts work with menus hidden too
        tb = QToolBar("Main", self)
        tb.setObjectName("toolbar.main")
        for aid in ("file.open_store", "file.import_folder", "file.save", "model.assess", "model.retrain"):
            tb.addAction(a(aid))
        self.addToolBar(tb)

    def _wire(self) -> None:
        s, b = self.session, self.board
        s.patientChanged.connect(b.set_patient)
        s.patientChanged.connect(lambda _p: (b.set_current(s.zone_id), self._update_title()))
        s.zoneChanged.connect(b.set_current)
        s.dataChanged.connect(lambda _w: b.refresh())
        s.attentionChanged.connect(b.set_attention)
        s.dirtyChanged.connect(lambda _d: self._update_title())
        s.saved.connect(lambda rev: self.status_save.setText(f"saved (revision {rev})"))
        s.errorRaised.connect(self.show_error)
        s.readonlyChanged.connect(self._on_readonly)
        # after the clip binding (connected in its constructor) has opened the zone's clip: its reader's notes
        for sig in (s.zoneChanged, s.patientChanged, s.dataChanged):
            sig.connect(lambda *_a: self._clip_notes_to_panel())
        for sig in (s.zoneChanged, s.patientChanged):  # the raters' masks of the new clip's frame
            sig.connect(lambda *_a: self.raters.refresh_frame())
        s.busyChanged.connect(lambda busy, msg: self.statusBar().showMessage(f"{msg}…" if busy else "Done", 0 if busy else 3000))
        b.zoneSelected.connect(s.set_zone)
        b.filesDropped.connect(lambda zid, paths: self.patients.import_files(paths, zid))
        self.clip_view.statusMessage.connect(lambda m: self.statusBar().showMessage(m, 4000))
        self.clip_view.maskEdited.connect(self.severity.masks_changed)
        self.clip_view.maskUnlabelled.connect(self.severity.masks_changed)
        self.model.engineChanged.connect(lambda _e: self._update_model_status())
        self.model.loadingChanged.connect(lambda _b: self._update_model_status())
        self.model.loadFailed.connect(lambda msg: (self._update_model_status(), self.show_error("Model not loaded", msg)))

    # ------------------------------------------------------------------ behaviour
    def _score(self, value: int | None) -> None:
        try:
            self.session.set_clinician_score(value)
        except ValueError as exc:  # ValidationError: e.g. 4 on a 0-3 scale
            self.statusBar().showMessage(str(exc), 4000)

    def set_rater(self, name: str) -> bool:
        name = name.strip()
        if not name:
            return False
        self.session.rater = name
        self.settings.setValue("session/rater", name)
        self.status_rater.setText(f"rater: {name}")
        return True

    def ask_rater(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        name, ok = QInputDialog.getText(self, "Your name", "Name recorded with your scores and corrected masks:",
                                        text=self.session.rater)
        if ok:
            self.set_rater(name)

    def save_now(self) -> None:
        if self.session.save():
            self.statusBar().showMessage("Saved", 2000)

    def export_report(self, path: str | None = None) -> None:
        """File > Export report…: the patient's PDF report (lusapp.report), built in a worker from the store
        after saving (the report shows what is stored); ``path`` skips the file dialog."""
        s = self.session
        if s.patient is None or s.store is None:
            self.statusBar().showMessage("No patient open", 3000)
            return
        if not s.readonly and not s.save():
            return
        pid = s.patient.patient_id
        if not path:
            from pathlib import Path

            from PySide6.QtWidgets import QFileDialog

            start = Path(str(self.settings.value("report/dir", "") or Path.home())) / f"{pid}-report.pdf"
            path, _f = QFileDialog.getSaveFileName(self, "Export report", str(start), "PDF (*.pdf)")
            if not path:
                return
            self.settings.setValue("report/dir", str(Path(path).parent))
        from lusapp.gui.workers import run_job

        def build(store, pid: str, out: str):
            from lusapp.report.content import gather_store
            from lusapp.report.pdf import write_report

            content = gather_store(store, pid)
            return write_report(content, out), list(content.warnings)

        def done(result) -> None:
            out, warnings = result
            self.statusBar().showMessage(f"Report written: {out}" + (f" ({len(warnings)} note(s))" if warnings else ""),
                                         8000)
            if warnings:  # e.g. characters no bundled font has: said in the PDF and here, never silently
                from PySide6.QtWidgets import QMessageBox

                box = QMessageBox(QMessageBox.Icon.Information, "Report written", f"Report written: {out}",
                                  parent=self)
                box.setInformativeText("\n".join(warnings))
                box.setModal(False)
                box.show()
                self.report_notes_box = box

        self.statusBar().showMessage(f"Writing the report of {pid}…", 0)
        self.report_job = run_job(build, s.store, pid, path, name="report", on_done=done,
                                  on_error=lambda exc, _tb: (self.statusBar().clearMessage(),
                                                             self.show_error("Report not written", str(exc))))

    def _update_title(self) -> None:
        p = self.session.patient
        ro = " (read-only)" if self.session.readonly else ""
        self.setWindowTitle(f"LUSApp — {p.patient_id}{ro} [*]" if p else f"LUSApp{ro}")
        self.setWindowModified(self.session.dirty)
        self.status_save.setText("unsaved changes…" if self.session.dirty else self.status_save.text())

    def _on_readonly(self, readonly: bool, reason: str) -> None:
        self.status_readonly.setText(f"{READONLY_BANNER}" + (f" ({reason})" if reason else "") if readonly else "")
        self.status_readonly.setToolTip("This store was opened read-only: you can view it; scores, notes, masks "
                                        "and assessments are not written to it." if readonly else "")
        self.status_readonly.setVisible(readonly)
        self._update_title()

    def _clip_notes_to_panel(self) -> None:
        """What the clip's reader noticed (``clip.notes``: 'file appears truncated ...') to the zone panel."""
        v = self.clip_view
        clip = v.clip if v.clip is not None and v.zone_id == self.session.zone_id else None
        self.zone_panel.set_clip_notes(self.session.zone_id, list(getattr(clip, "notes", None) or []))

    def _update_model_status(self) -> None:
        m = self.model
        self.status_model.setText("model: loading…" if m.loading else f"model: {m.description}")

    def show_error(self, title: str, message: str) -> None:
        box = error_box(self, title, message, modal=False)
        self.error_boxes = [b for b in self.error_boxes if b.isVisible()] + [box]

    def show_about(self) -> None:
        AboutDialog(self.model.description, self).exec()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.actions_.shortcut_table(), self).exec()

    def open_retrain(self) -> None:
        from lusapp.gui.retrain import RetrainDialog

        if self.session.store is None:
            self.show_error("Retrain", "Open a store first (File > Open store).")
            return
        RetrainDialog(self.session, self.model, self).exec()

    # ------------------------------------------------------------------ state & closing
    def restore_state(self) -> None:
        geo = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geo is None or not self.restoreGeometry(geo):
            self.default_geometry()
        if state is None or not self.restoreState(state, STATE_VERSION):
            if geo is not None and not self.compact:
                avail = self.available_screen()
                if avail is not None and (avail.width() < COMPACT_BELOW[0] or avail.height() < COMPACT_BELOW[1]):
                    self.use_compact_layout()
            QTimer.singleShot(0, self.default_dock_sizes)  # after the first layout pass

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(STATE_VERSION))
        if self.session.store is not None:
            self.settings.setValue("session/store", str(self.session.store.root))
        if self.session.patient is not None:
            self.settings.setValue("session/patient", self.session.patient.patient_id)
        self.settings.sync()

    def closeEvent(self, event) -> None:  # noqa: N802
        if self.session.busy:  # an import is writing to the store: let it finish, then save
            from PySide6.QtWidgets import QApplication

            from lusapp.gui.workers import wait_all

            self.statusBar().showMessage(f"Finishing: {self.session.busy}…")
            wait_all(120000)
            QApplication.processEvents()
        if self.session.dirty and not self.session.save():
            ans = QMessageBox.warning(
                self, "Unsaved changes", "Your latest changes could not be saved (see the error message).\n"
                "Quit anyway and lose them?", QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel) if self.modal_errors else QMessageBox.StandardButton.Cancel
            if ans != QMessageBox.StandardButton.Discard:
                event.ignore()
                return
            self.session.discard_changes()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Save the window state, flush and close the store, stop the worker threads (idempotent)."""
        if getattr(self, "_shut", False):
            return
        self._shut = True
        self.save_state()
        self.session.close_store()
        self.binding.shutdown()
        from lusapp.gui.workers import wait_all

        wait_all(10000)

    def start_model_loading(self, delay_ms: int = 0) -> None:
        """Load the active model after the window is up (torch is imported in the worker)."""
        QTimer.singleShot(delay_ms, self.model.reload)
