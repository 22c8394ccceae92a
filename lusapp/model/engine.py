"""Inference engine: live segmentation, zone scores and patient severity from a loaded bundle (Qt-free).

``Engine`` is safe to call from a worker thread: a lock serialises the network, another guards the caches.
Every frame the network sees leaves its feature vector (and the small predicted label map) in a per-clip
cache keyed by (clip path, file size + mtime, model name/version, crop box, frame index), so an assessment
after review reuses what review computed, and a repeated assessment runs no network and decodes no frame.

For inference the SegNet's BatchNorms are folded into the convolutions (``fuse_conv_bn_eval``) at load time.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from lusapp.core.errors import BundleError, LusError, ValidationError
from lusapp.model import preprocess as pp
from lusapp.model.bundle import Bundle
from lusapp.model.measures import FrameMeasures, clip_measures, frame_measures, rule_score

SEVERITY_NAMES = ("mild", "moderate", "severe", "critical")


def fuse_segnet(seg: nn.Module) -> nn.Module:
    """An eval-mode copy of ``seg`` with every Conv2d+BatchNorm2d pair of its Sequentials folded."""
    fused = copy.deepcopy(seg).eval()
    for mod in fused.modules():
        if isinstance(mod, nn.Sequential):
            kids = list(mod)
            for i in range(len(kids) - 1):
                if isinstance(kids[i], nn.Conv2d) and isinstance(kids[i + 1], nn.BatchNorm2d):
                    mod[i] = fuse_conv_bn_eval(kids[i], kids[i + 1])
                    mod[i + 1] = nn.Identity()
    return fused


@dataclass
class SegResult:
    indices: list[int]
    masks: list[np.ndarray]  # uint8 HxW in original frame coordinates
    features: np.ndarray  # (T, D) float32
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)


@dataclass
class ZoneScoreResult:
    probs: np.ndarray  # (n_scores,)
    score: int
    expected: float


@dataclass
class Assessment:
    severity_probs: np.ndarray  # (4,) P(mild, moderate, severe, critical)
    severity: int  # 1..4
    severe_prob: float  # P(severe) + P(critical)
    severe: bool
    attention: dict[str, float]
    zone_probs: dict[str, np.ndarray]
    zone_scores: dict[str, int]
    zone_expected: dict[str, float]
    zone_measures: dict[str, FrameMeasures]
    zone_rules: dict[str, tuple[int, str]]
    model_version: str
    timings: dict[str, float]
    votes: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def severity_name(self) -> str:
        return SEVERITY_NAMES[self.severity - 1]


@dataclass
class _ClipEntry:
    crop: tuple[int, int, int, int]
    feats: dict[int, np.ndarray] = field(default_factory=dict)
    labels: dict[int, np.ndarray] = field(default_factory=dict)  # small (S, S) label maps
    measures: dict[int, FrameMeasures] = field(default_factory=dict)
    scale: tuple[float, float] = (1.0, 1.0)
    shape: tuple[int, int] = (0, 0)


def clip_identity(path: str | os.PathLike) -> tuple:
    """(resolved path, size, mtime_ns): changes when the file is replaced or edited."""
    p = Path(path)
    try:
        st = p.stat()
        return str(p.resolve()), st.st_size, st.st_mtime_ns
    except OSError:
        return str(p), -1, -1


def sample_indices(total: int, n: int, seed: int | None = None) -> list[int]:
    """n sorted frame indices of a ``total``-frame clip: evenly spaced (first and last included) or, with a
    seed, drawn at random without replacement; a still gives [0]."""
    total = max(1, int(total))
    n = max(1, min(int(n), total))
    if seed is None:
        return sorted({int(round(x)) for x in np.linspace(0, total - 1, n)})
    return sorted(int(x) for x in np.random.default_rng(seed).choice(total, size=n, replace=False))


def detect_crop(clip: Any) -> tuple[int, int, int, int]:
    """The clip's imaging region as (x0, y0, x1, y1) (lusapp.io.crop; DICOM region hint first)."""
    hint = getattr(clip, "region_hint", None)
    if hint:
        return pp.box_tuple(hint, clip.height, clip.width)
    from lusapp.io.crop import detect_imaging_region

    return pp.box_tuple(detect_imaging_region(clip), clip.height, clip.width)


