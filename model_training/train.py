"""``python -m model_training train``: staged training (seg -> zone -> patient) into a model bundle.

Checkpoints go to ``<out>.train_state/`` (beside the bundle folder, which ``save_bundle`` replaces whole):
stage 1 after every epoch (``seg.safetensors`` with model and Adam state, ``seg.json`` with epoch, history, optimiser hyper-parameters, config); stages 2 and 3 (a minute each on
precomputed features) when they finish. ``--resume`` continues an unfinished stage-1 run at its next epoch and
skips finished stages. The bundle (``manifest.json`` + ``weights.safetensors``) is written to ``<out>``.

DDP: under ``torchrun`` (WORLD_SIZE > 1) stage 1 runs DistributedDataParallel (gloo on CPU, nccl on CUDA):
each epoch's class-balanced index list is drawn with the shared seed and split by ``DistributedSampler``;
only rank 0 writes; stages 2 and 3 (cheap) run on rank 0 alone.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from lusapp.core.clinical import clinical_feature_names
from lusapp.logs import log_to_console
from lusapp.model.networks import SegNet, SeverityNet, ZoneScorer
from model_training import sampling, stages
from model_training.augment import JointAugment
from model_training.data import FrameCache, SegDataset, build_index
from model_training.device import pick_device
from model_training.evaluate import evaluate_modules
from model_training.features import FeatureBank, compute_bank

RECIPES = {
    # the bundled v1 model (docs/model-card.md); stores from model_training/recipes/v1.sh
    "v1": {"seg_epochs": 12, "seg_samples": 1024, "seg_batch": 16, "zone_epochs": 40, "patient_epochs": 60,
           "severity_arch": {"embed_dim": 32, "attn_dim": 32, "proj_dim": 32, "clin_hidden": 32, "dropout": 0.3}},
    # v1-dsembed: v1 whose stage-3 instance head also reads the shared zone embedding, so dual supervision shapes it
    "v1-dsembed": {"seg_epochs": 12, "seg_samples": 1024, "seg_batch": 16, "zone_epochs": 40, "patient_epochs": 60,
             "severity_arch": {"embed_dim": 32, "attn_dim": 32, "proj_dim": 32, "clin_hidden": 32, "dropout": 0.3,
                               "instance_on_embed": True}},
    "tiny": {"seg_epochs": 2, "seg_samples": 32, "seg_batch": 8, "zone_epochs": 5, "patient_epochs": 5,
             "input_size": 64, "max_frames": 6, "seg_arch": {"widths": [8, 16, 32], "convs": [1, 1, 1]}},
}


@dataclass
class TrainConfig:
    input_size: int = 128
    seg_arch: dict = field(default_factory=dict)  # SegNet kwargs (empty: the networks' defaults)
    severity_arch: dict = field(default_factory=dict)  # SeverityNet kwargs (embed_dim, dropout, ...)
    freeze_encoder: bool = False  # stage 1 trains the decoder only (encoder weights and BN statistics fixed)
    max_frames: int = 30
    seg_epochs: int = 8
    seg_samples: int = 1600  # frames drawn (class-balanced, with replacement) per epoch
    seg_batch: int = 16
    seg_lr: float = 2e-3
    zone_epochs: int = 40
    zone_batch: int = 32
    zone_lr: float = 1e-3
    frames_per_zone: int = 30
    patient_epochs: int = 150
    patient_batch: int = 32
    patient_lr: float = 1e-3
    variant: str = "maclr"
    maclr_weight: float = 1.0
    seed: int = 0
    balance: bool = True

    def update(self, d: dict) -> TrainConfig:
        for k, v in d.items():
            if v is not None and hasattr(self, k):
                setattr(self, k, v)
        return self


_log = logging.getLogger("model_training")


def log(msg: str) -> None:
    """Training progress (rank 0 only) through logging: ``python -m model_training`` shows it on stderr."""
    if int(os.environ.get("RANK", "0")) == 0:
        _log.info(msg)


def set_seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


# ----------------------------------------------------------------------------- checkpoints (safetensors + json)
def save_ckpt(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer | None, state: dict) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    groups = []
    if opt is not None:
        sd = opt.state_dict()
        for pid, st in sd["state"].items():
            for k, v in st.items():
                t = v if torch.is_tensor(v) else torch.tensor(v)
                tensors[f"opt.{pid}.{k}"] = t.detach().cpu().contiguous()
        groups = sd["param_groups"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, path.with_suffix(".safetensors"))
    js = path.with_suffix(".json")
    js.with_suffix(".json.tmp").write_text(json.dumps({**state, "param_groups": groups}, indent=1))
    os.replace(js.with_suffix(".json.tmp"), js)


def load_ckpt(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer | None = None) -> dict | None:
    from safetensors.torch import load_file

    st, js = path.with_suffix(".safetensors"), path.with_suffix(".json")
    if not (st.is_file() and js.is_file()):
        return None
    state = json.loads(js.read_text())
    tensors = load_file(str(st))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if opt is not None and state.get("param_groups"):
        ost: dict = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, pid, name = k.split(".", 2)
                ost.setdefault(int(pid), {})[name] = v
        opt.load_state_dict({"state": ost, "param_groups": state["param_groups"]})
    return state


# ----------------------------------------------------------------------------- DDP helpers
def dist_init(device: str) -> tuple[int, int]:
    ws = int(os.environ.get("WORLD_SIZE", "1"))
    if ws <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size()


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def seg_class_weights(ds: SegDataset) -> torch.Tensor:
    """CE weights (1 / sqrt pixel frequency), normalised to mean 1, clipped to [0.2, 10]."""
    counts = np.bincount(ds.y.reshape(-1), minlength=5).astype(np.float64) + 1.0
    w = 1.0 / np.sqrt(counts / counts.sum())
    w = w / w.mean()
    return torch.tensor(np.clip(w, 0.2, 10.0), dtype=torch.float32)


# ----------------------------------------------------------------------------- stages
def run_seg(cfg: TrainConfig, store: str, cache: FrameCache, state_dir: Path, device: str, resume: bool,
            rank: int, world: int, init: SegNet | None = None, index=None, progress=None) -> SegNet:
    ck = state_dir / "seg"
    seg = SegNet(**cfg.seg_arch)
    if init is not None:
        seg.load_state_dict(init.state_dict())
    if cfg.freeze_encoder:  # e.g. fine-tuning a model whose findings head reads this encoder
        for p in seg.features.parameters():
            p.requires_grad_(False)
        seg.features.eval()
        seg.features.train = lambda mode=True: seg.features  # stays in eval mode (BN statistics fixed)
    opt = torch.optim.Adam([p for p in seg.parameters() if p.requires_grad], lr=cfg.seg_lr)
    start, history = 0, []
    if resume:
        st = load_ckpt(ck, seg, opt)
        if st is not None:
            start, history = int(st["epoch"]), st.get("history", [])
            log(f"[seg] resuming after epoch {start}/{cfg.seg_epochs}")
    if start >= cfg.seg_epochs:
        return seg.eval()
    index = index if index is not None else build_index(store)
    if rank == 0:
        ds = SegDataset(index, cache, JointAugment(), log=log)
    barrier(world)
    if rank != 0:
        ds = SegDataset(index, cache, JointAugment())
    if len(ds) == 0:
        raise SystemExit(f"{store}: no frame with a FINAL mask: stage 1 cannot train")
    log(f"[seg] {len(ds)} FINAL-mask frames; categories " +
        json.dumps({c: ds.categories().count(c) for c in sorted(set(ds.categories()))}))
    cw = seg_class_weights(ds).to(device)
    seg = seg.to(device)
    model = seg
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(seg, device_ids=[seg.features[0].weight.device.index] if device == "cuda" else None)
    cats = ds.categories()
    weights = sampling.balanced_weights(cats) if cfg.balance else np.ones(len(ds))
    for ep in range(start, cfg.seg_epochs):
        rng = np.random.default_rng(cfg.seed * 1000 + ep)
        epoch_idx = rng.choice(len(ds), size=cfg.seg_samples, replace=True, p=weights / weights.sum()).tolist()
        view = torch.utils.data.Subset(ds, epoch_idx)
        sampler = torch.utils.data.DistributedSampler(view, world, rank, shuffle=False) if world > 1 else None
        loader = torch.utils.data.DataLoader(view, batch_size=cfg.seg_batch, sampler=sampler, shuffle=False,
                                             num_workers=0, drop_last=True)
        for g in opt.param_groups:  # cosine schedule by epoch (resume-safe)
            g["lr"] = cfg.seg_lr * 0.5 * (1 + math.cos(math.pi * ep / cfg.seg_epochs))
        torch.manual_seed(cfg.seed * 1000 + ep + rank)
        prog = stages.Progress(f"seg epoch {ep + 1}/{cfg.seg_epochs}", len(loader), enabled=rank == 0)
        h = stages.seg_epoch(model, loader, opt, device, cw, prog)
        history.append(h)
        log(f"[seg] epoch {ep + 1}/{cfg.seg_epochs} loss {h['loss']:.4f} (ce {h['ce']:.4f}, dice {h['dice_loss']:.4f})")
        if progress is not None:
            progress(5 + int(50 * (ep + 1) / cfg.seg_epochs), f"segmentation epoch {ep + 1}/{cfg.seg_epochs}")
        if rank == 0:
            save_ckpt(ck, seg, opt, {"stage": "seg", "epoch": ep + 1, "epochs": cfg.seg_epochs, "history": history,
                                     "config": asdict(cfg)})
        barrier(world)
    return seg.cpu().eval()


def run_zone(cfg: TrainConfig, bank: FeatureBank, state_dir: Path, resume: bool, init: ZoneScorer | None = None):
    ck = state_dir / "zone"
    scorer = ZoneScorer(bank.feat_dim)
    if resume and load_ckpt(ck, scorer) is not None:
        log("[zone] finished earlier; loaded")
        return scorer.eval(), json.loads(ck.with_suffix(".json").read_text()).get("history", [])
    if init is not None:
        scorer.load_state_dict(init.state_dict())
    scorer, hist = stages.train_zone(bank, cfg.zone_epochs, cfg.zone_batch, cfg.zone_lr, cfg.frames_per_zone,
                                     cfg.seed, cfg.balance, log=log, scorer=scorer)
    save_ckpt(ck, scorer, None, {"stage": "zone", "epoch": cfg.zone_epochs, "history": hist})
    return scorer, hist


def run_patient(cfg: TrainConfig, bank: FeatureBank, zone: ZoneScorer, state_dir: Path, resume: bool,
                init: SeverityNet | None = None):
    ck = state_dir / "severity"
    hist: list = []
    if resume and (ck.with_suffix(".json")).is_file():
        arch = json.loads(ck.with_suffix(".json").read_text())["arch"]
        net = SeverityNet(**arch)
        load_ckpt(ck, net)
        log("[patient] finished earlier; loaded")
        return net.eval(), json.loads(ck.with_suffix(".json").read_text()).get("history", [])
    net = stages.train_severity(bank, cfg.variant, True, cfg.variant == "maclr", zone, cfg.patient_epochs,
                                cfg.patient_batch, cfg.patient_lr, cfg.frames_per_zone, cfg.seed, cfg.balance,
                                cfg.maclr_weight, log=log, history=hist, init=init, net_kwargs=cfg.severity_arch)
    save_ckpt(ck, net, None, {"stage": "patient", "epoch": cfg.patient_epochs, "history": hist, "arch": net.config()})
    return net, hist


def features_for(seg: SegNet, store: str, cache: FrameCache, state_dir: Path, device: str, index=None) -> FeatureBank:
    """Feature bank of the store under this encoder, cached in ``state_dir`` keyed by the weights' hash."""
    import hashlib

    h = hashlib.sha256()
    for k, v in seg.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    index = index if index is not None else build_index(store)
    h.update(json.dumps([[p.pid, p.severity, [(z.zone_id, z.sha256, z.score) for z in p.zones.values()]]
                         for p in index.patients]).encode())
    path = state_dir / f"bank_{h.hexdigest()[:16]}.npz"
    if path.is_file():
        return FeatureBank.load(path)
    bank = compute_bank(seg, index, cache, device, log=log)
    state_dir.mkdir(parents=True, exist_ok=True)
    bank.save(path)
    return bank


