"""``python -m lusapp.bench [--json] [--model DIR] [--patient FOLDER] [--threads N]``: inference benchmark.

Measured in one run, on this machine, for the ONNX Runtime path (the app's engine on the bundle's ONNX graphs:
``onnx int8`` when the bundle has int8 frame graphs and the precision switch allows them, and then also
``onnx fp32``, the same engine with ``precision='fp32'``; else ``onnx fp32``) and, where torch is installed, the
torch path (the same engine with ``backend='torch'``), phase by phase (each phase runs every path back to back,
so a change in the machine's load hits them alike):
* live segmentation frames/s over the whole path (decode with open_media, imaging-region crop computed once
  per clip, resize, network, mask back-projection to the frame), batches of ``--batch`` frames;
* the network alone (ms per frame on a batch) and, with torch, its achieved FLOP/s (FLOPs counted with
  torch.utils.flop_counter) as a fraction of a 2048x2048 fp32 ``torch.mm``'s FLOP/s;
* patient assessment time, 12 videos x 30 frames, cold (feature cache empty) and warm (features cached); for
  the cold one also its CPU time (all threads), the network's wall time inside it and the CPU time of its
  preparation alone (decode, crop detection, resize), which the assessment overlaps with the network.
Targets (2 CPU cores, ONNX Runtime): live >= 60 frames/s and >= 2x torch, cold <= 1 s, warm <= 10 ms.
Without ``--patient`` the clips are generated (a synthetic sector-probe video written with cv2.VideoWriter);
without a trained bundle (torch needed) the networks are random-init with the default architecture, torch path
only, and the output says so. Timings are the best of a few repeats (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import importlib.util

import cv2
import numpy as np

import lusapp.model  # noqa: F401  (before torch: sets OMP_WAIT_POLICY=PASSIVE, see lusapp/model/__init__.py)

TARGETS = {"live_fps": 60.0, "live_vs_torch": 2.0, "assess_cold_s": 1.0, "assess_warm_s": 0.010}


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
    import torch

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
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    return 2.0 * n ** 3 / _best(lambda: torch.mm(a, b), repeats)


def segnet_flops(bundle) -> float:
    """FLOPs per frame of the SegNet (encoder + decoder), counted by torch."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    h, w = bundle.input_size
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        bundle.seg.forward_with_features(torch.rand(1, 1, h, w))
    return float(counter.get_total_flops())


def _cold_parts(engine, cold, paths: list, repeats: int) -> dict:
    """Where a cold assessment's time goes: the network's wall time inside it (frames through the full and the
    encoder-only graph) and the CPU time of its preparation alone (decode, crop detection, resize: the
    engine's per-zone preparation step, run zone after zone in this thread, best of ``repeats``)."""
    backend, spent = engine.backend, {"s": 0.0, "full": 0, "enc": 0}
    frames = backend.frames

    def timed(x, full):
        t = time.perf_counter()
        try:
            return frames(x, full)
        finally:
            spent["s"] += time.perf_counter() - t
            spent["full" if full else "enc"] += int(x.shape[0])

    backend.frames = timed
    try:
        cold()
    finally:
        del backend.frames  # the class's method again

    def prepare():
        engine.clear_cache()
        for p in paths:
            engine._prepare_zone(p, 30, 1, 6)

    prep_cpu = min(_best_wall_cpu(prepare, 1)[1] for _ in range(max(1, repeats - 1)))
    return {"assess_net_s": spent["s"], "assess_net_frames": [spent["full"], spent["enc"]],
            "assess_prepare_cpu_s": prep_cpu}


def _engines(bundle, threads, batch) -> dict:
    """{'onnx int8': Engine, 'onnx fp32': Engine, 'torch': Engine} for the paths this bundle, the precision
    switch ($LUSAPP_FRAME_PRECISION) and installation can run; the first is the app's."""
    from lusapp.model.engine import Engine

    out = {}
    if getattr(bundle, "graphs", None) is not None or bundle.manifest.get("graphs"):
        app = Engine(bundle, threads=threads, batch_size=batch, backend="onnx")
        out[f"onnx {app.backend.precision}"] = app
        if app.backend.precision == "int8":
            out["onnx fp32"] = Engine(bundle, threads=threads, batch_size=batch, backend="onnx", precision="fp32")
    if importlib.util.find_spec("torch") is not None:
        out["torch"] = Engine(bundle, threads=threads, batch_size=batch, backend="torch")
    for e in out.values():
        e.warm_up()
    return out


