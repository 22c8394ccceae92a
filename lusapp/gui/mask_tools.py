"""Mask editing tools: the mouse controller (brush, eraser, line, polygon) and the tool bar.

The controller turns mouse positions (image coordinates, x = column, y = row) into
``lusapp.core.mask_edit`` calls on the working mask its *host* (the clip view) hands out, and reports
each finished stroke back with the before-copy and the touched box so the host can push one undo
command. ``EditImageItem`` is the overlay ImageItem that routes left-button mouse events to the
controller while a tool is active (otherwise pyqtgraph pans/zooms as usual).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QPen, QPixmap
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QGraphicsEllipseItem, QHBoxLayout, QLabel,
                               QSpinBox, QToolButton, QWidget)

from lusapp.core import mask_edit as me
from lusapp.core.labels import CLASS_COLORS, CLASS_TITLES, CONSOLIDATION
from lusapp.gui.flow_layout import FlowWidget

TOOLS: tuple[str, ...] = ("pan", "brush", "eraser", "line", "polygon")
TOOL_TITLES = {"pan": "Pan/zoom", "brush": "Brush (B)", "eraser": "Eraser (E)", "line": "Line (L)",
               "polygon": "Polygon (P)"}
MIN_SIZE, MAX_SIZE = 1, 80


class ToolHost(Protocol):
    def begin_edit(self) -> np.ndarray | None: ...

    def end_edit(self, before: np.ndarray, box: me.BBox | None, text: str) -> None: ...

    def refresh_overlay(self) -> None: ...


def _union(a: me.BBox | None, b: me.BBox | None) -> me.BBox | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


class ToolController(QObject):
    toolChanged = Signal(str)
    sizeChanged = Signal(int)
    classChanged = Signal(int)
    hint = Signal(str)  # a sentence for the status bar (e.g. a click that did nothing)

    def __init__(self, host: ToolHost, view_box: pg.ViewBox | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.host = host
        self.tool = "pan"
        self.edit_class = CONSOLIDATION
        self.size = 8  # brush / eraser radius in image pixels
        self.eraser_all = False  # eraser clears every class, not only the selected one
        self.locked: set[int] = set()  # classes whose pixels no tool changes (lusapp.core.mask_edit, class lock)
        self._mask: np.ndarray | None = None
        self._before: np.ndarray | None = None
        self._box: me.BBox | None = None
        self._path: list[tuple[float, float]] = []
        self.polygon: list[tuple[float, float]] = []
        self.preview = pg.PlotCurveItem(pen=pg.mkPen("w", width=2, style=Qt.PenStyle.DashLine))
        self.preview.setZValue(20)
        self.cursor = QGraphicsEllipseItem()
        self.cursor.setPen(QPen(QColor(255, 255, 255, 200), 0))
        self.cursor.setZValue(21)
        self.cursor.hide()
        if view_box is not None:
            view_box.addItem(self.preview, ignoreBounds=True)
            view_box.addItem(self.cursor, ignoreBounds=True)

    # -- settings ------------------------------------------------------------------------------
    @Slot(str)
    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r} (one of {', '.join(TOOLS)})")
        self.cancel()
        if tool != self.tool:
            self.tool = tool
            self.cursor.setVisible(False)
            self.toolChanged.emit(tool)

    @Slot(int)
    def set_size(self, size: int) -> None:
        size = min(MAX_SIZE, max(MIN_SIZE, int(size)))
        if size != self.size:
            self.size = size
            self.sizeChanged.emit(size)

    @Slot(int, bool)
    def set_locked(self, cls: int, on: bool) -> None:
        """Lock (``on``) or unlock a class: drawing another class leaves its pixels as they are."""
        (self.locked.add if on else self.locked.discard)(int(cls))

    @Slot(int)
    def set_class(self, cls: int) -> None:
        if int(cls) not in CLASS_COLORS:
            raise ValueError(f"class {cls} cannot be drawn")
        if int(cls) != self.edit_class:
            self.edit_class = int(cls)
            self.classChanged.emit(self.edit_class)
            if self.polygon:  # the outline in progress takes the colour its fill will have
                self._show_preview(self.polygon + self.polygon[:1])

    @property
    def active(self) -> bool:
        return self.tool != "pan"

    # -- strokes (brush, eraser, line) ---------------------------------------------------------
    def press(self, x: float, y: float) -> None:
        if self.tool in ("brush", "eraser", "line"):
            self._mask = self.host.begin_edit()
            if self._mask is None:
                return
            self._before = self._mask.copy()
            self._box = None
            self._path = [(x, y)]
            if self.tool == "line":
                self._show_preview(self._path)
            else:
                self._paint([(x, y)])

    def move(self, x: float, y: float) -> None:
        if self._mask is None or not self._path:
            return
        last = self._path[-1]
        self._path.append((x, y))
        if self.tool == "line":
            self._show_preview(self._path)
        else:
            self._paint([last, (x, y)])

    def release(self, x: float, y: float) -> None:
        if self._mask is None:
            return
        if (x, y) != self._path[-1]:
            self.move(x, y)
        if self.tool == "line":
            pts = me.simplify_path(self._path)
            thick = me.line_thickness(self.edit_class, self._mask.shape)
            self._box = me.draw_polyline(self._mask, pts, thick, self.edit_class, self.locked)
            self._show_preview([])
        self._finish({"brush": "Brush", "eraser": "Erase", "line": "Line"}[self.tool])

    def _paint(self, pts) -> None:
        if self.tool == "brush":
            box = me.brush_stroke(self._mask, pts, self.size, self.edit_class, self.locked)
        else:
            box = me.erase_stroke(self._mask, pts, self.size, None if self.eraser_all else self.edit_class,
                                  self.locked)
        self._box = _union(self._box, box)
        self.host.refresh_overlay()

    def _finish(self, text: str) -> None:
        before, box = self._before, self._box
        self._mask, self._before, self._box, self._path = None, None, None, []
        self.host.end_edit(before, box, f"{text} {CLASS_TITLES[self.edit_class]}")

    # -- polygon -------------------------------------------------------------------------------
    def click(self, x: float, y: float, double: bool = False) -> None:
        if self.tool == "polygon":
            if not double:
                self.polygon.append((x, y))
                self._show_preview(self.polygon + self.polygon[:1])
            if double:
                self.close_polygon()
        elif self.tool in ("brush", "eraser", "line") and not double:
            # drag tools edit only when dragged: a stray click (e.g. after a zone change) changes nothing
            self.hint.emit(f"{TOOL_TITLES[self.tool].split(' ')[0]}: drag to draw; a click alone changes nothing")

    @Slot()
    def close_polygon(self) -> bool:
        pts = self.polygon
        if self.tool != "polygon" or len(pts) < 3:
            return False
        mask = self.host.begin_edit()
        self.polygon = []
        self._show_preview([])
        if mask is None:
            return False
        before = mask.copy()
        box = me.fill_polygon(mask, pts, self.edit_class, self.locked)
        self.host.end_edit(before, box, f"Polygon {CLASS_TITLES[self.edit_class]}")
        return True

    @Slot()
    def remove_last_point(self) -> None:
        if self.polygon:
            self.polygon.pop()
            self._show_preview(self.polygon + self.polygon[:1])

    @Slot()
    def cancel(self) -> None:
        """Drop an unfinished polygon; an unfinished stroke is committed as drawn so far."""
        self.polygon = []
        self._show_preview([])
        if self._mask is not None:
            self._finish(self.tool.capitalize())

    # -- drawing helpers -----------------------------------------------------------------------
    def _show_preview(self, pts) -> None:
        if len(pts) < 2:
            self.preview.setData([], [])
            return
        arr = np.asarray(pts, float)
        r, g, b = CLASS_COLORS[self.edit_class]
        self.preview.setPen(pg.mkPen(QColor(r, g, b), width=2, style=Qt.PenStyle.DashLine))
        self.preview.setData(arr[:, 0] + 0.5, arr[:, 1] + 0.5)

    def hover(self, x: float | None, y: float | None) -> None:
        if x is None or self.tool not in ("brush", "eraser"):
            self.cursor.hide()
            return
        r = self.size + 0.5
        self.cursor.setRect(QRectF(x + 0.5 - r, y + 0.5 - r, 2 * r, 2 * r))
        self.cursor.show()


class EditImageItem(pg.ImageItem):
    """Overlay ImageItem that hands left-button mouse events to a ToolController while a tool is active."""

    def __init__(self, controller: ToolController | None = None, **kwargs):
        super().__init__(**kwargs)
        self.controller = controller

    @staticmethod
    def _xy(pos) -> tuple[float, float]:
        return pos.x() - 0.5, pos.y() - 0.5  # pixel centres are at +0.5 in item coordinates

    def mouseDragEvent(self, ev) -> None:
        c = self.controller
        if c is None or not c.active or c.tool == "polygon" or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        x, y = self._xy(ev.pos())
        if ev.isStart():
            c.press(*self._xy(ev.buttonDownPos()))
            c.move(x, y)
        elif ev.isFinish():
            c.release(x, y)
        else:
            c.move(x, y)
        c.hover(x, y)

    def mouseClickEvent(self, ev) -> None:
        c = self.controller
        if c is None or not c.active or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        c.click(*self._xy(ev.pos()), double=ev.double())

    def hoverEvent(self, ev) -> None:
        c = self.controller
        if c is None:
            return
        if ev.isExit():
            c.hover(None, None)
            return
        if c.active:
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.LeftButton)
        c.hover(*self._xy(ev.pos()))


class ToolBar(QWidget):
    """Tool buttons, class choice, brush size, eraser scope, undo/redo, copy-previous, mark labelled;
    propagation (backward / forward over N frames, accept one / all, discard); fit / 100 % zoom."""

    copyPreviousRequested = Signal()
    markLabelledRequested = Signal()
    unlabelRequested = Signal()
    propagateRequested = Signal(int)  # +1 forward, -1 backward
    interpolateRequested = Signal()
    acceptRequested = Signal()
    acceptAllRequested = Signal()
    discardRequested = Signal()
    fitRequested = Signal()
    zoom100_requested = Signal()

    def __init__(self, controller: ToolController, undo_stack, parent: QWidget | None = None):
        """``undo_stack``: a QUndoStack or QUndoGroup (undo/redo slots, canUndoChanged/canRedoChanged)."""
        super().__init__(parent)
        self.controller = controller
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.bar = FlowWidget(self)  # wraps onto a second row when the view is narrow: nothing is hidden
        outer.addWidget(self.bar)
        sp = self.sizePolicy()
        sp.setHeightForWidth(True)
        self.setSizePolicy(sp)

        bar = self.bar

        class _Group:  # widgets that wrap together (tools / class and size / edit commands)
            def __init__(g):  # noqa: N805
                g.box = QWidget(bar)
                g.lay = QHBoxLayout(g.box)
                g.lay.setContentsMargins(0, 0, 0, 0)
                g.lay.setSpacing(3)
                bar.add(g.box)

            def addWidget(g, w):  # noqa: N802,N805
                g.lay.addWidget(w)

        lay = _Group()
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QToolButton] = {}
        for tool in TOOLS:
            btn = QToolButton(self, text=TOOL_TITLES[tool].split(" ")[0], checkable=True)
            btn.setToolTip(TOOL_TITLES[tool])
            btn.setChecked(tool == controller.tool)
            btn.clicked.connect(lambda _=False, t=tool: controller.set_tool(t))
            self.group.addButton(btn)
            lay.addWidget(btn)
            self.buttons[tool] = btn
        self.class_box = QComboBox(self)
        self.class_box.setToolTip("Pattern to draw")
        for cls in sorted(CLASS_COLORS):
            swatch = QPixmap(12, 12)
            swatch.fill(QColor(*CLASS_COLORS[cls]))
            self.class_box.addItem(QIcon(swatch), CLASS_TITLES[cls], cls)
        self.class_box.currentIndexChanged.connect(lambda i: controller.set_class(self.class_box.itemData(i)))
        lay = _Group()
        lay.addWidget(self.class_box)
        lay.addWidget(QLabel("Size", self))
        self.size_box = QSpinBox(self, minimum=MIN_SIZE, maximum=MAX_SIZE, value=controller.size)
        self.size_box.setToolTip("Brush / eraser radius in pixels ([ and ] change it)")
        self.size_box.valueChanged.connect(controller.set_size)
        lay.addWidget(self.size_box)
        self.erase_all_box = QCheckBox("Erase all", self)
        self.erase_all_box.setToolTip("The eraser clears every pattern, not only the selected one")
        self.erase_all_box.toggled.connect(lambda on: setattr(controller, "eraser_all", bool(on)))
        lay.addWidget(self.erase_all_box)
        self.undo_btn = QToolButton(self, text="Undo", toolTip="Undo the last mask edit")
        self.redo_btn = QToolButton(self, text="Redo", toolTip="Redo")
        self.copy_btn = QToolButton(self, text="Copy prev", toolTip="Copy the mask of the previous labelled frame")
        self.mark_btn = QToolButton(self, text="Mark labelled", toolTip="Save this frame's mask as FINAL")
        self.unlabel_btn = QToolButton(self, text="Unlabel",
                                       toolTip="Revert this frame to the model's mask and unmark it labelled")
        lay = _Group()
        for w in (self.undo_btn, self.redo_btn, self.copy_btn, self.mark_btn, self.unlabel_btn):
            lay.addWidget(w)
        self.undo_btn.clicked.connect(undo_stack.undo)
        self.redo_btn.clicked.connect(undo_stack.redo)
        undo_stack.canUndoChanged.connect(self.undo_btn.setEnabled)
        undo_stack.canRedoChanged.connect(self.redo_btn.setEnabled)
        self.undo_btn.setEnabled(undo_stack.canUndo())
        self.redo_btn.setEnabled(undo_stack.canRedo())
        self.prop_back_btn = QToolButton(self, text="◀ Propagate",
                                         toolTip="Propagate this frame's FINAL mask backward (optical flow)")
        self.prop_fwd_btn = QToolButton(self, text="Propagate ▶",
                                        toolTip="Propagate this frame's FINAL mask forward (optical flow)")
        self.interp_btn = QToolButton(self, text="Interpolate",
                                      toolTip="Propose masks for the frames between the labelled frames around this "
                                              "one (pleural, A- and B-lines interpolated) (I)")
        self.prop_count_box = QSpinBox(self, minimum=0, maximum=500, value=10)
        self.prop_count_box.setSpecialValueText("to next labelled")
        self.prop_count_box.setSuffix(" frames")
        self.prop_count_box.setToolTip("How many frames to propagate over (0: up to the next labelled frame); "
                                       "propagation always stops before a labelled frame")
        self.accept_btn = QToolButton(self, text="Accept", toolTip="Accept this frame's proposed mask as FINAL")
        self.accept_all_btn = QToolButton(self, text="Accept all",
                                          toolTip="Accept every proposed mask of this clip as FINAL")
        self.discard_btn = QToolButton(self, text="Discard", toolTip="Discard the proposed masks of this clip")
        lay = _Group()
        for w in (self.prop_back_btn, self.prop_fwd_btn, self.prop_count_box, self.interp_btn, self.accept_btn,
                  self.accept_all_btn, self.discard_btn):
            lay.addWidget(w)
        self.fit_btn = QToolButton(self, text="Fit", toolTip="Fit the image to the window")
        self.zoom100_btn = QToolButton(self, text="100 %", toolTip="One image pixel per screen pixel")
        self.zoom_label = QLabel("", self)
        self.zoom_label.setToolTip("Zoom: screen pixels per image pixel")
        self.zoom_label.setMinimumWidth(self.zoom_label.fontMetrics().horizontalAdvance("zoom 1000 %"))
        lay = _Group()
        for w in (self.fit_btn, self.zoom100_btn, self.zoom_label):
            lay.addWidget(w)
        self.prop_back_btn.clicked.connect(lambda: self.propagateRequested.emit(-1))
        self.prop_fwd_btn.clicked.connect(lambda: self.propagateRequested.emit(1))
        self.interp_btn.clicked.connect(self.interpolateRequested)
        self.accept_btn.clicked.connect(self.acceptRequested)
        self.accept_all_btn.clicked.connect(self.acceptAllRequested)
        self.discard_btn.clicked.connect(self.discardRequested)
        self.fit_btn.clicked.connect(self.fitRequested)
        self.zoom100_btn.clicked.connect(self.zoom100_requested)
        self.copy_btn.clicked.connect(self.copyPreviousRequested)
        self.mark_btn.clicked.connect(self.markLabelledRequested)
        self.unlabel_btn.clicked.connect(self.unlabelRequested)
        controller.toolChanged.connect(lambda t: self.buttons[t].setChecked(True))
        controller.sizeChanged.connect(self._show_size)
        controller.classChanged.connect(self._show_class)
        self._show_class(controller.edit_class)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self.bar.heightForWidth(width)

    def show_zoom(self, factor: float | None) -> None:
        self.zoom_label.setText("" if factor is None else f"zoom {factor * 100:.0f} %")

    def show_proposals(self, n_here: bool, n_total: int) -> None:
        self.accept_btn.setEnabled(bool(n_here))
        self.accept_all_btn.setEnabled(n_total > 0)
        self.discard_btn.setEnabled(n_total > 0)
        self.accept_all_btn.setText(f"Accept all ({n_total})" if n_total else "Accept all")

    def _show_size(self, size: int) -> None:
        self.size_box.blockSignals(True)
        self.size_box.setValue(size)
        self.size_box.blockSignals(False)

    def _show_class(self, cls: int) -> None:
        i = self.class_box.findData(cls)
        if i >= 0 and i != self.class_box.currentIndex():
            self.class_box.blockSignals(True)
            self.class_box.setCurrentIndex(i)
            self.class_box.blockSignals(False)
