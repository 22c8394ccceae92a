"""The main window fits the screens clinics have (issue 11): at 1366 x 768 and 1280 x 720 with the default
layout every control is reachable -- visible inside the window, or one dock tab away and then, if needed,
scrolled into view -- and the clip view's tool bar hides nothing behind an overflow arrow. Also the one-line
message when Qt's xcb plugin lacks its libraries."""

from __future__ import annotations

import io

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QScrollArea, QTabBar, QWidget

from gui_shell_support import app_window, make_patient_folder
from lusapp.gui import app as gui_app

# (screen, the window's client area there: title bar and a task bar take ~40-70 px)
SCREENS = [((1366, 768), (1366, 700)), ((1280, 720), (1280, 660))]


def _key_widgets(w) -> dict[str, object]:
    cv, tb = w.clip_view, w.clip_view.toolbar
    out = {f"tool.{k}": b for k, b in tb.buttons.items()}
    out.update({"class": tb.class_box, "size": tb.size_box, "erase_all": tb.erase_all_box, "undo": tb.undo_btn,
                "redo": tb.redo_btn, "copy_prev": tb.copy_btn, "mark_labelled": tb.mark_btn})
    out.update({f"show.{c}": b for c, b in cv.overlay_controls.boxes.items()})
    out.update({"opacity": cv.overlay_controls.slider, "play": cv.transport.play_btn, "step": cv.transport.fwd_btn,
                "slider": cv.transport.slider, "speed": cv.transport.speed_box, "loop": cv.transport.loop_box,
                "clip": cv.graphics, "board": w.board, "patient_table": w.patients.table,
                "status": w.statusBar()})
    out.update({f"score.{i}": b for i, b in enumerate(w.zone_panel.score_buttons)})
    out["zone_notes"] = w.zone_panel.notes
    out["assess"] = w.severity.assess_button
    out.update({f"final_severity.{i}": b for i, b in w.severity.clin_buttons.items()}
               if isinstance(w.severity.clin_buttons, dict) else
               {f"final_severity.{i}": b for i, b in enumerate(w.severity.clin_buttons)})
    out["age"] = w.clinical.age
    out["unknown_to_no"] = w.clinical.unknown_to_no
    out["patient_notes"] = w.clinical.notes
    out.update({f"symptom.{k}": b for k, b in w.clinical.symptoms.items()})
    out.update({f"history.{k}": b for k, b in w.clinical.history.items()})
    return out


def _dock_of(w, widget):
    for d in w.docks.values():
        if d.isAncestorOf(widget):
            return d
    return None


PARTIAL = {"patient_table", "zone_notes", "patient_notes", "clip", "board"}  # views that scroll themselves: enough must show


def _inside(w, widget, partial: bool = False) -> bool:
    """Visible, with its whole rectangle inside the window and inside every clipping ancestor (``partial``:
    at least 80 x 50 px of it, or all of it when smaller)."""
    if not widget.isVisible() or widget.width() <= 0 or widget.height() <= 0:
        return False
    rect = QRect(widget.mapTo(w, QPoint(0, 0)), widget.size())
    seen = rect.intersected(w.rect())
    parent = widget.parentWidget()
    while parent is not None and parent is not w:
        seen = seen.intersected(QRect(parent.mapTo(w, QPoint(0, 0)), parent.size()))
        parent = parent.parentWidget()
    if partial:
        return seen.width() >= min(rect.width(), 80) and seen.height() >= min(rect.height(), 50)
    return seen == rect


def _reach(qtbot, w, widget, partial: bool = False) -> str:
    """'' when reachable (raising its dock tab and scrolling as a user would), else why not."""
    dock = _dock_of(w, widget)
    if dock is not None and not _inside(w, dock):
        dock.raise_()  # one click on its tab (a dock behind another tab lies outside the window)
        qtbot.waitUntil(lambda: _inside(w, dock), timeout=2000)
    area = widget.parentWidget()
    while area is not None and not isinstance(area, QScrollArea):
        area = area.parentWidget()
    if area is not None and not _inside(w, widget, partial):
        area.ensureWidgetVisible(widget, 0, 0)
        qtbot.wait(10)
    if _inside(w, widget, partial):
        return ""
    return f"not inside the window (at {widget.mapTo(w, QPoint(0, 0)).toTuple()}, size {widget.size().toTuple()})"


def _dock_tab_bars(w) -> list[QTabBar]:
    """The tab bars of the window's tabbed docks that a user sees (Qt keeps the bars of earlier tab groups as
    hidden-behind children; the one on top at its first tab's centre is the live one)."""
    return [tb for tb in w.findChildren(QTabBar) if tb.parentWidget() is w and tb.isVisible() and tb.count()
            and w.childAt(tb.mapTo(w, tb.tabRect(0).center())) is tb]


def _elided_tabs(w) -> list[str]:
    """Dock tabs narrower than their text needs (Qt then draws 'Clin…'), or reaching past the window's edge."""
    out = []
    for tb in _dock_tab_bars(w):
        for i in range(tb.count()):
            rect = tb.tabRect(i)
            if rect.width() < tb.tabSizeHint(i).width() or tb.mapTo(w, rect.topRight()).x() >= w.width():
                out.append(f"{tb.tabText(i)!r} ({rect.width()} px of {tb.tabSizeHint(i).width()})")
    return out


@pytest.fixture
def themed(qapp):
    """The app's look (Fusion, its stylesheet, a 10 pt font): widths measured as a user sees them; restored after."""
    from lusapp.gui import theme

    saved = (qapp.style().name(), qapp.palette(), qapp.styleSheet(), qapp.font())
    theme.apply(qapp)
    yield qapp
    qapp.setStyleSheet(saved[2])
    qapp.setStyle(saved[0])
    qapp.setPalette(saved[1])
    qapp.setFont(saved[3])


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, themed):
    w = app_window(qtbot, tmp_path, monkeypatch)
    yield w
    w.session.discard_changes()
    w.close()


