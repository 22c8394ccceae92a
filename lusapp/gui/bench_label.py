"""Benchmark of labelling work: edit operations and time to label every 5th frame of a 100-frame clip,
with mask propagation (optical flow), with keyframe interpolation, and without (from scratch; copying the
previous labelled frame).

    python -m lusapp.gui.bench_label                 # 100 frames 480x640, synthetic (model_training.synth)
    python -m lusapp.gui.bench_label --frames 60 --every 5 --size 240x320

The clip comes from ``model_training.synth`` (rendered in a subprocess: the app never imports the training
code), which writes clips with exact label maps; the exact mask is the target. The labelling is done in a real
:class:`ClipView` (offscreen) by a *simulated annotator* that works the way a clinician would:

* it looks at the mask shown on the frame object by object (a connected region of a class in the target):
  an object whose shown counterpart has a Dice below ``--good-dice`` (0.8) is redrawn with one stroke (a
  line, a brush stroke or a polygon, the wrong part cleared), a shown object with no target object near it
  is erased with one stroke; objects under ``--min-area`` px are not chased;
* a frame whose shown mask needs no fix is accepted with one click (*Mark labelled* / *Accept*).

Workflows (keyframes 0, 5, 10, ...): ``scratch`` (every keyframe drawn on an empty mask: no model runs in the
benchmark), ``copy_prev`` (one click copies the previous labelled frame, then fixes), ``propagate`` (one
click propagates the keyframe's FINAL mask over the next 5 frames, then fixes on the next keyframe; at the
end one click *Accept all* also labels the frames between keyframes), ``interpolate`` (keyframes as in
``copy_prev``, then one click per gap interpolates the frames between two keyframes, and *Accept all*). Operations count edit clicks and
strokes, not frame navigation. ``wall_s`` is the machine's time for the whole workflow (flow included);
``human_s_est`` prices strokes at ``--s-per-stroke`` and clicks at ``--s-per-click`` seconds (assumptions,
stated in the output). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_RENDER = """
import sys, numpy as np
from model_training.synth.render import render_zone
c = render_zone(int(sys.argv[2]), seed=int(sys.argv[3]), n_frames=int(sys.argv[4]),
                size=(int(sys.argv[5]), int(sys.argv[6])))
np.savez_compressed(sys.argv[1], frames=c.frames, masks=c.masks)
"""


def synth_clip(n: int, size: tuple[int, int], score: int = 2, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(frames, exact masks) of a synthetic clip, rendered by model_training.synth in a subprocess."""
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.npz"
        env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        r = subprocess.run([sys.executable, "-c", _RENDER, str(out), str(score), str(seed), str(n),
                            str(size[0]), str(size[1])], cwd=root, env=env, capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            raise SystemExit(f"cannot render the synthetic clip (model_training.synth is needed): "
                             f"{r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
        with np.load(out) as z:
            return z["frames"], z["masks"]


def object_fixes(shown: np.ndarray, target: np.ndarray, min_area: int, good: float = 0.8):
    """The strokes an annotator makes on a frame, one per object: (pixels to clear, pixels to set, class).

    A target object (a connected region of a class) whose shown counterpart (that class within 7 px of it) has
    a Dice below ``good`` is redrawn (one stroke: the wrong counterpart cleared, the object drawn); a shown
    object of a class with no target object near it is erased (one stroke). Objects under ``min_area`` px are
    not chased."""
    import cv2

    fixes = []
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))
    for c in range(1, 5):
        t, sh = (target == c).astype(np.uint8), shown == c
        n, lab, stats, _ = cv2.connectedComponentsWithStats(t, connectivity=8)
        for i in range(1, n):
            if stats[i, cv2.CC_STAT_AREA] < min_area:
                continue
            obj = lab == i
            near = cv2.dilate(obj.astype(np.uint8), kernel) > 0
            s_near = sh & near
            d = 2.0 * float((obj & s_near).sum()) / max(1, int(obj.sum()) + int(s_near.sum()))
            if d < good:
                fixes.append((s_near & ~obj, obj, c))
        t_near = cv2.dilate(t, kernel) > 0
        m, slab, sstats, _ = cv2.connectedComponentsWithStats(sh.astype(np.uint8), connectivity=8)
        for i in range(1, m):
            blob = slab == i
            if sstats[i, cv2.CC_STAT_AREA] >= min_area and not (blob & t_near).any():
                fixes.append((blob, np.zeros_like(blob), c))
    return fixes


