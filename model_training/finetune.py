"""``python -m model_training finetune --store STORE [--registry-dir DIR]``: retrain from the store's FINAL labels.

1. Loads the active model (``ModelRegistry.active()``: newest valid bundle, or the pinned version).
2. Splits the store's patients deterministically: a patient is *held out* when the first byte of
   sha256(patient_id) is below ``holdout * 256`` (default 0.2); at least one patient lands on each side.
3. Trains a candidate on the other patients, starting from the active model's weights (all three stages:
   FINAL masks, clinician zone scores, clinician severity labels; ORIGINAL masks are never used).
4. Evaluates active and candidate on the held-out patients. Criterion: score = mean of (patient 4-way accuracy,
   zone 5-way accuracy, segmentation mean Dice) over those measurable there; the candidate is published only when
   score(candidate) >= score(active) - 0.005 (``TOLERANCE``).
5. Publishes into the user registry (``--registry-dir``, else ``$LUSAPP_MODELS_DIR``, else the user data folder)
   with the version bumped (patch + 1 of the highest installed version) and ``parent_version`` = active's.

stdout: ``PROGRESS <pct> <message>`` lines for the GUI, then one JSON line
``{"published": bool, "version": str|null, "parent_version", "metrics_active", "metrics_candidate",
"score_active", "score_candidate", "reason"}``. Exit 0 either way; exit 2 when the store cannot be used.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from model_training.data import FrameCache, build_index
from model_training.device import pick_device
from model_training.evaluate import evaluate_modules, selection_score
from model_training.train import TrainConfig, train_all

TOLERANCE = 0.005
FINETUNE_RECIPE = {"seg_epochs": 2, "seg_samples": 480, "seg_lr": 5e-4, "zone_epochs": 20, "zone_lr": 5e-4,
                   "patient_epochs": 60, "patient_lr": 5e-4}


def is_held_out(pid: str, holdout: float = 0.2) -> bool:
    return hashlib.sha256(pid.encode("utf-8")).digest()[0] < int(round(holdout * 256))


def split_ids(pids: list[str], holdout: float = 0.2) -> tuple[list[str], list[str]]:
    """(train, held_out): by hash; moves the lowest-hash patient across when one side would be empty."""
    held = [p for p in pids if is_held_out(p, holdout)]
    train = [p for p in pids if not is_held_out(p, holdout)]
    key = lambda p: hashlib.sha256(p.encode("utf-8")).hexdigest()  # noqa: E731
    if not held and len(train) > 1:
        p = min(train, key=key)
        train.remove(p)
        held.append(p)
    if not train and len(held) > 1:
        p = max(held, key=key)
        held.remove(p)
        train.append(p)
    return sorted(train), sorted(held)


def should_publish(score_active: float, score_candidate: float, tolerance: float = TOLERANCE) -> bool:
    """The publish criterion: the candidate may be worse than the active model by at most ``tolerance``."""
    return score_candidate >= score_active - tolerance


def bump(version: str) -> str:
    core = version.split("-")[0].split(".")
    while len(core) < 3:
        core.append("0")
    return f"{int(core[0])}.{int(core[1])}.{int(core[2]) + 1}"


class BadStore(Exception):
    pass


def finetune(store: str, registry_dir=None, bundled_dir=None, holdout: float = 0.2, cfg: TrainConfig | None = None,
             cache_dir=None, device: str = "auto", progress=None, candidate_hook=None, work_dir=None) -> dict:
    """Run steps 1-5; returns the result dict. ``candidate_hook(seg, zone, sev)`` (tests) may alter the
    candidate's modules in place before it is evaluated."""
    from lusapp.core.errors import LusError
    from lusapp.model.bundle import load_bundle, parse_version, save_bundle
    from lusapp.model.registry import ModelRegistry

    say = progress or (lambda pct, msg: None)
    try:
        index = build_index(store)
    except (LusError, OSError, ValueError) as e:
        raise BadStore(f"cannot use {store} as a training store: {e}") from None
    if len(index.patients) < 2:
        raise BadStore(f"{store}: needs at least 2 patients to hold one out (has {len(index.patients)})")
    desc = index.describe()
    if not (desc["final_mask_frames"] and desc["zones_scored"] and desc["patients_with_severity"] >= 2):
        raise BadStore(f"{store}: needs FINAL masks, clinician zone scores and >= 2 severity labels ({desc})")
    say(2, f"store: {desc['patients']} patients")
    reg = ModelRegistry(bundled_dir, registry_dir)
    active_v = reg.active()
    active = load_bundle(active_v.path)
    say(4, f"active model {active.name} {active.version}")
    train_ids, held_ids = split_ids([p.pid for p in index.patients], holdout)
    cfg = cfg or TrainConfig().update(FINETUNE_RECIPE)
    tc = active.manifest.get("train_config") or {}
    cfg.update({k: tc[k] for k in ("max_frames", "variant") if k in tc})
    cfg.input_size = active.input_size[0]
    cfg.seg_arch = active.seg.config()
    if active.severity is not None:
        cfg.variant = active.severity.variant
        sc = active.severity.config()
        cfg.severity_arch = {k: sc[k] for k in ("embed_dim", "attn_dim", "gated", "clin_hidden", "proj_dim", "dropout",
                                                "instance_on_embed") if k in sc}
    dev = pick_device(device)
    new_version = bump(max((v.version for v in reg.versions()), key=parse_version, default=active.version))
    tmp = Path(tempfile.mkdtemp(prefix="lus_finetune_", dir=work_dir))
    try:
        cand_dir = tmp / f"{active.name}-{new_version}"

        def train_progress(pct, msg):
            say(5 + int(pct * 0.75), msg)

        findings_model = bool(active.manifest.get("findings"))
        if findings_model:
            # The findings head (trained on real clips) and the severity network read this encoder: only the
            # segmentation decoder learns from the corrections; encoder, findings, zone and severity stay.
            cfg.freeze_encoder = True
            say(5, "this model's findings were trained on real clips: the corrections retrain the mask decoder; "
                   "encoder, findings, zone and severity networks are kept")
            train_all(store, cand_dir, cfg, "seg", dev, False, cache_dir, None, active.name, new_version,
                      init_bundle=active, parent_version=active.version, progress=train_progress,
                      state_dir=tmp / "state", pids=train_ids)
            _decoder_candidate(active, tmp / "state", cand_dir, new_version, store)
        else:
            train_all(store, cand_dir, cfg, "all", dev, False, cache_dir, None, active.name, new_version,
                      init_bundle=active, parent_version=active.version, progress=train_progress,
                      state_dir=tmp / "state", pids=train_ids,
                      recipe_cmd=f"python -m model_training finetune --store {store}")
        cand = load_bundle(cand_dir)
        if candidate_hook is not None:
            candidate_hook(cand.seg, cand.zone, cand.severity)
        held_index = index.subset(held_ids)
        cache = FrameCache(cache_dir, cfg.input_size, cfg.max_frames)
        say(82, f"evaluating the active model on {len(held_ids)} held-out patients")
        nets = (lambda b: (b.seg, None, None)) if findings_model else (lambda b: (b.seg, b.zone, b.severity))
        m_act = evaluate_modules(*nets(active), store, cache, dev, n_votes=0, index=held_index)["summary"]
        say(90, "evaluating the candidate")
        m_cand = evaluate_modules(*nets(cand), store, cache, dev, n_votes=0, index=held_index)["summary"]
        s_act, s_cand = selection_score(m_act), selection_score(m_cand)
        ok = should_publish(s_act, s_cand)
        result = {"published": False, "version": None, "parent_version": active.version,
                  "metrics_active": m_act, "metrics_candidate": m_cand, "score_active": s_act,
                  "score_candidate": s_cand, "held_out": held_ids, "trained_on": len(train_ids)}
        if ok:
            manifest = dict(cand.manifest)
            manifest["metrics"] = {**manifest.get("metrics", {}), "held_out": m_cand, "held_out_score": s_cand,
                                   "parent_held_out_score": s_act}
            keep = {k: v for k, v in manifest.items() if k not in ("architecture", "weights_file", "weights_sha256",
                                                                   "format", "format_version", "created")}
            save_bundle(cand_dir, cand.seg, cand.zone, cand.severity, keep)
            if findings_model:
                _copy_findings(active, cand_dir)
            mv = reg.publish(cand_dir)
            result.update(published=True, version=mv.version, path=str(mv.path),
                          reason=f"candidate score {s_cand:.4f} >= active {s_act:.4f} - {TOLERANCE}")
        else:
            result["reason"] = f"candidate score {s_cand:.4f} < active {s_act:.4f} - {TOLERANCE}: not published"
        say(100, "published " + new_version if ok else "candidate worse than the active model; not published")
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _copy_findings(active, cand_dir: Path) -> None:
    """The active model's findings head, unchanged, into a candidate bundle with the same encoder."""
    import shutil as _sh

    from lusapp.model.findings import add_to_manifest

    entry = dict(active.manifest["findings"])
    _sh.copy2(active.path / entry["file"], Path(cand_dir) / entry["file"])
    add_to_manifest(cand_dir, entry)