@pytest.mark.parametrize("screen,client", SCREENS, ids=["1366x768", "1280x720"])
def test_every_control_reachable_on_small_screens(qtbot, window, tmp_path, screen, client):
    w = window
    folder = make_patient_folder(tmp_path / "in")
    gui_app.open_target(w, str(folder))
    qtbot.waitUntil(lambda: w.session.patient is not None, timeout=20000)
    w.use_compact_layout()  # what the window picks on a screen below 1500 x 950
    w.setWindowState(w.windowState() & ~w.windowState().WindowMaximized)
    assert w.minimumSizeHint().width() <= client[0] and w.minimumSizeHint().height() <= client[1], \
        f"window minimum {w.minimumSizeHint().toTuple()} exceeds {client}"
    w.show()
    w.resize(*client)
    w.default_dock_sizes()
    qtbot.waitUntil(lambda: w.size().toTuple() == client, timeout=3000)
    QApplication.processEvents()
    problems = {name: why for name, wd in _key_widgets(w).items() if (why := _reach(qtbot, w, wd, name in PARTIAL))}
    docks = {k: d.size().toTuple() for k, d in w.docks.items()}
    assert not problems, f"at {screen} (window {w.size().toTuple()}, docks {docks}): {problems}"
    # the clip view: tool bar, overlay bar and transport all on screen together (no tab needed), clip >= 300 px
    for name in ("tool.brush", "erase_all", "undo", "redo", "copy_prev", "mark_labelled", "play", "loop"):
        assert _inside(w, _key_widgets(w)[name]), name
    # every dock tab reads in full, and the right column's tabs are the four docks
    assert not _elided_tabs(w), f"at {screen}: elided dock tabs {_elided_tabs(w)}"
    right = [tb for tb in _dock_tab_bars(w) if tb.mapTo(w, QPoint(0, 0)).x() > w.width() // 2]
    assert [[tb.tabText(i) for i in range(tb.count())] for tb in right] == [["Zone", "Severity", "Clinical", "Review"]]
    w.docks["zone"].raise_()
    assert w.clip_view.graphics.height() >= 300 and w.clip_view.graphics.width() >= 500
    assert w.board.height() >= 300
    # no dock's content is cut at its right edge, also with 300 px side docks (a maximised 1280 px window
    # under a window manager gave them 300 and 301)
    assert not _cut_docks(qtbot, w), f"at {screen}: {_cut_docks(qtbot, w)}"
    # the patient list, buttons included, shows without scrolling (its table takes what is left)
    assert w.docks["patients"].widget().verticalScrollBar().maximum() == 0
    w.resizeDocks([w.docks["patients"], w.docks["zone"]], [300, 300], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: w.docks["zone"].width() <= 302, timeout=2000)
    assert not _cut_docks(qtbot, w), f"at {screen} with 300 px docks: {_cut_docks(qtbot, w)}"


def _cut_docks(qtbot, w) -> dict[str, str]:
    """Docks whose content is wider than the dock (it would scroll sideways, cut at the right edge)."""
    out = {}
    for key, dock in w.docks.items():
        dock.raise_()
        qtbot.waitUntil(lambda d=dock: _inside(w, d), timeout=2000)
        QApplication.processEvents()
        for area in dock.findChildren(QScrollArea):
            if area.objectName().startswith("scroll.") and area.horizontalScrollBar().maximum() > 0:
                kids = [c for c in area.widget().findChildren(QWidget) if c.isVisible()]
                widest = max(kids, key=lambda c: c.minimumSizeHint().width() + c.mapTo(area.widget(), QPoint()).x())
                out[key] = f"{area.objectName()}: {area.widget().minimumSizeHint().width()} px content in a " \
                           f"{area.viewport().width()} px view (widest: {type(widest).__name__} " \
                           f"{getattr(widest, 'text', lambda: '')()!r} {widest.minimumSizeHint().width()} px)"
    w.docks["zone"].raise_()
    return out


def test_large_screen_keeps_docks_stacked(qtbot, window):
    w = window
    assert not w.compact or w.available_screen().height() < 950


def test_xcb_message_names_the_packages():
    from lusapp.gui.xcb_check import check_xcb, message, qt_would_use_xcb

    env = {"DISPLAY": ":0"}
    missing = {"libxcb-cursor.so.0"}
    out = io.StringIO()
    assert not check_xcb(env, "linux", loadable=lambda so: so not in missing, out=out)
    line = out.getvalue().strip()
    assert "\n" not in line and "libxcb-cursor0" in line and "apt-get install" in line
    assert check_xcb(env, "linux", loadable=lambda so: True)
    assert check_xcb({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, "linux", loadable=lambda so: False)
    assert check_xcb(env, "win32", loadable=lambda so: False)
    assert not qt_would_use_xcb({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert qt_would_use_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert message(["libxcb-cursor0"]).startswith("lusapp:")


def test_run_gui_prints_the_line_instead_of_aborting(monkeypatch, capsys):
    from lusapp.gui import xcb_check

    monkeypatch.setattr(xcb_check, "qt_would_use_xcb", lambda *a, **k: True)
    monkeypatch.setattr(xcb_check, "_loadable", lambda so: so != "libxcb-cursor.so.0")
    monkeypatch.setattr(xcb_check.check_xcb, "__defaults__", (None, None, xcb_check._loadable, None))
    assert gui_app.run_gui([]) == 1
    assert "libxcb-cursor0" in capsys.readouterr().err
