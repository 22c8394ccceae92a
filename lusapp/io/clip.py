"""`Clip`: the common, lazy frame-access interface of every media kind (video, still, DICOM).

Subclasses implement `_decode(i)` returning the frame in the clip's native layout (uint8 HxW when
`is_color` is False, HxWx3 RGB when True). This base adds a small LRU cache, grey conversion,
frame sampling, iteration and the context-manager protocol. Returned arrays are copies: callers
may draw on them freely.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

#: Limits for one frame; larger media raise TooLarge before any decoding (ultrasound frames are ~1000 px a
#: side; 2**26 pixels is a 8192 x 8192 frame; a 16-bit one is mapped to 8 bits in row blocks).
MAX_SIDE = 16384
MAX_PIXELS = 2**26
#: Largest media file accepted (a clip of a few minutes is well below; DICOM cine loops can be large).
MAX_FILE_BYTES = 8 * 2**30
#: Largest still image file read into memory for decoding.
MAX_STILL_BYTES = 512 * 2**20

os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))  # OpenCV's own decoder limit, same bound
try:  # damaged files are reported by typed errors; OpenCV's own decoder chatter stays off stderr
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
except AttributeError:  # pragma: no cover - older OpenCV builds
    pass


def read_limited(path: str, limit: int = MAX_STILL_BYTES) -> np.ndarray:
    """The bytes of a (still image) file as uint8, refusing files above ``limit``."""
    from lusapp.core.errors import TooLarge

    size = os.path.getsize(path)
    if size > limit:
        raise TooLarge(path, f"image file is {size} bytes, above the {limit} byte limit")
    return np.fromfile(path, dtype=np.uint8)


def opencv_path(path: str) -> tuple[str, int | None]:
    """A name under which OpenCV/FFmpeg can open ``path``, and an fd to close when done (or None).

    OpenCV converts file names to UTF-8 and crashes (SIGSEGV) on names that are not valid UTF-8 (Python
    holds their bytes as surrogates). Such a file is opened here and handed over as ``/proc/self/fd/N``."""
    try:
        path.encode("utf-8")
        return path, None
    except UnicodeEncodeError:
        pass
    from lusapp.core.errors import UnreadableFile

    if not os.path.isdir("/proc/self/fd"):
        raise UnreadableFile(path, "file name is not valid UTF-8 and cannot be opened by the video decoder; "
                                   "rename the file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UnreadableFile(path, f"cannot open: {exc.strerror or exc}") from None
    return f"/proc/self/fd/{fd}", fd


def to_gray(frame: np.ndarray) -> np.ndarray:
    """uint8 HxW from uint8 HxW or HxWx3 RGB."""
    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def has_colour(frame_rgb: np.ndarray, spread: int = 24, fraction: float = 5e-4) -> bool:
    """True when a meaningful share of pixels has clearly different channels (not codec noise)."""
    if frame_rgb.ndim != 3:
        return False
    step = max(1, int(np.sqrt(frame_rgb.shape[0] * frame_rgb.shape[1] / 250_000)))
    s = channel_spread(frame_rgb[::step, ::step])
    return int(np.count_nonzero(s > spread)) > max(4, fraction * s.size)


def channel_spread(frame: np.ndarray) -> np.ndarray:
    """int16 HxW: largest minus smallest channel value of each pixel of an HxWxC frame (values taken as int16,
    as ``frame.astype(np.int16)`` gives them). Channel by channel: ``max(axis=2)`` over a 3-long last axis is
    20x slower (15 ms on a 640x480 frame)."""
    chans = [frame[..., k] if frame.dtype == np.uint8 else frame[..., k].astype(np.int16)
             for k in range(frame.shape[2])]
    hi, lo = chans[0], chans[0]
    for c in chans[1:]:
        hi, lo = np.maximum(hi, c), np.minimum(lo, c)
    return hi.astype(np.int16) - lo


def scale_to_uint8(img: np.ndarray, low: float | None = None, high: float | None = None):
    """Linear map of any numeric array to uint8; returns (array, {'source', 'low', 'high'} or None)."""
    if img.dtype == np.uint8:
        return img, None
    if np.issubdtype(img.dtype, np.integer) or img.dtype == np.bool_:
        finite_min = float(img.min()) if img.size else None
        finite_max = float(img.max()) if img.size else None
    else:
        ok = np.isfinite(img)
        any_ok = bool(ok.any())
        finite_min = float(img[ok].min()) if any_ok else None
        finite_max = float(img[ok].max()) if any_ok else None
    lo = finite_min if low is None and finite_min is not None else float(low or 0.0)
    hi = finite_max if high is None and finite_max is not None else float(high if high is not None else 1.0)
    if hi <= lo:
        hi = lo + 1.0
    out = np.empty(img.shape, np.uint8)
    rows = max(1, (1 << 22) // max(1, img[0].size if img.ndim > 1 else 1))  # ~32 MB of float64 at a time
    for r in range(0, img.shape[0] if img.ndim else 1, rows):
        data = img[r:r + rows].astype(np.float64) if img.ndim else img.astype(np.float64)
        block = np.clip((np.nan_to_num(data, nan=lo) - lo) * (255.0 / (hi - lo)), 0, 255)
        if img.ndim:
            out[r:r + rows] = np.rint(block)
        else:
            out[...] = np.rint(block)
    return out, {"source": str(img.dtype), "low": lo, "high": hi}


class Clip:
    """A media file opened for lazy frame access. Use `lusapp.io.readers.open_media` to make one."""

    kind: str = "video"
    cache_capacity: int = 16

    def __init__(self, path: str | Path, *, n_frames: int, width: int, height: int, fps: float | None,
                 is_color: bool, pixel_spacing_mm: tuple[float, float] | None = None):
        self.path = str(path)
        self.n_frames = int(n_frames)
        #: What the container promised; frames in [n_frames, declared_frames) after a correction read as the last.
        self.declared_frames = int(n_frames)
        self.width = int(width)
        self.height = int(height)
        self.fps = float(fps) if fps else None
        self.is_color = bool(is_color)
        self.pixel_spacing_mm = pixel_spacing_mm
        #: How non-8-bit data was mapped to uint8: {'source': 'uint16', 'low': lo, 'high': hi}; None if 8-bit.
        self.intensity_scaling: dict | None = None
        #: Imaging region known from the file itself (DICOM ultrasound regions): (x0, y0, x1, y1) or None.
        self.region_hint: tuple[int, int, int, int] | None = None
        #: Human-readable remarks found while reading (e.g. frame count corrected).
        self.notes: list[str] = []
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.RLock()
        self._closed = False

    # -- subclass hooks -------------------------------------------------------------------------
    def _decode(self, i: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _release(self) -> None:
        """Free decoder resources (subclasses)."""

    # -- public API -----------------------------------------------------------------------------
    @property
    def cache_size(self) -> int:
        """Number of decoded frames currently held in memory."""
        return len(self._cache)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.height, self.width, 3) if self.is_color else (self.height, self.width)

    def _index(self, i: int) -> int:
        i = int(i)
        if i < 0:
            i += self.n_frames
        if self.n_frames <= i < self.declared_frames:
            return self.n_frames - 1  # promised by the container, not in the stream: the last frame, as on first hit
        if not 0 <= i < self.n_frames:
            raise IndexError(f"{self.path}: frame {i} out of range 0..{self.n_frames - 1}")
        return i

    def _cached(self, i: int) -> np.ndarray:
        with self._lock:
            if self._closed:
                raise ValueError(f"{self.path}: clip is closed")
            i = self._index(i)
            frame = self._cache.get(i)
            if frame is not None:
                self._cache.move_to_end(i)
                return frame
            frame = self._decode(i)
            self._remember(i, frame)
            return frame

    def _remember(self, i: int, frame: np.ndarray) -> None:
        self._cache[i] = frame
        self._cache.move_to_end(i)
        while len(self._cache) > self.cache_capacity:
            self._cache.popitem(last=False)

    def read(self, i: int) -> np.ndarray:
        """Frame i as uint8 HxW (grey clip) or HxWx3 RGB (colour clip). Negative i counts from the end."""
        return self._cached(i).copy()

    def read_gray(self, i: int) -> np.ndarray:
        """Frame i as uint8 HxW."""
        frame = self._cached(i)
        return frame.copy() if frame.ndim == 2 else to_gray(frame)

    def sample_indices(self, n: int, rng: np.random.Generator | int | None = None) -> list[int]:
        """n frame indices in increasing order: evenly spaced (first and last included) or, with rng,
        drawn at random without replacement. Never more than n_frames; a still gives [0]."""
        total = self.n_frames
        n = max(1, min(int(n), total))
        if rng is None:
            return sorted({int(round(x)) for x in np.linspace(0, total - 1, n)})
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return sorted(int(x) for x in gen.choice(total, size=n, replace=False))

    def iter_frames(self, gray: bool = False) -> Iterator[np.ndarray]:
        """Every frame in order (sequential decode; frames are not all kept in memory)."""
        i = 0
        while i < self.n_frames:
            yield self.read_gray(i) if gray else self.read(i)
            i += 1

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._cache.clear()
                self._release()

    def info(self) -> dict:
        return {"path": self.path, "kind": self.kind, "frames": self.n_frames, "fps": self.fps,
                "width": self.width, "height": self.height, "is_color": self.is_color,
                "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None}

    def __len__(self) -> int:
        return self.n_frames

    def __enter__(self) -> "Clip":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - a finaliser never raises
            pass

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.kind} {self.width}x{self.height} "
                f"frames={self.n_frames} fps={self.fps} path={self.path!r}>")
