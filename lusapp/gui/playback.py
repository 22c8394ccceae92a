"""Playback clock (QTimer at the clip's fps x speed, wall-clock based) and the transport bar widget.

The frame slider carries timeline markers: labelled (FINAL) frames in green below the groove, proposed
(propagated, not yet accepted) frames in amber below it, and frames where the model's mask and the FINAL mask
disagree in red above it.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QStyle, QStyleOptionSlider,
                               QToolButton, QWidget)

SPEEDS: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0)
DEFAULT_FPS = 20.0  # clips without a frame rate (GIFs with no timing, image series)


def format_time(seconds: float) -> str:
    """``mm:ss.ff`` (hundredths), e.g. 83.456 -> '01:23.46'."""
    cs = int(round(max(0.0, float(seconds)) * 100))
    m, rest = divmod(cs, 6000)
    s, ff = divmod(rest, 100)
    return f"{m:02d}:{s:02d}.{ff:02d}"


class Playback(QObject):
    """Frame clock. During play the shown frame follows wall-clock time (``fps * speed``), so a slow
    redraw skips frames instead of slowing the clip down; ``step``/``seek`` move by exact frames."""

    frameChanged = Signal(int)
    playingChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.n_frames = 0
        self.fps = DEFAULT_FPS
        self.speed = 1.0
        self.loop = True
        self.frame = 0
        self._t0 = 0.0
        self._f0 = 0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    def set_clip(self, n_frames: int, fps: float | None) -> None:
        self.pause()
        self.n_frames = max(0, int(n_frames))
        self.fps = float(fps) if fps and fps > 0 else DEFAULT_FPS
        self.frame = 0

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def time_of(self, frame: int) -> float:
        return float(frame) / self.fps

    @Slot()
    def play(self) -> None:
        if self.n_frames <= 1 or self.playing:
            return
        if self.frame >= self.n_frames - 1 and not self.loop:
            self._set(0)
        self._restart_clock()
        self._timer.start(max(5, int(1000.0 / (self.fps * self.speed) / 2)))
        self.playingChanged.emit(True)

    @Slot()
    def pause(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self.playingChanged.emit(False)

    @Slot()
    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    @Slot(int)
    def seek(self, frame: int) -> None:
        if self.n_frames <= 0:
            return
        self._set(min(max(0, int(frame)), self.n_frames - 1))
        self._restart_clock()

    @Slot(int)
    def step(self, delta: int = 1) -> None:
        self.pause()
        if self.n_frames <= 0:
            return
        target = self.frame + int(delta)
        target = target % self.n_frames if self.loop else min(max(0, target), self.n_frames - 1)
        self._set(target)

    @Slot(float)
    def set_speed(self, speed: float) -> None:
        self.speed = min(max(SPEEDS[0], float(speed)), SPEEDS[-1])
        if self.playing:
            self._restart_clock()
            self._timer.setInterval(max(5, int(1000.0 / (self.fps * self.speed) / 2)))

    @Slot(bool)
    def set_loop(self, on: bool) -> None:
        self.loop = bool(on)

    def _restart_clock(self) -> None:
        self._t0 = time.perf_counter()
        self._f0 = self.frame

    def _set(self, frame: int) -> None:
        if frame != self.frame:
            self.frame = frame
            self.frameChanged.emit(frame)

    def _tick(self) -> None:
        due = self._f0 + int((time.perf_counter() - self._t0) * self.fps * self.speed)
        if due >= self.n_frames:
            if not self.loop:
                self._set(self.n_frames - 1)
                self.pause()
                return
            due %= self.n_frames
            self._f0, self._t0 = due, time.perf_counter()
        self._set(due)


MARKER_COLORS: dict[str, QColor] = {"labelled": QColor(40, 200, 90), "proposed": QColor(240, 170, 30),
                                     "disagree": QColor(235, 60, 60)}
MARKER_TITLES = {"labelled": "labelled", "proposed": "proposed (not accepted)",
                 "disagree": "model and FINAL disagree"}


class MarkedSlider(QSlider):
    """A frame slider that draws timeline markers (see the module doc) over the groove."""

    def __init__(self, orientation=Qt.Orientation.Horizontal, parent: QWidget | None = None):
        super().__init__(orientation, parent)
        self.markers: dict[str, list[int]] = {k: [] for k in MARKER_COLORS}
        self.setMinimumHeight(22)

    def set_markers(self, **kinds) -> bool:
        """``labelled=[...], proposed=[...], disagree=[...]`` (frame lists; omitted kinds are kept).
        Returns whether anything changed."""
        changed = False
        for k, frames in kinds.items():
            if k not in MARKER_COLORS:
                raise ValueError(f"unknown marker kind {k!r}")
            new = sorted(int(f) for f in frames)
            if new != self.markers[k]:
                self.markers[k], changed = new, True
        if changed:
            parts = [f"{len(v)} {MARKER_TITLES[k]}" for k, v in self.markers.items() if v]
            self.setToolTip("Frame" + (" — markers: " + ", ".join(parts) if parts else ""))
            self.update()
        return changed

    def marker_x(self, frame: int) -> float:
        """The x (widget pixels) where the marker of ``frame`` is drawn: under the handle's centre."""
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        st = self.style()
        groove = st.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, self)
        handle = st.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, self)
        span = max(1, groove.width() - handle.width())
        pos = QStyle.sliderPositionFromValue(self.minimum(), self.maximum(), int(frame), span)
        return groove.x() + handle.width() / 2.0 + pos

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        if not any(self.markers.values()) or self.maximum() <= self.minimum():
            return
        p = QPainter(self)
        h = self.height()
        w = max(2.0, min(4.0, (self.width() - 20) / max(1, self.maximum() - self.minimum() + 1)))
        for kind in ("proposed", "labelled", "disagree"):
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(MARKER_COLORS[kind])
            y, mh = (0.0, 5.0) if kind == "disagree" else (h - 5.0, 5.0)
            for f in self.markers[kind]:
                p.drawRect(QRectF(self.marker_x(f) - w / 2, y, w, mh))
        p.end()