def run(model: str | None = None, patient: str | None = None, threads: int | None = 2, batch: int = 16,
        repeats: int = 3) -> dict:
    from lusapp.io.readers import open_media
    from lusapp.model.assess_cli import load_model, load_patient_any

    out: dict = {"threads": threads, "batch": batch, "cpus": os.cpu_count(), "load_before": _load(), "paths": {}}
    for pkg in ("onnxruntime", "torch"):
        if importlib.util.find_spec(pkg) is not None:
            out[pkg] = __import__(pkg).__version__
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
        engines = _engines(bundle, threads, batch)
        res = out["paths"] = {name: {} for name in engines}
        if patient:
            pat, media = load_patient_any(patient)
        else:
            pat, media = load_patient_any(write_demo_patient(tmp / "demo-patient"))
        videos = [p for p in media.values() if Path(p).suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp")]
        live_path = write_demo_video(tmp / "live.mp4", n_frames=96) if not patient or not videos else videos[0]

        x = np.random.default_rng(0).random((batch, 1, *bundle.input_size), dtype=np.float32)
        for name, e in engines.items():  # the network alone, full pass (features, labels, findings branch)
            e.backend.frames(x, True)
            res[name]["net_ms_per_frame"] = 1000 * _best(lambda: e.backend.frames(x, True), repeats) / batch
        if "torch" in engines:
            out["matmul_gflops"] = matmul_flops() / 1e9
            out["net_gflop_per_frame"] = segnet_flops(bundle) / 1e9
            for r in res.values():
                r["net_gflops"] = out["net_gflop_per_frame"] / (r["net_ms_per_frame"] / 1000)
                r["flops_fraction"] = r["net_gflops"] / out["matmul_gflops"]

        with open_media(live_path) as clip:
            n = clip.n_frames
            out["live_frames"], out["live_frame_size"] = n, [clip.height, clip.width]
            for name, e in engines.items():
                t = time.perf_counter()
                crop = e.crop_for(clip)
                res[name]["crop_once_s"] = time.perf_counter() - t
                e.segment(clip, range(min(n, batch)), crop=crop)  # warm-up
                dt, cpu = _best_wall_cpu(lambda: e.segment(open_media(live_path), range(n), crop=crop), repeats)
                res[name].update(live_fps=n / dt, live_cpu_ms_per_frame=1000 * cpu / n)

        out["assess_zones"] = len(media)
        for name, e in engines.items():
            def cold(e=e):
                e.clear_cache()
                return e.assess(pat, media, n_frames=30)

            res[name]["assess_cold_s"], res[name]["assess_cold_cpu_s"] = _best_wall_cpu(cold, max(1, repeats - 1))
            res[name].update(_cold_parts(e, cold, list(media.values()), repeats))
        for name, e in engines.items():
            e.assess(pat, media, n_frames=30)
            res[name]["assess_warm_s"] = _best(lambda: e.assess(pat, media, n_frames=30), repeats + 2)
    out["load_after"] = _load()
    out["targets"] = TARGETS
    main_path = next(iter(res))  # the app's path: int8 graphs when the bundle has them, else fp32 / torch
    out["main"] = main_path
    m = res[main_path]
    if "torch" in res:
        t = res["torch"]
        out["ratios_by_path"] = {
            name: {"live_fps": o["live_fps"] / t["live_fps"], "net": t["net_ms_per_frame"] / o["net_ms_per_frame"],
                   "assess_cold": t["assess_cold_s"] / o["assess_cold_s"],
                   "assess_warm": t["assess_warm_s"] / o["assess_warm_s"]} for name, o in res.items() if name != "torch"}
        if main_path in out["ratios_by_path"]:
            out["ratios"] = out["ratios_by_path"][main_path]
    out["pass"] = {"live_fps": m["live_fps"] >= TARGETS["live_fps"],
                   "assess_cold_s": m["assess_cold_s"] <= TARGETS["assess_cold_s"],
                   "assess_warm_s": m["assess_warm_s"] <= TARGETS["assess_warm_s"]}
    if "ratios" in out:
        out["pass"]["live_vs_torch"] = out["ratios"]["live_fps"] >= TARGETS["live_vs_torch"]
    return out


def format_table(r: dict) -> str:
    paths = list(r["paths"])
    ratios = r.get("ratios", {})

    def row(name, key, fmt, target="", ratio_key=None, ok_key=None):
        vals = [fmt(r["paths"][p][key]) if key in r["paths"][p] else "-" for p in paths]
        ratio = f"{ratios[ratio_key]:.2f}x" if ratio_key in ratios else ""
        ok = ("yes" if r["pass"][ok_key] else "NO") if ok_key in r["pass"] else ""
        return f"{name:34s} " + " ".join(f"{v:>16s}" for v in vals) + f" {ratio:>8s} {target:>14s} {ok}"

    lines = [f"model: {r['model']}", f"{r['cpus']} CPUs, load average {r['load_before']} before / {r['load_after']} "
             f"after (a shared, busy machine slows everything)",
             f"onnxruntime {r.get('onnxruntime', '-')}, torch {r.get('torch', 'not installed')}; {r['threads']} threads, "
             f"batch {r['batch']}; the app's path: {r['main']}; live clip {r['live_frames']} frames {r['live_frame_size'][1]}x"
             f"{r['live_frame_size'][0]}" + (f"; network {r['net_gflop_per_frame']:.3f} GFLOP/frame, fp32 matmul "
                                             f"{r['matmul_gflops']:.1f} GFLOP/s" if "matmul_gflops" in r else ""), ""]
    lines.append(f"{'measure':34s} " + " ".join(f"{p:>16s}" for p in paths) + f" {'speed-up':>8s} {'target':>14s} ok")
    lines.append(row("live segmentation, whole path", "live_fps", lambda v: f"{v:.1f} fr/s", ">= 60, >= 2x",
                     "live_fps", "live_fps"))
    if "live_vs_torch" in r["pass"]:
        lines.append(f"{'  ... vs torch':34s} " + " ".join(f"{'':>16s}" for _ in paths)
                     + f" {'':>8s} {'>= 2x':>14s} {'yes' if r['pass']['live_vs_torch'] else 'NO'}")
    for name, q in r.get("ratios_by_path", {}).items():
        lines.append(f"  {name} vs torch: live {q['live_fps']:.2f}x, network {q['net']:.2f}x, cold assessment "
                     f"{q['assess_cold']:.2f}x, warm {q['assess_warm']:.2f}x")
    lines.append(row("  CPU per live frame", "live_cpu_ms_per_frame", lambda v: f"{v:.1f} CPU-ms"))
    lines.append(row("network alone, full pass", "net_ms_per_frame", lambda v: f"{v:.2f} ms/fr", "", "net"))
    lines.append(row("  FLOP/s vs fp32 matmul", "flops_fraction", lambda v: f"{100 * v:.0f} %"))
    lines.append(row(f"assessment cold ({r['assess_zones']} zones x 30 fr)", "assess_cold_s", lambda v: f"{v:.3f} s",
                     "<= 1 s", "assess_cold", "assess_cold_s"))
    lines.append(row("  CPU (all threads)", "assess_cold_cpu_s", lambda v: f"{v:.3f} CPU-s"))
    lines.append(row("  network inside it (wall)", "assess_net_s", lambda v: f"{v:.3f} s"))
    lines.append(row("  preparation alone (1 thread)", "assess_prepare_cpu_s", lambda v: f"{v:.3f} CPU-s"))
    lines.append(row("assessment warm (features cached)", "assess_warm_s", lambda v: f"{1000 * v:.1f} ms", "<= 10 ms",
                     "assess_warm", "assess_warm_s"))
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
