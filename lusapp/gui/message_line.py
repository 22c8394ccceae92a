"""Status messages that stay: the last message in the status bar until the next one, with its time, and the
recent ones in its tooltip.

Qt's ``QStatusBar.showMessage(text, timeout)`` drops a message after a few seconds, so a clinician who looked
at the image missed it. :func:`install_message_line` puts a :class:`MessageLine` in the window's status bar
and copies every temporary message the window shows into it (whoever calls ``showMessage``): when the
temporary message times out, the line under it still shows the text, until the next message. The status tips
Qt shows while the pointer is over a button or menu item are not messages and are left out. Errors still open a
dialog (``MainWindow.show_error``); the line is for what happened.
"""

from __future__ import annotations

import time
from collections import deque

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel, QMainWindow, QSizePolicy, QWidget

HISTORY = 12  # messages kept for the tooltip


class MessageLine(QLabel):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageLine")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long text elides, not widens
        self.setMinimumWidth(120)
        self.history: deque[tuple[str, str]] = deque(maxlen=HISTORY)
        self.message = ""

    def show_message(self, text: str) -> None:
        text = " ".join(str(text).split())
        if not text or (self.history and self.history[-1][1] == text and self.message == text):
            return
        stamp = time.strftime("%H:%M:%S")
        self.message = text
        self.history.append((stamp, text))
        self.setText(f"{stamp[:5]}  {text}")
        self.setToolTip("Recent messages:\n" + "\n".join(f"{t}  {m}" for t, m in reversed(self.history)))


class _TipWatch(QObject):
    """Remembers the status tip the window is showing (the pointer over a button), so it is not kept."""

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.tip = ""
        window.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.StatusTip:
            self.tip = event.tip()
        return False


def install_message_line(window: QMainWindow) -> MessageLine:
    """Add the line to ``window``'s status bar (stretching) and keep every temporary message in it."""
    bar = window.statusBar()
    line = MessageLine(bar)
    bar.addWidget(line, 1)
    tips = _TipWatch(window)

    def take(text: str) -> None:
        if text and text != tips.tip:  # the bar shows it for a while, then the line keeps it
            line.show_message(text)

    bar.messageChanged.connect(take)
    return line
