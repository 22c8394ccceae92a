"""``python -m model_training ablate --store STORE [--test-store TEST] [--model BUNDLE] --seeds N --out DIR``.

The configurations of Xue et al.'s Table 4, each trained and tested over N seeds (mean +- std), plus Table 5's
paired t-tests (MA-CLR with 5-sample max-vote vs each other configuration, same seeds):

==================  ==========================================================================================
MZS                 mean of the stage-2 predicted zone scores over present zones -> severity by three
                    thresholds learned on the training patients (monotone assignment maximising accuracy)
A-MIL (no transfer) attention MIL (SeverityNet 'mil'), CE only, zone features of a *randomly initialised*
                    encoder (same architecture, seed 0)
A-MIL (transfer)    the same on the trained encoder's features (stage-1/2 transfer), CE only
DSA-MIL             'mil' + dual supervision (severity CE + zone-score CE of the instance head)
Clinical MLP        'clinical' (clinical vector only), CE
CONCAT              'concat' ([u, v] without the contrastive loss), dual supervision
MA-CLR              'maclr': dual supervision + L_MACLR
MA-CLR (5-vote)     the MA-CLR model, max-vote over 5 random 30-frame draws per zone
==================  ==========================================================================================

Every SeverityNet variant uses the bundle's recipe (``train_config.severity_arch``, ``patient_epochs``).
Encoders stay frozen (features precomputed once per store: this is what makes N seeds cheap on a CPU).
Without ``--test-store`` every seed draws its own stratified 75/25 patient split of ``--store``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from lusapp.model.networks import SegNet
from model_training import metrics, stages
from model_training.data import FrameCache, build_index
from model_training.features import FeatureBank

CONFIGS = ("MZS", "A-MIL (no transfer)", "A-MIL (transfer)", "DSA-MIL", "Clinical MLP", "CONCAT", "MA-CLR",
           "MA-CLR (5-vote)")
REFERENCE = "MA-CLR (5-vote)"


def fit_thresholds(x: np.ndarray, y: np.ndarray, n_classes: int = 4) -> np.ndarray:
    """Three increasing thresholds on ``x`` for classes 1..n: the monotone (non-decreasing in x) class
    assignment of the sorted training values that maximises accuracy (dynamic programme), cut at midpoints."""
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    n = len(xs)
    dp = np.zeros((n, n_classes))
    back = np.zeros((n, n_classes), np.int64)
    for i in range(n):
        for c in range(n_classes):
            gain = float(ys[i] == c + 1)
            if i == 0:
                dp[i, c] = gain
                continue
            prev = int(np.argmax(dp[i - 1, : c + 1]))
            dp[i, c] = gain + dp[i - 1, prev]
            back[i, c] = prev
    cls = np.zeros(n, np.int64)
    c = int(np.argmax(dp[-1])) if n else 0
    for i in range(n - 1, -1, -1):
        cls[i] = c
        c = int(back[i, c])
    th = np.empty(n_classes - 1)
    for c in range(n_classes - 1):
        lo, hi = xs[cls <= c], xs[cls > c]
        if len(lo) == 0:
            th[c] = -np.inf
        elif len(hi) == 0:
            th[c] = np.inf
        else:
            th[c] = 0.5 * (lo.max() + hi.min())
    return np.maximum.accumulate(th)


def apply_thresholds(x: np.ndarray, th: np.ndarray) -> np.ndarray:
    return 1 + (x[:, None] > th[None, :]).sum(axis=1)


def mean_zone_score(zone, bank: FeatureBank, idx) -> np.ndarray:
    out = []
    for p in idx:
        pairs = [(int(p), z) for z in range(len(bank.zone_ids)) if bank.feats[p][z] is not None]
        if not pairs:
            out.append(0.0)
            continue
        feats = torch.from_numpy(np.stack([bank.feats[p][z].mean(axis=0) for _, z in pairs]))
        with torch.no_grad():
            prob = torch.softmax(zone.fc(feats), 1).numpy()
        out.append(float((prob * np.arange(prob.shape[1])).sum(1).mean()))
    return np.array(out)


def _scores(y, p) -> dict:
    m = metrics.severity_metrics(list(map(int, y)), list(map(int, p)))
    return {"accuracy": m["accuracy"] or 0.0, "macro_f1": m["macro_f1"], "severe_accuracy": m["severe"]["accuracy"] or 0.0,
            "severe_f1": m["severe"]["f1"] or 0.0}


def split(bank: FeatureBank, seed: int, test_frac: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 5])
    lab = bank.labelled_patients()
    tr, te = [], []
    for s in (1, 2, 3, 4):
        idx = lab[bank.severity[lab] == s]
        idx = idx[rng.permutation(len(idx))]
        k = max(1, int(round(test_frac * len(idx)))) if len(idx) >= 2 else 0
        te += idx[:k].tolist()
        tr += idx[k:].tolist()
    return np.array(sorted(tr)), np.array(sorted(te))


def run_seed(seed: int, bank_t: FeatureBank, bank_r: FeatureBank, test_t: FeatureBank | None,
             test_r: FeatureBank | None, epochs: int, zone_epochs: int, log=None, net_kwargs: dict | None = None) -> dict:
    if test_t is None:
        tr, te = split(bank_t, seed)
        tr_t, te_t, tr_r, te_r = bank_t.subset(tr), bank_t.subset(te), bank_r.subset(tr), bank_r.subset(te)
    else:
        tr_t, te_t, tr_r, te_r = bank_t, test_t, bank_r, test_r
    zone, _ = stages.train_zone(tr_t, epochs=zone_epochs, seed=seed)
    res: dict = {}
    ytr = tr_t.severity[tr_t.labelled_patients()]
    th = fit_thresholds(mean_zone_score(zone, tr_t, tr_t.labelled_patients()), ytr)
    yte = te_t.severity[te_t.labelled_patients()]
    res["MZS"] = _scores(yte, apply_thresholds(mean_zone_score(zone, te_t, te_t.labelled_patients()), th))
    specs = {"A-MIL (no transfer)": (tr_r, te_r, "mil", False, False, None),
             "A-MIL (transfer)": (tr_t, te_t, "mil", False, False, zone),
             "DSA-MIL": (tr_t, te_t, "mil", True, False, zone),
             "Clinical MLP": (tr_t, te_t, "clinical", False, False, None),
             "CONCAT": (tr_t, te_t, "concat", True, False, zone),
             "MA-CLR": (tr_t, te_t, "maclr", True, True, zone)}
    for name, (btr, bte, variant, ds, cl, zinit) in specs.items():
        net = stages.train_severity(btr, variant, ds, cl, zinit, epochs=epochs, seed=seed, net_kwargs=net_kwargs)
        y, p, _ = stages.severity_predict(net, bte)
        res[name] = _scores(y, p)
        if name == "MA-CLR":
            y5, p5, _ = stages.severity_predict(net, bte, n_votes=5, seed=seed)
            res["MA-CLR (5-vote)"] = _scores(y5, p5)
    if log:
        log(f"[ablate] seed {seed}: " + ", ".join(f"{k} {v['accuracy'] or 0:.3f}" for k, v in res.items()))
    return res


def table(per_seed: list[dict]) -> tuple[str, dict]:
    keys = ("accuracy", "macro_f1", "severe_accuracy", "severe_f1")
    summary: dict = {}
    lines = ["| configuration | 4-way acc | macro F1 | severe acc | severe F1 | t (acc) vs MA-CLR 5-vote | p |",
             "|---|---|---|---|---|---|---|"]
    ref = [r[REFERENCE]["accuracy"] for r in per_seed]
    for name in CONFIGS:
        vals = {k: np.array([r[name][k] for r in per_seed], float) for k in keys}
        summary[name] = {k: {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
                         for k, v in vals.items()}
        if name != REFERENCE:
            tt = metrics.paired_ttest(ref, vals["accuracy"].tolist())
            summary[name]["ttest_vs_reference"] = tt
            t_txt = "n/a" if tt["t"] is None else f"{tt['t']:.2f}"
            p_txt = "n/a" if tt["p"] is None else f"{tt['p']:.3g}"
        else:
            t_txt = p_txt = "-"
        cells = " | ".join(f"{summary[name][k]['mean']:.3f} +- {summary[name][k]['std']:.3f}" for k in keys)
        lines.append(f"| {name} | {cells} | {t_txt} | {p_txt} |")
    return "\n".join(lines), summary


def add_args(p) -> None:
    p.add_argument("--store", required=True)
    p.add_argument("--test-store", help="held-out store (default: per-seed stratified 75/25 split of --store)")
    p.add_argument("--model", help="bundle whose encoder gives the transferred features (default: active model)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, help="stage-3 epochs per configuration (default: the bundle's recipe)")
    p.add_argument("--zone-epochs", type=int, default=40)
    p.add_argument("--out", required=True)
    p.add_argument("--cache-dir")
    p.add_argument("--bank-dir", help="feature-bank cache (default <out>/banks; a train run's <model>.train_state works)")
    p.add_argument("--threads", type=int, default=2)


_log = logging.getLogger(__name__).info  # progress (python -m model_training shows it on stderr)


def run(args) -> int:
    from lusapp.model.bundle import load_bundle
    from lusapp.model.registry import ModelRegistry

    torch.set_num_threads(max(1, args.threads))
    bundle = load_bundle(args.model) if args.model else ModelRegistry().load_active()
    size = bundle.input_size[0]
    cache = FrameCache(args.cache_dir, size, int(bundle.manifest.get("train_config", {}).get("max_frames", 30)))
    torch.manual_seed(0)
    rand_seg = SegNet(**bundle.seg.config()).eval()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from model_training.train import features_for

    banks = Path(args.bank_dir) if args.bank_dir else out / "banks"
    idx_tr = build_index(args.store)
    _log(f"[ablate] features of {len(idx_tr.patients)} patients (trained and random encoder)")
    bank_t = features_for(bundle.seg, args.store, cache, banks, "cpu", idx_tr)
    bank_r = features_for(rand_seg, args.store, cache, banks, "cpu", idx_tr)
    test_t = test_r = None
    if args.test_store:
        idx_te = build_index(args.test_store)
        test_t = features_for(bundle.seg, args.test_store, cache, banks, "cpu", idx_te)
        test_r = features_for(rand_seg, args.test_store, cache, banks, "cpu", idx_te)
    tc = bundle.manifest.get("train_config") or {}
    args.epochs = args.epochs or int(tc.get("patient_epochs", 150))
    net_kwargs = tc.get("severity_arch") or {}
    per_seed = [run_seed(s, bank_t, bank_r, test_t, test_r, args.epochs, args.zone_epochs, _log, net_kwargs)
                for s in range(args.seeds)]
    md, summary = table(per_seed)
    head = (f"# Ablation (Table 4/5 style) of {bundle.name} {bundle.version}\n\nTrain: {args.store}; test: "
            f"{args.test_store or 'per-seed stratified 25% split'}; {args.seeds} seeds, {args.epochs} stage-3 epochs; "
            f"mean +- std over seeds; paired two-sided t-test of 4-way accuracy against {REFERENCE}.\n\n")
    (out / "ablation.md").write_text(head + md + "\n")
    (out / "ablation.json").write_text(json.dumps({"per_seed": per_seed, "summary": summary}, indent=1))
    print(head + md)
    return 0


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m model_training ablate", description="Table 4/5 ablation")
    add_args(ap)
    from lusapp.logs import log_to_console

    log_to_console()
    return run(ap.parse_args(argv))
