"""``python -m model_training finetune --store STORE [STORE ...] [--registry-dir DIR]``: retrain from FINAL labels.

``--store`` takes one or several stores and/or ``lusapp export`` folders, merged as ``train --store`` merges them
(:func:`model_training.data.build_index`; a patient id in two of them is an error naming both), so that
corrections sent from several sites as de-identified exports retrain one model.

1. Loads the active model (``ModelRegistry.active()``: newest valid bundle, or the pinned version).
2. Plans the stages from what the store holds (:func:`plan_stages`); a stage without enough data is *skipped*
   with a sentence (never a failure) and keeps the active model's network:
   * masks (segmentation): at least ``MIN_SEG_FRAMES`` frames with a FINAL mask (one of them held out);
   * zone scores: at least ``MIN_ZONES_SCORED`` clinician-scored zones over ``MIN_PATIENTS_SPLIT`` patients;
   * patient severity: at least ``MIN_SEV_PATIENTS`` patients with a final severity, two of them held out.
   The encoder is retrained only when all three stages are; otherwise only the mask decoder learns (the kept
   zone / severity networks read the encoder's features). A model with a findings head (trained on real clips)
   always has its mask decoder retrained only; encoder, findings, zone and severity networks are kept.
3. Held-out data: masks are judged on held-out FINAL **frames** (whole clips when at least
   ``MIN_CLIPS_FOR_CLIP_SPLIT`` clips have FINAL frames, else about a quarter of each clip's frames); zone scores
   and severity on held-out patients (sha256 of the patient id below ``holdout * 256``, see :func:`split_ids`).
4. Criterion: score = mean of the measures of the retrained stages (held-out mask mean Dice, zone 5-way
   accuracy, patient 4-way accuracy); the candidate is published only when
   score(candidate) >= score(active) - 0.005 (``TOLERANCE``). Where the repository's real CVAT clip is present
   (``../shared/data``) its mask Dice is reported beside (not gating).
5. Publishes into the user registry (``--registry-dir``, else ``$LUSAPP_MODELS_DIR``, else the user data folder)
   with the version bumped (patch + 1 of the highest installed version) and ``parent_version`` = active's.

stdout: ``PROGRESS <pct> <message>`` lines for the GUI, then one JSON line
``{"published": bool, "version": str|null, "parent_version", "stages": [{"stage", "train", "why"}],
"metrics_active", "metrics_candidate", "score_active", "score_candidate", "held_out_frames", "held_out",
"reason", "decision"}`` (``decision``: the outcome and its numbers in words). Exit 0 either way (also when
nothing could be retrained). When the store or the model cannot be used: exit 2, a sentence on stderr
(``error: ...``) and ``{"published": false, "error": "<sentence>"}`` on stdout; never a traceback there.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

from lusapp.core.retrain_plan import (MIN_CLIPS_FOR_CLIP_SPLIT, MIN_HELD_SEV, MIN_PATIENTS_SPLIT,  # noqa: F401
                                      MIN_SEG_FRAMES, MIN_SEV_PATIENTS, MIN_ZONES_SCORED, STAGE_NAMES, _n,
                                      describe_plan, plan_stages)

TOLERANCE = 0.005
FINETUNE_RECIPE = {"seg_epochs": 2, "seg_samples": 480, "seg_lr": 5e-4, "zone_epochs": 20, "zone_lr": 5e-4,
                   "patient_epochs": 60, "patient_lr": 5e-4}
def store_counts(index) -> dict:
    """What a store holds for retraining (``index``: a :class:`model_training.data.StoreIndex`)."""
    d = index.describe()
    d["clips_with_final"] = sum(1 for z in index.zones() if z.final_frames)
    d["patients_scored"] = sum(1 for p in index.patients if any(z.score is not None for z in p.zones.values()))
    return d


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


def _key(*parts) -> str:
    return hashlib.sha256("/".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def split_frames(zones, holdout: float = 0.25) -> tuple[dict, dict, str]:
    """Held-out FINAL frames: ({(pid, zone): train frames}, {(pid, zone): held frames}, unit). With at least
    ``MIN_CLIPS_FOR_CLIP_SPLIT`` clips, whole clips are held out (by hash, about ``holdout`` of the frames,
    at least one clip, never all); otherwise about ``holdout`` of each clip's frames, evenly spread (at least
    one frame held out and one kept in all)."""
    clips = [z for z in zones if z.final_frames]
    train = {(z.pid, z.zone_id): list(z.final_frames) for z in clips}
    held: dict = {}
    total = sum(len(z.final_frames) for z in clips)
    if len(clips) >= MIN_CLIPS_FOR_CLIP_SPLIT:
        n_held = 0
        for z in sorted(clips, key=lambda z: _key(z.pid, z.zone_id)):
            if n_held and n_held + len(z.final_frames) > holdout * total:
                continue
            if n_held + len(z.final_frames) >= total:
                continue
            held[(z.pid, z.zone_id)] = train.pop((z.pid, z.zone_id))
            n_held += len(z.final_frames)
        return train, held, "clips"
    for z in clips:
        fr = list(z.final_frames)
        k = int(round(len(fr) * holdout)) if len(fr) >= 2 else 0
        if k:
            held[(z.pid, z.zone_id)] = sorted({fr[int((i + 0.5) * len(fr) / k)] for i in range(k)})
    if not held and total >= 2:
        big = max(clips, key=lambda z: (len(z.final_frames), _key(z.pid, z.zone_id)))
        if len(big.final_frames) >= 2:  # one frame, from the middle of the clip with the most
            held[(big.pid, big.zone_id)] = [big.final_frames[len(big.final_frames) // 2]]
        else:  # single frames in a few clips: one clip's frame
            z = min(clips, key=lambda z: _key(z.pid, z.zone_id))
            held[(z.pid, z.zone_id)] = list(z.final_frames)
    for key, fr in held.items():
        train[key] = [f for f in train[key] if f not in fr]
    train = {k: v for k, v in train.items() if v}
    return train, held, "frames"


def _with_frames(index, frames: dict):
    """A copy of ``index`` whose zones carry only the given FINAL frames ({(pid, zone): [frames]})."""
    from model_training.data import StoreIndex

    pats = []
    for p in index.patients:
        zs = {zid: dataclasses.replace(z, final_frames=list(frames.get((p.pid, zid), [])))
              for zid, z in p.zones.items()}
        pats.append(dataclasses.replace(p, zones=zs))
    return StoreIndex(index.root, pats)


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


def _seg_eval(seg, index, cache, device: str) -> dict | None:
    """Mask metrics of ``seg`` on the FINAL frames of ``index`` (network resolution); None without frames."""
    import torch

    from model_training import metrics, stages
    from model_training.data import SegDataset

    ds = SegDataset(index, cache, augment=None)
    if not len(ds):
        return None
    with torch.no_grad():
        pred = stages.seg_predict(seg, torch.from_numpy(ds.x).float().unsqueeze(1) / 255.0, device)
    sg = metrics.seg_metrics(ds.y, pred)
    return {"frames": sg["frames"], "miou": sg["miou"], "mean_dice": sg["mean_dice"],
            "dice": {k: v["dice"] for k, v in sg["per_class"].items()}}


def _real_check(seg, input_size: int, device: str) -> dict | None:
    """Mean Dice on the repository's real CVAT clip(s) where ``../shared/data`` holds them (else None)."""
    try:
        from model_training.evaluate import evaluate_cvat

        r = evaluate_cvat(seg, input_size, device=device)
    except Exception:  # noqa: BLE001 - a missing / unreadable benchmark only drops the extra line
        return None
    if not r:
        return None
    dice = [v["dice"] for v in r.get("per_class", {}).values() if v.get("dice") is not None]
    return {"frames": r.get("frames"), "mean_dice": float(sum(dice) / len(dice)) if dice else None}


