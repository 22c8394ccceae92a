"""Per-frame encoder features of every zone clip (the input of stages 2 and 3 and of the ablation).

Stage 2 and stage 3 keep the encoder *frozen* (2 CPU cores: a 30-frame clip per zone through the encoder
with gradients costs seconds per step; the paper fine-tunes end to end). So the encoder runs once per store:
:func:`compute_bank` stores, for every zone clip, the ``SegNet.frame_features`` of its cached frames (up to
``FrameCache.max_frames`` evenly spaced frames; a still has one). Training then draws, at every step and for
every zone, ``n_frames`` (30) random frames of those and averages their features (``ZoneScorer.pool``): the
zone feature. Evaluation averages all of them (deterministic; the app's engine does the same with evenly
spaced frames) or, for the 5-sample max-vote, five random draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model_training.data import FrameCache, StoreIndex, clip_tensor


@dataclass
class FeatureBank:
    pids: list[str]
    zone_ids: tuple[str, ...]
    feats: list[list[np.ndarray | None]]  # [patient][zone] -> (T, D) float32, None when the zone has no media
    scores: np.ndarray  # (P, Z) int64, -1 = no clinician score
    severity: np.ndarray  # (P,) int64 1..4, 0 = unknown
    clinical: np.ndarray  # (P, C) float32

    @property
    def feat_dim(self) -> int:
        for row in self.feats:
            for f in row:
                if f is not None:
                    return int(f.shape[1])
        raise ValueError("feature bank holds no zone")

    def __len__(self) -> int:
        return len(self.pids)

    def labelled_patients(self) -> np.ndarray:
        return np.nonzero(self.severity > 0)[0]

    def scored_zones(self) -> list[tuple[int, int]]:
        return [(p, z) for p in range(len(self.pids)) for z in range(len(self.zone_ids))
                if self.scores[p, z] >= 0 and self.feats[p][z] is not None]

    def subset(self, idx) -> FeatureBank:
        idx = [int(i) for i in idx]
        return FeatureBank([self.pids[i] for i in idx], self.zone_ids, [self.feats[i] for i in idx],
                           self.scores[idx], self.severity[idx], self.clinical[idx])

    def save(self, path: str | Path) -> None:
        arrays = {"scores": self.scores, "severity": self.severity, "clinical": self.clinical,
                  "pids": np.array(self.pids), "zone_ids": np.array(self.zone_ids)}
        for p, row in enumerate(self.feats):
            for z, f in enumerate(row):
                if f is not None:
                    arrays[f"f_{p}_{z}"] = f
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> FeatureBank:
        with np.load(path) as d:
            pids = [str(s) for s in d["pids"]]
            zone_ids = tuple(str(s) for s in d["zone_ids"])
            feats = [[d[f"f_{p}_{z}"] if f"f_{p}_{z}" in d.files else None for z in range(len(zone_ids))]
                     for p in range(len(pids))]
            return cls(pids, zone_ids, feats, d["scores"], d["severity"], d["clinical"])


@torch.no_grad()
def compute_bank(seg, index: StoreIndex, cache: FrameCache, device: str = "cpu", batch: int = 64,
                 log=None) -> FeatureBank:
    seg = seg.to(device).eval()
    zone_ids = index.patients[0].zone_ids if index.patients else ()
    for p in index.patients:
        for zid in p.zones:
            if zid not in zone_ids:
                raise ValueError(f"patient {p.pid}: zone {zid} is not in the protocol {zone_ids}")
    feats, scores, sev, clin = [], [], [], []
    total = sum(len(p.zones) for p in index.patients)
    done = 0
    for p in index.patients:
        row: list[np.ndarray | None] = []
        srow = []
        for zid in zone_ids:
            z = p.zones.get(zid)
            if z is None:
                row.append(None)
                srow.append(-1)
                continue
            frames = cache.clip_frames(z)
            out = []
            for s in range(0, len(frames), batch):
                x = clip_tensor(frames[s:s + batch]).to(device)
                out.append(seg.frame_features(x).float().cpu().numpy())
            row.append(np.concatenate(out).astype(np.float32))
            srow.append(-1 if z.score is None else int(z.score))
            done += 1
            if log is not None and done % 100 == 0:
                log(f"features: {done}/{total} zone clips")
        feats.append(row)
        scores.append(srow)
        sev.append(0 if p.severity is None else int(p.severity))
        clin.append(p.clinical)
    from lusapp.core.clinical import CLINICAL_DIM

    return FeatureBank([p.pid for p in index.patients], tuple(zone_ids), feats,
                       np.array(scores, np.int64).reshape(len(feats), len(zone_ids)),
                       np.array(sev, np.int64),
                       np.array(clin, np.float32).reshape(len(feats), CLINICAL_DIM))


def zone_feature(f: np.ndarray, rng: np.random.Generator | None, n_frames: int = 30) -> np.ndarray:
    """Mean of ``n_frames`` random frame features (without replacement; all when fewer) or of all (rng None)."""
    if rng is None or len(f) <= n_frames:
        return f.mean(axis=0)
    pick = rng.choice(len(f), size=n_frames, replace=False)
    return f[pick].mean(axis=0)


def draw(bank: FeatureBank, pidx, rng: np.random.Generator | None, n_frames: int = 30):
    """Zone features (B, Z, D) float32, zone mask (B, Z) bool, zone scores (B, Z) long, clinical (B, C)."""
    pidx = [int(i) for i in pidx]
    D = bank.feat_dim
    Z = len(bank.zone_ids)
    x = np.zeros((len(pidx), Z, D), np.float32)
    m = np.zeros((len(pidx), Z), bool)
    for b, p in enumerate(pidx):
        for z in range(Z):
            f = bank.feats[p][z]
            if f is not None:
                x[b, z] = zone_feature(f, rng, n_frames)
                m[b, z] = True
    return (torch.from_numpy(x), torch.from_numpy(m), torch.from_numpy(bank.scores[pidx]).long(),
            torch.from_numpy(bank.clinical[pidx]).float())
