"""``python -m lusapp.bench [--json] [--model DIR] [--patient FOLDER] [--threads N]``: inference benchmark.

Measured in one run, on this machine:
* live segmentation frames/s over the whole path (decode with open_media, imaging-region crop computed once
  per clip, resize, network, mask back-projection to the frame), batches of ``--batch`` frames;
* the network's achieved FLOP/s (FLOPs counted with torch.utils.flop_counter) as a fraction of a 2048x2048
  fp32 ``torch.mm``'s FLOP/s measured in the same run;
* patient assessment time, 12 videos x 30 frames, cold (feature cache empty) and warm (features cached).
Targets (2 CPU cores): >= 60 frames/s live, >= 50 % of the matmul FLOP/s, <= 2 s cold, <= 50 ms warm.
Without ``--patient`` the clips are generated (a synthetic sector-probe video written with cv2.VideoWriter);
without a trained bundle the networks are random-init with the default architecture, and the output says so.
Timings are the best of a few repeats (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import lusapp.model  # noqa: F401  (before torch: sets OMP_WAIT_POLICY=PASSIVE, see lusapp/model/__init__.py)
import torch

TARGETS = {"live_fps": 60.0, "flops_fraction": 0.5, "assess_cold_s": 2.0, "assess_warm_s": 0.05}


def write_demo_video(path: str | Path, n_frames: int = 60, size: tuple[int, int] = (480, 640), fps: float = 20.0,
                     seed: int = 0, b_lines: int = 3) -> Path:
    """A synthetic lung-ultrasound-like grey video (sector fan, speckle, pleural line, A/B-lines, overlay text).
    ``.avi`` gets MJPG, anything else mp4v."""
    path = Path(path)
    h, w = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    apex_y, apex_x = -0.15 * h, w / 2
    r = np.hypot(yy - apex_y, xx - apex_x)
    ang = np.arctan2(xx - apex_x, yy - apex_y)
    fan = (np.abs(ang) < 0.6) & (r > 0.2 * h) & (r < 1.12 * h)
    pleura_r = 0.45 * h
    tissue = 60 + 30 * np.exp(-((r - pleura_r) / 4.0) ** 2) * 4
    tissue += 40 * np.exp(-((r - 2 * pleura_r + 0.2 * h) / 4.0) ** 2)  # an A-line
    lines = np.zeros_like(r)
    for a in rng.uniform(-0.45, 0.45, size=b_lines):
        lines += 120 * np.exp(-((ang - a) / 0.015) ** 2) * (r > pleura_r)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (w, h), False)
    if not writer.isOpened():
        raise OSError(f"{path}: cv2.VideoWriter cannot write this format")
    try:
        for t in range(n_frames):
            speckle = rng.gamma(2.0, 0.5, size=(h // 2, w // 2)).astype(np.float32)
            speckle = cv2.resize(speckle, (w, h), interpolation=cv2.INTER_LINEAR)
            img = (tissue + lines * (0.7 + 0.3 * np.sin(t / 3.0))) * speckle * np.exp(-r / (1.6 * h))
            img = np.where(fan, img, 0)
            frame = np.clip(img, 0, 255).astype(np.uint8)
            cv2.putText(frame, "LUS 5MHz  D 12cm", (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1)
            writer.write(frame)
    finally:
        writer.release()
    return path


def write_demo_patient(folder: str | Path, n_zones: int = 12, n_frames: int = 40, size=(480, 640)) -> Path:
    """A plain patient folder with one generated video per lus12 zone and a clinical.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    zones = [f"{s}{i}" for s in "RL" for i in range(1, 7)][:n_zones]
    for k, z in enumerate(zones):
        write_demo_video(folder / f"{z}.mp4", n_frames=n_frames, size=size, seed=k, b_lines=k % 7)
    (folder / "clinical.json").write_text(json.dumps({"age": 64, "sex": "M", "symptoms": {"fever": True}}))
    return folder


def random_bundle(directory: Path):
    """Save + load a random-init bundle with the default architecture (the same code path as a real one)."""
    from lusapp.core.clinical import CLINICAL_DIM, clinical_feature_names
    from lusapp.model.bundle import load_bundle, save_bundle
    from lusapp.model.networks import SegNet, SeverityNet, ZoneScorer

    torch.manual_seed(0)
    seg = SegNet()
    save_bundle(directory, seg, ZoneScorer(seg.feat_dim), SeverityNet(seg.feat_dim, CLINICAL_DIM),
                {"name": "random-init", "version": "0.0.0", "training_data": "none (random init, benchmark only)",
                 "clinical_features": list(clinical_feature_names())})
    return load_bundle(directory)


def _load() -> float | None:
    """1-minute load average (None where unsupported): a busy machine makes every number here worse."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _best(fn, repeats: int) -> float:
    return _best_wall_cpu(fn, repeats)[0]


def _best_wall_cpu(fn, repeats: int) -> tuple[float, float]:
    """(wall s, process CPU s) of the fastest of ``repeats`` calls."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        if wall < best[0]:
            best = (wall, cpu)
    return best


def matmul_flops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    return 2.0 * n ** 3 / _best(lambda: torch.mm(a, b), repeats)


def network_flops(engine, batch: int, repeats: int) -> tuple[float, float]:
    """(FLOPs per frame of the inference SegNet, achieved FLOP/s on a batch)."""
    from torch.utils.flop_counter import FlopCounterMode

    h, w = engine.size
    x = torch.rand(batch, 1, h, w)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            engine.seg.forward_with_features(x[:1])
        per_frame = float(counter.get_total_flops())
        engine.seg.forward_with_features(x)
        dt = _best(lambda: engine.seg.forward_with_features(x), repeats)
    return per_frame, per_frame * batch / dt


