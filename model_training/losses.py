"""Losses of the three training stages.

* Stage 1 (segmentation): :func:`dice_ce_loss` = CE + soft Dice over the four pattern classes.
* Stage 2 (zone score): plain cross-entropy (``torch.nn.functional.cross_entropy``).
* Stage 3 (patient severity): :func:`ds_loss` (dual supervision, L_DS = CE(severity) + mean over present zones
  CE(zone score)) and :func:`maclr_loss` (modality alignment contrastive loss, L_MACLR).

L_MACLR for anchor i with partners j (|ps_i - ps_j| = 1) and k (|ps_i - ps_k| > |ps_i - ps_j|), cosine sim::

    [1 - sim(u_i, v_i)] + [sim(u_i, v_j) + sim(u_i, v_k) + sim(v_i, v_j) + sim(v_i, v_k)]
        + max(sim(v_i, v_k) - sim(v_i, v_j), 0)

averaged over the anchors of the batch. A term that needs a missing partner (no valid j or k exists,
see :mod:`model_training.sampling`) is skipped for that anchor; the alignment term is always present.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lusapp.core.labels import N_CLASSES


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, classes=range(1, N_CLASSES), eps: float = 1.0) -> torch.Tensor:
    """1 - mean soft Dice over ``classes``; sums over the whole batch (classes absent from both the target and
    the prediction score ~1 thanks to ``eps``)."""
    prob = torch.softmax(logits, dim=1)
    onehot = F.one_hot(target.long(), logits.shape[1]).permute(0, 3, 1, 2).to(prob.dtype)
    idx = list(classes)
    p, t = prob[:, idx], onehot[:, idx]
    inter = (p * t).sum(dim=(0, 2, 3))
    denom = p.sum(dim=(0, 2, 3)) + t.sum(dim=(0, 2, 3))
    dice = (2 * inter + eps) / (denom + eps)
    return 1.0 - dice.mean()


def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor, class_weights: torch.Tensor | None = None,
                 dice_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """Stage-1 loss: CE (optionally class-weighted) + ``dice_weight`` * soft Dice. Returns (loss, parts)."""
    ce = F.cross_entropy(logits, target.long(), weight=class_weights)
    dice = soft_dice_loss(logits, target)
    loss = ce + dice_weight * dice
    return loss, {"ce": float(ce.detach()), "dice": float(dice.detach())}


def zone_ce_per_patient(zone_logits: torch.Tensor, zone_target: torch.Tensor) -> torch.Tensor:
    """Mean over patients (with >= 1 scored zone) of the mean CE over that patient's scored zones.

    zone_logits (B, Z, S), zone_target (B, Z) long with -1 for zones without a score.
    """
    B, Z, S = zone_logits.shape
    present = zone_target >= 0
    if not bool(present.any()):
        return zone_logits.sum() * 0.0
    ce = F.cross_entropy(zone_logits.reshape(B * Z, S), zone_target.clamp_min(0).reshape(B * Z),
                         reduction="none").reshape(B, Z)
    ce = ce * present.to(ce.dtype)
    n = present.sum(dim=1)
    has = n > 0
    per_patient = ce.sum(dim=1)[has] / n[has].to(ce.dtype)
    return per_patient.mean()


def ds_loss(severity_logits: torch.Tensor, severity_target: torch.Tensor, zone_logits: torch.Tensor,
            zone_target: torch.Tensor, zone_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """Dual supervision L_DS = CE(severity) + zone_weight * mean over present zones CE(zone score).

    severity_target: (B,) long in 0..3 (severity 1..4 minus one).
    """
    sev = F.cross_entropy(severity_logits, severity_target.long())
    zone = zone_ce_per_patient(zone_logits, zone_target)
    return sev + zone_weight * zone, {"severity_ce": float(sev.detach()), "zone_ce": float(zone.detach())}


def maclr_loss(u: torch.Tensor, v: torch.Tensor, j: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """L_MACLR averaged over the anchors. u, v (B, P); j, k (A,) long partner indices into the rows of u/v
    (-1 = none). The anchors are the first A = len(j) rows (A <= B): extra rows may serve only as partners."""
    A = int(j.shape[0])
    if A == 0:
        return u.sum() * 0.0, {"align": 0.0, "repel": 0.0, "rank": 0.0, "n_j": 0, "n_k": 0}
    un, vn = F.normalize(u, dim=1), F.normalize(v, dim=1)
    ua, va = un[:A], vn[:A]
    align = 1.0 - (ua * va).sum(dim=1)
    j = j.to(u.device)
    k = k.to(u.device)
    has_j, has_k = j >= 0, k >= 0
    jj, kk = j.clamp_min(0), k.clamp_min(0)
    s_uvj = (ua * vn[jj]).sum(dim=1)
    s_vvj = (va * vn[jj]).sum(dim=1)
    s_uvk = (ua * vn[kk]).sum(dim=1)
    s_vvk = (va * vn[kk]).sum(dim=1)
    zero = torch.zeros_like(align)
    repel = torch.where(has_j, s_uvj + s_vvj, zero) + torch.where(has_k, s_uvk + s_vvk, zero)
    rank = torch.where(has_j & has_k, torch.relu(s_vvk - s_vvj), zero)
    loss = (align + repel + rank).mean()
    return loss, {"align": float(align.mean().detach()), "repel": float(repel.mean().detach()),
                  "rank": float(rank.mean().detach()), "n_j": int(has_j.sum()), "n_k": int(has_k.sum())}
