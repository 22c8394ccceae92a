"""Static int8 quantisation (ONNX QDQ) of a bundle's frame graphs, measured against fp32: a study tool; the app
ships and runs the fp32 graphs.

    python -m model_training quantize [--model BUNDLE] [--variants all,edges,...] [--methods minmax,...]
                                      [--per-clip 6] [--threads 2] [--out DIR] [--json]
    python -m model_training quantize --write-bundle DIR [--variant stem_pool] [--method minmax] [--model BUNDLE]

``frames_full`` and ``frames_encode`` (lusapp.model.onnx_bundle) are quantised with
``onnxruntime.quantization.quantize_static`` (QDQ format, per-channel int8 weights, uint8 activations) from a
calibration set that never touches the locked test part: the demo patient's synthetic clips
(``resources/demo``) and half of the development part's real clip groups (``../shared/data``, split
``model_training/splits/real_split_v1.csv``). Measured on frames calibration did not see -- a held-out
synthetic patient (generated, seed 11) and the other half of the development groups -- per variant: argmax
agreement of the label maps with fp32 (all pixels, and the pixels either side calls non-background), max / mean
|drift| of the frame features and of the findings-branch logits, and ms/frame at batch 16 and 1 with the app's
session options.

Variants (``VARIANTS``) name the node groups kept in fp32 (``node_groups``): ``stem`` (the first conv), ``head``
(the conv before the label argmax), ``last`` (the last encoder conv), ``branch`` (the findings branch),
``branch_pool`` (its pooling and linear layer, not its convs), ``encoder`` (all the features and the branch
read). The input is quantised over [0, 1] (lossless for frames of uint8 / 255). ``--write-bundle`` writes a copy
of the bundle with one variant's int8 frame graphs (manifest checksums updated; a new folder) for
``realbench --model DIR`` and ``python -m lusapp.bench --model DIR``. Results: docs/model-card.md, "int8 study".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lusapp.core.errors import LusError

_log = logging.getLogger(__name__)

FRAME_GRAPHS = ("frames_full", "frames_encode")
VARIANTS = {"all": (), "edges": ("stem", "head", "last"), "branch": ("branch",), "stem_branch": ("stem", "branch"),
            "pool": ("branch_pool",), "stem_pool": ("stem", "branch_pool"),
            "edges_branch": ("stem", "head", "last", "branch"), "decoder": ("encoder", "branch")}
METHODS = ("minmax", "percentile", "entropy")
MIN_AGREEMENT = 0.99  # issue 13: kept only with argmax agreement >= 99 %
MAX_BRANCH_DRIFT = 0.1  # findings-branch logits must stay this close to fp32
DEMO_DIR = Path(__file__).resolve().parents[1] / "resources" / "demo"  # calibration (synthetic, seed 7)
SYNTH_EVAL_SEED = 11  # the held-out synthetic patient of the evaluation
MEDIA = (".mp4", ".avi", ".png", ".jpg", ".jpeg", ".gif", ".dcm")


# ---------------------------------------------------------------------------------------------- frames
def clip_frames(path: str | Path, per_clip: int, size: tuple[int, int]) -> np.ndarray:
    """``per_clip`` evenly spaced frames of one clip as the engine prepares them: (N, 1, H, W) float32 in [0, 1]."""
    from lusapp.io.readers import open_media
    from lusapp.model import preprocess as pp
    from lusapp.model.cache import sample_indices
    from lusapp.model.clip_source import detect_crop

    clip = open_media(path)
    try:
        box = detect_crop(clip)
        frames = [clip.read_gray(i) for i in sample_indices(clip.n_frames, per_clip)]
        return pp.prepare_batch_array(frames, box, size)
    finally:
        clip.close()


def folder_frames(folder: str | Path, per_clip: int, size: tuple[int, int]) -> np.ndarray:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in MEDIA)
    if not files:
        raise ValueError(f"{folder}: no clips or images in this folder")
    return np.concatenate([clip_frames(p, per_clip, size) for p in files])


def dev_halves(items) -> tuple[list, list]:
    """The development part's items split by source group (sorted groups alternate): (calibration, evaluation).
    Items of the locked test part are never returned."""
    dev = [i for i in items if i.part == "dev"]
    calib_groups = set(sorted({i.group for i in dev})[0::2])
    return ([i for i in dev if i.group in calib_groups], [i for i in dev if i.group not in calib_groups])


def calibration_frames(size: tuple[int, int], per_clip: int, data_root: str | Path | None = None) -> np.ndarray:
    """The demo patient's frames and those of the calibration half of the development groups (if present)."""
    from model_training.realdata import load_items

    cal_items, _ = dev_halves(load_items(data_root))
    return np.concatenate([folder_frames(DEMO_DIR, per_clip, size)] + [clip_frames(i.path, per_clip, size) for i in cal_items])


