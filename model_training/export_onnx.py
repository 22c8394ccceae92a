"""Export a model bundle's networks as ONNX graphs, for the app's ONNX Runtime engine (no torch in the app).

    python -m model_training export-onnx BUNDLE_DIR [BUNDLE_DIR ...] [--no-check] [--int8 [--data DIR]]

Writes, next to ``weights.safetensors``, one graph per stage the engine runs (lusapp.model.onnx_bundle names
them and their inputs / outputs): ``frames_full.onnx`` (SegNet encoder + decoder, BatchNorms folded, frame
features, argmax label maps and -- when the findings head has one -- the findings branch's frame logits),
``frames_encode.onnx`` (the same without the decoder), ``zone.onnx`` (ZoneScorer + softmax) and ``severity.onnx``
(SeverityNet + softmax, attention). The two frame graphs hold the same encoder weights: they are stored once,
as ONNX external data in ``frames_weights-<sha256[:12]>.bin`` that both graphs' initializers point into (ONNX
Runtime reads it relative to the graph file; 5.6 MB less per bundle). The manifest lists the graphs with their
sha256 under ``graphs`` (the shared file under ``graphs.external_data``), with the
sha256 of the weights (and findings file) they were exported from; ``save_bundle`` drops that entry, so a
bundle re-saved with new weights never carries stale graphs. Every publish path calls ``export_graphs`` last
(train, finetune, findings, severity, recipes/publish.py).

Before the manifest names the graphs, they are run with ONNX Runtime beside torch on random inputs
(``check``): segmentation argmax identical on >= 99.9 % of pixels, features, zone and severity probabilities
within 1e-4; a graph that fails is not published. Files are written under temporary names and renamed, the
manifest replaced atomically.

``--int8`` then adds the int8 frame graphs (``frames_full_int8`` / ``frames_encode_int8``, calibrated on the demo
patient + development-part frames of ``../shared/data``, measured against fp32; model_training/int8_graphs.py).
Without it, or without development-part data to calibrate on, the manifest's ``graphs.int8`` says the bundle has
fp32 frame graphs only and why (the publish paths -- train, finetune, the app's fine-tune -- export fp32 only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lusapp.core.errors import LusError
from lusapp.model.bundle import load_bundle
from lusapp.model.findings import load_findings
from lusapp.model.findings_branch import TAP
from lusapp.model.manifest import MANIFEST_NAME, sha256_file, write_manifest
from lusapp.model.networks import MaxPool2x2
from lusapp.model.onnx_bundle import GRAPH_FORMAT, GRAPHS_KEY
from lusapp.model.torch_backend import build_branch, fuse_segnet
from model_training.int8_graphs import NOT_REQUESTED, add_int8_graphs

OPSET = 17
MIN_ARGMAX_AGREEMENT = 0.999
PROB_TOLERANCE = 1e-4


class FramesGraph(nn.Module):
    """x (N, 1, H, W) -> features (N, D)[, labels (N, H, W) uint8][, branch_logits (N, K)]."""

    def __init__(self, seg: nn.Module, branch: nn.Module | None, full: bool):
        super().__init__()
        self.seg, self.branch, self.full = seg, branch, full

    def forward(self, x: torch.Tensor):
        z, skips = self.seg.encode(x)
        out = [z.mean(dim=(2, 3))]
        if self.full:
            out.append(self.seg.decode(z, skips).max(dim=1).indices.to(torch.uint8))
        if self.branch is not None:
            out.append(self.branch.frame_logits(skips[TAP]))
        return tuple(out)


class ZoneGraph(nn.Module):
    """frame_features (B, T, D) -> probs (B, n_scores)."""

    def __init__(self, zone: nn.Module):
        super().__init__()
        self.zone = zone

    def forward(self, frame_features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.zone(frame_features), dim=1)


class SeverityGraph(nn.Module):
    """zone_features (B, Z, F), zone_mask (B, Z) bool, clinical (B, C) -> probs (B, 4), attention (B, Z)."""

    def __init__(self, severity: nn.Module):
        super().__init__()
        self.severity = severity

    def forward(self, zone_features, zone_mask, clinical):
        out = self.severity(zone_features, zone_mask, clinical)
        return torch.softmax(out["severity_logits"], dim=1), out["attention"]


def export_segnet(seg: nn.Module) -> nn.Module:
    """The fused SegNet with its strided-view max-pools as ``nn.MaxPool2d`` (one ONNX MaxPool node; same result)."""
    fused = fuse_segnet(seg)
    for i, layer in enumerate(fused.features):
        if isinstance(layer, MaxPool2x2):
            fused.features[i] = nn.MaxPool2d(2, 2)
    return fused


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dynamic: dict) -> None:
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=outputs, dynamic_axes=dynamic, do_constant_folding=True)


def _graphs(bundle, branch) -> dict:
    """name -> (module, example args, input names, output names, dynamic axes)."""
    h, w = bundle.input_size
    seg = export_segnet(bundle.seg)
    x = torch.rand(2, 1, h, w)
    frame_outs = ["features", "labels"] + (["branch_logits"] if branch is not None else [])
    dyn = {"x": {0: "n"}, **{o: {0: "n"} for o in frame_outs}}
    out = {"frames_full": (FramesGraph(seg, branch, True).eval(), (x,), ["x"], frame_outs, dyn),
           "frames_encode": (FramesGraph(seg, branch, False).eval(), (x,), ["x"],
                             [o for o in frame_outs if o != "labels"], dyn)}
    if bundle.zone is not None:
        f = torch.rand(2, 3, bundle.zone.feat_dim)
        out["zone"] = (ZoneGraph(bundle.zone.eval()).eval(), (f,), ["frame_features"], ["probs"],
                       {"frame_features": {0: "b", 1: "t"}, "probs": {0: "b"}})
    if bundle.severity is not None:
        sev = bundle.severity.eval()
        args = (torch.rand(1, 4, sev.feat_dim), torch.tensor([[True, False, True, True]]), torch.rand(1, sev.clin_dim))
        out["severity"] = (SeverityGraph(sev).eval(), args, ["zone_features", "zone_mask", "clinical"],
                           ["probs", "attention"], {"zone_features": {0: "b", 1: "z"}, "zone_mask": {0: "b", 1: "z"},
                                                    "clinical": {0: "b"}, "probs": {0: "b"}, "attention": {0: "b", 1: "z"}})
    return out


def check_graphs(graphs: dict, paths: dict[str, Path], seed: int = 0) -> dict:
    """ONNX Runtime vs torch on random inputs; returns the measured differences, raises ValueError beyond them."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    report = {}
    for name, (module, args, inputs, outputs, _) in graphs.items():
        sess = ort.InferenceSession(str(paths[name]), providers=["CPUExecutionProvider"])
        if name.startswith("frames"):
            args = (torch.from_numpy(rng.random((5, *args[0].shape[1:]), dtype=np.float32)),)
        elif name == "zone":
            args = (torch.from_numpy(rng.standard_normal((3, 7, args[0].shape[2]), dtype=np.float32)),)
        else:
            z = 6
            args = (torch.from_numpy(rng.random((1, z, args[0].shape[2]), dtype=np.float32)),
                    torch.from_numpy(rng.random((1, z)) < 0.7), torch.from_numpy(rng.random((1, args[2].shape[1]), dtype=np.float32)))
        with torch.inference_mode():
            want = module(*args)
        want = want if isinstance(want, tuple) else (want,)
        got = sess.run(outputs, {k: a.numpy() for k, a in zip(inputs, args)})
        for out_name, w, g in zip(outputs, want, got):
            w = w.numpy()
            if out_name == "labels":
                agree = float((w == g).mean())
                report[f"{name}.labels_agreement"] = agree
                if agree < MIN_ARGMAX_AGREEMENT:
                    raise ValueError(f"{paths[name]}: argmax agrees with torch on {agree:.2%} of pixels only")
            else:
                diff = float(np.abs(w.astype(np.float64) - g).max())
                report[f"{name}.{out_name}_max_diff"] = diff
                if diff > PROB_TOLERANCE * (1 if out_name in ("probs", "attention") else 100):
                    raise ValueError(f"{paths[name]}: {out_name} differs from torch by {diff:.2e}")
    return report