def _score(summary: dict, stages: set[str]) -> float:
    """Mean of the held-out measures of the retrained stages (mask mean Dice, zone / patient accuracy)."""
    vals = []
    if "seg" in stages:
        vals.append((summary.get("segmentation") or {}).get("mean_dice"))
    if "zone" in stages:
        vals.append((summary.get("zone") or {}).get("accuracy"))
    if "severity" in stages:
        vals.append((summary.get("patient") or {}).get("accuracy"))
    vals = [float(v) for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else 0.0


def _measures_in_words(m: dict) -> str:
    parts = []
    if m.get("segmentation"):
        parts.append(f"mask Dice {m['segmentation']['mean_dice']:.3f}")
    if m.get("zone"):
        parts.append(f"zone-score accuracy {m['zone']['accuracy']:.3f}")
    if m.get("patient"):
        parts.append(f"severity accuracy {m['patient']['accuracy']:.3f}")
    return ", ".join(parts) or "nothing measurable"


def finetune(store: str | list[str], registry_dir=None, bundled_dir=None, holdout: float = 0.2, cfg=None,
             cache_dir=None, device: str = "auto", progress=None, candidate_hook=None, work_dir=None,
             real_check: bool = True) -> dict:
    """Run steps 1-5; returns the result dict. ``candidate_hook(seg, zone, sev)`` (tests) may alter the
    candidate's modules in place before it is evaluated (they are copies: the active model is never touched).
    ``store``: a store or export folder, or a list of them (merged)."""
    import torch  # noqa: F401 - heavy imports here: the GUI imports this module for plan_stages only

    from lusapp.core.errors import LusError
    from lusapp.model.bundle import load_bundle, parse_version, save_bundle
    from lusapp.model.registry import ModelRegistry
    from model_training.data import FrameCache, build_index
    from model_training.evaluate import evaluate_modules
    from model_training.device import pick_device
    from model_training.train import TrainConfig, features_for, run_patient, run_seg, run_zone

    say = progress or (lambda pct, msg: None)
    stores = [str(s) for s in store] if isinstance(store, (list, tuple)) else [str(store)]
    try:
        index = build_index(stores[0] if len(stores) == 1 else stores)
    except (LusError, OSError, ValueError) as e:
        raise BadStore(f"{' + '.join(stores)} cannot be used for training: {e}") from None
    counts = store_counts(index)
    say(2, f"store: {_n(counts['patients'], 'patient')}, {_n(counts['final_mask_frames'], 'corrected frame')}, "
           f"{_n(counts['zones_scored'], 'scored zone')}, {_n(counts['patients_with_severity'], 'final severity', 'final severities')}")
    reg = ModelRegistry(bundled_dir, registry_dir)
    active_v = reg.active()
    active = load_bundle(active_v.path)
    findings_model = bool(active.manifest.get("findings"))
    say(4, f"active model {active.name} {active.version}")

    # --- what can be retrained, and the held-out data for each stage
    plan = plan_stages(counts, findings_model)
    train_ids, held_ids = split_ids([p.pid for p in index.patients], holdout)
    held_p = [p for p in index.patients if p.pid in held_ids]
    train_p = [p for p in index.patients if p.pid in train_ids]
    for s in plan:
        if not s["train"]:
            continue
        if s["stage"] == "zone":
            n_tr = sum(z.score is not None for p in train_p for z in p.zones.values())
            n_he = sum(z.score is not None for p in held_p for z in p.zones.values())
            if n_tr < MIN_ZONES_SCORED // 2 or n_he < 2:
                s.update(train=False, why=f"skipped: after holding out patients {_n(n_tr, 'scored zone')} are left "
                                          f"to learn from and {n_he} to judge on (at least {MIN_ZONES_SCORED // 2} "
                                          "and 2 are needed)")
        if s["stage"] == "severity":
            tr = [p.severity for p in train_p if p.severity is not None]
            n_he = sum(p.severity is not None for p in held_p)
            if len(tr) < MIN_SEV_PATIENTS - MIN_HELD_SEV or len(set(tr)) < 2 or n_he < MIN_HELD_SEV:
                s.update(train=False, why=f"skipped: after holding out patients {_n(len(tr), 'patient')} with "
                                          f"{_n(len(set(tr)), 'severity class', 'severity classes')} are left to "
                                          f"learn from and {n_he} to judge on (at least "
                                          f"{MIN_SEV_PATIENTS - MIN_HELD_SEV} with two classes, and {MIN_HELD_SEV}, "
                                          "are needed)")
    stages = {s["stage"] for s in plan if s["train"]}
    for line in describe_plan(plan):
        say(4, line)
    seg_train, seg_held, unit = split_frames(index.zones()) if "seg" in stages else ({}, {}, "")
    n_held_frames = sum(len(v) for v in seg_held.values())
    base = {"published": False, "version": None, "parent_version": active.version, "stages": plan,
            "counts": {k: v for k, v in counts.items() if k != "store"}, "held_out": held_ids,
            "held_out_frames": n_held_frames, "held_out_unit": unit, "trained_on": len(train_ids)}
    if not stages:
        reason = "nothing to retrain with the data in the store; the active model is unchanged"
        say(100, reason)
        return {**base, "reason": reason, "decision": f"Not published: {reason}. " + " ".join(describe_plan(plan))}

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
    # the encoder learns only when every network reading it is retrained too
    cfg.freeze_encoder = findings_model or stages != {"seg", "zone", "severity"}
    dev = pick_device(device)
    new_version = bump(max((v.version for v in reg.versions()), key=parse_version, default=active.version))
    cache = FrameCache(cache_dir, cfg.input_size, cfg.max_frames)
    tmp = Path(tempfile.mkdtemp(prefix="lus_finetune_", dir=work_dir))
    try:
        state = tmp / "state"
        cand_dir = tmp / f"{active.name}-{new_version}"
        seg = copy.deepcopy(active.seg).eval()
        zone, sev = copy.deepcopy(active.zone), copy.deepcopy(active.severity)
        history: dict = {}
        if "seg" in stages:
            n_tr = sum(len(v) for v in seg_train.values())
            say(6, f"retraining the mask {'decoder' if cfg.freeze_encoder else 'network'} on {_n(n_tr, 'frame')} "
                   f"({n_held_frames} held out)")
            seg = run_seg(cfg, store, cache, state, dev, False, 0, 1, active.seg, _with_frames(index, seg_train),
                          lambda pct, msg: say(6 + int((pct - 5) * 1.1), msg))
            if cfg.freeze_encoder:  # encoder weights and BN statistics: the active one's, exactly
                seg.features.load_state_dict(active.seg.features.state_dict())
            seg = seg.cpu().eval()
        if stages & {"zone", "severity"}:
            say(64, "extracting zone features")
            train_index = index.subset(train_ids)
            bank = features_for(seg, store, cache, state, dev, train_index)
            if "zone" in stages:
                say(70, "retraining the zone-score network")
                zone, history["zone_loss"] = run_zone(cfg, bank, state, False, active.zone)
            if "severity" in stages:
                say(74, "retraining the severity network")
                sev, sh = run_patient(cfg, bank, zone, state, False, active.severity)
                history["patient_loss"] = [h["loss"] for h in sh] if sh else None
        if candidate_hook is not None:
            candidate_hook(seg, zone, sev)

        # --- judge active and candidate on the held-out data of the retrained stages
        def measure(b_seg, b_zone, b_sev) -> dict:
            m: dict = {}
            if "seg" in stages:
                r = _seg_eval(b_seg, _with_frames(index, seg_held), cache, dev)
                if r is not None:
                    m["segmentation"] = r
            if stages & {"zone", "severity"} and held_ids:
                s = evaluate_modules(b_seg, b_zone if "zone" in stages else None,
                                     b_sev if "severity" in stages else None, store, cache, dev, n_votes=0,
                                     index=index.subset(held_ids), seg_eval=False)["summary"]
                m.update({k: s[k] for k in ("zone", "patient") if k in s})
            return m

        say(82, f"judging the active model on the held-out data ({_n(n_held_frames, 'frame')}"
                f"{', ' + _n(len(held_ids), 'patient') if stages & {'zone', 'severity'} else ''})")
        m_act = measure(active.seg, active.zone, active.severity)
        say(88, "judging the candidate on the same data")
        m_cand = measure(seg, zone, sev)
        s_act, s_cand = _score(m_act, stages), _score(m_cand, stages)
        real = {}
        if real_check and "seg" in stages:
            say(92, "real-clip benchmark (CVAT A-line clip)")
            ra, rc = _real_check(active.seg, cfg.input_size, dev), _real_check(seg, cfg.input_size, dev)
            if ra and rc:
                real = {"active": ra, "candidate": rc}
        ok = should_publish(s_act, s_cand)
        what = []
        if "seg" in stages:
            what.append(f"{_n(n_held_frames, 'held-out corrected frame')} "
                        f"({'whole clips' if unit == 'clips' else 'from the same clips as the training frames'})")
        if stages & {"zone", "severity"}:
            what.append(_n(len(held_ids), "held-out patient"))
        numbers = (f"judged on {' and '.join(what)}: active {_measures_in_words(m_act)} (score {s_act:.3f}); "
                   f"candidate {_measures_in_words(m_cand)} (score {s_cand:.3f}); the candidate may be at most "
                   f"{TOLERANCE} worse")
        if real:
            numbers += (f". Real CVAT clip ({real['active']['frames']} frames, not used to decide): mask Dice active "
                        f"{real['active']['mean_dice']:.3f}, candidate {real['candidate']['mean_dice']:.3f}")
        result = {**base, "metrics_active": m_act, "metrics_candidate": m_cand, "score_active": s_act,
                  "score_candidate": s_cand, "real_benchmark": real or None}
        if ok:
            keep = {k: v for k, v in active.manifest.items()
                    if k not in ("architecture", "weights_file", "weights_sha256", "format", "format_version",
                                 "created", "findings")}
            mets = dict(keep.get("metrics") or {})
            mets.update(held_out=m_cand, held_out_score=s_cand, parent_held_out_score=s_act,
                        finetune={"stages": sorted(stages), "history": history, "held_out_frames": n_held_frames,
                                  "held_out_patients": held_ids, "real_benchmark": real or None})
            kept = [STAGE_NAMES[s].lower() for s in ("seg", "zone", "severity") if s not in stages]
            keep.update(version=new_version, parent_version=active.version, metrics=mets,
                        training_data=json.dumps({k: v for k, v in counts.items()}),
                        recipe=f"python -m model_training finetune --store {' '.join(stores)} (retrained: "
                               f"{', '.join(STAGE_NAMES[s].lower() for s in sorted(stages))}"
                               f"{'; encoder frozen' if cfg.freeze_encoder else ''}"
                               f"{'; kept from ' + active.version + ': ' + ', '.join(kept) if kept else ''})")
            save_bundle(cand_dir, seg.eval(), zone, sev, keep)
            if findings_model:
                _copy_findings(active, cand_dir)
            from model_training.export_onnx import export_graphs

            export_graphs(cand_dir)  # the app runs the ONNX graphs (checked against torch before publishing)
            say(96, "publishing")
            mv = reg.publish(cand_dir)
            result.update(published=True, version=mv.version, path=str(mv.path),
                          reason=f"candidate score {s_cand:.4f} >= active {s_act:.4f} - {TOLERANCE}",
                          decision=f"Published {active.name} {mv.version} (from {active.version}): {numbers}.")
        else:
            result.update(reason=f"candidate score {s_cand:.4f} < active {s_act:.4f} - {TOLERANCE}: not published",
                          decision=f"Not published; {active.version} stays active, because the retrained model is "
                                   f"worse on held-out data: {numbers}.")
        say(100, "published " + new_version if ok else "candidate worse than the active model; not published")
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _copy_findings(active, cand_dir: Path) -> None:
    """The active model's findings head, unchanged, into a candidate bundle with the same encoder."""
    from lusapp.model.findings import add_to_manifest

    entry = dict(active.manifest["findings"])
    shutil.copy2(active.path / entry["file"], Path(cand_dir) / entry["file"])
    add_to_manifest(cand_dir, entry)


def add_args(p) -> None:
    p.add_argument("--store", required=True, nargs="+",
                   help="a store or a lusapp export folder; several (stores and exports) are merged")
    p.add_argument("--registry-dir", help="user model folder to publish into (default $LUSAPP_MODELS_DIR / user data)")
    p.add_argument("--bundled-dir", help="bundled models folder (default resources/models)")
    p.add_argument("--holdout", type=float, default=0.2)
    p.add_argument("--epochs", type=int, help="stage-1 epochs (default 2)")
    p.add_argument("--seg-samples", type=int, help="frames drawn per stage-1 epoch (default 480)")
    p.add_argument("--zone-epochs", type=int)
    p.add_argument("--patient-epochs", type=int)
    p.add_argument("--no-real-check", action="store_true", help="skip the real CVAT clip benchmark")
    p.add_argument("--cache-dir")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--threads", type=int, default=2)


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr, flush=True)
    print(json.dumps({"published": False, "version": None, "error": msg}), flush=True)
    return 2


