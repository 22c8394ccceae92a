"""Mask propagation and interpolation off the GUI thread: one run at a time, with progress and Cancel.

:class:`ProposalRunner` runs ``compute(cancelled, report) -> {frame: mask}`` in the thread pool
(:mod:`lusapp.gui.workers`); ``compute`` calls ``report(percent, text)`` after each frame and stops when
``cancelled()`` turns true, returning the frames done so far. The result comes back on the GUI thread as
``on_done(masks, was_cancelled)``; an error as one sentence through ``failed``. :class:`ProposalProgress` is the
strip over the bottom of the image (what runs, a progress bar, Cancel) shown only while a run is going.
:func:`start_propagation` / :func:`start_interpolation` are the clip view's propagate / interpolate: they pick
the frames, start the run, and turn its masks into proposals (one undo step, stored through the mask source).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QObject, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from lusapp.core import propagate as prop
from lusapp.core.interpolate import interpolate_masks
from lusapp.gui.undo_commands import ProposalCommand
from lusapp.gui.workers import Job, start_job

Compute = Callable[[Callable[[], bool], Callable[[int, str], None]], dict]


def flow_compute(src_mask, start: int, targets: list[int], read_frame, method: str = "dis") -> Compute:
    """The work of a propagation: ``src_mask`` of frame ``start`` carried over ``targets`` by optical flow."""
    src = np.array(src_mask, np.uint8, copy=True)

    def compute(cancelled, report) -> dict:
        out: dict[int, np.ndarray] = {}
        for i, (f, m) in enumerate(prop.propagate(src, start, targets, read_frame, method)):
            out[f] = np.array(m, np.uint8, copy=True)
            report(int(100 * (i + 1) / len(targets)), f"frame {f + 1} ({i + 1} of {len(targets)})")
            if cancelled():
                break
        return out
    return compute


def interpolation_compute(mask_a, frame_a: int, mask_b, frame_b: int) -> Compute:
    """The work of an interpolation between two FINAL keyframes (one step: fast, no progress to speak of)."""
    a, b = np.array(mask_a, np.uint8, copy=True), np.array(mask_b, np.uint8, copy=True)

    def compute(cancelled, report) -> dict:
        out = interpolate_masks(a, frame_a, b, frame_b)
        report(100, f"{len(out)} frames")
        return out
    return compute


class ProposalRunner(QObject):
    started = Signal(str)  # what runs ("Propagating forward from frame 5")
    progress = Signal(int, str)
    ended = Signal()
    failed = Signal(str)  # one sentence

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._job: Job | None = None
        self._cancel = threading.Event()
        self.label = ""

    @property
    def busy(self) -> bool:
        return self._job is not None

    def start(self, label: str, compute: Compute, on_done: Callable[[dict, bool], None]) -> bool:
        """Start ``compute`` unless a run is going (then False)."""
        if self._job is not None:
            return False
        self._cancel = threading.Event()
        cancel, self.label = self._cancel, label
        job = Job(compute, cancel.is_set, lambda pct, text: job.report(pct, text), name="propose-masks")
        job.progress.connect(self.progress)

        def done(masks: dict) -> None:
            self._job = None
            self.ended.emit()
            on_done(masks or {}, cancel.is_set())

        def error(exc: BaseException, _tb: str) -> None:
            self._job = None
            self.ended.emit()
            self.failed.emit(f"{label} failed: {exc}")

        job.finished.connect(done)
        job.failed.connect(error)
        self._job = job
        self.started.emit(label)
        start_job(job)
        return True

    def cancel(self) -> None:
        """Ask the run to stop after the frame it is on (what is done so far is kept)."""
        self._cancel.set()

    def wait(self, timeout_s: float = 60.0) -> bool:
        """Process events until the run has ended (tests, the labelling benchmark); False on timeout."""
        end = time.monotonic() + timeout_s
        while self._job is not None and time.monotonic() < end:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.002)
        return self._job is None


class ProposalProgress(QFrame):
    """What runs, how far, and Cancel, floating at the bottom of ``host`` (the image view, so the layout does
    not jump when it comes and goes); hidden while nothing runs."""

    def __init__(self, runner: ProposalRunner, host: QWidget):
        super().__init__(host)
        self.runner, self.host = runner, host
        self.setAutoFillBackground(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        host.installEventFilter(self)
        self.text = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 100)
        self.bar.setMaximumWidth(220)
        self.cancel_btn = QPushButton("Cancel", self)
        self.cancel_btn.setToolTip("Stop; the frames done so far stay as proposals")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_btn)
        self.cancel_btn.clicked.connect(runner.cancel)
        runner.started.connect(self._on_started)
        runner.progress.connect(self._on_progress)
        runner.ended.connect(self.hide)
        runner.failed.connect(self._on_failed)
        self.error: QWidget | None = None  # the last failure's dialog (non-modal)
        self.hide()

    def _on_failed(self, message: str) -> None:
        from lusapp.gui.dialogs import error_box

        self.error = error_box(self.host.window(), "Masks not proposed", message, modal=False)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if obj is self.host and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        w = min(self.host.width() - 16, 560)
        self.resize(w, self.sizeHint().height())
        self.move(8, self.host.height() - self.height() - 8)

    def _on_started(self, label: str) -> None:
        self.text.setText(label + "…")
        self.bar.setValue(0)
        self._place()
        self.show()
        self.raise_()

    def _on_progress(self, pct: int, text: str) -> None:
        self.bar.setValue(int(pct))
        if text:
            self.text.setText(f"{self.runner.label}: {text}")


# -- what the clip view's propagate / interpolate do (``view``: a ClipView) -------------------------------------
def _busy(view) -> bool:
    if view.propagator.busy:
        view.statusMessage.emit(f"{view.propagator.label} is still running: wait for it or press Cancel")
    return view.propagator.busy


def start_propagation(view, direction: int) -> list[int]:
    """Start warping the view's current FINAL mask over the next frames (``direction`` +1 / -1, the view's
    count; stopping before a labelled frame); returns the target frames ([] when it cannot start)."""
    if view.clip is None or view.key is None or view.frames is None or _busy(view):
        return []
    frame = view.current_frame
    src = view.masks.final_mask(frame)
    if src is None:
        view.statusMessage.emit(f"Frame {frame + 1} has no FINAL mask to propagate: correct it or mark it "
                                 "labelled first")
        return []
    targets = prop.propagation_frames(frame, 1 if direction > 0 else -1, view.playback.n_frames,
                                      view.labelled_frames(), view.propagate_count)
    if not targets:
        view.statusMessage.emit("Nothing to propagate to: the next frame is labelled or the clip ends")
        return []
    view.controller.cancel()
    view.playback.pause()
    frames, key, way = view.frames, view.key, "forward" if direction > 0 else "backward"
    work = flow_compute(src, frame, targets, lambda i: prop._grey(frames.get(int(i))), view.flow_method)
    view.propagator.start(f"Propagating frame {frame + 1} {way}", work,
                          lambda after, stopped: proposals_ready(view, key, after, stopped, "flow", frame,
                                                                 f"Propagate frame {frame + 1} {way}",
                                                                 len(targets)))
    return sorted(targets)


def start_interpolation(view) -> list[int]:
    """Start interpolating between the labelled frames around the current one (on a labelled frame: it and the
    next labelled frame); returns the frames between ([] when it cannot start)."""
    if view.clip is None or view.key is None or _busy(view):
        return []
    frame, lab = view.current_frame, view.labelled_frames()
    a = frame if frame in lab else prop.next_frame(lab, frame, -1)
    b = prop.next_frame(lab, a if a is not None else frame, 1)
    if a is None or b is None:
        view.statusMessage.emit("Interpolation needs a labelled frame on each side: label two keyframes "
                                 "(this one and a later one, or one before and one after)")
        return []
    if b - a < 2:
        view.statusMessage.emit(f"Frames {a + 1} and {b + 1} are neighbours: nothing to interpolate")
        return []
    view.controller.cancel()
    view.playback.pause()
    work = interpolation_compute(view.masks.final_mask(a), a, view.masks.final_mask(b), b)
    key = view.key
    view.propagator.start(f"Interpolating frames {a + 2}–{b}", work,
                          lambda after, stopped: proposals_ready(view, key, after, stopped, "interpolate", a,
                                                                 f"Interpolate frames {a + 1}–{b + 1}", b - a - 1))
    return list(range(a + 1, b))


def proposals_ready(view, key: str, after: dict, stopped: bool, how: str, from_frame: int, text: str,
                    planned: int) -> None:
    """A run ended: its masks become proposals (one undo step), except for frames labelled meanwhile."""
    if key != view.key:
        return  # the clip changed while it ran
    lab = set(view.labelled_frames())
    after = {f: m for f, m in after.items() if f not in lab}
    if not after:
        view.statusMessage.emit("Stopped: no frame got a proposal" if stopped else
                                 "No proposals: the frames were labelled meanwhile")
        return
    before = {f: view.masks.proposals.get((key, f)) for f in after}
    view._store_proposals(key, after, how, from_frame)
    view.undo_stack.push(ProposalCommand(view, key, before, after, f"{text} ({len(after)} frames)"))
    view.refresh_overlay()
    lo, hi = min(after) + 1, max(after) + 1
    done = f"stopped after {len(after)} of {planned}" if stopped else f"{len(after)}"
    view.statusMessage.emit(f"Proposed masks for frames {lo}–{hi} ({done}), from frame {from_frame + 1}: "
                             "not FINAL until accepted")