SHARED_GRAPHS = ("frames_full", "frames_encode")
EXTERNAL_MIN_BYTES = 1024  # smaller initializers (biases, shapes) stay inside the graph
EXTERNAL_ALIGN = 64  # offsets aligned for any element type


def share_initializers(paths: dict[str, Path], directory: Path) -> dict:
    """Move the large initializers of the graphs in ``paths`` (rewritten in place) into one external-data file in
    ``directory``, each distinct tensor once; returns its manifest entry {"file", "sha256", "bytes"}. The file is
    named after its content, so a bundle's current graphs never point to a file that is being rewritten."""
    import hashlib

    import onnx
    from onnx.external_data_helper import set_external_data

    models = {name: onnx.load(str(path), load_external_data=False) for name, path in paths.items()}
    blobs: dict[bytes, int] = {}  # content key -> offset
    chunks: list[bytes] = []
    size = 0
    placed = []  # (tensor, offset, length)
    for model in models.values():
        for tensor in model.graph.initializer:
            raw = tensor.raw_data
            if len(raw) < EXTERNAL_MIN_BYTES or tensor.data_location == onnx.TensorProto.EXTERNAL:
                continue
            key = hashlib.sha256(raw).digest() + bytes([tensor.data_type])
            if key not in blobs:
                pad = -size % EXTERNAL_ALIGN
                chunks += [b"\0" * pad, raw]
                blobs[key] = size + pad
                size += pad + len(raw)
            placed.append((tensor, blobs[key], len(raw)))
    data = b"".join(chunks)
    name = f"frames_weights-{hashlib.sha256(data).hexdigest()[:12]}.bin"
    target = directory / name
    if not (target.is_file() and target.read_bytes() == data):
        tmp = directory / f".{name}.tmp-{os.getpid()}"
        tmp.write_bytes(data)
        os.replace(tmp, target)
    for tensor, offset, length in placed:
        set_external_data(tensor, location=name, offset=offset, length=length)
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
    for graph, model in models.items():
        onnx.save(model, str(paths[graph]))
    return {"file": name, "sha256": sha256_file(target), "bytes": target.stat().st_size}


