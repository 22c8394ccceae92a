"""The engine's per-clip cache of frame features, small label maps and frame measures (thread-safe).

An entry is keyed by (clip identity, model id, crop box); the clip identity is (resolved path, file size,
mtime_ns), so replacing or editing a file invalidates what was computed from it. Within an entry frames are
keyed by index. Features (D float32 per frame) are kept for the ``max_clips`` most recently used clips; the
network-resolution label maps (for measures) are dropped oldest clip first beyond ``max_label_bytes``.
Per clip identity the cache also remembers the detected crop box and the clip's frame count / size / spacing,
so a warm assessment does not even open the file.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lusapp.model.measures import FrameMeasures


@dataclass
class ClipEntry:
    crop: tuple[int, int, int, int]
    scale: tuple[float, float] = (1.0, 1.0)  # original pixels per network pixel (rows, cols)
    shape: tuple[int, int] = (0, 0)
    feats: dict[int, np.ndarray] = field(default_factory=dict)
    labels: dict[int, np.ndarray] = field(default_factory=dict)
    measures: dict[int, FrameMeasures] = field(default_factory=dict)
    inputs: dict[int, np.ndarray] = field(default_factory=dict)  # uint8 network inputs of label frames
    local_desc: dict[tuple, Any] = field(default_factory=dict)  # findings descriptor parts / gated measures
    colour: float | None = None  # share of coloured crop pixels (Doppler overlay), when known
    branch: dict[int, np.ndarray] = field(default_factory=dict)  # findings-branch logits per frame


@dataclass(frozen=True)
class ClipInfo:
    n_frames: int
    height: int
    width: int
    spacing_mm: tuple[float, float] | None = None


def clip_identity(path_or_clip: Any) -> tuple:
    """(resolved path, size, mtime_ns) of a path or of a Clip's ``path``."""
    p = Path(getattr(path_or_clip, "path", path_or_clip))
    try:
        st = p.stat()
        return str(p.resolve()), st.st_size, st.st_mtime_ns
    except OSError:
        return str(p), -1, -1


def sample_indices(total: int, n: int, seed: int | None = None) -> list[int]:
    """n sorted frame indices of a ``total``-frame clip: evenly spaced (first and last included) or, with a
    seed, drawn at random without replacement (deterministic per seed); a still gives [0]."""
    total = max(1, int(total))
    n = max(1, min(int(n), total))
    if seed is None:
        return sorted({int(round(x)) for x in np.linspace(0, total - 1, n)})
    return sorted(int(x) for x in np.random.default_rng(seed).choice(total, size=n, replace=False))


class FeatureCache:
    def __init__(self, max_clips: int = 64, max_label_bytes: int = 96 << 20):
        self.max_clips = int(max_clips)
        self.max_label_bytes = int(max_label_bytes)
        self.lock = threading.RLock()
        self._entries: OrderedDict[tuple, ClipEntry] = OrderedDict()
        self._crops: dict[tuple, tuple[int, int, int, int]] = {}
        self._infos: dict[tuple, ClipInfo] = {}

    def clear(self) -> None:
        with self.lock:
            self._entries.clear()
            self._crops.clear()
            self._infos.clear()

    # crops and clip facts, per clip identity
    def crop(self, ident: tuple) -> tuple[int, int, int, int] | None:
        with self.lock:
            return self._crops.get(ident)

    def set_crop(self, ident: tuple, crop: tuple[int, int, int, int]) -> None:
        with self.lock:
            self._crops[ident] = crop

    def clip_info(self, ident: tuple) -> ClipInfo | None:
        with self.lock:
            return self._infos.get(ident)

    def remember_clip(self, clip: Any) -> ClipInfo:
        spacing = getattr(clip, "pixel_spacing_mm", None)
        info = ClipInfo(int(clip.n_frames), int(clip.height), int(clip.width),
                        tuple(float(s) for s in spacing) if spacing else None)
        with self.lock:
            self._infos[clip_identity(clip)] = info
        return info

    # entries
    def get(self, key: tuple) -> ClipEntry | None:
        with self.lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def entry(self, key: tuple, crop: tuple[int, int, int, int], shape: tuple[int, int],
              scale: tuple[float, float]) -> ClipEntry:
        """The entry for ``key``, created if absent; evicts the least recently used clips."""
        with self.lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = ClipEntry(crop=crop, scale=scale, shape=shape)
                self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_clips:
                self._entries.popitem(last=False)
            return entry

    def store(self, entry: ClipEntry, indices, feats: np.ndarray, labels: np.ndarray | None,
              inputs: np.ndarray | None = None, branch: np.ndarray | None = None) -> None:
        with self.lock:
            for j, i in enumerate(indices):
                entry.feats[int(i)] = np.array(feats[j], dtype=np.float32, copy=True)
                if branch is not None:
                    entry.branch[int(i)] = np.array(branch[j], dtype=np.float32, copy=True)
                if labels is not None:
                    entry.labels[int(i)] = labels[j]
                    if inputs is not None:
                        entry.inputs[int(i)] = inputs[j]
            if labels is not None:
                self._trim_labels()

    def _label_bytes(self) -> int:
        return sum(lab.nbytes for e in self._entries.values() for lab in (*e.labels.values(), *e.inputs.values()))

    def _trim_labels(self) -> None:
        total = self._label_bytes()
        for e in self._entries.values():  # oldest clips lose their label maps first (features stay)
            if total <= self.max_label_bytes:
                break
            total -= sum(lab.nbytes for lab in (*e.labels.values(), *e.inputs.values()))
            e.labels.clear()
            e.inputs.clear()


def is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))
