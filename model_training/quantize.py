"""Static int8 quantisation (ONNX QDQ) of a bundle's frame graphs and its measures against fp32: used by the study
(``python -m model_training quantize``, model_training/quantize_study.py) and by the shipped int8 frame graphs
(``export-onnx --int8``, model_training/int8_graphs.py, variant stem_pool).

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
read). The input is quantised over [0, 1] (lossless for frames of uint8 / 255). Results: docs/model-card.md,
"int8".
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

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
