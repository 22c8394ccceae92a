"""Inference engine: live segmentation, zone scores and patient severity from a loaded bundle (Qt-free).

``Engine`` is safe to call from a worker thread: a lock serialises the network, the cache has its own lock.
Every frame the network sees leaves its feature vector (and the small predicted label map) in a per-clip
cache (lusapp.model.cache) keyed by (clip path, file size + mtime, model name/version, crop box, frame index),
so an assessment after review reuses what review computed, and a repeated assessment runs no network and
decodes no frame (it does not even open the files).

The forward passes run in a backend (lusapp.model.onnx_bundle.make_backend): ONNX Runtime on the bundle's ONNX
graphs (lusapp.model.ort_backend; no torch is imported) or, for a bundle without graphs, for training code and the
parity test, torch (lusapp.model.torch_backend, SegNet BatchNorms folded at load). ``backend`` or
$LUSAPP_ENGINE_BACKEND ('auto', 'onnx', 'torch') choose; 'auto' takes the graphs when there are some.
A cold assessment overlaps the decoding / crop detection / resizing of the next zone (a helper thread; OpenCV
releases the GIL) with the network pass of the current one, and ``segment`` of several batches the decoding and
resizing of the next batch (lusapp.model.clip_source.prefetch); one batch runs in the caller's thread.
"""

from __future__ import annotations

import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from lusapp.core.errors import BundleError, LusError, ValidationError
from lusapp.core.patient import model_identity
from lusapp.core.scales import is_severe
from lusapp.model import preprocess as pp
from lusapp.model.cache import ClipEntry, FeatureCache, clip_identity, is_path, sample_indices
from lusapp.model.clip_source import detect_crop  # noqa: F401  (lusapp.model.engine.detect_crop, as before)
from lusapp.model.clip_source import open_clip as _open
from lusapp.model.clip_source import prefetch
from lusapp.model.findings import ZoneFindings, load_findings
from lusapp.model.results import SEVERITY_NAMES, Assessment, SegResult, ZoneScoreResult  # noqa: F401  (re-exported)
from lusapp.model.measures import FrameMeasures, clip_measures, frame_measures, rule_score
from lusapp.model.onnx_bundle import make_backend

CROP_FRAMES = 8  # frames the imaging-region detection looks at
PREPARE_AHEAD = 2  # zones an assessment prepares ahead of the network (threads): no core idles on a 2-core machine


def __getattr__(name: str):
    """``lusapp.model.engine.fuse_segnet`` as before (it moved to the torch backend; imports torch on use)."""
    if name == "fuse_segnet":
        from lusapp.model.torch_backend import fuse_segnet

        return fuse_segnet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class _ZoneJob:
    """One zone's work, prepared off the network thread: what is cached and the network inputs still to run."""
    key: tuple
    entry: ClipEntry
    plans: list  # per sampling: (frame indices, indices to measure)
    spacing: tuple[float, float] | None
    batches: list = field(default_factory=list)  # (indices, input tensor, its uint8 for a full pass, full pass?)


