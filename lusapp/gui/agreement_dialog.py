"""Agreement dialog: the agreement numbers of the store and of the open patient (one row per number, as
``lusapp agreement --csv``), and the review queue (double-click a row to open that patient's zone).

Computed by ``lusapp.agreement`` from what is saved (the open patient is saved first), in a worker thread.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QLabel, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from lusapp.gui.label_next import open_queue_item
from lusapp.gui.workers import run_job

SUMMARY_COLUMNS = ("Measure", "A", "B", "Class", "n", "Value")
QUEUE_COLUMNS = ("Patient", "Zone", "Scores", "Model", "Why")


def compute(store) -> tuple[dict, list[dict]]:
    """(``store_agreement`` result, review queue items as dicts) of an open store (runs in a worker)."""
    from lusapp.agreement.collect import collect
    from lusapp.agreement.queue import review_queue
    from lusapp.agreement.summary import store_agreement

    ratings = collect(store)
    return store_agreement(ratings), [q.to_dict() for q in review_queue(ratings)]


def _table(columns) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(list(columns))
    t.verticalHeader().hide()
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


def _fill(table: QTableWidget, rows: list[tuple]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            text = "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
            table.setItem(r, c, QTableWidgetItem(text))


class AgreementDialog(QDialog):
    jumped = Signal(str, str)  # patient, zone (after a double-click in the queue)

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("agreementDialog")
        self.setWindowTitle("Agreement between raters")
        self.session = session
        self.result: dict | None = None
        self.queue: list[dict] = []
        self.status = QLabel("Computing…")
        self.status.setWordWrap(True)
        self.tabs = QTabWidget()
        self.store_table, self.patient_table = _table(SUMMARY_COLUMNS), _table(SUMMARY_COLUMNS)
        self.queue_table = _table(QUEUE_COLUMNS)
        self.tabs.addTab(self.store_table, "Store")
        self.tabs.addTab(self.patient_table, "This patient")
        self.tabs.addTab(self.queue_table, "Review queue")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.status)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(buttons)
        self.resize(860, 520)  # fits 1366 x 768 with the task bar
        self.queue_table.cellDoubleClicked.connect(lambda row, _c: self.jump(row))
        self.job = None
        self.start()

    def start(self) -> None:
        s = self.session
        if s.store is None:
            self.status.setText("Open a store first.")
            return
        if s.dirty and not s.readonly:
            s.save()  # the numbers are computed from what is saved
        self.job = run_job(compute, s.store, on_done=self._done, on_error=self._failed, name="agreement")

    def _failed(self, exc: BaseException, _tb: str = "") -> None:
        self.status.setText(f"Agreement could not be computed: {exc}")

    def _done(self, out) -> None:
        self.result, self.queue = out
        self.show_result()

    def show_result(self) -> None:
        from lusapp.agreement.summary import csv_rows

        res = self.result
        rows = csv_rows(res)
        pid = self.session.patient.patient_id if self.session.patient is not None else None
        _fill(self.store_table, [r[2:] for r in rows if r[0] == "store"])
        _fill(self.patient_table, [r[2:] for r in rows if r[0] == "patient" and r[1] == pid])
        _fill(self.queue_table, [(q["patient"], q["zone"], ", ".join(f"{r} {v}" for r, v in q["scores"].items()),
                                  q["model"], q["reason"]) for q in self.queue])
        blk = res["store"]
        problems = f" {len(res['problems'])} patient(s) could not be read." if res["problems"] else ""
        self.status.setText(f"Raters: {', '.join(blk['raters']) or 'none'}; {blk['scores']['zones_scored']} zones "
                            f"scored, {blk['masks']['labelled_frames']} labelled frames; {len(self.queue)} zones to "
                            f"review.{problems}")

    def jump(self, row: int) -> bool:
        """Open the queue row's patient (when another) and zone."""
        if not 0 <= row < len(self.queue):
            return False
        q = self.queue[row]
        if not open_queue_item(self.session, q, "Review queue"):
            return False
        self.jumped.emit(q["patient"], q["zone"])
        return True
