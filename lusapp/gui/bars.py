"""A small horizontal bar chart of probabilities (QPainter; no plotting library needed at start-up).

One row per class: label, bar (colour per class), percentage; the arg-max row is bold and outlined.
Used for the zone score probabilities and the 4-way severity probabilities.
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from lusapp.gui import theme


class ProbBars(QWidget):
    ROW_H = 20

    def __init__(self, labels: Sequence[str], colors: Sequence[QColor], parent: QWidget | None = None,
                 empty_text: str = "no model output yet"):
        super().__init__(parent)
        self._labels = list(labels)
        self._colors = [QColor(c) for c in colors]
        self._probs: list[float] | None = None
        self._marker: int | None = None
        self._empty = empty_text
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(self.ROW_H * len(self._labels) + 4)

    def sizeHint(self) -> QSize:
        return QSize(240, self.ROW_H * len(self._labels) + 4)

    def set_labels(self, labels: Sequence[str], colors: Sequence[QColor]) -> None:
        self._labels, self._colors = list(labels), [QColor(c) for c in colors]
        self.setMinimumHeight(self.ROW_H * len(self._labels) + 4)
        self.updateGeometry()
        self.update()

    def set_probs(self, probs: Sequence[float] | None, marker: int | None = None) -> None:
        """``probs`` (same length as the labels) or None; ``marker`` = index of a second opinion (the clinician's),
        drawn as an accent arrow head before that row's bar."""
        if probs is not None and len(probs) != len(self._labels):
            raise ValueError(f"{len(probs)} probabilities for {len(self._labels)} labels")
        self._probs = [float(p) for p in probs] if probs is not None else None
        self._marker = marker
        self.setAccessibleDescription(self.text())
        self.update()

    def labels(self) -> list[str]:
        return list(self._labels)

    def probs(self) -> list[float] | None:
        return list(self._probs) if self._probs is not None else None

    def text(self) -> str:
        if self._probs is None:
            return self._empty
        return ", ".join(f"{lab} {p:.0%}" for lab, p in zip(self._labels, self._probs))

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = self.fontMetrics()
        label_w = max((fm.horizontalAdvance(lab) for lab in self._labels), default=0) + 10
        pct_w = fm.horizontalAdvance("100%") + 8
        mark_w = 16  # column for the second-opinion marker
        bar_x, bar_w = label_w + mark_w, max(20, self.width() - label_w - mark_w - pct_w)
        best = max(range(len(self._probs)), key=lambda i: self._probs[i]) if self._probs else -1
        for i, lab in enumerate(self._labels):
            y = 2 + i * self.ROW_H
            f = QFont(self.font())
            f.setBold(i == best)
            p.setFont(f)
            p.setPen(theme.TEXT if self._probs is not None else theme.TEXT_DIM)
            p.drawText(QRectF(0, y, label_w - 6, self.ROW_H), Qt.AlignmentFlag.AlignVCenter
                       | Qt.AlignmentFlag.AlignRight, lab)
            track = QRectF(bar_x, y + 4, bar_w, self.ROW_H - 8)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(44, 46, 51))
            p.drawRoundedRect(track, 2, 2)
            if self._probs is not None:
                v = max(0.0, min(1.0, self._probs[i]))
                p.setBrush(self._colors[i % len(self._colors)])
                p.drawRoundedRect(QRectF(track.left(), track.top(), track.width() * v, track.height()), 2, 2)
                if i == best:
                    p.setPen(QPen(theme.TEXT, 1))
                    p.setBrush(Qt.BrushStyle.NoBrush)
                    p.drawRoundedRect(track, 2, 2)
                p.setPen(theme.TEXT)
                p.drawText(QRectF(bar_x + bar_w + 4, y, pct_w, self.ROW_H), Qt.AlignmentFlag.AlignVCenter, f"{v:.0%}")
            if self._marker == i:
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(theme.ACCENT)
                cy, cx = y + self.ROW_H / 2, label_w + mark_w / 2 - 1
                p.drawPolygon(QPolygonF([QPointF(cx - 4, cy - 5), QPointF(cx + 4, cy), QPointF(cx - 4, cy + 5)]))
        if self._probs is None and self._empty:
            p.setPen(theme.TEXT_DIM)
            p.drawText(QRectF(bar_x, 0, bar_w, self.height()), Qt.AlignmentFlag.AlignCenter, self._empty)