class Engine:
    def __init__(self, bundle: Any, threads: int | None = None, batch_size: int = 16,
                 max_cached_clips: int = 64, max_cached_label_bytes: int = 96 << 20, backend: str | None = None,
                 precision: str | None = None):
        self.bundle = bundle
        self.size = bundle.input_size
        self.batch_size = int(batch_size)
        self.model_id = model_identity(bundle.name, bundle.version)  # in masks, zone scores and severity
        self.findings = load_findings(bundle.path, bundle.manifest) if bundle.path is not None else None
        self.want_descriptors = False  # training: keep what the findings descriptor needs without a head
        arch = bundle.manifest["architecture"]
        self.feat_dim = int(arch["seg"]["widths"][-1])
        self._has_zone, self._sev_arch = bool(arch.get("zone")), arch.get("severity") or None
        # precision: the ONNX frame graphs' ('auto' = int8 when the bundle has them | 'int8' | 'fp32';
        # default $LUSAPP_FRAME_PRECISION); one per engine, so its feature cache never mixes them
        self.backend = make_backend(bundle, threads, backend, findings=self.findings, precision=precision)
        self._torch = self.backend if self.backend.name == "torch" else None
        self.cache = FeatureCache(max_cached_clips, max_cached_label_bytes)
        self._net_lock = threading.RLock()
        self.stats = {"network_calls": 0, "frames_run": 0, "frames_decoded": 0}
        self._stats_lock = threading.Lock()  # frames are decoded in read-ahead threads too
        self.prepare_ahead = PREPARE_AHEAD

    def warm_up(self) -> None:
        """Run one frame through the networks (the first run of a session allocates); call off the GUI thread."""
        with self._net_lock:
            self.backend.warm_up(self.size)

    def run_canceller(self) -> Callable[[], None]:
        """For the calling thread: a function that stops its frame passes on this engine, the one in flight
        included (they raise ``lusapp.core.errors.RunCancelled``); other threads' passes go on. The torch path cannot
        stop a pass: its canceller does nothing."""
        make = getattr(self.backend, "thread_canceller", None)
        return make() if make is not None else _no_cancel

    # the torch modules (training code, tests); with ONNX Runtime they are loaded with torch on first use
    def _torch_backend(self):
        if self._torch is None:
            from lusapp.model.torch_backend import TorchBackend

            self._torch = TorchBackend(self.bundle, None, self.findings)
        return self._torch

    @property
    def seg(self):
        return self._torch_backend().seg

    @property
    def zone(self):
        return self._torch_backend().zone

    @property
    def severity(self):
        return self._torch_backend().severity

    @property
    def branch(self):
        return self._torch_backend().branch

    def clear_cache(self) -> None:
        self.cache.clear()

    # ------------------------------------------------------------------ network
    def _forward(self, x: np.ndarray, full: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(frame features, label maps for a full pass else None, findings-branch logits or None)."""
        with self._net_lock:
            feats, labels, branch = self.backend.frames(x, full)
            self.stats["network_calls"] += 1
            self.stats["frames_run"] += int(x.shape[0])
        return feats, labels, branch

    def _read(self, clip: Any, i: int, decoded: Mapping[int, np.ndarray] | None) -> np.ndarray:
        if decoded and i in decoded:
            return pp.to_gray_u8(decoded[i])
        self._decoded(1)
        return clip.read_gray(i)

    def _decoded(self, n: int) -> None:
        with self._stats_lock:
            self.stats["frames_decoded"] += n

    def _entry(self, ident: tuple, crop, height: int, width: int) -> ClipEntry:
        return self.cache.entry((ident, self.model_id, crop), crop, (height, width),
                                pp.crop_scale(crop, (height, width), self.size))

    def crop_for(self, clip: Any) -> tuple[int, int, int, int]:
        """The clip's crop box, detected once per clip identity."""
        ident = clip_identity(clip)
        crop = self.cache.crop(ident)
        if crop is None:
            crop = detect_crop(clip)
            self.cache.set_crop(ident, crop)
        return crop

    def segment(self, clip: Any, indices: Sequence[int] | None = None, crop: Any = None,
                batch_size: int | None = None) -> SegResult:
        """Masks (original coordinates) and features of ``indices`` (default: every frame) of a clip (or path).
        The crop is detected once per clip unless given; a given crop becomes the clip's crop for later
        assessments too (so they reuse these features)."""
        clip, owned = _open(clip)
        try:
            idx = [int(i) for i in (range(clip.n_frames) if indices is None else indices)]
            ident = clip_identity(clip)
            if crop is not None:  # a crop given by the caller (e.g. adjusted by the user) is the clip's crop
                box = pp.box_tuple(crop, clip.height, clip.width)
                self.cache.set_crop(ident, box)
            else:
                box = self.crop_for(clip)
            entry = self._entry(ident, box, clip.height, clip.width)
            bs = int(batch_size or self.batch_size)
            masks: list[np.ndarray] = []
            feats = np.zeros((len(idx), self.feat_dim), dtype=np.float32)
            chunks = [idx[s:s + bs] for s in range(0, len(idx), bs)]

            def prepare(chunk):  # in a helper thread, a batch ahead of the network
                frames = [self._read(clip, i, None) for i in chunk]
                u8 = pp.prepare_batch_u8(frames, box, self.size)
                return [f.shape for f in frames], u8, pp.to_input(u8)

            with closing(prefetch(prepare, chunks)) as prepared:  # stops the read-ahead before the clip closes
                for s, chunk, ready in zip(range(0, len(idx), bs), chunks, prepared):
                    shapes, u8, x = ready.result()
                    f, labels, branch = self._forward(x, full=True)
                    feats[s:s + len(chunk)] = f
                    masks += [pp.project_mask(labels[j], box, shapes[j]) for j in range(len(chunk))]
                    self.cache.store(entry, chunk, f, labels, u8, branch)
            return SegResult(indices=idx, masks=masks, features=feats, crop=box)
        finally:
            if owned:
                clip.close()

    def _batches(self, clip, crop, entry: ClipEntry, indices, label_indices, decoded=None) -> list:
        """Prepared network inputs for the frames of ``indices`` / ``label_indices`` the cache lacks (label
        frames also lack them when the findings descriptor of that frame set is not cached yet)."""
        with self.cache.lock:
            need_desc = self._needs_desc(entry, label_indices)
            full = sorted({int(i) for i in label_indices if (i not in entry.labels and i not in entry.measures)
                           or (need_desc and (i not in entry.labels or i not in entry.inputs))})
            enc = sorted({int(i) for i in indices if i not in entry.feats} - set(full))
        out = []
        for todo, is_full in ((full, True), (enc, False)):
            for s in range(0, len(todo), self.batch_size):
                chunk = todo[s:s + self.batch_size]
                u8 = pp.prepare_batch_u8([self._read(clip, i, decoded) for i in chunk], crop, self.size)
                out.append((chunk, pp.to_input(u8), u8 if is_full else None, is_full))
        return out

    def _needs_desc(self, entry: ClipEntry, label_indices) -> bool:
        return (self.findings is not None or self.want_descriptors) and bool(label_indices) and tuple(int(i) for i in label_indices) not in entry.local_desc

    def _run_batches(self, entry: ClipEntry, batches: list) -> None:
        for chunk, x, u8, full in batches:
            f, labels, branch = self._forward(x, full)
            self.cache.store(entry, chunk, f, labels, u8, branch)

    def features(self, clip: Any, indices: Sequence[int], crop: Any = None,
                 label_indices: Sequence[int] = ()) -> tuple[np.ndarray, ClipEntry]:
        """(T, D) features of ``indices``, from the cache where possible; frames in ``label_indices`` also get
        their label map (full network pass), the others only the encoder."""
        clip, owned = _open(clip)
        try:
            box = pp.box_tuple(crop, clip.height, clip.width) if crop is not None else self.crop_for(clip)
            entry = self._entry(clip_identity(clip), box, clip.height, clip.width)
            self._run_batches(entry, self._batches(clip, box, entry, indices, label_indices))
            with self.cache.lock:
                return np.stack([entry.feats[int(i)] for i in indices]).astype(np.float32), entry
        finally:
            if owned:
                clip.close()

    # ------------------------------------------------------------------ scores
    def _need(self, present: bool, what: str) -> None:
        if not present:
            raise BundleError(self.bundle.path, f"model {self.model_id} has no {what} network")

    def score_zone(self, features: Any) -> ZoneScoreResult:
        """Zone score from a clip's (T, D) frame features (temporal mean + ZoneScorer)."""
        self._need(self._has_zone, "zone-score")
        f = np.asarray(features, dtype=np.float32).reshape(1, -1, self.feat_dim)
        with self._net_lock:
            probs = self.backend.zone_probs(f)[0]
        return ZoneScoreResult(probs=probs, score=int(probs.argmax()),
                               expected=float((probs * np.arange(len(probs))).sum()))

    def clip_rule(self, entry: ClipEntry, indices: Sequence[int], spacing_mm=None) -> tuple[FrameMeasures, int, str]:
        """Clip measures + rule score from the cached label maps of ``indices`` (measures are cached too)."""
        ms = []
        with self.cache.lock:
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

    # ------------------------------------------------------------------ assessment
    def _prepare_zone(self, path: Any, n_frames: int, samplings: int, measure_frames: int) -> _ZoneJob:
        """Everything but the network for one zone (runs in the helper thread): sampling plans, crop, the
        prepared inputs of frames the cache lacks. Opens the file only when something is missing."""
        ident = clip_identity(path)
        info, crop = self.cache.clip_info(ident), self.cache.crop(ident)
        clip, owned = None, False
        try:
            if info is None:
                clip, owned = _open(path)
                info = self.cache.remember_clip(clip)
            plans = []
            for s in range(samplings):
                idx = sample_indices(info.n_frames, n_frames, None if samplings == 1 else s)
                m_idx = idx if len(idx) <= measure_frames else [idx[int(round(j))] for j in
                                                                np.linspace(0, len(idx) - 1, measure_frames)]
                plans.append((idx, m_idx if s == 0 else []))
            wanted = sorted({i for idx, _ in plans for i in idx})
            decoded: dict[int, np.ndarray] = {}
            if crop is None:  # decode the sampled frames once: they serve the crop and the network
                if clip is None:
                    clip, owned = _open(path)
                decoded = {i: clip.read(i) for i in wanted}
                self._decoded(len(decoded))
                crop = detect_crop(clip, [decoded[i] for i in _spread(wanted, CROP_FRAMES)])
                self.cache.set_crop(ident, crop)
            entry = self._entry(ident, crop, info.height, info.width)
            job = _ZoneJob(key=(ident, self.model_id, crop), entry=entry, plans=plans, spacing=info.spacing_mm)
            if entry.colour is None and decoded:  # a colour (Doppler) overlay, judged on the decoded frames
                from lusapp.model.physics import colour_fraction

                entry.colour = max(colour_fraction(decoded[i], crop) for i in _spread(wanted, 4))
            with self.cache.lock:
                missing = any(i not in entry.feats for i in wanted) or any(
                    i not in entry.labels and i not in entry.measures for i in plans[0][1]) or (
                    self._needs_desc(entry, plans[0][1]) and any(
                        i not in entry.labels or i not in entry.inputs for i in plans[0][1]))
            if missing:
                if clip is None:
                    clip, owned = _open(path)
                job.batches = self._batches(clip, crop, entry, wanted, plans[0][1], decoded)
            return job
        finally:
            if clip is not None and owned:
                clip.close()

    def _has_entry(self, path: Any) -> bool:
        """The clip's crop is known and its cache entry (features, label maps) for this model exists."""
        ident = clip_identity(path)
        crop = self.cache.crop(ident)
        return crop is not None and self.cache.get((ident, self.model_id, crop)) is not None

    def _finish_zone(self, job: _ZoneJob):
        """The network part of a zone: run the prepared batches, then features per sampling, the rule and
        (models with a findings head) the findings; the rule then reads masks without the finding pixels
        that the findings head rejects."""
        self._run_batches(job.entry, job.batches)
        job.batches = []
        self.cache.get(job.key)  # mark recently used
        with self.cache.lock:
            feats = [np.stack([job.entry.feats[i] for i in idx]).astype(np.float32) for idx, _ in job.plans]
        if self.findings is None:
            return feats, self.clip_rule(job.entry, job.plans[0][1], job.spacing), None
        from lusapp.model import clip_report as cr

        found = cr.zone_findings(self, job.entry, feats[0], job.plans[0][1], job.plans[0][0])
        return feats, cr.gated_rule(self, job.entry, job.plans[0][1], job.spacing, found), found

    def assess(self, patient: Any, media: Mapping[str, Any], clinical: Any = None,
               n_frames: int = 30, samplings: int = 1, measure_frames: int = 6,
               progress: Callable[[int, str], None] | None = None) -> Assessment:
        """Patient severity. ``patient``: a Patient (its protocol orders the zones, its clinical information is
        the default ``clinical``) or None; ``media``: {zone_id: path or clip} (a folder or store is read into
        (patient, media) by the caller: ``lusapp.model.assess_cli.load_patient_any``); ``clinical``: vector,
        ClinicalInfo, dict or None (default: the patient's). Videos give ``n_frames`` sampled frames per zone (paper: 30), stills
        one. ``samplings`` > 1 max-votes over that many random frame samplings (paper: 5). Zones without media
        or whose file cannot be read are masked (the latter listed in ``warnings``)."""
        from lusapp.core.clinical import encode_clinical

        t0 = time.perf_counter()
        self._need(self._sev_arch is not None, "severity")
        self._need(self._has_zone, "zone-score")
        media_paths = media
        if is_path(patient) or isinstance(patient, tuple):
            raise TypeError("Engine.assess takes a Patient and its media; read a folder with "
                            "lusapp.model.assess_cli.load_patient_any(path) first")
        if not media_paths:
            raise ValidationError("media", "the patient has no zone clips to assess")
        clin = self._clinical_vector(clinical if clinical is not None else getattr(patient, "clinical", None),
                                     encode_clinical)
        zone_ids = self._zone_order(patient, media_paths)
        todo = [z for z in zone_ids if media_paths.get(z) is not None]
        n_samp = max(1, int(samplings))
        warnings: list[str] = []
        runs: list[dict[str, np.ndarray]] = [dict() for _ in range(n_samp)]
        rules: dict[str, tuple[FrameMeasures, int, str]] = {}
        found: dict[str, ZoneFindings] = {}
        # helper threads prepare zones ahead (decoding overlaps the network); when every clip has its entry in
        # the cache already (a warm re-assessment) the zones are prepared in this thread: no handoff to pay for
        warm = all(self._has_entry(media_paths[z]) for z in todo)
        prepared = prefetch(lambda z: self._prepare_zone(media_paths[z], n_frames, n_samp, measure_frames), todo,
                            ahead=0 if warm else self.prepare_ahead)
        for k, (zid, ready) in enumerate(zip(todo, prepared)):
            if progress:
                progress(int(100 * k / len(todo)), f"zone {zid}")
            try:
                feats, rules[zid], zf = self._finish_zone(ready.result())
                if zf is not None:
                    found[zid] = zf
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
        mask = np.array([[z in runs[0] for z in zone_ids]], dtype=bool)
        clin_in = clin.reshape(1, -1)
        for run in runs:
            zf = np.zeros((1, len(zone_ids), int(self._sev_arch["feat_dim"])), np.float32)
            for j, z in enumerate(zone_ids):
                if z in run:
                    zf[0, j] = self._severity_input(z, run[z], found)
            pooled = np.stack([run[z].mean(0, dtype=np.float32) for z in present])[:, None, :]
            with self._net_lock:
                p, a = self.backend.severity_probs(zf, mask, clin_in)
                zp = self.backend.zone_probs(pooled)  # (Z, n_scores)
            sev_probs.append(p)
            attn.append(a)
            zprobs.append({z: zp[j] for j, z in enumerate(present)})
        votes = [int(p.argmax()) + 1 for p in sev_probs]
        mean_probs = np.mean(sev_probs, axis=0)
        counts = np.bincount(np.asarray(votes) - 1, minlength=len(mean_probs))
        winners = np.flatnonzero(counts == counts.max())
        sev = int(winners[np.argmax(mean_probs[winners])]) + 1
        mean_attn = np.mean(attn, axis=0)
        head_probs = {z: np.mean([zp[z] for zp in zprobs], axis=0) for z in present}
        zone_probs = {z: (found[z].score_probs if z in found else head_probs[z]) for z in present}
        t_end = time.perf_counter()
        return Assessment(
            severity_probs=mean_probs, severity=sev, severe_prob=float(mean_probs[2:].sum()), severe=is_severe(sev),
            attention={z: float(mean_attn[j]) for j, z in enumerate(zone_ids) if z in present},
            zone_probs=zone_probs, zone_scores={z: int(p.argmax()) for z, p in zone_probs.items()},
            zone_expected={z: float((p * np.arange(len(p))).sum()) for z, p in zone_probs.items()},
            zone_measures={z: r[0] for z, r in rules.items()}, zone_rules={z: (r[1], r[2]) for z, r in rules.items()},
            model_version=self.model_id,
            timings={"features_s": t_net - t0, "heads_s": t_end - t_net, "total_s": t_end - t0},
            votes=votes, warnings=warnings, zone_findings=found, zone_head_probs=head_probs)

    # ------------------------------------------------------------------ helpers
    def _severity_input(self, zone_id: str, feats: np.ndarray, found: Mapping[str, ZoneFindings]) -> np.ndarray:
        """A zone's input to the severity network: its mean frame feature, or -- for a model whose severity
        network was trained on zone-score distributions (manifest ``severity_input: zone_score_probs``,
        model_training/severity_findings.py) -- the zone's findings-composed score distribution (the stage-2
        head's when the zone has no findings), which real and synthetic clips share."""
        if self.bundle.manifest.get("severity_input") != "zone_score_probs":
            return np.asarray(feats, np.float32).mean(0)
        if zone_id in found:
            return np.asarray(found[zone_id].score_probs, np.float32)
        return self.score_zone(feats).probs.astype(np.float32)

    def clip_report(self, clip: Any, n_frames: int = 30, measure_frames: int = 6, seed: int | None = None):
        """One clip on its own, as a zone of an assessment would see it (lusapp.model.clip_report)."""
        from lusapp.model.clip_report import clip_report

        return clip_report(self, clip, n_frames, measure_frames, seed)

    def _clinical_vector(self, clinical: Any, encode) -> np.ndarray:
        dim = int(self._sev_arch["clin_dim"])
        if clinical is None or not (isinstance(clinical, (np.ndarray, list, tuple)) or hasattr(clinical, "__array__")):
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


def _spread(items: Sequence[int], n: int) -> list[int]:
    """Up to ``n`` items spread evenly over ``items`` (first and last included)."""
    return [items[int(round(j))] for j in np.linspace(0, len(items) - 1, min(n, len(items)))]


def _no_cancel() -> None:
    """The canceller of a backend that cannot stop a pass (torch)."""
