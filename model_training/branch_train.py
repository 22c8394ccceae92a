"""Training of the findings branch (lusapp.model.findings_branch) on frozen encoder maps, with clip labels.

``stage_maps`` runs the app's own preprocessing (crop, resize) and the bundle's encoder on evenly spaced frames
of a clip and keeps the branch's input map (float16, CPU). ``train_members`` fits an ensemble: each step one
clip, a random subset of its frames (multiple-instance learning: the clip logit is the mean of the frame
logits), a random horizontal flip, class-balanced BCE per head (``pos_weight``), AdamW. ``cv_clip_logits``
gives out-of-fold clip logits under grouped k-fold CV (whole source groups per fold), which the trainer uses to
decide, per head, whether the branch, the linear head or their mean is kept, and to set the threshold.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lusapp.model.findings_branch import TAP, FindingsBranch
from model_training import linear


def stage_maps(engine, path, n_frames: int = 16) -> torch.Tensor:
    """(T, C, h, w) float16 branch inputs of ``n_frames`` evenly spaced frames of one clip."""
    from lusapp.model import preprocess as pp
    from lusapp.model.cache import sample_indices
    from lusapp.model.clip_source import open_clip

    clip, owned = open_clip(path)
    try:
        idx = sample_indices(clip.n_frames, n_frames)
        box = engine.crop_for(clip)
        x = pp.prepare_batch([clip.read_gray(i) for i in idx], box, engine.size)
    finally:
        if owned:
            clip.close()
    with torch.inference_mode():
        _, skips = engine.seg.encode(x)
    return skips[TAP].to(torch.float16).clone()


def train_members(maps: list[torch.Tensor], y: np.ndarray, rows, members: int = 3, epochs: int = 10,
                  hidden: int = 48, frames_per_step: int = 8, seed: int = 0) -> list[FindingsBranch]:
    """An ensemble trained on the clips ``rows`` (indices into ``maps`` / ``y``); ``y``: (n, heads) 0/1, -1 for
    unknown (left out of the loss)."""
    y_t = torch.as_tensor(y, dtype=torch.float32)
    known = y_t >= 0
    pos = torch.stack([(y_t[rows, k][known[rows, k]]).mean() if known[rows, k].any() else torch.tensor(0.5)
                       for k in range(y.shape[1])]).clamp(0.05, 0.95)
    pos_weight = (1 - pos) / pos
    out = []
    for m in range(members):
        torch.manual_seed(seed * 100 + m)
        rng = np.random.default_rng(seed * 100 + m)
        net = FindingsBranch(maps[0].shape[1], hidden, y.shape[1])
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
        for _ in range(epochs):
            net.train()
            for j in rng.permutation(np.asarray(rows)):
                x = maps[j].float()
                if rng.random() < 0.5:
                    x = x.flip(-1)
                if len(x) > frames_per_step:
                    x = x[torch.as_tensor(rng.choice(len(x), frames_per_step, replace=False))]
                loss = nn.functional.binary_cross_entropy_with_logits(net(x), y_t[j].clamp(0, 1),
                                                                      pos_weight=pos_weight, reduction="none")
                loss = (loss * known[j]).sum() / known[j].sum().clamp_min(1)
                opt.zero_grad()
                loss.backward()
                opt.step()
        out.append(net.eval())
    return out


def clip_logits(members: list[FindingsBranch], maps: list[torch.Tensor], rows) -> np.ndarray:
    with torch.inference_mode():
        return np.stack([np.mean([m(maps[j].float()).numpy() for m in members], axis=0) for j in rows])


def cv_clip_logits(maps, y, groups, k: int = 5, seed: int = 0, **kw) -> np.ndarray:
    """Out-of-fold clip logits (n, heads) under grouped k-fold CV."""
    folds = linear.group_folds(np.asarray(groups), k, seed)
    out = np.zeros(y.shape, np.float64)
    for f in range(k):
        tr, te = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
        if len(te) and len(tr):
            out[te] = clip_logits(train_members(maps, y, tr, seed=seed + f, **kw), maps, te)
    return out