def main(argv=None) -> int:
    import argparse
    import traceback

    import torch

    from lusapp.core.errors import LusError
    from model_training.train import TrainConfig

    ap = argparse.ArgumentParser(prog="python -m model_training finetune", description=__doc__.split("\n")[0])
    add_args(ap)
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, a.threads))

    def progress(pct, msg):
        print(f"PROGRESS {int(pct)} {msg}", flush=True)

    cfg = TrainConfig().update(FINETUNE_RECIPE)
    cfg.update({"seg_epochs": a.epochs, "seg_samples": a.seg_samples, "zone_epochs": a.zone_epochs,
                "patient_epochs": a.patient_epochs})
    try:
        store = a.store[0] if len(a.store) == 1 else a.store
        res = finetune(store, a.registry_dir, a.bundled_dir, a.holdout, cfg, a.cache_dir, a.device, progress,
                       real_check=not a.no_real_check)
    except (BadStore, LusError) as e:  # e.g. not a store, no valid active model installed
        return _fail(str(e).rstrip(".") + ".")
    except SystemExit as e:  # the training code's own stops carry a sentence
        if isinstance(e.code, int) or e.code is None:
            raise
        return _fail(f"retraining stopped: {e.code}")
    except MemoryError:
        return _fail("retraining ran out of memory; close other programs or retrain on a machine with more memory")
    except Exception as e:  # noqa: BLE001 - the GUI shows a sentence; the details go to stderr for the log
        traceback.print_exc(file=sys.stderr)
        return _fail(f"retraining stopped by an unexpected problem ({type(e).__name__}: {e}); the active model is "
                     "unchanged")
    print(json.dumps(res), flush=True)
    return 0