def _decoder_candidate(active, state_dir: Path, cand_dir: Path, version: str, store: str) -> None:
    """A candidate bundle: the decoder fine-tuned in ``state_dir``, everything else the active model's."""
    from lusapp.model.bundle import save_bundle
    from lusapp.model.networks import SegNet
    from model_training.train import load_ckpt

    seg = SegNet(**active.seg.config())
    if load_ckpt(Path(state_dir) / "seg", seg) is None:
        raise RuntimeError("stage 1 left no checkpoint")
    seg.features.load_state_dict(active.seg.features.state_dict())  # the encoder is the active one, exactly
    keep = {k: v for k, v in active.manifest.items()
            if k not in ("architecture", "weights_file", "weights_sha256", "format", "format_version", "created",
                         "findings")}
    keep.update(version=version, parent_version=active.version,
                recipe=f"python -m model_training finetune --store {store} (decoder only; parent "
                       f"{active.version}'s encoder, findings, zone and severity networks)")
    save_bundle(cand_dir, seg.eval(), active.zone, active.severity, keep)
    _copy_findings(active, cand_dir)


def add_args(p) -> None:
    p.add_argument("--store", required=True)
    p.add_argument("--registry-dir", help="user model folder to publish into (default $LUSAPP_MODELS_DIR / user data)")
    p.add_argument("--bundled-dir", help="bundled models folder (default resources/models)")
    p.add_argument("--holdout", type=float, default=0.2)
    p.add_argument("--epochs", type=int, help="stage-1 epochs (default 2)")
    p.add_argument("--cache-dir")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--threads", type=int, default=2)


def main(argv=None) -> int:
    import argparse

    from lusapp.core.errors import LusError

    ap = argparse.ArgumentParser(prog="python -m model_training finetune", description=__doc__.split("\n")[0])
    add_args(ap)
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, a.threads))

    def progress(pct, msg):
        print(f"PROGRESS {int(pct)} {msg}", flush=True)

    cfg = TrainConfig().update(FINETUNE_RECIPE)
    if a.epochs:
        cfg.seg_epochs = a.epochs
    try:
        res = finetune(a.store, a.registry_dir, a.bundled_dir, a.holdout, cfg, a.cache_dir, a.device, progress)
    except BadStore as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except LusError as e:  # e.g. no valid active model installed
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(res))
    return 0
