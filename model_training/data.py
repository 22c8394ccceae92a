"""Training data from a LUSApp store: an index of patients/zones, a preprocessed-frame cache, stage datasets.

* :func:`build_index` reads the store (read-only) into :class:`PatientItem` / :class:`ZoneItem` records:
  zone media, clinician zone score (stage 2), clinician severity label + clinical vector (stage 3) and the
  frames that carry a FINAL mask (stage 1; ORIGINAL masks are model output and are never trained on). With
  several raters, scores and masks follow the store's training rule (docs/store-format.md): the adjudicated
  consensus, else the raters' when they agree (scores) / the only rater's (masks), else none.
* :func:`build_index` also reads an export folder (``lusapp export``, docs/export-format.md) into the same
  records, and merges several stores / exports given as a list, so a site can send corrections without
  patients (the exported masks and scores already follow the training rule).
* :class:`FrameCache` decodes a clip once: the imaging region is detected per clip exactly as the app's engine
  does (:func:`lusapp.model.engine.detect_crop`), each wanted frame is cropped and resized to the network input
  size by :mod:`lusapp.model.preprocess` (the same code the app's engine runs), and the uint8 crops are kept in
  ``<cache_dir>/<media sha256>_<S>.npz`` (frame indices, crops, crop box). Later epochs, stages and runs read the
  ``.npz``; frames not in it yet are decoded and appended. Every clip contributes up to ``max_frames`` evenly
  spaced frames (:meth:`Clip.sample_indices`) plus its FINAL-mask frames; a still is a one-frame clip.
* :class:`SegDataset` -- (frame, mask) pairs of the FINAL-mask frames with joint augmentation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lusapp.core.clinical import encode_clinical
from lusapp.core.protocols import load_protocol
from lusapp.core.raters import training_score

CACHE_VERSION = 1


@dataclass
class ZoneItem:
    pid: str
    zone_id: str
    media: Path
    sha256: str
    kind: str
    score: int | None
    final_frames: list[int] = field(default_factory=list)
    mask_dir: Path | None = None  # an export's masks/<zone> folder (None: the masks are in a store)
    store: Path | None = None  # the store holding the masks (None: the index's root)


@dataclass
class PatientItem:
    pid: str
    severity: int | None  # 1..4 clinician label
    clinical: np.ndarray
    zone_ids: tuple[str, ...]  # protocol order (the SeverityNet zone axis)
    zones: dict[str, ZoneItem] = field(default_factory=dict)


@dataclass
class StoreIndex:
    root: Path
    patients: list[PatientItem]

    def zones(self) -> list[ZoneItem]:
        return [z for p in self.patients for z in p.zones.values()]

    def subset(self, pids) -> StoreIndex:
        keep = set(pids)
        return StoreIndex(self.root, [p for p in self.patients if p.pid in keep])

    def describe(self) -> dict:
        zs = self.zones()
        return {"store": str(self.root), "patients": len(self.patients),
                "patients_with_severity": sum(p.severity is not None for p in self.patients),
                "zones_with_media": len(zs), "zones_scored": sum(z.score is not None for z in zs),
                "final_mask_frames": sum(len(z.final_frames) for z in zs),
                "severity_counts": {str(s): sum(p.severity == s for p in self.patients) for s in (1, 2, 3, 4)}}


def open_store(path: str | Path):
    from lusapp.store import Store

    return Store.open(path, readonly=True)


def is_export(path) -> bool:
    """True for a ``lusapp export`` folder (docs/export-format.md)."""
    import json

    try:
        doc = json.loads((Path(path) / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("format") == "lusapp-export"


def build_index(store_path, pids=None) -> StoreIndex:
    """Read every (or the given) patient of a store, of an export (``lusapp export``), or of several of either
    (a list: merged; a patient id in two of them is an error naming both); zones without media are skipped."""
    if isinstance(store_path, (list, tuple)):
        return _merge([build_index(p, pids) for p in store_path])
    if is_export(store_path):
        return build_export_index(store_path, pids)
    store = open_store(store_path)
    try:
        patients = []
        ids = store.patient_ids() if pids is None else list(pids)
        for pid in ids:
            p = store.load_patient(pid)
            proto = load_protocol(p.protocol_id)
            zone_ids = tuple(proto.zone_ids)
            item = PatientItem(pid=pid, severity=p.severity.clinician_label,
                               clinical=encode_clinical(p.clinical), zone_ids=zone_ids)
            for zid, rec in p.zones.items():
                if rec.media is None:
                    continue
                path = store.media_path(pid, zid)
                if path is None:
                    continue
                score = training_score(rec)[0]  # consensus > agreeing raters > none
                item.zones[zid] = ZoneItem(pid=pid, zone_id=zid, media=Path(path), sha256=rec.media.sha256,
                                           kind=rec.media.kind, score=score,
                                           final_frames=sorted(store.training_mask_sources(pid, zid)),
                                           store=Path(store_path))
            patients.append(item)
        return StoreIndex(Path(store_path), patients)
    finally:
        store.close()


def _merge(indexes: list[StoreIndex]) -> StoreIndex:
    seen: dict[str, Path] = {}
    for idx in indexes:
        for p in idx.patients:
            if p.pid in seen:
                raise ValueError(f"patient {p.pid} is in both {seen[p.pid]} and {idx.root}; merge each patient once")
            seen[p.pid] = idx.root
    return StoreIndex(indexes[0].root, [p for idx in indexes for p in idx.patients])


def build_export_index(root: str | Path, pids=None) -> StoreIndex:
    """The index of an export folder: the same records as a store's. Scores follow the training rule on the
    exported documents (consensus > agreeing raters); masks are the exported training masks."""
    import json

    from lusapp.core.patient import Patient

    root = Path(root)
    ids = json.loads((root / "dataset.json").read_text(encoding="utf-8")).get("patients", [])
    patients = []
    for pid in ids if pids is None else [p for p in ids if p in set(pids)]:
        pdir = root / "patients" / pid
        doc_path = pdir / "patient.json"
        try:
            p = Patient.from_dict(json.loads(doc_path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{doc_path}: not a readable exported patient ({exc})") from None
        item = PatientItem(pid=pid, severity=p.severity.clinician_label, clinical=encode_clinical(p.clinical),
                           zone_ids=tuple(load_protocol(p.protocol_id).zone_ids))
        for zid, rec in p.zones.items():
            if rec.media is None:
                continue
            media = pdir / rec.media.file
            if not media.is_file():
                raise ValueError(f"{media}: media of zone {zid} is missing from the export")
            mask_dir = pdir / "masks" / zid
            frames = sorted(int(f.stem) for f in mask_dir.glob("*.png")) if mask_dir.is_dir() else []
            item.zones[zid] = ZoneItem(pid=pid, zone_id=zid, media=media, sha256=rec.media.sha256,
                                       kind=rec.media.kind, score=training_score(rec)[0], final_frames=frames,
                                       mask_dir=mask_dir)
        patients.append(item)
    return StoreIndex(root, patients)


def _read_export_mask(z: ZoneItem, frame: int) -> np.ndarray:
    import cv2

    from lusapp.core.labels import N_CLASSES

    path = z.mask_dir / f"{frame:05d}.png"
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None or m.ndim != 2 or m.dtype != np.uint8 or m.max() >= N_CLASSES:
        raise ValueError(f"{path}: not a label map (single-channel 8-bit, values 0-{N_CLASSES - 1})")
    return m


def load_final_masks(store_path: str | Path, zones: list[ZoneItem]) -> dict[tuple[str, str, int], np.ndarray]:
    """{(pid, zone, frame): training mask} of the zones: from an export's PNGs, else from the zone's store
    (``store_path`` when the zone does not say)."""
    out = {(z.pid, z.zone_id, f): _read_export_mask(z, f) for z in zones if z.mask_dir is not None
           for f in z.final_frames}
    by_store: dict[Path, list[ZoneItem]] = {}
    for z in zones:
        if z.mask_dir is None:
            by_store.setdefault(Path(z.store or store_path), []).append(z)
    for path, group in by_store.items():
        store = open_store(path)
        try:
            for z in group:
                for f in z.final_frames:
                    m = store.load_training_mask(z.pid, z.zone_id, f)
                    if m is not None:
                        out[(z.pid, z.zone_id, f)] = m
        finally:
            store.close()
    return out


def default_cache_dir() -> Path:
    env = os.environ.get("LUSAPP_TRAIN_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lusapp-train"


class FrameCache:
    """Preprocessed uint8 crops (S, S) per media file, persisted as ``.npz`` keyed by the media sha256."""

    def __init__(self, cache_dir: str | Path | None = None, size: int = 128, max_frames: int = 30):
        self.dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.size, self.max_frames = int(size), int(max_frames)
        self._mem: dict[str, dict] = {}

    def _path(self, sha: str) -> Path:
        return self.dir / f"{sha}_{self.size}_v{CACHE_VERSION}.npz"

    def _load(self, sha: str) -> dict | None:
        if sha in self._mem:
            return self._mem[sha]
        p = self._path(sha)
        if not p.is_file():
            return None
        try:
            with np.load(p) as z:
                d = {"indices": z["indices"].astype(np.int64), "frames": z["frames"], "box": z["box"],
                     "shape": z["shape"], "sampled": z["sampled"].astype(np.int64)}
        except (OSError, KeyError, ValueError):
            return None
        self._mem[sha] = d
        return d

    def _save(self, sha: str, d: dict) -> None:
        p = self._path(sha)
        tmp = p.with_name(p.name + f".tmp{os.getpid()}.npz")
        np.savez(tmp, **d)
        os.replace(tmp, p)
        self._mem[sha] = d

    def ensure(self, item: ZoneItem, extra: list[int] = ()) -> dict:
        """Cache entry of a zone clip holding its sampled frames plus ``extra`` (e.g. FINAL-mask frames)."""
        from lusapp.io import open_media
        from lusapp.model.engine import detect_crop  # the app's crop (DICOM region hint, else lusapp.io.crop)

        d = self._load(item.sha256)
        want = set(int(i) for i in extra)
        if d is not None and want <= set(d["indices"].tolist()):
            return d
        clip = open_media(item.media)
        try:
            if d is None:
                box_arr = np.array(detect_crop(clip), np.int64)
                sampled = np.array(clip.sample_indices(self.max_frames), np.int64)
                have: dict[int, np.ndarray] = {}
                shape = np.array([clip.height, clip.width], np.int64)
            else:
                box_arr, sampled, shape = d["box"], d["sampled"], d["shape"]
                have = {int(i): f for i, f in zip(d["indices"], d["frames"])}
            todo = sorted((set(sampled.tolist()) | want) - set(have))
            todo = [i for i in todo if 0 <= i < clip.n_frames]
            for i in todo:
                have[i] = prep_frame(clip.read_gray(i), box_arr, self.size)
        finally:
            clip.close()
        idx = np.array(sorted(have), np.int64)
        frames = np.stack([have[int(i)] for i in idx]) if len(idx) else np.zeros((0, self.size, self.size), np.uint8)
        d = {"indices": idx, "frames": frames.astype(np.uint8), "box": box_arr, "shape": shape, "sampled": sampled}
        self._save(item.sha256, d)
        return d

    def clip_frames(self, item: ZoneItem) -> np.ndarray:
        """(T, S, S) uint8 of the clip's sampled frames (T <= max_frames)."""
        d = self.ensure(item)
        pos = np.searchsorted(d["indices"], d["sampled"])
        return d["frames"][pos]


