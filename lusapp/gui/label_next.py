"""*Label next*, at the bottom of the Review dock: the zones worth a rater's look first, from the store's review queue.

The list is ``lusapp.agreement.queue.review_queue(..., uncertain=True)`` (what ``lusapp agreement --queue N
--uncertain`` prints): zones where raters disagree, or the model's score is far from theirs, or frames wait
for a consensus mask; then zones nobody has reviewed where the model is unsure (its score probabilities
spread, a finding near 0.5). It is computed from what is saved (the open patient is saved first), in a worker
thread, when the dock is shown after the store changed (another store, an import; a save marks the list out of
date for the next showing) and on *Refresh*. Double-click (or Enter) opens the zone.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from lusapp.core.errors import LusError
from lusapp.gui.workers import run_job

COLUMNS = ("Patient", "Zone", "Why")
LIMIT = 50


def compute_queue(store) -> list[dict]:
    """The review queue of an open store, unreviewed unsure zones included (runs in a worker)."""
    from lusapp.agreement.collect import collect
    from lusapp.agreement.queue import review_queue

    return [q.to_dict() for q in review_queue(collect(store), LIMIT, uncertain=True)]


def open_queue_item(session, item: dict, title: str = "Label next") -> bool:
    """Open the item's patient (when another) and zone; an error goes to the session's error dialog, titled
    ``title``."""
    try:
        if session.patient is None or session.patient.patient_id != item["patient"]:
            if not session.open_patient(item["patient"]):
                return False
        session.set_zone(item["zone"])
    except LusError as exc:
        session.errorRaised.emit(title, str(exc))
        return False
    return True


class LabelNextPanel(QWidget):
    jumped = Signal(str, str)  # patient, zone

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("labelNext")
        self.session = session
        self.items: list[dict] = []
        self.job = None
        self._stale = True  # the store changed since the list was computed
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Recompute the list from what is saved in the store")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        head.setStretchLastSection(True)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignTop)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.cellDoubleClicked.connect(lambda row, _c: self.jump(row))
        self.table.activated.connect(lambda index: self.jump(index.row()))
        session.storeChanged.connect(lambda _s: self._changed(now=True))
        session.patientsChanged.connect(lambda: self._changed(now=True))
        session.saved.connect(lambda _r: self._changed(now=False))

    def _changed(self, now: bool) -> None:
        self._stale = True
        if now and self.isVisible():
            self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def refresh(self) -> None:
        s = self.session
        if s.store is None:
            self.status.setText("Open a store first.")
            self.items = []
            self.table.setRowCount(0)
            return
        if self.job is not None and self.job.running:
            return
        self._stale = False
        if s.dirty and not s.readonly:
            s.save()  # the list is computed from what is saved
        self.status.setText("Looking for what to label next…")
        self.refresh_button.setEnabled(False)
        self.job = run_job(compute_queue, s.store, on_done=self._done, on_error=self._failed, name="label-next")

    def _failed(self, exc: BaseException, _tb: str = "") -> None:
        self.refresh_button.setEnabled(True)
        self.status.setText(f"The list could not be computed: {exc}")

    def _done(self, items: list[dict]) -> None:
        self.refresh_button.setEnabled(True)
        self.items = list(items)
        self.table.setRowCount(len(self.items))
        for r, q in enumerate(self.items):
            for c, text in enumerate((q["patient"], q["zone"], q["reason"])):
                cell = QTableWidgetItem(text)
                cell.setToolTip(q["reason"])
                self.table.setItem(r, c, cell)
        self.table.resizeRowsToContents()
        self.status.setText(f"{len(self.items)} zone{'s' if len(self.items) != 1 else ''} to look at, most "
                            "useful first; double-click opens one." if self.items else
                            "Nothing to label next: every reviewed zone is settled and the model is sure "
                            "of the others.")

    def jump(self, row: int) -> bool:
        if not 0 <= row < len(self.items):
            return False
        q = self.items[row]
        if not open_queue_item(self.session, q):
            return False
        self.jumped.emit(q["patient"], q["zone"])
        return True