def frame_sets(size: tuple[int, int], per_clip: int, synth_eval: str | Path, data_root: str | Path | None = None) -> dict:
    """{"calibration", "synthetic", "real_dev"} frame arrays (real_dev absent without ``../shared/data``)."""
    from model_training.realdata import load_items

    out = {"calibration": calibration_frames(size, per_clip, data_root),
           "synthetic": folder_frames(synth_eval, per_clip, size)}
    _, eval_items = dev_halves(load_items(data_root))
    if eval_items:
        out["real_dev"] = np.concatenate([clip_frames(i.path, per_clip, size) for i in eval_items])
    return out


# ---------------------------------------------------------------------------------------------- graph parts
def _ancestors(graph, outputs: list[str]) -> set[str]:
    """Names of the nodes that ``outputs`` depend on."""
    producer = {o: n for n in graph.node for o in n.output}
    seen: set[str] = set()
    todo = [producer[o] for o in outputs if o in producer]
    while todo:
        n = todo.pop()
        if n.name in seen:
            continue
        seen.add(n.name)
        todo += [producer[i] for i in n.input if i in producer]
    return seen


def _nearest_conv(graph, tensor: str) -> list[str]:
    """The conv nearest above ``tensor`` along first inputs (through ReduceMean, DepthToSpace, Cast, ...)."""
    producer = {o: n for n in graph.node for o in n.output}
    n = producer.get(tensor)
    while n is not None and n.op_type != "Conv":
        n = producer.get(n.input[0]) if n.input else None
    return [n.name] if n is not None else []


def input_chain(model) -> list[str]:
    """The input ``x`` and the tensors the reshapes before the first conv make of it (space-to-depth)."""
    consumers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    chain, t = ["x"], "x"
    while len(consumers.get(t, [])) == 1 and consumers[t][0].op_type in ("Reshape", "Transpose"):
        t = consumers[t][0].output[0]
        chain.append(t)
    return chain


def node_groups(model) -> dict[str, list[str]]:
    """Node names of the parts of a frames graph a variant may keep in fp32 (an absent part: an empty list)."""
    g = model.graph
    outs = {o.name for o in g.output}
    convs = [n.name for n in g.node if n.op_type == "Conv"]
    enc = _ancestors(g, ["features"])
    seg = enc | (_ancestors(g, ["labels"]) if "labels" in outs else set())
    branch = _ancestors(g, ["branch_logits"]) - seg if "branch_logits" in outs else set()
    order = [n.name for n in g.node]
    kind = {n.name: n.op_type for n in g.node}
    return {"stem": convs[:1], "head": _nearest_conv(g, "labels") if "labels" in outs else [],
            "last": _nearest_conv(g, "features"), "branch": [n for n in order if n in branch],
            "branch_pool": [n for n in order if n in branch and kind[n] not in ("Conv", "Relu")],
            "encoder": [n for n in order if n in enc]}


