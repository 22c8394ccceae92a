"""A bundle's int8 frame graphs: ``python -m model_training export-onnx BUNDLE --int8 [--data DIR]``.

Writes ``frames_full_int8.onnx`` and ``frames_encode_int8.onnx`` -- static QDQ int8 versions of the two frame
graphs (model_training/quantize.py), variant ``stem_pool`` (the first conv and the findings branch's pooling +
linear layer kept fp32), MinMax calibration -- beside the fp32 graphs and lists them in the manifest's graphs
entry (lusapp.model.onnx_bundle: optional graphs, verified like the others), each with its sha256, variant, the
calibration frames (which, how many) and its measured agreement with the fp32 graph::

    "frames_full_int8": {"file": "frames_full_int8.onnx", "sha256": ..., "bytes": ..., "variant": "stem_pool",
                         "method": "minmax", "kept_fp32": [...], "calibration": {"frames": ..., "count": N,
                         "per_clip": 6}, "vs_fp32": {"synthetic": {"labels": ..., "branch_logits_max": ...},
                                                     "real_dev": {...}}}
    "int8": {"included": true, "variant": "stem_pool", ...}    or    {"included": false, "reason": "..."}

Calibration reads the demo patient (``resources/demo``) and the calibration half of the development part's source
groups of ``../shared/data`` (``quantize.dev_halves``; the locked test part is never read); the measurement, frames
calibration did not see: a held-out synthetic patient (seed 11) and the other development half. The graphs are
kept only when they meet issue 13's bar on every set (label argmax >= 99 %, findings-branch logits within 0.1 of
fp32); otherwise, and where there is no ``../shared/data`` to calibrate on (the app's fine-tune, a fresh
checkout), the bundle keeps its fp32 graphs only and ``graphs.int8`` says why (the app then runs fp32: correct,
slower).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from lusapp.model.manifest import MANIFEST_NAME, sha256_file, write_manifest
from lusapp.model.onnx_bundle import GRAPHS_KEY, INT8_GRAPHS
from model_training import quantize as q

VARIANT, METHOD, PER_CLIP = "stem_pool", "minmax", 6
NOT_REQUESTED = ("not produced: exported without --int8 (calibration needs the development-part frames of "
                 "../shared/data); the app runs the fp32 frame graphs")
CALIBRATION_FRAMES = ("the demo patient (resources/demo) and the calibration half of the development part's source "
                      "groups of ../shared/data (split model_training/splits/real_split_v1.csv); never the locked "
                      "test part")


def _manifest(directory: Path) -> dict:
    return json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))


def mark_fp32_only(bundle_dir: str | Path, reason: str) -> dict:
    """The bundle keeps its fp32 frame graphs only: int8 entries and files removed, ``graphs.int8`` = the reason."""
    directory = Path(bundle_dir)
    manifest = _manifest(directory)
    entry = manifest[GRAPHS_KEY]
    for name in INT8_GRAPHS.values():
        item = entry["files"].pop(name, None)
        if item:
            (directory / item["file"]).unlink(missing_ok=True)
    entry["int8"] = {"included": False, "reason": reason}
    write_manifest(directory, manifest)
    return entry["int8"]


def measure(fp32: Path, int8: Path, sets: dict[str, np.ndarray], threads: int = 2) -> dict[str, dict]:
    """set name -> quantize.agreement of the int8 graph with the fp32 one on those frames (rounded)."""
    ref, got = q.session(fp32, threads), q.session(int8, threads)
    return {s: {k: round(v, 6) for k, v in q.agreement(q.run_frames(ref, x), q.run_frames(got, x)).items()}
            for s, x in sets.items()}


def meets_bar(vs_fp32: dict[str, dict]) -> bool:
    """Issue 13's bar on every evaluation set: argmax >= quantize.MIN_AGREEMENT, branch logits within
    quantize.MAX_BRANCH_DRIFT."""
    return bool(vs_fp32) and all(v.get("labels", 1.0) >= q.MIN_AGREEMENT
                                 and v.get("branch_logits_max", 0.0) < q.MAX_BRANCH_DRIFT for v in vs_fp32.values())


def install_int8_graphs(bundle_dir: str | Path, calib: np.ndarray, eval_sets: dict[str, np.ndarray],
                        calibration: dict, variant: str = VARIANT, method: str = METHOD) -> dict:
    """Quantise the bundle's two fp32 frame graphs on ``calib``, measure them on ``eval_sets`` and, when they meet
    the bar, write them beside the fp32 graphs and list them (manifest replaced atomically); else mark the bundle
    fp32-only with the numbers. Returns ``graphs.int8``."""
    directory = Path(bundle_dir)
    entry = _manifest(directory)[GRAPHS_KEY]
    written: dict[str, tuple[Path, dict]] = {}
    try:
        for fp32_name, name in INT8_GRAPHS.items():
            fp32 = directory / entry["files"][fp32_name]["file"]
            tmp = directory / f".{name}.onnx.tmp-{os.getpid()}"
            written[name] = (tmp, {})
            q.quantize_graph(fp32, tmp, calib, method, q.VARIANTS[variant])
            written[name][1].update(measure(fp32, tmp, eval_sets))
        if not all(meets_bar(v) for _, v in written.values()):
            return mark_fp32_only(directory, f"not produced: {variant} / {method} missed the bar (argmax >= "
                                             f"{q.MIN_AGREEMENT:.0%}, branch logits within {q.MAX_BRANCH_DRIFT}): "
                                             + json.dumps({n: v for n, (_, v) in written.items()}))
        manifest = _manifest(directory)
        files = manifest[GRAPHS_KEY]["files"]
        for name, (tmp, vs_fp32) in written.items():
            final = directory / f"{name}.onnx"
            os.replace(tmp, final)
            files[name] = {"file": final.name, "sha256": sha256_file(final), "bytes": final.stat().st_size,
                           "variant": variant, "method": method, "kept_fp32": list(q.VARIANTS[variant]),
                           "format": "QDQ (int8 weights per channel, uint8 activations)", "calibration": calibration,
                           "vs_fp32": vs_fp32}
        manifest[GRAPHS_KEY]["int8"] = {"included": True, "graphs": list(INT8_GRAPHS.values()), "variant": variant,
                                        "method": method, "calibration": calibration,
                                        "tool": "python -m model_training export-onnx --int8"}
        write_manifest(directory, manifest)
        return manifest[GRAPHS_KEY]["int8"]
    finally:
        for tmp, _ in written.values():
            tmp.unlink(missing_ok=True)


def add_int8_graphs(bundle_dir: str | Path, data_root: str | Path | None = None, variant: str = VARIANT,
                    method: str = METHOD, per_clip: int = PER_CLIP) -> dict:
    """Calibrate on the demo patient + development-part frames and install the int8 graphs (``install_int8_graphs``);
    without development-part clips the bundle is marked fp32-only. Returns ``graphs.int8``."""
    from lusapp.model.onnx_bundle import open_bundle
    from model_training.realdata import default_root, load_items
    from model_training.synth.cli import make_demo_patient
    from model_training.synth.writer import write_patient_folder

    cal_items, eval_items = q.dev_halves(load_items(data_root))
    if not cal_items or not eval_items:
        root = data_root if data_root is not None else default_root()
        return mark_fp32_only(bundle_dir, f"not produced: no development-part clips under {root} to calibrate on; "
                                          "the app runs the fp32 frame graphs")
    size = open_bundle(bundle_dir).input_size
    with tempfile.TemporaryDirectory(prefix="lus-int8-") as tmp:
        synth = Path(tmp) / "synthetic_eval"  # a held-out synthetic patient: the demo generator, another seed
        write_patient_folder(synth, make_demo_patient(q.SYNTH_EVAL_SEED), with_sidecar=False)
        sets = q.frame_sets(size, per_clip, synth, data_root)
    calib = sets.pop("calibration")
    n_demo = sum(1 for p in q.DEMO_DIR.iterdir() if p.suffix.lower() in q.MEDIA)
    calibration = {"frames": CALIBRATION_FRAMES, "count": int(len(calib)), "per_clip": per_clip,
                   "clips": {"demo": n_demo, "development": len(cal_items)},
                   "measured_on": {"synthetic": f"a held-out synthetic patient (seed {q.SYNTH_EVAL_SEED}), "
                                                f"{len(sets['synthetic'])} frames",
                                   "real_dev": f"the other development half ({len(eval_items)} clips), "
                                               f"{len(sets['real_dev'])} frames"}}
    return install_int8_graphs(bundle_dir, calib, sets, calibration, variant, method)