def train_all(store: str, out: str | Path, cfg: TrainConfig, *, stage: str = "all", device: str = "auto",
              resume: bool = False, cache_dir=None, eval_store: str | None = None, name: str = "lus-staged",
              version: str = "1.0.0", init_bundle=None, parent_version: str | None = None, recipe_cmd: str = "",
              progress=None, state_dir=None, pids=None) -> Path | None:
    """Train the requested stage(s); write the bundle when the severity net exists. Returns the bundle dir.
    Everything after ``cfg`` is keyword-only (a positional False or None said nothing at the call site)."""
    device = pick_device(device)
    rank, world = dist_init(device)
    set_seed(cfg.seed + rank)
    out = Path(out)
    state_dir = Path(state_dir) if state_dir else out.parent / f"{out.name}.train_state"
    cache = FrameCache(cache_dir, cfg.input_size, cfg.max_frames)
    t0 = time.time()
    index = build_index(store, pids)
    say = progress or (lambda pct, msg: None)
    say(5, f"indexed {len(index.patients)} patients")
    init_seg = init_bundle.seg if init_bundle is not None else None
    if stage in ("seg", "all"):
        seg = run_seg(cfg, store, cache, state_dir, device, resume, rank, world, init_seg, index, say)
    else:
        seg = SegNet(**cfg.seg_arch)
        if load_ckpt(state_dir / "seg", seg) is None:
            if init_seg is None:
                raise SystemExit(f"stage {stage}: no stage-1 checkpoint in {state_dir}; run --stage seg first")
            seg.load_state_dict(init_seg.state_dict())
        seg.eval()
    if world > 1:
        barrier(world)
        if rank != 0:
            dist.destroy_process_group()
            return None
    say(60, "stage 1 done")
    if stage == "seg":
        return None
    bank = features_for(seg, store, cache, state_dir, device, index)
    say(70, "features extracted")
    zone_hist = None
    if stage in ("zone", "all"):
        zone, zone_hist = run_zone(cfg, bank, state_dir, resume, init_bundle.zone if init_bundle is not None else None)
    else:
        zone = ZoneScorer(bank.feat_dim)
        if load_ckpt(state_dir / "zone", zone) is None:
            raise SystemExit(f"stage {stage}: no stage-2 checkpoint in {state_dir}; run --stage zone first")
    say(75, "stage 2 done")
    if stage == "zone":
        return None
    sev, sev_hist = run_patient(cfg, bank, zone, state_dir, resume,
                                init_bundle.severity if init_bundle is not None else None)
    say(85, "stage 3 done")
    seg_hist = json.loads((state_dir / "seg.json").read_text()).get("history", []) if (state_dir / "seg.json").is_file() else []
    metrics: dict = {"training": {"seg_loss": [h["loss"] for h in seg_hist], "zone_loss": zone_hist,
                                  "patient_loss": [h["loss"] for h in sev_hist] if sev_hist else None,
                                  "wall_s_this_run": round(time.time() - t0, 1)}}
    if eval_store:
        res = evaluate_modules(seg, zone, sev, eval_store, cache)
        metrics["test"] = res["summary"]
    from lusapp.model.bundle import save_bundle

    manifest = {"name": name, "version": version, "input_size": [cfg.input_size, cfg.input_size],
                "clinical_features": list(clinical_feature_names()), "parent_version": parent_version,
                "training_data": json.dumps(index.describe()), "licences": ["synthetic data generated by "
                                                                            "model_training.synth (project code)"],
                "metrics": metrics, "recipe": recipe_cmd or " ".join(sys.argv), "train_config": asdict(cfg),
                "zone_feature": f"mean of SegNet.frame_features over up to {cfg.max_frames} evenly spaced frames"}
    save_bundle(out, seg, zone, sev, manifest)
    from model_training.export_onnx import export_graphs

    export_graphs(out)  # the app runs the ONNX graphs
    log(f"bundle written to {out} ({time.time() - t0:.0f}s)")
    return out