# ---------------------------------------------------------------------------------------------- quantise
class FrameReader:
    """onnxruntime CalibrationDataReader over an (N, 1, H, W) array, ``batch`` frames at a time. Every batch has
    the same size (the last partial one is dropped when there is a full one): the histogram calibrators
    (percentile, entropy) stack the batches' outputs into one array."""

    def __init__(self, frames: np.ndarray, batch: int = 16):
        self.batch, self.pos = max(1, min(int(batch), len(frames))), 0
        self.frames = np.ascontiguousarray(frames[:len(frames) - len(frames) % self.batch], np.float32)

    def get_next(self) -> dict | None:
        if self.pos >= len(self.frames):
            return None
        x = self.frames[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return {"x": x}

    def rewind(self) -> None:
        self.pos = 0


def quantize_graph(src: str | Path, dst: str | Path, frames: np.ndarray, method: str = "minmax",
                   keep_fp32: tuple[str, ...] = (), per_channel: bool = True, reduce_range: bool = False,
                   dedicated: bool = False, exact_input: bool = True) -> list[str]:
    """Write the static QDQ int8 version of the graph ``src`` to ``dst``; returns the nodes kept in fp32.

    ``dedicated``: one Q/DQ pair per quantised consumer of a tensor (onnxruntime's ``DedicatedQDQPair``), so a node
    kept in fp32 reads the fp32 tensor instead of its int8 round trip. ``exact_input``: the input and its reshapes
    up to the first conv quantised over [0, 1] (scale 1/255: lossless for the engine's uint8 / 255 frames)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(METHODS)}, not {method!r}")
    with tempfile.TemporaryDirectory(prefix="lus-quant-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre))  # shape inference + constant folding, as onnxruntime recommends
        groups = node_groups(model := onnx.load(str(pre)))
        unknown = set(keep_fp32) - set(groups)
        if unknown:
            raise ValueError(f"unknown node group(s) {', '.join(sorted(unknown))}; known: {', '.join(groups)}")
        exclude = sorted({n for k in keep_fp32 for n in groups[k]})
        # the input is a uint8 frame / 255: a [0, 1] range quantises it without loss (scale 1/255, zero point 0),
        # where the calibration's min / max would round every pixel
        overrides = {t: [{"rmin": np.float32(0.0), "rmax": np.float32(1.0)}] for t in input_chain(model)} if exact_input else {}
        calib = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                 "entropy": CalibrationMethod.Entropy}[method]
        quantize_static(str(pre), str(dst), FrameReader(frames), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
                        reduce_range=reduce_range, calibrate_method=calib, nodes_to_exclude=exclude,
                        extra_options={"DedicatedQDQPair": bool(dedicated), "TensorQuantOverrides": overrides})
    return exclude


# ---------------------------------------------------------------------------------------------- measure
def session(path: str | Path, threads: int | None = 2):
    """An ONNX Runtime session with the app's options (lusapp.model.ort_backend.session_options)."""
    import onnxruntime as ort

    from lusapp.model.ort_backend import PROVIDERS, session_options

    return ort.InferenceSession(str(path), sess_options=session_options(threads), providers=PROVIDERS)


def run_frames(sess, frames: np.ndarray, batch: int = 16) -> dict[str, np.ndarray]:
    """Every output of a frames graph over ``frames``, concatenated over batches."""
    names = [o.name for o in sess.get_outputs()]
    parts: dict[str, list] = {n: [] for n in names}
    for s in range(0, len(frames), batch):
        for n, v in zip(names, sess.run(names, {"x": np.ascontiguousarray(frames[s:s + batch], np.float32)})):
            parts[n].append(v)
    return {n: np.concatenate(v) for n, v in parts.items()}


def agreement(ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, float]:
    """int8 outputs vs fp32: ``labels`` share of equal pixels (``labels_fg``: of the pixels either calls
    non-background), ``<out>_max`` / ``<out>_mean`` |difference| of ``features`` and ``branch_logits``."""
    out: dict[str, float] = {}
    if "labels" in ref:
        a, b = ref["labels"], got["labels"]
        if a.shape != b.shape:
            raise ValueError(f"label maps differ in shape: {a.shape} vs {b.shape}")
        out["labels"] = float((a == b).mean())
        fg = (a != 0) | (b != 0)
        out["labels_fg"] = float((a[fg] == b[fg]).mean()) if fg.any() else 1.0
    for name in ("features", "branch_logits"):
        if name in ref:
            d = np.abs(ref[name].astype(np.float64) - got[name].astype(np.float64))
            out[f"{name}_max"], out[f"{name}_mean"] = float(d.max()), float(d.mean())
    return out


def ms_per_frame(paths: dict, size: tuple[int, int], batch: int, threads: int = 2, rounds: int = 7,
                 frames_per_round: int = 64) -> dict:
    """key -> best ms per frame at ``batch`` over ``rounds``; each round times every graph of ``paths``
    (key -> file) in turn, so a change in the machine's load hits them alike."""
    x = np.random.default_rng(0).random((batch, 1, *size), dtype=np.float32)
    sessions = {k: session(p, threads) for k, p in paths.items()}
    names = {k: [o.name for o in s.get_outputs()] for k, s in sessions.items()}
    for k, sess in sessions.items():
        for _ in range(3):
            sess.run(names[k], {"x": x})
    calls = max(1, frames_per_round // batch)
    best = {k: float("inf") for k in paths}
    for _ in range(rounds):
        for k, sess in sessions.items():
            t = time.perf_counter()
            for _ in range(calls):
                sess.run(names[k], {"x": x})
            best[k] = min(best[k], (time.perf_counter() - t) / (calls * batch) * 1e3)
    return best


def passes(row: dict) -> bool:
    """Issue 13's bar for a variant (a study row): label argmax >= MIN_AGREEMENT on every evaluation set and the
    findings-branch logits within MAX_BRANCH_DRIFT of fp32 in both frame graphs."""
    sets = [v for g in row["graphs"].values() for v in g["sets"].values()]
    return bool(sets) and all(v.get("labels", 1.0) >= MIN_AGREEMENT and v.get("branch_logits_max", 0.0) < MAX_BRANCH_DRIFT
                              for v in sets)


# ---------------------------------------------------------------------------------------------- bundle copy
def write_bundle(src_dir: str | Path, dst_dir: str | Path, graphs: dict[str, Path], note: dict) -> Path:
    """A copy of the bundle ``src_dir`` in the new folder ``dst_dir`` whose frame graphs are ``graphs``
    (name -> file), its manifest's checksums updated and ``graphs.quantized`` = ``note``."""
    from lusapp.model.manifest import read_manifest, sha256_file, write_manifest
    from lusapp.model.onnx_bundle import GRAPHS_KEY

    if (dst := Path(dst_dir)).exists():
        raise ValueError(f"{dst}: already exists; choose a new folder for the int8 bundle copy")
    manifest = read_manifest(src := Path(src_dir))
    files = (manifest.get(GRAPHS_KEY) or {}).get("files") or {}
    if not set(graphs) <= set(files):
        raise ValueError(f"{src}: its manifest lists no ONNX graph {', '.join(sorted(set(graphs) - set(files)))}")
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    shutil.copytree(src, tmp)
    try:
        for name, path in graphs.items():
            target = tmp / files[name]["file"]
            shutil.copyfile(path, target)
            files[name].update(sha256=sha256_file(target), bytes=target.stat().st_size)
        manifest[GRAPHS_KEY]["quantized"] = note
        manifest[GRAPHS_KEY].pop("check", None)  # export-onnx's fp32-vs-torch numbers: not these graphs
        write_manifest(tmp, manifest)
        os.replace(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dst


# ---------------------------------------------------------------------------------------------- study
def study(bundle_dir: str | Path, variants: list[str], methods: list[str], per_clip: int, threads: int,
          work: Path, data_root: str | Path | None = None, dedicated: bool = False) -> dict:
    """fp32 vs every variant x calibration method on both frame graphs (int8 files left in ``work``)."""
    from lusapp.model.onnx_bundle import open_bundle

    bundle = open_bundle(bundle_dir)
    size, fp32 = bundle.input_size, {g: bundle.graphs.paths[g] for g in FRAME_GRAPHS}
    load = [round(x, 2) for x in os.getloadavg()]
    from model_training.synth.cli import make_demo_patient
    from model_training.synth.writer import write_patient_folder

    # a held-out synthetic patient: the demo patient's generator with another seed
    write_patient_folder(work / "synthetic_eval", make_demo_patient(SYNTH_EVAL_SEED), with_sidecar=False)
    sets = frame_sets(size, per_clip, work / "synthetic_eval", data_root)
    calib = sets.pop("calibration")
    _log.info("quantize: %d calibration frames; evaluation %s", len(calib), {k: len(v) for k, v in sets.items()})
    refs = {g: {s: run_frames(session(fp32[g], threads), x) for s, x in sets.items()} for g in FRAME_GRAPHS}
    rows = [{"variant": "fp32", "method": "-", "graphs": {g: {} for g in FRAME_GRAPHS}}]
    files = {("fp32", "-", g): fp32[g] for g in FRAME_GRAPHS}
    for variant in variants:
        for method in methods:
            row: dict = {"variant": variant, "method": method, "graphs": {}}
            for g in FRAME_GRAPHS:
                dst = files[(variant, method, g)] = work / f"{g}.{variant}.{method}.onnx"
                t = time.perf_counter()
                kept = quantize_graph(fp32[g], dst, calib, method, VARIANTS[variant], dedicated=dedicated)
                sess = session(dst, threads)
                row["graphs"][g] = {"kept_fp32": len(kept), "quantize_s": round(time.perf_counter() - t, 1),
                                    "sets": {s: agreement(refs[g][s], run_frames(sess, x)) for s, x in sets.items()}}
            row["passes"] = passes(row)
            _log.info("quantize: %s / %s quantised (passes: %s)", variant, method, row["passes"])
            rows.append(row)
    _log.info("quantize: timing %d graphs (batch 16 and 1, in turns)", len(files))
    for batch in (16, 1):
        for (variant, method, g), ms in ms_per_frame(files, size, batch, threads).items():
            row = next(r for r in rows if r["variant"] == variant and r["method"] == method)
            row["graphs"][g][f"ms_b{batch}"] = ms
    return {"model": f"{bundle.name} {bundle.version}", "threads": threads, "per_clip": per_clip, "dedicated": dedicated,
            "calibration_frames": len(calib), "eval_frames": {k: len(v) for k, v in sets.items()},
            "load_before": load, "load_after": [round(x, 2) for x in os.getloadavg()], "rows": rows}


def _f(v, nd: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def markdown(result: dict) -> str:
    """The study as a table for the model card."""
    base = result["rows"][0]["graphs"]
    sets = list(result["eval_frames"])
    head = " / ".join("synth" if s == "synthetic" else "real dev" for s in sets)
    L = [f"{result['model']}, {result['threads']} threads, dedicated Q/DQ pairs: {result['dedicated']}, load "
         f"{result['load_before'][0]} -> {result['load_after'][0]}; calibration {result['calibration_frames']} frames, evaluation "
         + ", ".join(f"{k} {v}" for k, v in result["eval_frames"].items()) + " frames.", "",
         f"| variant (kept fp32) | calibration | argmax {head} | argmax non-background {head} "
         f"| features max drift | branch logits max / mean drift | full ms/frame b16 / b1 | encode ms/frame b16 / b1 "
         "| speed-up full / encode (b16) | bar |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        g = r["graphs"]
        full, enc = g["frames_full"], g["frames_encode"]
        times = (f"{_f(full['ms_b16'], 2)} / {_f(full['ms_b1'], 2)} | {_f(enc['ms_b16'], 2)} / {_f(enc['ms_b1'], 2)} | "
                 f"{_f(base['frames_full']['ms_b16'] / full['ms_b16'], 2)}x / "
                 f"{_f(base['frames_encode']['ms_b16'] / enc['ms_b16'], 2)}x")
        if "sets" not in full:
            L.append(f"| {r['variant']} | - | - | - | - | - | {times} | - |")
            continue
        fs, es = full["sets"], enc["sets"]
        kept = ", ".join(VARIANTS[r["variant"]]) or "none"
        L.append(f"| {r['variant']} ({kept}) | {r['method']} | " + " / ".join(_f(fs[s]["labels"] * 100, 2) for s in sets)
                 + " % | " + " / ".join(_f(fs[s]["labels_fg"] * 100, 1) for s in sets) + " % | "
                 + _f(max(x[s].get("features_max", 0.0) for x in (fs, es) for s in sets)) + " | "
                 + _f(max(x[s].get("branch_logits_max", 0.0) for x in (fs, es) for s in sets)) + " / "
                 + _f(max(x[s].get("branch_logits_mean", 0.0) for x in (fs, es) for s in sets), 4)
                 + f" | {times} | {'yes' if r['passes'] else 'no'} |")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------------------------- cli
def _names(text: str, known, what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise SystemExit(f"quantize: unknown {what} {', '.join(bad) or '(none given)'}; choose from {', '.join(known)}")
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_training quantize", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model bundle folder (default: the active model)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"of {', '.join(METHODS)}")
    ap.add_argument("--per-clip", type=int, default=6, help="frames taken per clip / image (default 6)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", help="data folder (default ../shared/data)")
    ap.add_argument("--out", help="folder for quantize.json / quantize.md")
    ap.add_argument("--json", action="store_true", help="print the JSON instead of the Markdown")
    ap.add_argument("--write-bundle", metavar="DIR", help="write a bundle copy with int8 frame graphs here")
    ap.add_argument("--variant", default="stem_pool", help="with --write-bundle (default stem_pool)")
    ap.add_argument("--method", default="minmax", help="with --write-bundle (default minmax)")
    ap.add_argument("--dedicated", action="store_true", help="one Q/DQ pair per quantised consumer")
    args = ap.parse_args(argv)
    from lusapp.model.registry import ModelRegistry

    model_dir = Path(args.model) if args.model else Path(ModelRegistry().active().path)
    with tempfile.TemporaryDirectory(prefix="lus-int8-") as tmp:
        work = Path(tmp)
        try:
            if args.write_bundle:
                return _write(model_dir, Path(args.write_bundle), args, work)
            result = study(model_dir, _names(args.variants, VARIANTS, "variant"), _names(args.methods, METHODS, "method"),
                           args.per_clip, args.threads, work, args.data, args.dedicated)
        except (ValueError, OSError, LusError) as e:
            print(f"quantize: {e}", file=sys.stderr)
            return 1
    text = markdown(result)
    print(json.dumps(result, indent=1) if args.json else text)
    if args.out:
        (out := Path(args.out)).mkdir(parents=True, exist_ok=True)
        (out / "quantize.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
        (out / "quantize.md").write_text(text, encoding="utf-8")
    return 0


def _write(model_dir: Path, dst: Path, args, work: Path) -> int:
    from lusapp.model.onnx_bundle import open_bundle

    variant, method = _names(args.variant, VARIANTS, "variant")[0], _names(args.method, METHODS, "method")[0]
    bundle = open_bundle(model_dir)
    calib = calibration_frames(bundle.input_size, args.per_clip, args.data)
    graphs = {g: work / f"{g}.onnx" for g in FRAME_GRAPHS}
    for g, path in graphs.items():
        quantize_graph(bundle.graphs.paths[g], path, calib, method, VARIANTS[variant], dedicated=args.dedicated)
    note = {"variant": variant, "kept_fp32": list(VARIANTS[variant]), "method": method, "format": "QDQ",
            "dedicated_qdq_pairs": bool(args.dedicated), "calibration_frames": len(calib),
            "tool": "python -m model_training quantize"}
    print(f"quantize: wrote {write_bundle(model_dir, dst, graphs, note)} ({variant}, {method}, {len(calib)} "
          "calibration frames)")
    return 0