class Engine:
    def __init__(self, bundle: Bundle, threads: int | None = None, batch_size: int = 16,
                 max_cached_clips: int = 64, max_cached_label_bytes: int = 96 << 20):
        if threads:
            torch.set_num_threads(int(threads))
        self.bundle = bundle
        self.size = bundle.input_size
        self.batch_size = int(batch_size)
        self.seg = fuse_segnet(bundle.seg)
        self.zone = bundle.zone.eval() if bundle.zone is not None else None
        self.severity = bundle.severity.eval() if bundle.severity is not None else None
        self.model_version = bundle.version
        self.model_id = f"{bundle.name}-{bundle.version}"
        self._net_lock = threading.RLock()
        self._cache_lock = threading.RLock()
        self._cache: OrderedDict[tuple, _ClipEntry] = OrderedDict()
        self._crops: dict[tuple, tuple[int, int, int, int]] = {}
        self._infos: dict[tuple, dict] = {}
        self.max_cached_clips = int(max_cached_clips)
        self.max_cached_label_bytes = int(max_cached_label_bytes)
        self.stats = {"network_calls": 0, "frames_run": 0, "frames_decoded": 0}

    # ------------------------------------------------------------------ caches
    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()
            self._crops.clear()
            self._infos.clear()

    def cache_info(self) -> dict:
        with self._cache_lock:
            return {"clips": len(self._cache), "frames": sum(len(e.feats) for e in self._cache.values()),
                    "label_bytes": sum(lab.nbytes for e in self._cache.values() for lab in e.labels.values())}

    def crop_for(self, clip: Any) -> tuple[int, int, int, int]:
        key = clip_identity(clip.path)
        with self._cache_lock:
            crop = self._crops.get(key)
        if crop is None:
            crop = detect_crop(clip)
            with self._cache_lock:
                self._crops[key] = crop
        return crop

    def _entry(self, clip: Any, crop: tuple[int, int, int, int]) -> _ClipEntry:
        key = (clip_identity(clip.path), self.model_id, crop)
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is None:
                entry = _ClipEntry(crop=crop, scale=pp.crop_scale(crop, (clip.height, clip.width), self.size),
                                   shape=(clip.height, clip.width))
                self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_cached_clips:
                self._cache.popitem(last=False)
            self._trim_labels()
            return entry

    def _trim_labels(self) -> None:
        total = sum(lab.nbytes for e in self._cache.values() for lab in e.labels.values())
        for e in self._cache.values():  # oldest clips lose their label maps first (features stay)
            if total <= self.max_cached_label_bytes:
                break
            total -= sum(lab.nbytes for lab in e.labels.values())
            e.labels.clear()

    # ------------------------------------------------------------------ network
    def _run(self, clip: Any, indices: Sequence[int], crop, full: bool):
        """Decode + prepare + network for ``indices``: (feats (N, D), small labels (N, S, S) | None, frames)."""
        frames = [clip.read_gray(i) for i in indices]
        self.stats["frames_decoded"] += len(frames)
        x = pp.prepare_batch(frames, crop, self.size)
        with self._net_lock, torch.inference_mode():
            if full:
                logits, feats = self.seg.forward_with_features(x)
                labels = pp.logits_to_labels(logits)
            else:
                feats, labels = self.seg.frame_features(x), None
            self.stats["network_calls"] += 1
            self.stats["frames_run"] += len(frames)
        return feats.float().numpy(), labels, frames

    def _open(self, clip_or_path: Any):
        if isinstance(clip_or_path, (str, os.PathLike)):
            from lusapp.io.readers import open_media

            return open_media(clip_or_path), True
        return clip_or_path, False

    def segment(self, clip: Any, indices: Sequence[int] | None = None, crop: Any = None,
                batch_size: int | None = None) -> SegResult:
        """Masks (original coordinates) and features of ``indices`` (default: every frame) of a clip (or path).
        The crop is detected once per clip unless given."""
        clip, owned = self._open(clip)
        try:
            idx = [int(i) for i in (range(clip.n_frames) if indices is None else indices)]
            box = pp.box_tuple(crop, clip.height, clip.width) if crop is not None else self.crop_for(clip)
            entry = self._entry(clip, box)
            bs = int(batch_size or self.batch_size)
            masks: list[np.ndarray] = []
            feats = np.zeros((len(idx), self.seg.feat_dim), dtype=np.float32)
            for s in range(0, len(idx), bs):
                chunk = idx[s:s + bs]
                f, labels, frames = self._run(clip, chunk, box, full=True)
                feats[s:s + len(chunk)] = f
                for j, i in enumerate(chunk):
                    masks.append(pp.project_mask(labels[j], box, frames[j].shape))
                with self._cache_lock:
                    for j, i in enumerate(chunk):
                        entry.feats[i] = f[j].copy()
                        entry.labels[i] = labels[j]
            return SegResult(indices=idx, masks=masks, features=feats, crop=box)
        finally:
            if owned:
                clip.close()

    def features(self, clip: Any, indices: Sequence[int], crop: Any = None,
                 label_indices: Sequence[int] = ()) -> tuple[np.ndarray, _ClipEntry]:
        """(T, D) features of ``indices``, from the cache where possible; frames in ``label_indices`` also get
        their label map (full network pass), the others only the encoder."""
        clip, owned = self._open(clip)
        try:
            box = pp.box_tuple(crop, clip.height, clip.width) if crop is not None else self.crop_for(clip)
            entry = self._entry(clip, box)
            want_labels = set(int(i) for i in label_indices)
            with self._cache_lock:
                todo_full = [i for i in sorted(want_labels) if i not in entry.labels and i not in entry.measures]
                todo_enc = [int(i) for i in indices if int(i) not in entry.feats and int(i) not in want_labels]
            for todo, full in ((todo_full, True), (sorted(set(todo_enc)), False)):
                for s in range(0, len(todo), self.batch_size):
                    chunk = todo[s:s + self.batch_size]
                    f, labels, _ = self._run(clip, chunk, box, full=full)
                    with self._cache_lock:
                        for j, i in enumerate(chunk):
                            entry.feats[i] = f[j].copy()
                            if labels is not None:
                                entry.labels[i] = labels[j]
            with self._cache_lock:
                feats = np.stack([entry.feats[int(i)] for i in indices]).astype(np.float32)
            return feats, entry
        finally:
            if owned:
                clip.close()

    # ------------------------------------------------------------------ scores
    def _need(self, module, what: str):
        if module is None:
            raise BundleError(self.bundle.path, f"model {self.model_id} has no {what} network")
        return module

    def score_zone(self, features: np.ndarray | torch.Tensor) -> ZoneScoreResult:
        """Zone score from a clip's (T, D) frame features (temporal mean + ZoneScorer)."""
        zone = self._need(self.zone, "zone-score")
        f = torch.as_tensor(np.asarray(features, dtype=np.float32)).reshape(1, -1, zone.feat_dim)
        with torch.inference_mode():
            probs = torch.softmax(zone(f), dim=1)[0].numpy().astype(np.float64)
        return ZoneScoreResult(probs=probs, score=int(probs.argmax()),
                               expected=float((probs * np.arange(len(probs))).sum()))

    def clip_rule(self, entry: _ClipEntry, indices: Sequence[int], spacing_mm=None) -> tuple[FrameMeasures, int, str]:
        """Clip measures + rule score from the cached label maps of ``indices`` (measures are cached too)."""
        ms = []
        with self._cache_lock:
            for i in indices:
                m = entry.measures.get(i)
                if m is None and i in entry.labels:
                    m = frame_measures(entry.labels[i], spacing_mm, entry.scale)
                    entry.measures[i] = m
                if m is not None:
                    ms.append(m)
        if not ms:
            raise ValidationError("measures", "no segmented frame to measure")
        cm = clip_measures(ms)
        score, rule = rule_score(cm)
        return cm, score, rule

    def assess(self, patient: Any = None, media_paths: Mapping[str, Any] | None = None, clinical: Any = None,
               n_frames: int = 30, samplings: int = 1, measure_frames: int = 8,
               progress: Callable[[int, str], None] | None = None) -> Assessment:
        """Patient severity. ``patient``: a Patient, a PatientFolder / folder path (plain patient folder) or None;
        ``media_paths``: {zone_id: path} (default: the folder's media); ``clinical``: vector, ClinicalInfo, dict
        or None (default: the patient's). ``samplings`` > 1 max-votes over that many random frame samplings."""
        from lusapp.core.clinical import encode_clinical

        t0 = time.perf_counter()
        severity = self._need(self.severity, "severity")
        self._need(self.zone, "zone-score")
        if isinstance(patient, (str, os.PathLike)):
            from lusapp.store.patient_folder import open_patient_folder

            patient = open_patient_folder(patient)
        if isinstance(patient, tuple) and len(patient) == 2:  # PatientFolder
            patient, folder_media = patient
            media_paths = folder_media if media_paths is None else media_paths
        if not media_paths:
            raise ValidationError("media", "the patient has no zone clips to assess")
        clin = self._clinical_vector(clinical if clinical is not None else getattr(patient, "clinical", None),
                                     encode_clinical)
        zone_ids = self._zone_order(patient, media_paths)
        warnings: list[str] = []
        runs: list[dict[str, np.ndarray]] = [dict() for _ in range(max(1, int(samplings)))]
        t_feat = time.perf_counter()
        rules: dict[str, tuple[FrameMeasures, int, str]] = {}
        for k, zid in enumerate(zone_ids):
            if media_paths.get(zid) is None:
                continue
            if progress:
                progress(int(100 * k / len(zone_ids)), f"zone {zid}")
            try:
                feats, rules[zid] = self._zone_features(media_paths[zid], n_frames, len(runs), measure_frames)
            except LusError as e:
                warnings.append(f"{zid}: {e}")
                continue
            for run, f in zip(runs, feats):
                run[zid] = f
        present = [z for z in zone_ids if z in runs[0]]
        if not present:
            raise ValidationError("media", "no zone clip could be read: " + "; ".join(warnings))
        t_net = time.perf_counter()
        sev_probs, attn, zprobs = [], [], []
        mask = torch.tensor([[z in runs[0] for z in zone_ids]])
        clin_t = torch.from_numpy(clin).reshape(1, -1)
        with torch.inference_mode():
            for run in runs:
                zf = torch.zeros(1, len(zone_ids), severity.feat_dim)
                for j, z in enumerate(zone_ids):
                    if z in run:
                        zf[0, j] = torch.from_numpy(run[z]).mean(0)
                out = severity(zf, mask, clin_t)
                sev_probs.append(torch.softmax(out["severity_logits"], 1)[0].numpy().astype(np.float64))
                attn.append(out["attention"][0].numpy().astype(np.float64))
                pooled = torch.stack([torch.from_numpy(run[z]).mean(0) for z in present]).unsqueeze(1)
                zp = torch.softmax(self.zone(pooled), dim=1).numpy().astype(np.float64)  # (Z, n_scores)
                zprobs.append({z: zp[j] for j, z in enumerate(present)})
        votes = [int(p.argmax()) + 1 for p in sev_probs]
        mean_probs = np.mean(sev_probs, axis=0)
        counts = np.bincount(np.asarray(votes) - 1, minlength=len(mean_probs))
        winners = np.flatnonzero(counts == counts.max())
        sev = int(winners[np.argmax(mean_probs[winners])]) + 1
        mean_attn = np.mean(attn, axis=0)
        zone_probs = {z: np.mean([zp[z] for zp in zprobs], axis=0) for z in present}
        t_end = time.perf_counter()
        severe_prob = float(mean_probs[2:].sum())
        return Assessment(
            severity_probs=mean_probs, severity=sev, severe_prob=severe_prob, severe=sev >= 3,
            attention={z: float(mean_attn[j]) for j, z in enumerate(zone_ids) if z in present},
            zone_probs=zone_probs, zone_scores={z: int(p.argmax()) for z, p in zone_probs.items()},
            zone_expected={z: float((p * np.arange(len(p))).sum()) for z, p in zone_probs.items()},
            zone_measures={z: r[0] for z, r in rules.items()}, zone_rules={z: (r[1], r[2]) for z, r in rules.items()},
            model_version=self.model_version,
            timings={"features_s": t_net - t_feat, "heads_s": t_end - t_net, "total_s": t_end - t0},
            votes=votes, warnings=warnings)

    def _zone_features(self, path: Any, n_frames: int, samplings: int, measure_frames: int):
        """Per sampling (T, D) features of one zone clip + its (clip measures, rule score, rule). The clip is
        opened only when something is not cached yet."""
        ident = clip_identity(path)
        with self._cache_lock:
            info = self._infos.get(ident)
            crop = self._crops.get(ident)
        clip, owned = None, False
        try:
            if info is None or crop is None:
                clip, owned = self._open(path)
                info = self._remember_info(clip)
                crop = self.crop_for(clip)
            plans = []
            for s in range(samplings):
                idx = sample_indices(info["n_frames"], n_frames, None if samplings == 1 else s)
                m_idx = idx if len(idx) <= measure_frames else [idx[int(round(j))] for j in
                                                                np.linspace(0, len(idx) - 1, measure_frames)]
                plans.append((idx, m_idx if s == 0 else []))
            key = (ident, self.model_id, crop)
            with self._cache_lock:
                entry = self._cache.get(key)
                cached = entry is not None and all(
                    all(i in entry.feats for i in idx) and all(i in entry.measures or i in entry.labels for i in m)
                    for idx, m in plans)
            if not cached:
                if clip is None:
                    clip, owned = self._open(path)
                    info = self._remember_info(clip)
                for idx, m in plans:
                    entry = self.features(clip, idx, crop, label_indices=m)[1]
            with self._cache_lock:
                self._cache.move_to_end(key)
                feats = [np.stack([entry.feats[i] for i in idx]).astype(np.float32) for idx, _ in plans]
            rule = self.clip_rule(entry, plans[0][1], info.get("spacing"))
            return feats, rule
        finally:
            if clip is not None and owned:
                clip.close()

    def _remember_info(self, clip: Any) -> dict:
        info = {"n_frames": int(clip.n_frames), "spacing": getattr(clip, "pixel_spacing_mm", None)}
        with self._cache_lock:
            self._infos[clip_identity(clip.path)] = info
        return info

    # ------------------------------------------------------------------ helpers
    def _clinical_vector(self, clinical: Any, encode) -> np.ndarray:
        dim = self.severity.clin_dim
        if clinical is None or not isinstance(clinical, (np.ndarray, list, tuple, torch.Tensor)):
            vec = encode(clinical)
        else:
            vec = np.asarray(clinical, dtype=np.float32).reshape(-1)
        if vec.shape[0] != dim:
            raise ValidationError("clinical", f"the model expects {dim} clinical values, got {vec.shape[0]}")
        return vec.astype(np.float32)

    @staticmethod
    def _zone_order(patient: Any, media_paths: Mapping[str, Any]) -> list[str]:
        ids: list[str] = []
        pid = getattr(patient, "protocol_id", None)
        if pid:
            try:
                from lusapp.core.protocols import load_protocol

                ids = list(load_protocol(pid).zone_ids)
            except LusError:
                ids = []
        ids += [z for z in media_paths if z not in ids]
        return ids
