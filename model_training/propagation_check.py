"""``python -m model_training propcheck [--zones R1,R2] [--step 10] [--model BUNDLE]``: how well masks propagated
from a corrected keyframe match the truth on the demo patient, by optical flow alone and guided by the model.

The demo's clips (``resources/demo``) are re-rendered by the synthetic generator with the same seed
(:func:`model_training.synth.cli.make_demo_patient`), which gives the exact label map of every frame. For each
clip, every ``--step``-th frame is taken as the clinician's corrected keyframe (its exact mask) and carried to
the frames up to the next keyframe; the mean pattern Dice (:func:`lusapp.core.propagate.mask_dice`) against the
truth is reported for: ``flow`` (:func:`lusapp.core.propagate.propagate`, what the app does), ``guided`` (the
flow's mask corrected by the model's mask of each target frame, :func:`lusapp.core.propagate.guide_with_model`),
``model`` (the model's mask alone) and ``copy`` (the keyframe's mask unchanged). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from lusapp.core import propagate as pr

_log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
CLIPS = ("R1", "R2", "R3", "R4", "L3", "L4", "L5", "L6")


def check_zone(zone, media: Path, engine, step: int) -> dict:
    from lusapp.io.readers import open_media
    from model_training.synth.writer import render_synth_zone

    truth = render_synth_zone(zone, (480, 640)).masks
    clip = open_media(media)
    try:
        n = clip.n_frames
        if n != len(truth):
            raise SystemExit(f"{media}: {n} frames, the generator renders {len(truth)}: regenerate the demo")
        frames = [clip.read_gray(i) for i in range(n)]
        seg = engine.segment(clip, list(range(n)))
    finally:
        clip.close()
    model = dict(zip(seg.indices, seg.masks))
    d: dict[str, list[float]] = {"flow": [], "guided": [], "model": [], "copy": []}
    for k in range(0, n - 1, step):
        targets = list(range(k + 1, min(n, k + step)))
        for f, m in pr.propagate(truth[k], k, targets, lambda i: frames[i]):
            d["flow"].append(pr.mask_dice(m, truth[f]))
            d["guided"].append(pr.mask_dice(pr.guide_with_model(m, model[f]), truth[f]))
            d["model"].append(pr.mask_dice(model[f], truth[f]))
            d["copy"].append(pr.mask_dice(truth[k], truth[f]))
    return {k: round(float(np.mean(v)), 3) for k, v in d.items()} | {"frames": len(d["flow"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zones", default=",".join(CLIPS))
    ap.add_argument("--step", type=int, default=10, help="keyframe spacing (default 10)")
    ap.add_argument("--model", default=str(ROOT / "resources" / "models" / "lus-staged-1.2.0"))
    ap.add_argument("--demo", default=str(ROOT / "resources" / "demo"))
    a = ap.parse_args(argv)
    from lusapp.model.bundle import load_bundle
    from lusapp.model.engine import Engine
    from model_training.synth.cli import make_demo_patient

    sp = make_demo_patient(7)
    engine = Engine(load_bundle(a.model), threads=2)
    out: dict = {"check": "propagation", "step": a.step, "model": Path(a.model).name, "zones": {}}
    t0 = time.perf_counter()
    for zid in a.zones.split(","):
        zone = sp.zones[zid]
        if zone.kind != "clip":
            raise SystemExit(f"zone {zid} of the demo is a {zone.kind}, not a clip (clips: {', '.join(CLIPS)})")
        out["zones"][zid] = check_zone(zone, Path(a.demo) / f"{zid}.mp4", engine, a.step)
        _log.info("%s: %s", zid, out["zones"][zid])
    rows = list(out["zones"].values())
    out["mean"] = {k: round(float(np.mean([r[k] for r in rows])), 3) for k in ("flow", "guided", "model", "copy")}
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out), flush=True)
    return 0
