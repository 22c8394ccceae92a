"""Video clips (mp4, avi, mov, mpeg, mkv, wmv, GIF ...) decoded lazily through OpenCV/FFmpeg.

Seeking in these containers is slow and often inexact (OpenCV's native seek lands a few frames off, or
fails near the end, on several MOV/MPEG clips of the shared data set), and masks are stored per frame
index, so frames are always reached by reading forward from the current capture position (grab without
colour conversion for skipped frames); a backward jump re-opens the capture. Sequential playback thus
decodes every frame exactly once. Container frame counts can be
wrong (MOV over-counts, MPEG under-counts): reading past the real end corrects `n_frames` and
returns the last decodable frame; a full pass (`iter_frames`) also picks up frames beyond the
declared count.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # keep FFmpeg's own chatter off stderr
import cv2  # noqa: E402

from lusapp.core.errors import TooLarge, TruncatedFile, UnsupportedFormat, ZeroFrames  # noqa: E402
from lusapp.io.clip import MAX_PIXELS, MAX_SIDE, Clip, has_colour, opencv_path  # noqa: E402
from lusapp.io.sniff import container_truncation  # noqa: E402

try:
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
except AttributeError:  # pragma: no cover - older OpenCV builds
    pass

#: Streams without a reliable index: frames are counted at open (MPEG decodes fast).
_COUNT_FORMATS = {"mpeg-ps", "mpeg-es", "mpeg-ts", "unknown"}
#: One FFmpeg decoding thread per clip (OpenCV's default is one per core). The engine decodes beside the network,
#: whose threads use the cores: there it costs 5-8 % less CPU (cold assessment 1.97 -> 1.82 CPU-s, live path
#: 5.25 -> 5.00 CPU-ms per frame, in alternating runs); a clip decoded alone costs about the same either way.
#: FFmpeg's threaded decoding is bit-exact, so the frames are the same.
DECODER_PARAMS = [cv2.CAP_PROP_N_THREADS, 1]


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
    text = "".join(chr((code >> (8 * k)) & 0xFF) for k in range(4)).strip("\x00 ")
    return text if text.isprintable() and text else "unknown"


class VideoClip(Clip):
    kind = "video"
    cache_capacity = 32

    def __init__(self, path: str | Path, fmt: str | None = None):
        self._fmt = fmt or "unknown"
        #: Decoder work counters (re-opens for backward jumps, frames skipped by grab).
        self.stats = {"reopens": 0, "skipped": 0}
        path = str(path)
        self._path = path
        self._cv_name, self._cv_fd = opencv_path(path)
        try:
            cap = self._open_capture(path)
        except BaseException:
            self._close_fd()
            raise
        try:
            width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            codec = _fourcc(cap)
            if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
                raise TooLarge(path, f"video frames are {width}x{height}, above the {MAX_SIDE} px / "
                                     f"{MAX_PIXELS} pixel limit")
            ok, bgr = cap.read()
        except BaseException as exc:
            cap.release()
            self._close_fd()
            if isinstance(exc, cv2.error):
                raise UnsupportedFormat(path, f"OpenCV could not decode the video: {exc}") from None
            raise
        if not ok or bgr is None:
            cap.release()
            self._close_fd()
            trunc = container_truncation(path, self._fmt)
            if trunc:
                raise TruncatedFile(path, trunc)
            if declared <= 0:
                raise ZeroFrames(path, f"the video contains no decodable frame (codec {codec})")
            raise UnsupportedFormat(path, f"no frame could be decoded (codec '{codec}': unsupported or damaged)")
        self._cap = cap
        self._pos = 1  # index of the frame the next cap.read() returns
        self.codec = codec
        self.declared_frames = declared
        self._verified = False
        self._last: tuple[int, np.ndarray] | None = None
        height, width = bgr.shape[:2]
        colour = bgr.ndim == 3 and has_colour(bgr[..., ::-1])
        if not (math.isfinite(fps) and 0.1 <= fps <= 1000):
            fps = 0.0
        super().__init__(path, n_frames=max(declared, 1), width=width, height=height, fps=fps or None,
                         is_color=colour)
        if declared <= 1 or declared > 10_000_000 or self._fmt in _COUNT_FORMATS:
            self.n_frames = self._count_frames()
            if self.n_frames != declared:
                self.notes.append(f"container declares {declared} frames; counted {self.n_frames}")
        self.kind = "still" if fmt == "gif" and self.n_frames == 1 else "video"
        trunc = container_truncation(path, self._fmt)
        if trunc:
            self.notes.append(f"file appears truncated ({trunc}); only the frames it holds are shown")
        self._remember(0, self._convert(bgr))

    # -- capture management -----------------------------------------------------------------
    def _open_capture(self, path: str) -> cv2.VideoCapture:
        try:
            cap = cv2.VideoCapture(self._cv_name, cv2.CAP_FFMPEG, DECODER_PARAMS)
            opened = cap.isOpened()
        except cv2.error as exc:
            raise UnsupportedFormat(path, f"OpenCV could not open the video: {exc}") from None
        if not opened:
            cap.release()
            trunc = container_truncation(path, self._fmt)
            if trunc:
                raise TruncatedFile(path, trunc)
            raise UnsupportedFormat(path, f"FFmpeg cannot open this {self._fmt} file (unsupported container "
                                          f"or codec, or damaged)")
        return cap

    def _rewind(self) -> None:
        self.stats["reopens"] += 1
        self._cap.release()
        self._cap = self._open_capture(self._path)
        self._pos = 0

    def _count_frames(self) -> int:
        self._rewind()
        n = 0
        while self._cap.grab():
            n += 1
        self._rewind()
        self._verified = True
        return max(n, 1)

    def _convert(self, bgr: np.ndarray) -> np.ndarray:
        if bgr.ndim == 2:
            return bgr
        if self.is_color:
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)

    def _close_fd(self) -> None:
        fd = getattr(self, "_cv_fd", None)
        if fd is not None:
            self._cv_fd = None
            try:
                os.close(fd)
            except OSError:
                pass

    def _release(self) -> None:
        cap = getattr(self, "_cap", None)
        if cap is not None:
            cap.release()
            self._cap = None
        self._close_fd()

    # -- decoding ---------------------------------------------------------------------------------
    def _move_to(self, i: int) -> None:
        """Position the capture so that the next read returns frame i (may hit the real end)."""
        if i == self._pos:
            return
        if i < self._pos:
            self._rewind()
        tail = self.n_frames - 24 if not self._verified else 1 << 62
        while self._pos < i:
            if self._pos >= tail:  # near a declared end that may be false: keep the frame in case it is the last
                ok, bgr = self._cap.read()
                if not ok or bgr is None:
                    return
                self._last = (self._pos, bgr)
            elif not self._cap.grab():
                return
            self.stats["skipped"] += 1
            self._pos += 1

    def _decode(self, i: int) -> np.ndarray:
        try:
            self._move_to(i)
            ok, bgr = (self._cap.read() if self._pos == i else (False, None))
        except cv2.error:
            ok, bgr = False, None
        if ok and bgr is not None:
            self._pos = i + 1
            return self._convert(bgr)
        return self._hit_end(i)

    def _hit_end(self, i: int) -> np.ndarray:
        """The read of frame i failed: the container over-counted. Fix n_frames, return the last frame."""
        real = min(self._pos, i)
        if real <= 0:
            raise TruncatedFile(self.path, "the video stops before its first frame")
        if real < self.n_frames:
            declared = self.n_frames
            self.n_frames = real
            self.notes.append(f"container declares {declared} frames, {real} are decodable")
            if real < 0.9 * declared:
                self.notes.append("file appears truncated")
        self._verified = True
        for k in list(self._cache):
            if k >= real:
                del self._cache[k]
        last = self._cache.get(real - 1)
        if last is not None:
            return last
        if self._last is not None and self._last[0] == real - 1:
            return self._convert(self._last[1])
        self._rewind()
        self._move_to(real - 1)
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise TruncatedFile(self.path, f"frame {real - 1} can no longer be decoded")
        self._pos = real
        return self._convert(bgr)

    def _read_beyond(self) -> bool:
        """Try to decode one frame past n_frames (under-counting containers). True if it existed."""
        with self._lock:
            if self._verified or self._closed:
                return False
            n = self.n_frames
            try:
                self._move_to(n)
                ok, bgr = self._cap.read() if self._pos == n else (False, None)
            except cv2.error:
                ok, bgr = False, None
            if not ok or bgr is None:
                self._verified = True
                return False
            self._pos = n + 1
            self.n_frames = n + 1
            self._remember(n, self._convert(bgr))
            return True

    def iter_frames(self, gray: bool = False) -> Iterator[np.ndarray]:
        """Every frame in decode order, including frames past an under-counted container total;
        after a full pass `n_frames` is exact."""
        i = 0
        while True:
            if i >= self.n_frames and not self._read_beyond():
                return
            if i >= self.n_frames:
                return
            yield self.read_gray(i) if gray else self.read(i)
            i += 1

    @property
    def frame_count_verified(self) -> bool:
        """True once the real end of the stream has been seen (n_frames is then exact)."""
        return self._verified

    def verify_frame_count(self) -> int:
        """Decode (without colour conversion) to the real end and fix n_frames; returns it."""
        with self._lock:
            if not self._verified:
                n = self._count_frames()
                if n != self.n_frames:
                    self.notes.append(f"container declares {self.n_frames} frames, {n} are decodable")
                    for k in list(self._cache):
                        if k >= n:
                            del self._cache[k]
                self.n_frames = n
            return self.n_frames