class TransportBar(QWidget):
    """Play/pause, step back/forward, frame slider, frame and time labels, speed, loop."""

    def __init__(self, playback: Playback, parent: QWidget | None = None):
        super().__init__(parent)
        self.playback = playback
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.back_btn = QToolButton(self, text="◀|", toolTip="Step one frame back")
        self.play_btn = QToolButton(self, text="▶", toolTip="Play / pause")
        self.fwd_btn = QToolButton(self, text="|▶", toolTip="Step one frame forward")
        self.slider = MarkedSlider(Qt.Orientation.Horizontal, self)
        self.slider.setToolTip("Frame")
        self.frame_label = QLabel("0 / 0", self)
        self.time_label = QLabel("00:00.00 / 00:00.00", self)
        for label in (self.frame_label, self.time_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.speed_box = QComboBox(self)
        self.speed_box.setToolTip("Playback speed")
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g}x", s)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.loop_box = QCheckBox("Loop", self)
        self.loop_box.setChecked(playback.loop)
        for w in (self.back_btn, self.play_btn, self.fwd_btn, self.slider, self.frame_label, self.time_label,
                  self.speed_box, self.loop_box):
            lay.addWidget(w, 1 if w is self.slider else 0)
        self.back_btn.clicked.connect(lambda: playback.step(-1))
        self.fwd_btn.clicked.connect(lambda: playback.step(1))
        self.play_btn.clicked.connect(playback.toggle)
        self.slider.valueChanged.connect(self._slider_moved)
        self.speed_box.currentIndexChanged.connect(lambda i: playback.set_speed(self.speed_box.itemData(i)))
        self.loop_box.toggled.connect(playback.set_loop)
        playback.frameChanged.connect(self.show_frame)
        playback.playingChanged.connect(lambda on: self.play_btn.setText("❚❚" if on else "▶"))
        self.reset()

    def reset(self) -> None:
        pb = self.playback
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, pb.n_frames - 1))
        self.slider.blockSignals(False)
        multi = pb.n_frames > 1
        for w in (self.back_btn, self.play_btn, self.fwd_btn, self.slider, self.speed_box, self.loop_box):
            w.setEnabled(multi)
        self.show_frame(pb.frame)

    @Slot(int)
    def show_frame(self, frame: int) -> None:
        pb = self.playback
        self.slider.blockSignals(True)
        self.slider.setValue(frame)
        self.slider.blockSignals(False)
        if pb.n_frames == 0:
            self.frame_label.setText("no clip")
            self.time_label.setText("")
            return
        self.frame_label.setText(f"{frame + 1} / {pb.n_frames}")
        self.time_label.setText(f"{format_time(pb.time_of(frame))} / {format_time(pb.time_of(pb.n_frames))}")

    def show_speed(self, speed: float) -> None:
        if speed in SPEEDS:
            self.speed_box.blockSignals(True)
            self.speed_box.setCurrentIndex(SPEEDS.index(speed))
            self.speed_box.blockSignals(False)

    def _slider_moved(self, value: int) -> None:
        self.playback.seek(value)