def add_args(p) -> None:
    p.add_argument("--stage", choices=("seg", "zone", "patient", "all"), default="all")
    p.add_argument("--store", required=True, nargs="+",
                   help="a store or a lusapp export folder; several (stores and exports) are merged")
    p.add_argument("--out", required=True, help="model bundle folder (checkpoints in <out>.train_state)")
    p.add_argument("--state-dir", help="checkpoint folder (default <out>.train_state)")
    p.add_argument("--recipe", choices=sorted(RECIPES), help="preset hyper-parameters")
    p.add_argument("--epochs", type=int, help="stage-1 epochs (stages 2/3 scale with their own defaults)")
    p.add_argument("--zone-epochs", type=int)
    p.add_argument("--patient-epochs", type=int)
    p.add_argument("--seg-samples", type=int, help="frames drawn per stage-1 epoch")
    p.add_argument("--input-size", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--cache-dir", help="preprocessed-frame cache (default $LUSAPP_TRAIN_CACHE or ~/.cache/lusapp-train)")
    p.add_argument("--eval-store", help="held-out store evaluated into the manifest metrics")
    p.add_argument("--name", default="lus-staged")
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")


def run(args) -> int:
    torch.set_num_threads(max(1, args.threads))
    cfg = TrainConfig()
    if args.recipe:
        cfg.update(RECIPES[args.recipe])
    cfg.update({"seg_epochs": args.epochs, "zone_epochs": args.zone_epochs, "patient_epochs": args.patient_epochs,
                "seg_samples": args.seg_samples, "input_size": args.input_size, "seed": args.seed})
    store = args.store[0] if len(args.store) == 1 else args.store
    recipe_cmd = "python -m model_training train " + " ".join(getattr(args, "argv", None) or sys.argv[2:])
    out = train_all(store, args.out, cfg, stage=args.stage, device=args.device, resume=args.resume,
                    cache_dir=args.cache_dir, eval_store=args.eval_store, name=args.name, version=args.version,
                    recipe_cmd=recipe_cmd, state_dir=args.state_dir)
    if out is not None:
        print(json.dumps({"bundle": str(out)}))
    return 0


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m model_training train", description="staged training into a model bundle")
    add_args(ap)
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[2:] if argv is None else argv)
    log_to_console()
    return run(args)
