"""The three training stages as plain loops (checkpointing, DDP and the CLI live in :mod:`model_training.train`).

1. :func:`seg_epoch` -- SegNet, Dice + CE on FINAL-mask frames, class-balanced frame sampling, joint augmentation.
2. :func:`train_zone` -- ZoneScorer on the frozen stage-1 encoder's frame features (30 random frames per zone per
   step), CE, score-balanced sampling.
3. :func:`train_severity` -- SeverityNet on zone features of the frozen encoder + clinical vector; instance head
   W_z initialised from the stage-2 ZoneScorer; loss CE(severity) [+ DS zone term] [+ MA-CLR], severity-balanced
   sampling, MA-CLR partners drawn every step from the batch (a partner missing there is drawn from the whole
   training set; a term is skipped only when none exists in the whole set).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from lusapp.model.networks import SeverityNet, ZoneScorer
from model_training import losses, sampling
from model_training.features import FeatureBank, draw


class Progress:
    """Plain stderr progress lines (tqdm is not a dependency)."""

    def __init__(self, name: str, total: int, enabled: bool = True, every_s: float = 5.0, stream=None):
        import sys

        self.name, self.total, self.enabled, self.every = name, max(1, int(total)), enabled, every_s
        self.t0 = self.last = time.time()
        self.stream = stream or sys.stderr

    def update(self, n: int, msg: str = "", force: bool = False) -> None:
        now = time.time()
        if not self.enabled or (not force and now - self.last < self.every and n < self.total):
            return
        self.last = now
        el = now - self.t0
        eta = el / max(n, 1) * (self.total - n)
        print(f"[{self.name}] {n}/{self.total} {100 * n / self.total:5.1f}% {el:6.0f}s eta {eta:5.0f}s {msg}",
              file=self.stream, flush=True)


# ----------------------------------------------------------------------------- stage 1
def seg_epoch(model, loader, opt, device: str, class_weights=None, progress: Progress | None = None,
              max_steps: int | None = None) -> dict:
    model.train()
    tot, parts_sum, n = 0.0, {"ce": 0.0, "dice": 0.0}, 0
    for step, (x, y) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss, parts = losses.dice_ce_loss(logits, y, class_weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tot += float(loss.detach())
        for k in parts_sum:
            parts_sum[k] += parts[k]
        n += 1
        if progress is not None:
            progress.update(step + 1, f"loss {tot / n:.4f}")
    n = max(n, 1)
    return {"loss": tot / n, "ce": parts_sum["ce"] / n, "dice_loss": parts_sum["dice"] / n, "steps": n}


@torch.no_grad()
def seg_predict(model, x: torch.Tensor, device: str = "cpu", batch: int = 32) -> np.ndarray:
    model.eval()
    out = []
    for s in range(0, len(x), batch):
        out.append(model(x[s:s + batch].to(device)).argmax(1).cpu().numpy().astype(np.uint8))
    return np.concatenate(out) if out else np.zeros((0,) + tuple(x.shape[-2:]), np.uint8)


# ----------------------------------------------------------------------------- stage 2
def _zone_batch(bank: FeatureBank, pairs, rng, n_frames: int):
    T = max(1, min(n_frames, max(len(bank.feats[p][z]) for p, z in pairs)))
    D = bank.feat_dim
    x = np.zeros((len(pairs), T, D), np.float32)
    m = np.zeros((len(pairs), T), bool)
    y = np.zeros(len(pairs), np.int64)
    for b, (p, z) in enumerate(pairs):
        f = bank.feats[p][z]
        pick = rng.choice(len(f), size=min(T, len(f)), replace=False) if rng is not None else np.arange(min(T, len(f)))
        x[b, :len(pick)] = f[pick]
        m[b, :len(pick)] = True
        y[b] = bank.scores[p, z]
    return torch.from_numpy(x), torch.from_numpy(m), torch.from_numpy(y)


def train_zone(bank: FeatureBank, epochs: int = 30, batch: int = 32, lr: float = 1e-3, n_frames: int = 30,
               seed: int = 0, balance: bool = True, dropout: float = 0.1, log=None, scorer: ZoneScorer | None = None):
    """Returns (ZoneScorer, history of mean epoch losses)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pairs = bank.scored_zones()
    if not pairs:
        raise ValueError("no zone with a clinician score and media: stage 2 cannot train")
    scorer = scorer or ZoneScorer(bank.feat_dim, dropout=dropout)
    opt = torch.optim.Adam(scorer.parameters(), lr=lr, weight_decay=1e-4)
    labels = [int(bank.scores[p, z]) for p, z in pairs]
    w = sampling.balanced_weights(labels) if balance else np.ones(len(pairs))
    w = w / w.sum()
    steps = max(1, len(pairs) // batch)
    hist = []
    for ep in range(epochs):
        scorer.train()
        tot = 0.0
        for _ in range(steps):
            sel = rng.choice(len(pairs), size=min(batch, len(pairs)), replace=True, p=w)
            x, m, y = _zone_batch(bank, [pairs[i] for i in sel], rng, n_frames)
            loss = F.cross_entropy(scorer(x, m), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += float(loss.detach())
        hist.append(tot / steps)
        if log is not None and (ep + 1) % max(1, epochs // 5) == 0:
            log(f"[zone] epoch {ep + 1}/{epochs} loss {hist[-1]:.4f}")
    scorer.eval()
    return scorer, hist


@torch.no_grad()
def zone_predict(scorer: ZoneScorer, bank: FeatureBank, pairs=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true scores, predicted scores, probabilities) over scored zones (all frames averaged)."""
    scorer.eval()
    pairs = bank.scored_zones() if pairs is None else pairs
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, scorer.n_scores), np.float32)
    feats = torch.from_numpy(np.stack([bank.feats[p][z].mean(axis=0) for p, z in pairs]))
    prob = torch.softmax(scorer.fc(feats), dim=1).numpy()
    y = np.array([bank.scores[p, z] for p, z in pairs], np.int64)
    return y, prob.argmax(1), prob


# ----------------------------------------------------------------------------- stage 3
def train_severity(bank: FeatureBank, variant: str = "maclr", use_ds: bool = True, use_maclr: bool = True,
                   zone_init: ZoneScorer | None = None, epochs: int = 150, batch: int = 32, lr: float = 1e-3,
                   n_frames: int = 30, seed: int = 0, balance: bool = True, maclr_weight: float = 1.0,
                   zone_weight: float = 1.0, log=None, net_kwargs: dict | None = None, history: list | None = None,
                   init: SeverityNet | None = None):
    """Returns SeverityNet (eval mode). ``history`` (list) receives per-epoch mean loss parts."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 1)
    idx = bank.labelled_patients()
    if len(idx) < 2:
        raise ValueError("fewer than two patients with a severity label: stage 3 cannot train")
    net = SeverityNet(bank.feat_dim, bank.clinical.shape[1], variant=variant, **(net_kwargs or {}))
    if init is not None and init.config() == net.config():
        net.load_state_dict(init.state_dict())  # fine-tuning: start from the previous severity net
    elif zone_init is not None:
        net.init_zone_head_from(zone_init)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    sev = bank.severity[idx]
    w = sampling.balanced_weights(sev.tolist()) if balance else np.ones(len(idx))
    w = w / w.sum()
    steps = max(1, len(idx) // batch)
    for ep in range(epochs):
        net.train()
        acc = {"loss": 0.0, "severity_ce": 0.0, "zone_ce": 0.0, "maclr": 0.0}
        for _ in range(steps):
            sel = idx[rng.choice(len(idx), size=min(batch, len(idx)), replace=True, p=w)]
            x, m, zs, clin = draw(bank, sel, rng, n_frames)
            out = net(x, m, clin)
            y = torch.from_numpy(bank.severity[sel] - 1).long()
            if use_ds:
                loss, parts = losses.ds_loss(out["severity_logits"], y, out["zone_logits"], zs, zone_weight)
            else:
                loss = F.cross_entropy(out["severity_logits"], y)
                parts = {"severity_ce": float(loss.detach()), "zone_ce": 0.0}
            if use_maclr:
                ml = _maclr_term(net, bank, sel, out, rng, n_frames, idx)
                loss = loss + maclr_weight * ml
                acc["maclr"] += float(ml.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc["loss"] += float(loss.detach())
            acc["severity_ce"] += parts["severity_ce"]
            acc["zone_ce"] += parts["zone_ce"]
        ep_hist = {k: v / steps for k, v in acc.items()}
        if history is not None:
            history.append(ep_hist)
        if log is not None and (ep + 1) % max(1, epochs // 5) == 0:
            log(f"[patient:{variant}] epoch {ep + 1}/{epochs} " + " ".join(f"{k} {v:.4f}" for k, v in ep_hist.items()))
    net.eval()
    return net


def _maclr_term(net, bank: FeatureBank, sel: np.ndarray, out: dict, rng, n_frames: int, pool: np.ndarray):
    """MA-CLR over the batch; anchors whose partner is missing from the batch get one from the training set."""
    sev = bank.severity[sel].tolist()
    partners = sampling.sample_partners(sev, rng)
    extra: list[int] = []
    full = list(partners)
    pool_sev = bank.severity[pool]
    for i, (j, k) in enumerate(partners):
        if j is None or k is None:
            d = np.abs(pool_sev - sev[i])
            if j is None:
                js = pool[(d == 1) & (pool != sel[i])]
                if len(js):
                    extra.append(int(rng.choice(js)))
                    j = len(sel) + len(extra) - 1
            if k is None:
                ks = pool[(d >= 2) & (pool != sel[i])]
                if len(ks):
                    extra.append(int(rng.choice(ks)))
                    k = len(sel) + len(extra) - 1
            full[i] = (j, k)
    u, v = out["u"], out["v"]
    if extra:
        x, m, _, clin = draw(bank, extra, rng, n_frames)
        o2 = net(x, m, clin)
        u, v = torch.cat([u, o2["u"]]), torch.cat([v, o2["v"]])
    jt, kt = sampling.partner_tensors(full)
    loss, _ = losses.maclr_loss(u, v, jt, kt)  # anchors: the batch rows; extra rows only serve as partners
    return loss


@torch.no_grad()
def severity_predict(net: SeverityNet, bank: FeatureBank, idx=None, n_votes: int = 0, n_frames: int = 30,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true 1..4, predicted 1..4, probabilities) for labelled patients. ``n_votes`` > 0: max-vote over that many
    random 30-frame draws per zone (ties broken by the mean probability); 0: all frames averaged."""
    net.eval()
    idx = bank.labelled_patients() if idx is None else np.asarray(idx)
    if len(idx) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
    if n_votes <= 0:
        x, m, _, clin = draw(bank, idx, None, n_frames)
        prob = torch.softmax(net(x, m, clin)["severity_logits"], 1).numpy()
        pred = prob.argmax(1)
    else:
        rng = np.random.default_rng(seed)
        votes = np.zeros((len(idx), 4))
        psum = np.zeros((len(idx), 4))
        for _ in range(n_votes):
            x, m, _, clin = draw(bank, idx, rng, n_frames)
            p = torch.softmax(net(x, m, clin)["severity_logits"], 1).numpy()
            votes[np.arange(len(idx)), p.argmax(1)] += 1
            psum += p
        prob = psum / n_votes
        pred = (votes + 1e-3 * prob).argmax(1)
    return bank.severity[idx], pred + 1, prob