class Annotator:
    """Drives a ClipView like a clinician; counts strokes and clicks."""

    def __init__(self, view, targets: np.ndarray, min_area: int, good_dice: float = 0.8):
        self.view, self.targets, self.min_area, self.good = view, targets, int(min_area), float(good_dice)
        self.strokes = 0
        self.clicks = 0

    def go(self, frame: int) -> None:
        self.view.seek(frame)
        self.view._show(frame)

    def fix(self, frame: int) -> None:
        v, target = self.view, self.targets[frame]
        shown = v.mask_and_kind(frame)[0]
        shown = np.zeros_like(target) if shown is None else shown.copy()
        for clear, draw, c in object_fixes(shown, target, self.min_area, self.good):
            m = v.begin_edit()
            before = m.copy()
            m[clear] = 0
            m[draw] = c
            v.end_edit(before, None, "Stroke")
            self.strokes += 1
        if v.mask_kind(frame) != "FINAL":  # nothing to fix: accept what is shown
            (v.accept_proposal if v.mask_kind(frame) == "PROPOSED" else v.mark_labelled)()
            self.clicks += 1

    def click(self, fn, *args):
        self.clicks += 1
        return fn(*args)


WORKFLOWS = ("scratch", "copy_prev", "propagate", "interpolate")


def run_workflow(name: str, frames: np.ndarray, targets: np.ndarray, every: int, min_area: int,
                 method: str = "dis", good_dice: float = 0.8) -> dict:
    from lusapp.core.propagate import mask_dice
    from lusapp.gui.clip_view import ClipView

    view = ClipView()
    view.resize(900, 700)
    view.flow_method = method
    try:
        view.set_clip("R1", _ArrayClip(frames), clip_key=f"bench:{name}")
        view.frames.wait_until_cached(timeout=120)
        a = Annotator(view, targets, min_area, good_dice)
        keys = list(range(0, len(frames), every))
        t0 = time.perf_counter()
        for i, k in enumerate(keys):
            a.go(k)
            if i > 0 and name in ("copy_prev", "interpolate"):
                a.click(view.copy_from_previous)
            a.fix(k)
            if name == "propagate" and i + 1 < len(keys):
                view.set_propagate_count(every)
                a.click(view.propagate, 1)
                view.wait_proposals()  # runs in the thread pool; the annotator waits for it
        if name == "interpolate":
            for k in keys[:-1]:
                a.go(k)
                a.click(view.interpolate)
                view.wait_proposals()
        if name in ("propagate", "interpolate"):
            a.click(view.accept_all_proposals)
        wall = time.perf_counter() - t0
        key_dice = [mask_dice(view.mask_and_kind(k)[0], targets[k]) for k in keys]
        labelled = view.labelled_frames()
        all_dice = [mask_dice(view.mask_and_kind(f)[0], targets[f]) for f in labelled]
        return {"ops": a.strokes + a.clicks, "strokes": a.strokes, "clicks": a.clicks, "wall_s": round(wall, 2),
                "keyframes": len(keys), "dice_keyframes": round(float(np.mean(key_dice)), 3),
                "labelled_frames": len(labelled), "dice_labelled": round(float(np.mean(all_dice)), 3)}
    finally:
        view.shutdown()
        view.deleteLater()


def _ArrayClip(frames: np.ndarray):  # noqa: N802 - a Clip factory
    from lusapp.io.clip import Clip

    class ArrayClip(Clip):
        kind = "video"

        def __init__(self, data: np.ndarray):
            super().__init__("memory://bench_label", n_frames=len(data), width=data.shape[2], height=data.shape[1],
                             fps=20.0, is_color=False)
            self._data = data

        def _decode(self, i: int) -> np.ndarray:
            return self._data[i].copy()

    return ArrayClip(np.asarray(frames, np.uint8))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--every", type=int, default=5, help="label every N-th frame (default 5)")
    ap.add_argument("--size", default="480x640", help="frame size HxW")
    ap.add_argument("--score", type=int, default=2, help="synthetic zone score (content)")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--min-area", type=int, default=0, help="smallest error region fixed (px; 0: 0.01 %% of "
                                                            "the frame)")
    ap.add_argument("--good-dice", type=float, default=0.8, help="an object shown with a lower Dice is redrawn")
    ap.add_argument("--method", choices=("dis", "farneback"), default="dis")
    ap.add_argument("--s-per-stroke", type=float, default=4.0)
    ap.add_argument("--s-per-click", type=float, default=1.0)
    a = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    h, w = (int(x) for x in a.size.lower().split("x"))
    min_area = a.min_area or max(5, int(round(1e-4 * h * w)))
    frames, masks = synth_clip(a.frames, (h, w), a.score, a.seed)

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841
    out = {"bench": "label", "frames": a.frames, "every": a.every, "size": f"{h}x{w}", "score": a.score,
           "seed": a.seed, "min_area_px": min_area, "good_dice": a.good_dice, "flow": a.method,
           "assumed_s_per_stroke": a.s_per_stroke, "assumed_s_per_click": a.s_per_click}
    for name in WORKFLOWS:
        r = run_workflow(name, frames, masks, a.every, min_area, a.method, a.good_dice)
        r["human_s_est"] = round(r["strokes"] * a.s_per_stroke + r["clicks"] * a.s_per_click, 1)
        out[name] = r
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
