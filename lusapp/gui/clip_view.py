"""The clip view: a zone's clip (or still) with live pattern masks, playback and mask correction.

Mask shown for a frame, first match wins: the FINAL mask edited in this session, the FINAL mask of the
mask source (the store), the model's mask from the :class:`SegWorker` cache ('MODEL'), nothing.
Editing a frame that has no FINAL mask starts from the model's mask; the model's mask is handed out once
through ``originalCaptured`` (the shell stores it as ORIGINAL); edited FINAL masks live in ``masks.finals``
(shared with the session, which writes them) and every change is told through ``maskEdited`` (the shell
autosaves). See docs/architecture.md, section GUI.

Propagation (issue 11): a FINAL frame's mask is carried over N frames (or up to the next labelled frame)
forward or backward by optical flow (:mod:`lusapp.core.propagate`); the results are *proposals* (badge
``PROPOSED``, drawn fainter, amber on the timeline), not FINAL, not saved and not counted as labelled until
accepted (one / all) or discarded -- each an undo step. The timeline marks labelled frames, proposals and
frames where the model's mask and the FINAL mask disagree (mean pattern Dice < 0.7).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QUndoGroup, QUndoStack
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from lusapp.core import propagate as prop
from lusapp.core.errors import LusError
from lusapp.core.mask_edit import MaskDiff, diff_masks
from lusapp.gui.mask_tools import EditImageItem, ToolBar, ToolController
from lusapp.gui.overlay import OverlayControls
from lusapp.gui.playback import Playback, TransportBar
from lusapp.gui.propagation_ctl import ProposalProgress, ProposalRunner, start_interpolation, start_propagation
from lusapp.gui.undo_commands import (AcceptProposalsCommand, LabelCommand, MaskEditCommand, ProposalCommand,
                                      UndoHistory)
from lusapp.review.frame_cache import DEFAULT_BUDGET, CachedClip, FrameCache
from lusapp.review.mask_source import MaskSource
from lusapp.review.mask_state import MaskState
from lusapp.review.overlay import compose_overlay, frame_to_rgba, outline_labels, overlay_lut


class _FrameRelay(QObject):
    """Carries 'frame decoded' from the prefetch thread to the GUI thread (queued signal)."""

    ready = Signal(int)


_BADGE_STYLE = {"FINAL": "background:#1b7f3b;color:white;", "MODEL": "background:#2a5db0;color:white;",
                "PENDING": "background:#555;color:#ddd;", "PROPOSED": "background:#b07800;color:white;"}
_BADGE_TEXT = {"PENDING": "segmenting…", "PROPOSED": "PROPOSED (not FINAL): accept or edit"}
PROPOSAL_OPACITY = 0.6  # proposals are drawn at this fraction of the overlay opacity


class ClipView(QWidget):
    frameChanged = Signal(int)
    maskEdited = Signal(str, int, object)  # zone id, frame, FINAL mask (a copy)
    originalCaptured = Signal(str, int, object, str)  # zone id, frame, model mask, model version
    maskUnlabelled = Signal(str, int)  # zone id, frame: no longer FINAL (delete its FINAL mask)
    toolChanged = Signal(str)
    statusMessage = Signal(str)

    def __init__(self, parent: QWidget | None = None, seg_worker=None, undo_group: QUndoGroup | None = None,
                 frame_budget_bytes: int = DEFAULT_BUDGET):
        super().__init__(parent)
        self.worker = seg_worker
        self.history = UndoHistory(undo_group, self)
        self.frame_budget_bytes = int(frame_budget_bytes)
        self.zone_id = ""
        self.key: str | None = None
        self.clip = None
        self.frames: FrameCache | None = None
        self.masks = MaskState(seg_worker.cached if seg_worker is not None else None)
        self._fresh = False
        self._was_final = False
        self._edit_frame = 0
        self._visible = {1: True, 2: True, 3: True, 4: True}
        self._opacity = 0.5
        self._masks_shown = True
        self._lut = overlay_lut(self._visible, self._opacity)
        self._lut_prop = overlay_lut(self._visible, self._opacity * PROPOSAL_OPACITY)
        self.flow_method = "dis"
        self._disagree: dict[int, bool] = {}  # frame -> model and FINAL disagree (cache for the timeline)
        self._blank: np.ndarray | None = None
        self.last_kind: str | None = None
        self.frame_image: np.ndarray | None = None  # the decoded frame on screen
        self.shown_frame = -1  # its index (lags current_frame while a seek target is being decoded)

        self.graphics = pg.GraphicsView(self)
        self.view_box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.graphics.setCentralItem(self.view_box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.controller = ToolController(self, self.view_box, self)
        self.overlay_item = EditImageItem(self.controller, axisOrder="row-major")
        self.overlay_item.setZValue(10)
        self.view_box.addItem(self.image_item)
        self.view_box.addItem(self.overlay_item)
        self.badge = QLabel(self.graphics)
        self.badge.move(8, 8)
        self.badge.hide()
        self._badge_label: str | None = None

        self._relay = _FrameRelay(self)
        self._relay.ready.connect(self._on_frame_decoded)
        self.playback = Playback(self)
        self.transport = TransportBar(self.playback, self)
        self.overlay_controls = OverlayControls(self, self._opacity)
        self.toolbar = ToolBar(self.controller, self.history.group, self)
        self.propagator = ProposalRunner(self)  # propagation / interpolation off the GUI thread
        self.proposal_progress = ProposalProgress(self.propagator, self.graphics)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        top = QHBoxLayout()
        top.addWidget(self.toolbar, 1)
        lay.addLayout(top)
        lay.addWidget(self.graphics, 1)
        lay.addWidget(self.overlay_controls)
        lay.addWidget(self.transport)

        self.playback.frameChanged.connect(self._on_frame)
        self.overlay_controls.visibilityChanged.connect(self._on_visibility)
        self.overlay_controls.opacityChanged.connect(self._on_opacity)
        self.overlay_controls.lockChanged.connect(self.controller.set_locked)
        self.overlay_controls.outlineChanged.connect(lambda *_: self.refresh_overlay())
        self.toolbar.copyPreviousRequested.connect(self.copy_from_previous)
        self.toolbar.markLabelledRequested.connect(self.mark_labelled)
        self.toolbar.unlabelRequested.connect(self.unlabel_frame)
        self.toolbar.propagateRequested.connect(self.propagate)
        self.toolbar.interpolateRequested.connect(self.interpolate)
        self.propagator.failed.connect(self.statusMessage)
        self.toolbar.acceptRequested.connect(self.accept_proposal)
        self.toolbar.acceptAllRequested.connect(self.accept_all_proposals)
        self.toolbar.discardRequested.connect(self.discard_proposals)
        self.toolbar.fitRequested.connect(self.fit)
        self.toolbar.zoom100_requested.connect(self.zoom_100)
        self.view_box.sigRangeChanged.connect(lambda *_: self._show_zoom())
        self.controller.hint.connect(self.statusMessage)
        self.controller.toolChanged.connect(self.toolChanged)
        if seg_worker is not None:
            seg_worker.maskReady.connect(self._on_mask_ready)
            seg_worker.failed.connect(lambda key, msg: self.statusMessage.emit(f"Segmentation failed: {msg}"))
        self.graphics.installEventFilter(self)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # -- loading ---------------------------------------------------------------------------------
    def set_clip(self, zone_id: str, clip, mask_source: MaskSource | None = None,
                 clip_key: str | None = None) -> None:
        """Show ``clip`` (a ``Clip``; a still is a one-frame clip) of zone ``zone_id``; ``None`` clears."""
        self.controller.cancel()
        self.propagator.cancel()  # a run for the clip left behind ends; its result is dropped
        new_key = None if clip is None else (clip_key or f"{zone_id}:{clip.path}")
        if self.controller.tool != "pan" and (str(zone_id) != self.zone_id or new_key != self.key):
            # a new zone starts with pan/zoom: a stray click must not paint into a clip just opened
            self.controller.set_tool("pan")
            self.statusMessage.emit("Tool back to Pan/zoom for the new zone (B, E, L, P pick a tool)")
        self.playback.pause()
        if self.frames is not None:
            self.frames.close()
            self.frames = None
        self.zone_id, self.clip = str(zone_id), clip
        self._blank = None
        self._disagree = {}
        self.frame_image, self.shown_frame = None, -1
        if clip is None:
            self.key = None
            self.history.activate(None)
            if self.worker is not None:
                self.worker.cancel()
            self.set_mask_source(None)
            self.playback.set_clip(0, None)
            self.transport.reset()
            self.transport.slider.set_markers(labelled=[], proposed=[], disagree=[])
            self.image_item.clear()
            self.overlay_item.clear()
            self.badge.hide()
            self._badge_label = None
            return
        self.key = clip_key or f"{zone_id}:{clip.path}"
        self.masks.key, self.masks.zone_id = self.key, self.zone_id
        for old in self.history.activate(self.key):  # histories beyond the limit: their written edits go
            self.masks.finals.forget_clip(old)
        self.frames = FrameCache(clip, self.frame_budget_bytes, listener=self._relay.ready.emit)
        self.playback.set_clip(clip.n_frames, clip.fps)
        self.transport.reset()
        if self.worker is not None:
            self.worker.start(self.key, CachedClip(self.frames), playhead=0)
        self.set_mask_source(mask_source, redraw=False)
        self._show(0)
        self.fit()

    def set_mask_source(self, source: MaskSource | None, redraw: bool = True) -> None:
        """Where FINAL masks of the current zone come from (e.g. ``StoreMaskSource(store, pid, zone)``)."""
        self.masks.set_clip(self.key, source, self.zone_id)
        if redraw and self.clip is not None:
            self._show(self.current_frame)

    # -- reading ---------------------------------------------------------------------------------
    @property
    def current_frame(self) -> int:
        return self.playback.frame

    @property
    def undo_stack(self) -> QUndoStack:
        """The undo stack of the clip in view (one per clip, in ``history.group``)."""
        return self.history.active

    @property
    def source(self) -> MaskSource | None:
        return self.masks.source

    def labelled_frames(self) -> list[int]:
        """Frames of the current clip with a FINAL mask (stored or edited in this session)."""
        return self.masks.labelled_frames()

    def mask_and_kind(self, frame: int) -> tuple[np.ndarray | None, str | None]:
        """(mask, 'FINAL' | 'MODEL') of a frame of the current clip, or (None, None)."""
        return self.masks.mask_and_kind(frame)

    def mask_kind(self, frame: int) -> str | None:
        return self.mask_and_kind(frame)[1]

    def current_mask(self) -> np.ndarray | None:
        m = self.mask_and_kind(self.current_frame)[0]
        return None if m is None else m.copy()

    # -- display ---------------------------------------------------------------------------------
    def _show(self, frame: int) -> None:
        if self.frames is None:
            return
        self.frames.set_playhead(frame)
        if self.worker is not None:
            self.worker.set_playhead(frame)
        img = self.frames.get(frame) if self.frame_image is None else self.frames.request(frame)
        if img is None:
            return  # not decoded yet (e.g. a backward seek in a long video): _on_frame_decoded shows it
        self.frame_image = img
        self.shown_frame = frame
        self.image_item.setImage(frame_to_rgba(img), autoLevels=False)
        self.refresh_overlay()

    def _on_frame_decoded(self, frame: int) -> None:
        fc = self.frames
        if fc is None:
            return
        if fc.n_frames < self.playback.n_frames:  # the reader found the real (shorter) length
            self.playback.n_frames = fc.n_frames
            self.transport.reset()
            if self.current_frame >= fc.n_frames:
                self.seek(fc.n_frames - 1)
                return
        if self.shown_frame != self.current_frame:
            self._show(self.current_frame)

    def refresh_overlay(self) -> None:
        if self.frames is None or self.frame_image is None:
            return
        mask, kind = self.mask_and_kind(self.shown_frame)  # the frame on screen (lags during a slow seek)
        if mask is None or not self._masks_shown:
            if self._blank is None or self._blank.shape[:2] != self.frame_image.shape[:2]:
                self._blank = np.zeros((*self.frame_image.shape[:2], 4), np.uint8)
            rgba = self._blank
        else:
            lut = self._lut_prop if kind == "PROPOSED" else self._lut
            if self.overlay_controls.outline_only:  # edges at full strength: the image shows inside them
                mask = outline_labels(mask)
                lut = overlay_lut(self._visible, PROPOSAL_OPACITY if kind == "PROPOSED" else 1.0)
            rgba = compose_overlay(mask, self._visible, self._opacity, lut=lut)
        self.overlay_item.setImage(rgba, autoLevels=False)
        labelled = self.masks.labelled_frames()
        self.overlay_controls.show_labelled(labelled)
        self._update_markers(labelled)
        self.last_kind = kind
        label = kind or ("PENDING" if self.worker is not None and self.worker.engine is not None else None)
        if label != self._badge_label:
            self._badge_label = label
            if label is None:
                self.badge.hide()
            else:
                self.badge.setText(f" {_BADGE_TEXT.get(label, label)} ")
                self.badge.setStyleSheet(_BADGE_STYLE[label] + "font-weight:bold;padding:2px;border-radius:3px;")
                self.badge.adjustSize()
                self.badge.show()

    def _update_markers(self, labelled: list[int] | None = None) -> None:
        """Timeline markers: labelled frames, proposals, and labelled frames where the model disagrees."""
        labelled = self.masks.labelled_frames() if labelled is None else labelled
        proposed = self.masks.proposed_frames()
        if self.key is not None:
            for f in labelled:
                if f not in self._disagree:
                    model = self.masks.model_lookup(self.key, f)
                    if model is not None:  # not segmented yet: decided when its mask arrives
                        self._disagree[f] = prop.disagree(model, self.masks.final_mask(f))
        bad = [f for f in labelled if self._disagree.get(f)]
        self.transport.slider.set_markers(labelled=labelled, proposed=proposed, disagree=bad)
        self.toolbar.show_proposals(self.shown_frame in proposed, len(proposed))

    def disagreeing_frames(self) -> list[int]:
        """Labelled frames whose model mask and FINAL mask disagree (mean pattern Dice < 0.7)."""
        self._update_markers()
        return list(self.transport.slider.markers["disagree"])

    def _changed(self, key: str, frame: int) -> None:
        if key == self.key:
            self._disagree.pop(int(frame), None)

    def _on_frame(self, frame: int) -> None:
        self._show(frame)
        self.frameChanged.emit(frame)

    @Slot(str, int, object)
    def _on_mask_ready(self, key: str, frame: int, mask) -> None:
        self._changed(key, frame)
        zone = self.masks.mask_arrived(key, frame)
        if zone is not None:
            self.originalCaptured.emit(zone, frame, np.array(mask, np.uint8, copy=True), self.worker.model_id)
        if key == self.key and (frame == self.shown_frame or frame in self._labelled_set()):
            self.refresh_overlay()

    def _labelled_set(self) -> set[int]:
        return set(self.masks.labelled_frames())

    def _on_visibility(self, cls: int, on: bool) -> None:
        self._visible[int(cls)] = bool(on)
        self._lut = overlay_lut(self._visible, self._opacity)
        self._lut_prop = overlay_lut(self._visible, self._opacity * PROPOSAL_OPACITY)
        self.refresh_overlay()

    def _on_opacity(self, opacity: float) -> None:
        self._opacity = float(opacity)
        self._lut = overlay_lut(self._visible, self._opacity)
        self._lut_prop = overlay_lut(self._visible, self._opacity * PROPOSAL_OPACITY)
        self.refresh_overlay()

    # -- slots for the shell's actions -------------------------------------------------------------
    @Slot()
    def play(self) -> None:
        self.playback.play()

    @Slot()
    def pause(self) -> None:
        self.playback.pause()

    @Slot()
    def toggle_play(self) -> None:
        self.playback.toggle()

    @Slot()
    def step_forward(self) -> None:
        self.playback.step(1)

    @Slot()
    def step_back(self) -> None:
        self.playback.step(-1)

    @Slot()
    def first_frame(self) -> None:
        self.playback.pause()
        self.seek(0)

    @Slot()
    def last_frame(self) -> None:
        self.playback.pause()
        self.seek(self.playback.n_frames - 1)

    @Slot(int)
    def seek(self, frame: int) -> None:
        self.playback.seek(frame)

    @Slot(float)
    def set_speed(self, speed: float) -> None:
        self.playback.set_speed(speed)
        self.transport.show_speed(self.playback.speed)

    @Slot(bool)
    def set_loop(self, on: bool) -> None:
        self.transport.loop_box.setChecked(bool(on))

    @Slot()
    def fit(self) -> None:
        self.view_box.autoRange(padding=0.0)
        self._show_zoom()

    def zoom_factor(self) -> float | None:
        """Screen pixels per image pixel (None before an image is shown)."""
        if self.frame_image is None:
            return None
        px = self.view_box.viewPixelSize()[0]
        return 1.0 / px if px > 0 else None

    def _show_zoom(self) -> None:
        self.toolbar.show_zoom(self.zoom_factor())

    @Slot()
    def zoom_100(self) -> None:
        """One image pixel per screen pixel, centred where the view is centred now."""
        if self.frame_image is None:
            return
        rect = self.view_box.viewRect()
        cx, cy = rect.center().x(), rect.center().y()
        w, h = self.view_box.width(), self.view_box.height()
        self.view_box.setRange(xRange=(cx - w / 2, cx + w / 2), yRange=(cy - h / 2, cy + h / 2), padding=0.0)
        self._show_zoom()

    # -- jumping along the timeline ---------------------------------------------------------------
    def _jump(self, target: int | None, what: str) -> bool:
        if target is None:
            self.statusMessage.emit(f"No {what} frame in that direction")
            return False
        self.playback.pause()
        self.seek(target)
        return True

    @Slot()
    def next_labelled(self) -> bool:
        return self._jump(prop.next_frame(self.labelled_frames(), self.current_frame, 1), "labelled")

    @Slot()
    def prev_labelled(self) -> bool:
        return self._jump(prop.next_frame(self.labelled_frames(), self.current_frame, -1), "labelled")

    @Slot()
    def next_unlabelled(self) -> bool:
        return self._jump(prop.next_unlabelled(self.labelled_frames(), self.current_frame, 1,
                                               self.playback.n_frames), "unlabelled")

    @Slot()
    def prev_unlabelled(self) -> bool:
        return self._jump(prop.next_unlabelled(self.labelled_frames(), self.current_frame, -1,
                                               self.playback.n_frames), "unlabelled")

    def navigation_actions(self) -> dict:
        """Shortcut action id -> slot for the timeline jumps and zoom (the shell puts them in its menus)."""
        return {"frame.next_labelled": self.next_labelled, "frame.prev_labelled": self.prev_labelled,
                "frame.next_unlabelled": self.next_unlabelled, "frame.prev_unlabelled": self.prev_unlabelled,
                "view.fit": self.fit, "view.zoom100": self.zoom_100,
                "view.outline": lambda *_: self.overlay_controls.outline_box.toggle()}

    def propagation_actions(self) -> dict:
        """Shortcut action id -> slot for propagation and proposals."""
        return {"mask.propagate_forward": lambda *_: self.propagate(1),
                "mask.propagate_backward": lambda *_: self.propagate(-1),
                "mask.interpolate": lambda *_: self.interpolate(),
                "mask.accept_proposal": self.accept_proposal, "mask.accept_all": self.accept_all_proposals,
                "mask.discard_proposals": self.discard_proposals}

    # -- propagation ---------------------------------------------------------------------------
    @property
    def propagate_count(self) -> int:
        """Frames to propagate over (0: up to the next labelled frame)."""
        return self.toolbar.prop_count_box.value()

    def set_propagate_count(self, n: int) -> None:
        self.toolbar.prop_count_box.setValue(int(n))

    def proposed_frames(self) -> list[int]:
        return self.masks.proposed_frames()

    def _grey(self, i: int) -> np.ndarray:
        img = self.frames.get(int(i))
        return prop._grey(img)

    @Slot(int)
    def propagate(self, direction: int = 1) -> list[int]:
        """Warp this frame's FINAL mask to the next frames (``direction`` +1 / -1) as proposals, in the thread
        pool (progress and Cancel under the clip; :meth:`wait_proposals` waits); one undo step when done.
        Returns the frames it will propose masks for ([] when it cannot start)."""
        return start_propagation(self, direction)

    @Slot()
    def interpolate(self) -> list[int]:
        """Proposals for the frames between the labelled frames around this one (line classes interpolated);
        one undo step when done. Returns the frames it will propose masks for."""
        return start_interpolation(self)

    def wait_proposals(self, timeout_s: float = 60.0) -> bool:
        """Wait (processing events) until a propagation / interpolation has ended (tests, benchmark)."""
        return self.propagator.wait(timeout_s)

    def _store_proposals(self, key: str, masks: dict, how: str = "flow", from_frame: int | None = None) -> None:
        """Set / drop proposals in memory and in the store; a store error is told, the masks stay in memory."""
        try:
            self.masks.set_proposals(key, masks, how, from_frame)
        except (OSError, LusError) as exc:
            self.statusMessage.emit(f"Proposals could not be stored (they are kept until the app closes): {exc}")

    def set_proposals(self, key: str, masks: dict) -> None:
        """Undo target of ProposalCommand."""
        self._store_proposals(key, masks)
        if key == self.key:
            self.refresh_overlay()

    @Slot()
    def accept_proposal(self) -> bool:
        """Accept the proposal of this frame as its FINAL mask (one undo step)."""
        frame = self.current_frame
        if self.key is None or frame not in self.masks.proposed_frames():
            self.statusMessage.emit(f"Frame {frame + 1} has no proposed mask to accept")
            return False
        m = self.masks.proposals[(self.key, frame)]
        self.undo_stack.push(AcceptProposalsCommand(self, self.key, self.zone_id, {frame: m}, "Accept proposal"))
        self.statusMessage.emit(f"Frame {frame + 1}: proposal accepted, labelled")
        return True

    @Slot()
    def accept_all_proposals(self) -> int:
        """Accept every proposal of the clip in view (one undo step); returns how many."""
        if self.key is None:
            return 0
        frames = self.masks.proposed_frames()
        if not frames:
            self.statusMessage.emit("No proposed masks to accept")
            return 0
        masks = {f: self.masks.proposals[(self.key, f)] for f in frames}
        self.undo_stack.push(AcceptProposalsCommand(self, self.key, self.zone_id, masks, "Accept proposals"))
        self.statusMessage.emit(f"{len(frames)} proposals accepted: frames labelled")
        return len(frames)

    @Slot()
    def discard_proposals(self) -> int:
        """Drop every proposal of the clip in view (one undo step); returns how many."""
        if self.key is None:
            return 0
        before = self.masks.proposals_of(self.key)
        if not before:
            self.statusMessage.emit("No proposed masks to discard")
            return 0
        after = {f: None for f in before}
        self._store_proposals(self.key, after)
        self.undo_stack.push(ProposalCommand(self, self.key, before, after, f"Discard {len(before)} proposals"))
        self.refresh_overlay()
        self.statusMessage.emit(f"{len(before)} proposed masks discarded")
        return len(before)

    def accept_proposals(self, key: str, zone_id: str, masks: dict) -> None:
        """Undo target: the proposals ``masks`` (frame -> mask) become FINAL masks (saved)."""
        self._store_proposals(key, {f: None for f in masks})
        for f, m in sorted(masks.items()):
            final = self.masks.relabel(key, f, m, zone_id)
            self._changed(key, f)
            if key == self.key:
                self._capture_original(f)
            self.maskEdited.emit(zone_id, f, final.copy())
        if key == self.key:
            self.refresh_overlay()

    def unaccept_proposals(self, key: str, zone_id: str, masks: dict) -> None:
        """Undo target: the accepted frames are proposals again (their FINAL masks withdrawn)."""
        for f, m in sorted(masks.items()):
            self.masks.unlabel(key, f, zone_id)
            self._changed(key, f)
            self.maskUnlabelled.emit(zone_id, f)
        self._store_proposals(key, dict(masks))
        if key == self.key:
            self.refresh_overlay()

    @Slot(str)
    def set_tool(self, tool: str) -> None:
        self.controller.set_tool(tool)

    @Slot()
    def tool_pan(self) -> None:
        self.controller.set_tool("pan")

    @Slot()
    def tool_brush(self) -> None:
        self.controller.set_tool("brush")

    @Slot()
    def tool_eraser(self) -> None:
        self.controller.set_tool("eraser")

    @Slot()
    def tool_line(self) -> None:
        self.controller.set_tool("line")

    @Slot()
    def tool_polygon(self) -> None:
        self.controller.set_tool("polygon")

    @Slot(int)
    def set_edit_class(self, cls: int) -> None:
        self.controller.set_class(cls)

    @Slot(int)
    def set_brush_size(self, size: int) -> None:
        self.controller.set_size(size)

    @Slot()
    def grow_brush(self) -> None:
        self.controller.set_size(self.controller.size + max(1, self.controller.size // 4))

    @Slot()
    def shrink_brush(self) -> None:
        self.controller.set_size(self.controller.size - max(1, self.controller.size // 5))

    @Slot()
    def undo(self) -> None:
        self.history.group.undo()

    @Slot()
    def redo(self) -> None:
        self.history.group.redo()

    @Slot(int, bool)
    def set_class_visible(self, cls: int, on: bool) -> None:
        self.overlay_controls.set_class_visible(cls, on)

    @Slot(float)
    def set_opacity(self, opacity: float) -> None:
        self.overlay_controls.set_opacity(opacity)

    @Slot()
    def toggle_masks(self) -> None:
        self._masks_shown = not self._masks_shown
        self.refresh_overlay()

    # -- editing (ToolHost + undo target) --------------------------------------------------------
    def begin_edit(self) -> np.ndarray | None:
        """The working FINAL mask of the current frame (created from the shown mask on first edit)."""
        if self.clip is None or self.key is None or self.shown_frame != self.current_frame:
            return None
        self.playback.pause()  # the stroke belongs to this frame
        self._edit_frame = self.current_frame
        self._was_final = self.mask_kind(self.current_frame) == "FINAL"
        mask, self._fresh = self.masks.working(self.current_frame, self.frame_image.shape[:2])
        return mask

    def end_edit(self, before: np.ndarray, box, text: str) -> None:
        frame = self._edit_frame  # the frame the stroke began on, even if the user stepped meanwhile
        mask = self.masks.edited_mask(self.key, frame)
        diff = diff_masks(before, mask, hint=box) if mask is not None and mask.shape == before.shape else None
        fresh, self._fresh = self._fresh, False
        if diff is None:
            if fresh:
                self.masks.discard(frame)
            self.refresh_overlay()
            return
        self.masks.changed(self.key, frame)
        self._capture_original(frame)
        self._changed(self.key, frame)
        proposal = self.masks.proposals.get((self.key, frame)) if not self._was_final else None
        if proposal is not None:  # editing a proposed frame makes it FINAL: its proposal goes (one undo step)
            self.undo_stack.beginMacro(f"{text} (frame {frame + 1})")
            self._store_proposals(self.key, {frame: None})
            self.undo_stack.push(ProposalCommand(self, self.key, {frame: proposal}, {frame: None},
                                                 "Drop the edited frame's proposal"))
        self.undo_stack.push(MaskEditCommand(self, self.key, self.zone_id, frame, diff, text,
                                             labels=not self._was_final))
        if proposal is not None:
            self.undo_stack.endMacro()
        self.maskEdited.emit(self.zone_id, frame, mask.copy())
        self.refresh_overlay()

    def apply_mask_diff(self, key: str, zone_id: str, frame: int, diff: MaskDiff, forward: bool,
                        emit: bool = True) -> None:
        """Undo/redo of a MaskEditCommand (any zone, any frame): re-emits the FINAL mask for saving."""
        mask = self.masks.apply_diff(key, frame, diff, forward, zone_id)
        if mask is None:
            return
        self._changed(key, frame)
        if emit:
            self.maskEdited.emit(zone_id, frame, mask.copy())
        if key == self.key:
            if frame != self.current_frame:
                self.playback.pause()
                self.seek(frame)
            self.refresh_overlay()
        else:
            self.statusMessage.emit(f"{'Redid' if forward else 'Undid'} an edit of zone {zone_id}, frame {frame + 1}")

    def _capture_original(self, frame: int) -> None:
        expected = self.worker is not None and self.worker.engine is not None
        model = self.masks.original_for(self.key, self.zone_id, frame, expected)
        if model is not None:
            self.originalCaptured.emit(self.zone_id, frame, model, self.worker.model_id if self.worker is not None else "")

    @Slot()
    def copy_from_previous(self) -> bool:
        """Replace this frame's mask with the mask of the previous labelled frame (one undo step)."""
        if self.clip is not None and self.shown_frame != self.current_frame:
            self.statusMessage.emit("The frame is still being decoded; try again in a moment")
            return False
        prev = self.masks.previous_labelled(self.current_frame)
        if prev is None:
            self.statusMessage.emit("No labelled frame before this one to copy from")
            return False
        src = self.mask_and_kind(prev)[0].copy()
        mask = self.begin_edit()
        if mask is None:
            return False
        before = mask.copy()
        mask[...] = src
        self.end_edit(before, None, f"Copy mask of frame {prev + 1}")
        if self.mask_kind(self.current_frame) != "FINAL":  # same content: still label the frame
            self.mark_labelled()
        return True

    @Slot()
    def mark_labelled(self) -> bool:
        """Accept the shown mask of this frame as FINAL (saved through ``maskEdited``; one undo step)."""
        if self.clip is not None and self.mask_kind(self.current_frame) == "FINAL":
            self.statusMessage.emit(f"Frame {self.current_frame + 1} is already labelled")
            return True
        mask = self.begin_edit()
        if mask is None:
            return False
        self._fresh = False
        frame = self.current_frame
        self.masks.changed(self.key, frame)
        self._capture_original(frame)
        self.undo_stack.push(LabelCommand(self, self.key, self.zone_id, frame, True, mask.copy(), "Mark labelled"))
        self.maskEdited.emit(self.zone_id, frame, mask.copy())
        self.refresh_overlay()
        self.statusMessage.emit(f"Frame {frame + 1} labelled")
        return True

    @Slot()
    def unlabel_frame(self) -> bool:
        """Revert this frame to the model's mask and unmark it labelled (one undo step; the shell deletes
        the stored FINAL mask through ``maskUnlabelled``)."""
        if self.clip is None or self.key is None:
            return False
        frame = self.current_frame
        if self.mask_kind(frame) != "FINAL":
            self.statusMessage.emit(f"Frame {frame + 1} is not labelled: it already shows the model's mask")
            return False
        self.controller.cancel()
        old = self.masks.unlabel(self.key, frame)
        self._changed(self.key, frame)
        self.undo_stack.push(LabelCommand(self, self.key, self.zone_id, frame, False, old,
                                          "Revert to model / unlabel"))
        self.maskUnlabelled.emit(self.zone_id, frame)
        self.refresh_overlay()
        self.statusMessage.emit(f"Frame {frame + 1}: back to the model's mask, no longer labelled")
        return True

    def set_labelled(self, key: str, zone_id: str, frame: int, mask) -> None:
        """Undo target: make the frame FINAL again (``mask``, or the model's mask when ``None``)."""
        if mask is None:
            if key != self.key or self.frame_image is None:
                return
            mask, _ = self.masks.working(frame, self.frame_image.shape[:2])
            self.masks.changed(key, frame, zone_id)
        else:
            mask = self.masks.relabel(key, frame, mask, zone_id)
        self._changed(key, frame)
        self.maskEdited.emit(zone_id, frame, mask.copy())
        self._follow(key, zone_id, frame, "labelled again")

    def set_unlabelled(self, key: str, zone_id: str, frame: int) -> None:
        """Undo target: the frame is no longer FINAL (shows the model's mask)."""
        self.masks.unlabel(key, frame, zone_id)
        self._changed(key, frame)
        self.maskUnlabelled.emit(zone_id, frame)
        self._follow(key, zone_id, frame, "no longer labelled")

    def _follow(self, key: str, zone_id: str, frame: int, what: str) -> None:
        if key == self.key:
            if frame != self.current_frame:
                self.playback.pause()
                self.seek(frame)
            self.refresh_overlay()
        self.statusMessage.emit(f"Zone {zone_id}, frame {frame + 1}: {what}")

    # -- keys local to the view (no global shortcuts here) -----------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and self._key(event.key()):
            return True
        return super().eventFilter(obj, event)

    def keyPressEvent(self, event) -> None:
        if not self._key(event.key()):
            super().keyPressEvent(event)

    def _key(self, key: int) -> bool:
        c = self.controller
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and c.tool == "polygon":
            return c.close_polygon()
        if key == Qt.Key.Key_Escape:
            c.cancel()
            self.propagator.cancel()
            return True
        if key == Qt.Key.Key_Delete and c.polygon:
            c.remove_last_point()
            return True
        if key == Qt.Key.Key_BracketRight:
            self.grow_brush()
            return True
        if key == Qt.Key.Key_BracketLeft:
            self.shrink_brush()
            return True
        return False

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop playback and the frame prefetch thread (the SegWorker belongs to the caller)."""
        self.playback.pause()
        self.propagator.cancel()
        if self.frames is not None:
            self.frames.close(wait=2.0)
