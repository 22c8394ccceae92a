"""Status messages that stay: the last message in the status bar until the next one, with its time, and the
recent ones in its tooltip.

Qt's ``QStatusBar.showMessage(text, timeout)`` drops a message after a few seconds, so a clinician who looked
at the image missed it. :func:`install_message_line` puts a :class:`MessageLine` in the window's status bar
and copies every temporary message the window shows into it (whoever calls ``showMessage``): when the
temporary message times out, the line under it still shows the text, until the next message. Errors still open a
dialog (``MainWindow.show_error``); the line is for what happened.
"""

from __future__ import annotations

import time
from collections import deque

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


def install_message_line(window: QMainWindow) -> MessageLine:
    """Add the line to ``window``'s status bar (stretching) and keep every temporary message in it."""
    bar = window.statusBar()
    line = MessageLine(bar)
    bar.addWidget(line, 1)

    bar.messageChanged.connect(line.show_message)  # the bar shows it for a while, then the line keeps it
    return line
