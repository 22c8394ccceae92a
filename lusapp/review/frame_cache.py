"""Decoded-frame cache of one clip, filled ahead of the play head by a background thread (Qt-free).

The clip view reads frames with :meth:`FrameCache.get`; during playback they are already decoded, so the
GUI thread only pays for a dictionary look-up. The prefetch thread decodes in order from the play head
(the readers' sequential fast path), wraps around for looping, and stops when the cache holds the whole
clip or its byte budget (evicting the frames farthest behind the play head first).

:class:`CachedClip` wraps a cache in the ``Clip`` interface so the segmentation worker reads the same
decoded frames instead of decoding the video a second time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import numpy as np

from lusapp.io.clip import to_gray

DEFAULT_BUDGET = 768 << 20  # bytes of decoded frames per clip


class FrameCache:
    """``listener(i)`` (optional) is called from the prefetch thread when a frame asked for with
    :meth:`request` is decoded, and when the reader found the clip shorter than declared (``n_frames`` drops);
    it must be thread-safe (e.g. a Qt signal's ``emit``)."""

    def __init__(self, clip, max_bytes: int = DEFAULT_BUDGET, prefetch: bool = True, listener=None):
        self.clip = clip
        self.listener = listener
        self._want: int | None = None
        self.n_frames = int(clip.n_frames)
        self.max_bytes = int(max_bytes)
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._cond = threading.Condition()
        self._read_lock = threading.Lock()
        self._playhead = 0
        self._stop = False
        self._full = False  # nothing left to prefetch for the current play head
        self.decode_seconds = 0.0
        self.decoded = 0
        self.errors: list[str] = []
        self._thread: threading.Thread | None = None
        if prefetch and self.n_frames > 1:
            self._thread = threading.Thread(target=self._run, name="lusapp-frame-prefetch", daemon=True)
            self._thread.start()

    # -- GUI side --------------------------------------------------------------------------------
    def peek(self, i: int) -> np.ndarray | None:
        with self._cond:
            return self._frames.get(int(i))

    def get(self, i: int) -> np.ndarray:
        """Frame i (native layout, do not modify); decodes synchronously on a miss."""
        i = int(i)
        frame = self.peek(i)
        if frame is not None:
            return frame
        return self._decode(i)

    @property
    def prefetching(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def request(self, i: int) -> np.ndarray | None:
        """Non-blocking read: the frame if cached, else ``None`` and the prefetch thread decodes it next
        (then calls ``listener(i)``). Without a prefetch thread it decodes synchronously."""
        frame = self.peek(i)
        if frame is not None:
            return frame
        if not self.prefetching:
            return self._decode(int(i))
        with self._cond:
            self._want = int(i)
        self.set_playhead(i)
        with self._cond:
            self._full = False
            self._cond.notify_all()
        return None

    def set_playhead(self, i: int) -> None:
        with self._cond:
            if int(i) != self._playhead:
                self._playhead = int(i)
                self._full = False
                self._cond.notify_all()

    def cached_count(self) -> int:
        with self._cond:
            return len(self._frames)

    def wait_until_cached(self, n: int | None = None, timeout: float = 30.0) -> bool:
        """Block until ``n`` (default: every) frames are cached or the budget is full (tests, benchmark)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                want = self.n_frames if n is None else min(int(n), self.n_frames)  # n_frames may shrink
                if len(self._frames) >= want:
                    return True
                if self._full and (self._budget_hit() or not self.prefetching):
                    return False
                left = deadline - time.monotonic()
                if left <= 0 or self._stop:
                    return False
                self._cond.wait(min(left, 0.05))

    def close(self, wait: float = 0.0) -> None:
        """Stop prefetching and free the frames. Waits at most ``wait`` seconds for a decode in progress
        (a forward-only reader may need seconds to reach a far frame; a zone change must not wait for that)."""
        with self._cond:
            self._stop = True
            self.listener = None
            self._frames.clear()
            self._bytes = 0
            self._cond.notify_all()
        if wait > 0 and self._thread is not None:
            self._thread.join(timeout=float(wait))

    # -- internals -------------------------------------------------------------------------------
    def _budget_hit(self) -> bool:
        return bool(self._frames) and self._bytes + next(iter(self._frames.values())).nbytes > self.max_bytes

    def _decode(self, i: int) -> np.ndarray:
        t0 = time.perf_counter()
        with self._read_lock:
            frame = self.peek(i)  # another thread may have decoded it while we waited for the reader
            if frame is not None:
                return frame
            frame = self.clip.read(i)
        dt = time.perf_counter() - t0
        with self._cond:
            self.decode_seconds += dt
            self.decoded += 1
            if i not in self._frames and not self._stop:
                self._insert(i, frame)
            self._cond.notify_all()
        return frame

    def _ahead(self, i: int) -> int:
        return (int(i) - self._playhead) % self.n_frames

    def _insert(self, i: int, frame: np.ndarray) -> None:
        while self._frames and self._bytes + frame.nbytes > self.max_bytes:
            victim = max(self._frames, key=self._ahead)  # farthest behind = largest forward distance
            if self._ahead(victim) <= self._ahead(i):
                return  # the new frame would be the one evicted: keep what we have
            self._bytes -= self._frames.pop(victim).nbytes
        self._frames[i] = frame
        self._bytes += frame.nbytes

    def _next_missing(self) -> int | None:
        frame_bytes = next(iter(self._frames.values())).nbytes if self._frames else 0
        limit = self.n_frames if frame_bytes == 0 else min(self.n_frames, max(1, self.max_bytes // frame_bytes))
        for k in range(limit):
            i = (self._playhead + k) % self.n_frames
            if i not in self._frames:
                return i
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and self._full:
                    self._cond.wait()
                if self._stop:
                    return
                i = self._next_missing()
                if i is None:
                    self._full = True
                    self._cond.notify_all()
                    continue
            try:
                self._decode(i)
            except Exception as exc:  # noqa: BLE001 - a bad frame must not kill prefetching
                with self._cond:
                    self.errors.append(f"frame {i}: {exc}")
                    self._full = True  # stop here; a seek restarts prefetching
                continue
            notify = False
            with self._cond:
                if self._want == i:
                    self._want, notify = None, True
                real = int(self.clip.n_frames)
                if 0 < real < self.n_frames:  # the container over-counted: forget frames past the real end
                    self.n_frames, notify = real, True
                    for k in [k for k in self._frames if k >= real]:
                        self._bytes -= self._frames.pop(k).nbytes
                    self._playhead = min(self._playhead, real - 1)
            listener = self.listener
            if notify and listener is not None:
                listener(i)


class CachedClip:
    """The ``Clip`` interface over a :class:`FrameCache` (thread-safe; returns copies like ``Clip``)."""

    def __init__(self, cache: FrameCache):
        self._cache = cache
        clip = cache.clip
        for name in ("path", "kind", "fps", "width", "height", "pixel_spacing_mm", "is_color", "region_hint"):
            setattr(self, name, getattr(clip, name, None))

    @property
    def n_frames(self) -> int:
        return min(self._cache.n_frames, int(self._cache.clip.n_frames))

    @property
    def shape(self):
        return getattr(self._cache.clip, "shape", None)

    def read(self, i: int) -> np.ndarray:
        return self._cache.get(i).copy()

    def read_gray(self, i: int) -> np.ndarray:
        frame = self._cache.get(i)
        return frame.copy() if frame.ndim == 2 else to_gray(frame)

    def sample_indices(self, n: int, rng=None) -> list[int]:
        return self._cache.clip.sample_indices(n, rng)

    def iter_frames(self, gray: bool = False):
        for i in range(self.n_frames):
            yield self.read_gray(i) if gray else self.read(i)

    def __len__(self) -> int:
        return self.n_frames

    def close(self) -> None:
        """The cache owns the clip; closing the view's cache closes nothing here."""
