"""Status messages stay visible (issue 11, 'status messages appear where they can be seen'): the last message
stays in the status bar's message line until the next one, with the recent ones in its tooltip; a failed
propagation opens a dialog."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMainWindow

from gui_clip_support import shown
from lusapp.gui.message_line import HISTORY, install_message_line


@pytest.fixture
def window(qtbot):
    return shown(qtbot, QMainWindow(), 900, 300)


def test_a_message_outlives_the_status_bars_timeout_until_the_next(window, qtbot):
    line = install_message_line(window)
    window.statusBar().showMessage("Frame 1 labelled", 50)
    assert line.message == "Frame 1 labelled"
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "", timeout=2000)
    assert line.isVisible() and "Frame 1 labelled" in line.text()  # still there after the timeout
    window.statusBar().showMessage("Proposed masks for frames 2-6", 50)
    assert "Proposed masks" in line.text() and "Frame 1" not in line.text()
    assert line.toolTip().index("Proposed masks") < line.toolTip().index("Frame 1 labelled")  # newest first


def test_status_tips_of_buttons_are_not_kept(window):
    from PySide6.QtGui import QStatusTipEvent
    from PySide6.QtWidgets import QApplication

    line = install_message_line(window)
    window.statusBar().showMessage("Saved", 50)
    QApplication.sendEvent(window, QStatusTipEvent("Run the severity model on this patient"))
    assert window.statusBar().currentMessage() == "Run the severity model on this patient"  # Qt shows the tip
    assert line.message == "Saved"  # the line keeps the last real message


def test_history_is_bounded(window):
    line = install_message_line(window)
    for i in range(HISTORY + 5):
        window.statusBar().showMessage(f"message {i}", 10)
    assert len(line.history) == HISTORY and line.history[-1][1] == f"message {HISTORY + 4}"


def test_a_failed_propagation_opens_a_dialog(qtbot):
    from lusapp.gui.clip_view import ClipView

    v = ClipView()
    qtbot.addWidget(v)
    v.show()
    assert v.propagator.start("Propagating frame 1 forward", lambda cancelled, report: 1 / 0, lambda *_: None)
    assert v.wait_proposals()
    box = v.proposal_progress.error
    assert box is not None and box.isVisible() and "division by zero" in box.text()
    assert not v.propagator.busy and not v.proposal_progress.isVisible()
    box.close()
    v.shutdown()