def run(model: str | None = None, patient: str | None = None, threads: int | None = 2, batch: int = 16,
        repeats: int = 3) -> dict:
    from lusapp.io.readers import open_media
    from lusapp.model.assess_cli import load_model, load_patient_any
    from lusapp.model.engine import Engine

    if threads:
        torch.set_num_threads(threads)
    out: dict = {"threads": torch.get_num_threads(), "batch": batch, "torch": torch.__version__,
                 "cpus": os.cpu_count(), "load_before": _load()}
    with tempfile.TemporaryDirectory(prefix="lusapp-bench-") as tmp:
        tmp = Path(tmp)
        try:
            bundle = load_model(model)
            out["model"] = f"{bundle.name} {bundle.version}"
            out["random_init"] = False
        except Exception as e:  # noqa: BLE001 - no trained model: benchmark the architecture
            bundle = random_bundle(tmp / "random-bundle")
            out["model"] = f"random-init weights, default architecture (no trained bundle: {e})"
            out["random_init"] = True
        engine = Engine(bundle, batch_size=batch)
        if patient:
            pat, media = load_patient_any(patient)
        else:
            pat, media = load_patient_any(write_demo_patient(tmp / "demo-patient"))
        videos = [p for p in media.values() if Path(p).suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp")]
        live_path = write_demo_video(tmp / "live.mp4", n_frames=96) if not patient or not videos else videos[0]

        out["matmul_gflops"] = matmul_flops() / 1e9
        per_frame, achieved = network_flops(engine, batch, repeats)
        out["net_gflop_per_frame"] = per_frame / 1e9
        out["net_gflops"] = achieved / 1e9
        out["flops_fraction"] = achieved / (out["matmul_gflops"] * 1e9)

        clip = open_media(live_path)
        try:
            t = time.perf_counter()
            crop = engine.crop_for(clip)
            out["crop_once_s"] = time.perf_counter() - t
            n = clip.n_frames
            engine.segment(clip, range(min(n, batch)), crop=crop)  # warm-up
            dt, cpu = _best_wall_cpu(lambda: engine.segment(open_media(live_path), range(n), crop=crop), repeats)
            out["live_cpu_ms_per_frame"] = 1000 * cpu / n
            out["live_frames"] = n
            out["live_frame_size"] = [clip.height, clip.width]
            out["live_fps"] = n / dt
        finally:
            clip.close()

        def cold():
            engine.clear_cache()
            return engine.assess(pat, media, n_frames=30)

        out["assess_zones"] = len(media)
        out["assess_cold_s"], out["assess_cold_cpu_s"] = _best_wall_cpu(cold, max(1, repeats - 1))
        engine.assess(pat, media, n_frames=30)
        out["assess_warm_s"] = _best(lambda: engine.assess(pat, media, n_frames=30), repeats + 2)
    out["load_after"] = _load()
    out["targets"] = TARGETS
    out["pass"] = {"live_fps": out["live_fps"] >= TARGETS["live_fps"],
                   "flops_fraction": out["flops_fraction"] >= TARGETS["flops_fraction"],
                   "assess_cold_s": out["assess_cold_s"] <= TARGETS["assess_cold_s"],
                   "assess_warm_s": out["assess_warm_s"] <= TARGETS["assess_warm_s"]}
    return out


def format_table(r: dict) -> str:
    rows = [
        ("live segmentation, whole path", f"{r['live_fps']:.1f} frames/s ({r['live_cpu_ms_per_frame']:.1f} "
                                          f"CPU-ms/frame)", ">= 60", r["pass"]["live_fps"]),
        ("network FLOP/s vs fp32 matmul", f"{100 * r['flops_fraction']:.0f} % ({r['net_gflops']:.1f} / "
                                          f"{r['matmul_gflops']:.1f} GFLOP/s)", ">= 50 %", r["pass"]["flops_fraction"]),
        (f"assessment cold ({r['assess_zones']} zones x 30 fr)", f"{r['assess_cold_s']:.3f} s "
                                                               f"({r['assess_cold_cpu_s']:.2f} CPU-s)", "<= 2 s",
         r["pass"]["assess_cold_s"]),
        ("assessment warm (features cached)", f"{1000 * r['assess_warm_s']:.1f} ms", "<= 50 ms",
         r["pass"]["assess_warm_s"]),
    ]
    lines = [f"model: {r['model']}", f"{r['cpus']} CPUs, load average {r['load_before']} before / {r['load_after']} "
             f"after (a shared, busy machine slows everything)",
             f"torch {r['torch']}, {r['threads']} threads, batch {r['batch']}; "
             f"network {r['net_gflop_per_frame']:.3f} GFLOP/frame; live clip {r['live_frames']} frames "
             f"{r['live_frame_size'][1]}x{r['live_frame_size'][0]}; crop once {1000 * r['crop_once_s']:.0f} ms", ""]
    lines.append(f"{'measure':40s} {'value':40s} {'target':9s} ok")
    for name, value, target, ok in rows:
        lines.append(f"{name:40s} {value:40s} {target:9s} {'yes' if ok else 'NO'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lusapp.bench", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--model", default=None, help="bundle folder or registry version (default: active)")
    p.add_argument("--patient", default=None, help="patient folder to assess (default: generated)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    r = run(args.model, args.patient, args.threads, args.batch, args.repeats)
    print(json.dumps(r, indent=1) if args.json else format_table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