def export_graphs(bundle_dir: str | Path, check: bool = True, int8: bool = False,
                  data_root: str | Path | None = None) -> dict:
    """Write the bundle's ONNX graphs and name them in its manifest; returns the manifest entry (plus the
    parity check's numbers under ``check``). ``int8``: then the int8 frame graphs, calibrated on ``data_root``
    (default ../shared/data) when it has development-part clips."""
    directory = Path(bundle_dir)
    bundle = load_bundle(directory)
    findings = load_findings(directory, bundle.manifest)
    branch = build_branch(findings, directory)
    graphs = _graphs(bundle, branch)
    tmp = {name: directory / f".{name}.onnx.tmp-{os.getpid()}" for name in graphs}
    try:
        for name, (module, args, inputs, outputs, dyn) in graphs.items():
            _export(module, args, tmp[name], inputs, outputs, dyn)
        shared = share_initializers({n: tmp[n] for n in SHARED_GRAPHS}, directory)
        report = check_graphs(graphs, tmp) if check else {}
        files = {}
        for name in graphs:
            final = directory / f"{name}.onnx"
            os.replace(tmp[name], final)
            files[name] = {"file": final.name, "sha256": sha256_file(final), "bytes": final.stat().st_size}
    finally:
        for p in tmp.values():
            p.unlink(missing_ok=True)
    manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    entry = {"format": GRAPH_FORMAT, "opset": OPSET, "exporter": f"torch {torch.__version__} (TorchScript exporter)",
             "weights_sha256": manifest["weights_sha256"], "branch": branch is not None,
             "findings_sha256": (manifest.get("findings") or {}).get("sha256"), "files": files,
             "external_data": shared, "int8": {"included": False, "reason": NOT_REQUESTED}}
    if report:
        entry["check"] = {k: round(v, 8) for k, v in report.items()}
    manifest[GRAPHS_KEY] = entry
    write_manifest(directory, manifest)
    for stale in [*directory.glob("*.onnx"), *directory.glob("frames_weights-*.bin")]:
        if stale.name not in {f["file"] for f in files.values()} | {shared["file"]}:
            stale.unlink()
    if int8:
        add_int8_graphs(directory, data_root)
        entry = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))[GRAPHS_KEY]
    return entry


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_training export-onnx", description=__doc__.split("\n\n")[0])
    ap.add_argument("bundles", nargs="+", help="model bundle folder(s), rewritten in place")
    ap.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime vs torch check")
    ap.add_argument("--int8", action="store_true", help="also the int8 frame graphs (calibrated on the demo patient "
                                                        "+ development-part frames of --data)")
    ap.add_argument("--data", help="with --int8: data folder (default ../shared/data)")
    args = ap.parse_args(argv)
    for b in args.bundles:
        try:
            entry = export_graphs(b, check=not args.no_check, int8=args.int8, data_root=args.data)
        except (ValueError, OSError, LusError) as e:
            print(f"export-onnx: {b}: {e}", file=sys.stderr)
            return 1
        sizes = ", ".join(f"{v['file']} {v['bytes'] / 1e6:.2f} MB"
                          for v in [*entry["files"].values(), entry["external_data"]])
        print(json.dumps({"bundle": str(b), "graphs": sizes, "check": entry.get("check", {}), "int8": entry["int8"]}))
    return 0
