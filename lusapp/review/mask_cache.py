"""The model's masks of the clips a reviewer has looked at, within a memory budget, and which frames to
segment next.

``MaskCache`` is thread-safe (the segmentation thread fills it, the GUI thread reads it); ``next_batch``
picks the frames nearest ahead of the play head. ``lusapp.gui.seg_worker.SegWorker`` runs the model with them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

DEFAULT_MASK_BUDGET = 384 << 20


def next_batch(n_frames: int, playhead: int, done: set[int], size: int, window: int | None = None) -> list[int]:
    """The next ``size`` frames to segment: the first not yet done going forward from the play head,
    wrapping around (so the frames the viewer is about to see come first), within ``window`` frames of
    the play head (default: the whole clip)."""
    out: list[int] = []
    if n_frames <= 0:
        return out
    start = int(playhead) % n_frames
    for k in range(n_frames if window is None else min(n_frames, max(1, int(window)))):
        i = (start + k) % n_frames
        if i not in done:
            out.append(i)
            if len(out) >= size:
                break
    return out


class MaskCache:
    """Model masks per clip key within ``max_bytes``: least-recently-used clips go first; when the clip in
    view alone is too big (long high-resolution cine loops), its frames farthest behind the play head go,
    and :meth:`window` tells the worker how far ahead of the play head it may segment."""

    def __init__(self, max_bytes: int = DEFAULT_MASK_BUDGET):
        self.max_bytes = int(max_bytes)
        self._clips: OrderedDict[str, dict[int, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str, frame: int) -> np.ndarray | None:
        with self._lock:
            masks = self._clips.get(key)
            return None if masks is None else masks.get(int(frame))

    def frames(self, key: str) -> set[int]:
        with self._lock:
            return set(self._clips.get(key, ()))

    def put(self, key: str, frame: int, mask: np.ndarray, playhead: int = 0, n_frames: int = 0) -> None:
        with self._lock:
            masks = self._clips.setdefault(key, {})
            self._clips.move_to_end(key)
            old = masks.get(int(frame))
            self._bytes += mask.nbytes - (old.nbytes if old is not None else 0)
            masks[int(frame)] = mask
            while self._bytes > self.max_bytes and len(self._clips) > 1:
                _, dropped = self._clips.popitem(last=False)
                self._bytes -= sum(m.nbytes for m in dropped.values())
            n = max(int(n_frames), max(masks) + 1)
            while self._bytes > self.max_bytes and len(masks) > 1:
                victim = max(masks, key=lambda f: (f - int(playhead)) % n)  # farthest behind the play head
                self._bytes -= masks.pop(victim).nbytes

    def window(self, key: str, n_frames: int) -> int:
        """How many frames from the play head fit in the budget (all of them for ordinary clips)."""
        with self._lock:
            masks = self._clips.get(key)
            if not masks:
                return int(n_frames)
            per = max(1, next(iter(masks.values())).nbytes)
            return int(min(n_frames, max(1, self.max_bytes // per)))

    def touch(self, key: str) -> None:
        with self._lock:
            if key in self._clips:
                self._clips.move_to_end(key)

    @property
    def nbytes(self) -> int:
        return self._bytes
