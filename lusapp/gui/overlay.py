"""The mask overlay's control bar: per-class check boxes with a lock each, the opacity slider and the
outline-only switch.

The pixels (``compose_overlay``, ``overlay_lut``, ``frame_to_rgba``) are Qt-free, in ``lusapp.review.overlay``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QToolButton, QWidget

from lusapp.core.labels import CLASS_COLORS, CLASS_TITLES
from lusapp.gui.flow_layout import FlowWidget

OVERLAY_CLASSES: tuple[int, ...] = tuple(sorted(CLASS_COLORS))


class OverlayControls(QWidget):
    """Per-class visibility checkboxes (coloured) and an opacity slider (0..100 %)."""

    visibilityChanged = Signal(int, bool)
    opacityChanged = Signal(float)
    lockChanged = Signal(int, bool)  # class, locked
    outlineChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None, opacity: float = 0.5):
        super().__init__(parent)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.flow = FlowWidget(self, hspacing=8)  # wraps when the view is narrow
        outer.addWidget(self.flow, 1)
        sp = self.sizePolicy()
        sp.setHeightForWidth(True)
        self.setSizePolicy(sp)
        lay = self.flow.flow
        self.boxes: dict[int, QCheckBox] = {}
        self.locks: dict[int, QToolButton] = {}
        for cls in OVERLAY_CLASSES:
            box = QCheckBox(CLASS_TITLES[cls], self)
            box.setChecked(True)
            r, g, b = CLASS_COLORS[cls]
            box.setStyleSheet(f"QCheckBox {{ color: {QColor(r, g, b).name()}; font-weight: bold; }}")
            box.setToolTip(f"Show or hide the {CLASS_TITLES[cls]} overlay")
            box.toggled.connect(lambda on, c=cls: self.visibilityChanged.emit(c, on))
            lay.addWidget(box)
            self.boxes[cls] = box
            lock = QToolButton(self, text="lock", checkable=True)
            lock.setToolTip(f"Lock {CLASS_TITLES[cls]}: drawing or erasing another class leaves its pixels as "
                            "they are")
            lock.setStyleSheet("QToolButton { padding: 0 3px; } QToolButton:checked { background: #b07800; "
                               "color: white; }")
            lock.toggled.connect(lambda on, c=cls: self.lockChanged.emit(c, on))
            lay.addWidget(lock)
            self.locks[cls] = lock
        self.outline_box = QCheckBox("Outline only", self)
        self.outline_box.setToolTip("Draw only the edges of the masks (at full strength), so the image under them stays "
                                    "visible (O)")
        self.outline_box.toggled.connect(self.outlineChanged)
        lay.addWidget(self.outline_box)
        lay.addWidget(QLabel("  Opacity", self))
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 100)
        self.slider.setValue(int(round(opacity * 100)))
        self.slider.setFixedWidth(120)
        self.slider.setToolTip("Mask overlay opacity")
        self.slider.valueChanged.connect(lambda v: self.opacityChanged.emit(v / 100.0))
        lay.addWidget(self.slider)
        self.labelled_label = QLabel("", self)
        self.labelled_label.setToolTip("Frames of this clip with a FINAL (clinician) mask")
        lay.addWidget(self.labelled_label)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self.flow.heightForWidth(width)

    def show_labelled(self, frames: list[int]) -> None:
        """'Labelled: n' plus the first frame numbers (1-based, as in the transport bar)."""
        if not frames:
            self.labelled_label.setText("No labelled frames")
            return
        shown = ", ".join(str(f + 1) for f in frames[:8]) + (", …" if len(frames) > 8 else "")
        self.labelled_label.setText(f"Labelled: {len(frames)} ({shown})")

    @Slot(int, bool)
    def set_class_visible(self, cls: int, on: bool) -> None:
        self.boxes[int(cls)].setChecked(bool(on))

    @Slot(float)
    def set_opacity(self, opacity: float) -> None:
        self.slider.setValue(int(round(min(1.0, max(0.0, float(opacity))) * 100)))

    def locked(self) -> set[int]:
        return {cls for cls, b in self.locks.items() if b.isChecked()}

    @property
    def outline_only(self) -> bool:
        return self.outline_box.isChecked()

    def visible(self) -> dict[int, bool]:
        return {cls: box.isChecked() for cls, box in self.boxes.items()}

    def opacity(self) -> float:
        return self.slider.value() / 100.0