def prep_frame(gray: np.ndarray, box, size: int) -> np.ndarray:
    """Crop the imaging region and resize to (size, size), uint8 (lusapp.model.preprocess)."""
    from lusapp.model import preprocess

    # prepare_array is the uint8 resize scaled by 1/255: rounding back to uint8 is exact
    return np.rint(preprocess.prepare_array(gray, tuple(int(v) for v in box), size) * 255.0).astype(np.uint8)


def prep_mask(mask: np.ndarray, box, size: int) -> np.ndarray:
    """Crop and resize a label map with nearest neighbour (lusapp.model.preprocess)."""
    from lusapp.model import preprocess

    return preprocess.mask_to_input(mask, tuple(int(v) for v in box), size)


class SegDataset(Dataset):
    """FINAL-mask frames of a store: __getitem__ -> (float (1, S, S), long (S, S)), augmented when ``augment``."""

    def __init__(self, index: StoreIndex, cache: FrameCache, augment=None, log=None):
        zones = [z for z in index.zones() if z.final_frames]
        masks = load_final_masks(index.root, zones)
        xs, ys, self.keys = [], [], []
        for n, z in enumerate(zones):
            d = cache.ensure(z, z.final_frames)
            lookup = {int(i): k for k, i in enumerate(d["indices"])}
            for f in z.final_frames:
                m = masks.get((z.pid, z.zone_id, f))
                if m is None or f not in lookup:
                    continue
                xs.append(d["frames"][lookup[f]])
                ys.append(prep_mask(m, d["box"], cache.size))
                self.keys.append((z.pid, z.zone_id, f))
            if log is not None and (n + 1) % 50 == 0:
                log(f"seg data: {n + 1}/{len(zones)} clips")
        s = cache.size
        self.x = np.stack(xs) if xs else np.zeros((0, s, s), np.uint8)
        self.y = np.stack(ys) if ys else np.zeros((0, s, s), np.uint8)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.x)

    def categories(self) -> list[str]:
        from model_training.sampling import frame_category

        return [frame_category(m) for m in self.y]

    def __getitem__(self, i: int):
        if self.augment is not None:
            return self.augment(self.x[i], self.y[i])
        return torch.from_numpy(self.x[i]).float().unsqueeze(0) / 255.0, torch.from_numpy(self.y[i]).long()


def clip_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, S, S) uint8 -> (T, 1, S, S) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).float().unsqueeze(1) / 255.0
