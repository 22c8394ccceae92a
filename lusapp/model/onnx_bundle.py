"""A bundle's ONNX graphs (manifest entry, checksums) and opening a bundle for inference without torch.

``python -m model_training export-onnx BUNDLE`` (model_training/export_onnx.py, run by every publish path) writes
one ONNX graph per stage the app runs next to the safetensors weights and lists them in the manifest::

    "graphs": {"format": "onnx", "opset": 17, "weights_sha256": <of weights.safetensors they were exported from>,
               "findings_sha256": <of findings.safetensors, or null>, "branch": true/false,
               "files": {"frames_full":   {"file": "frames_full.onnx", "sha256": ...},
                         "frames_encode": {...}, "zone": {...}, "severity": {...}},
               "external_data": {"file": "frames_weights-<sha256[:12]>.bin", "sha256": ...},
               "int8": {"included": true/false, "reason": ...}}

* ``frames_full``: input ``x`` (N, 1, H, W) float [0, 1] -> ``features`` (N, D) (mean of the bottleneck),
  ``labels`` (N, H, W) uint8 (argmax of the logits) and, with a findings branch, ``branch_logits`` (N, K);
* ``frames_encode``: the same without the decoder (no ``labels``): the frames only the features are needed of;
  the two frame graphs' weights are stored once, in the ``external_data`` file both point into (ONNX Runtime reads
  it relative to the graph); it is checked like the graphs;
* ``zone``: ``frame_features`` (B, T, D) -> ``probs`` (B, n_scores) (temporal mean, Linear, softmax);
* ``severity``: ``zone_features`` (B, Z, F), ``zone_mask`` (B, Z) bool, ``clinical`` (B, C) -> ``probs`` (B, 4),
  ``attention`` (B, Z).
* optional, both or neither: ``frames_full_int8`` / ``frames_encode_int8``, static QDQ int8 versions of the two
  frame graphs (same inputs and outputs; self-contained files), written by ``export-onnx --int8``
  (model_training/int8_graphs.py) with their variant, calibration frames and measured agreement with fp32 in their
  files entry. The ONNX backend runs them for every frame pass when present (live masks and assessment alike, so
  the feature cache never mixes precisions) unless ``$LUSAPP_FRAME_PRECISION`` / the engine's ``precision`` says
  ``fp32``. Bundles without them (``graphs.int8.included`` false, with the reason) run the fp32 graphs.

``open_bundle`` verifies the manifest, the weights checksum and every graph's checksum and returns a
``GraphBundle`` (no torch); a bundle without graphs (published before graphs existed) is loaded with torch when
it is importable, otherwise refused in one sentence naming it.

An **ONNX-only** copy of a bundle leaves the safetensors weights out (the clinic installer's copy, which runs only
the graphs): it stays verifiable, since the manifest keeps the weights' sha256 and the graphs entry records the
same sha256 as the weights they were exported from, and every graph is checked against its own sha256. A bundle
without graphs still needs its weights; a weights file that is present is always checked; training, fine-tuning
and the torch modules (``GraphBundle.seg`` ...) need the full bundle and say so. ``make_backend`` picks the engine's forward-pass
backend: ONNX Runtime when the bundle has graphs, else torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lusapp.core.errors import BundleError
from lusapp.model.manifest import MANIFEST_NAME, ManifestFields, inside, read_manifest, sha256_file

GRAPHS_KEY = "graphs"
GRAPH_NAMES = ("frames_full", "frames_encode", "zone", "severity")
GRAPH_FORMAT = "onnx"
ENV_BACKEND = "LUSAPP_ENGINE_BACKEND"  # auto (default) | onnx | torch
BACKENDS = ("auto", "onnx", "torch")
INT8_GRAPHS = {"frames_full": "frames_full_int8", "frames_encode": "frames_encode_int8"}  # fp32 graph -> int8 one
ENV_PRECISION = "LUSAPP_FRAME_PRECISION"  # auto (default: int8 when the bundle has it) | int8 | fp32
PRECISIONS = ("auto", "int8", "fp32")


@dataclass(frozen=True)
class GraphSet:
    """The verified graph files of one bundle (name -> path), the external-data file the frame graphs share
    (None in graphs exported before it existed) and their manifest entry."""
    directory: Path
    paths: dict[str, Path]
    entry: dict
    data: Path | None = None

    @property
    def has_branch(self) -> bool:
        return bool(self.entry.get("branch"))

    @property
    def has_int8(self) -> bool:
        """True when the bundle carries the int8 frame graphs (both, verified)."""
        return all(n in self.paths for n in INT8_GRAPHS.values())

    def run_paths(self, precision: str | None = None) -> tuple[str, dict[str, Path]]:
        """('int8' or 'fp32', stage -> graph file to run): the int8 frame graphs when present unless
        ``precision`` (else $LUSAPP_FRAME_PRECISION) is 'fp32'; an explicit 'int8' without them is a BundleError."""
        choice = precision_choice(precision)
        if choice == "int8" and not self.has_int8:
            raise BundleError(self.directory, "int8 frame graphs asked for (frame precision 'int8'), but this model "
                                              "bundle has none: it runs fp32 only")
        used = "int8" if self.has_int8 and choice != "fp32" else "fp32"
        paths = {n: p for n, p in self.paths.items() if n not in INT8_GRAPHS.values()}
        if used == "int8":
            paths.update({n: self.paths[i] for n, i in INT8_GRAPHS.items()})
        return used, paths


def required_graphs(manifest: dict) -> tuple[str, ...]:
    """The graphs a bundle of this architecture carries (zone / severity only when it has those networks)."""
    arch = manifest.get("architecture") if isinstance(manifest.get("architecture"), dict) else {}
    return tuple(n for n in GRAPH_NAMES if n.startswith("frames") or arch.get(n))


def read_graphs(directory: str | Path, manifest: dict, verify: bool = True) -> GraphSet | None:
    """The bundle's graphs, or None when its manifest lists none. A malformed entry, a missing or modified file,
    or graphs exported from other weights are a BundleError naming the file."""
    entry = manifest.get(GRAPHS_KEY)
    if not entry:
        return None
    directory = Path(directory)
    mpath = directory / MANIFEST_NAME
    files = entry.get("files") if isinstance(entry, dict) else None
    required = required_graphs(manifest)
    if (not isinstance(files, dict) or entry.get("format") != GRAPH_FORMAT
            or not set(required) <= set(files) <= set(required) | set(INT8_GRAPHS.values())):
        raise BundleError(mpath, f"the '{GRAPHS_KEY}' entry is malformed (expected ONNX files {', '.join(required)}, "
                                 f"optionally {' and '.join(INT8_GRAPHS.values())})")
    int8 = [n for n in INT8_GRAPHS.values() if n in files]
    if len(int8) == 1:
        raise BundleError(mpath, f"the '{GRAPHS_KEY}' entry lists {int8[0]} without its pair: the int8 frame graphs "
                                 f"come as {' and '.join(INT8_GRAPHS.values())}")
    if str(entry.get("weights_sha256", "")).lower() != str(manifest.get("weights_sha256", "")).lower():
        raise BundleError(mpath, "its ONNX graphs were exported from other weights; export them again with "
                                 "`python -m model_training export-onnx` on this bundle")
    findings = manifest.get("findings") if isinstance(manifest.get("findings"), dict) else {}
    if entry.get("branch") and str(entry.get("findings_sha256", "")).lower() != str(findings.get("sha256", "")).lower():
        raise BundleError(mpath, "its ONNX graphs were exported with another findings head; export them again "
                                 "with `python -m model_training export-onnx` on this bundle")
    paths = {name: _checked_file(directory, files[name], name, "ONNX graph", verify) for name in [*required, *int8]}
    shared = entry.get("external_data")
    data = None if shared is None else _checked_file(directory, shared, "external_data", "ONNX external data", verify)
    return GraphSet(directory=directory, paths=paths, entry=dict(entry), data=data)


def _checked_file(directory: Path, item: Any, name: str, what: str, verify: bool) -> Path:
    """The file an entry {"file", "sha256"} of the graphs entry names, present, inside the bundle and (with
    ``verify``) unmodified; else a BundleError naming it."""
    fname = item.get("file") if isinstance(item, dict) else None
    if not isinstance(fname, str) or not fname or "/" in fname or "\\" in fname or fname.startswith("."):
        raise BundleError(directory / MANIFEST_NAME, f"the '{GRAPHS_KEY}' entry names no valid file for {name!r}")
    path = directory / fname
    if not path.is_file():
        raise BundleError(path, f"{what} file is missing")
    inside(directory, path)
    if verify and sha256_file(path) != str(item.get("sha256", "")).lower():
        raise BundleError(path, f"checksum mismatch: the {what} is corrupt or was modified")
    return path


@dataclass
class GraphBundle(ManifestFields):
    """A bundle opened for inference with ONNX Runtime: manifest, folder and graphs, no torch modules.

    ``seg``, ``zone`` and ``severity`` (the torch modules, for training code and the parity test) load the
    safetensors weights with torch on first use."""
    manifest: dict
    path: Path
    graphs: GraphSet
    _torch: Any = field(default=None, repr=False)

    @property
    def onnx_only(self) -> bool:
        """True for a copy without the safetensors weights (inference with the graphs only)."""
        return not (self.path / str(self.manifest["weights_file"])).is_file()

    @property
    def clin_dim(self) -> int:
        sev = self.manifest["architecture"].get("severity")
        return int(sev["clin_dim"]) if sev else len(self.manifest.get("clinical_features", []))

    def _modules(self):
        if self._torch is None and self.onnx_only:
            raise BundleError(self.path / str(self.manifest["weights_file"]),
                              "this is an ONNX-only copy of the model (its weights were left out, as in the clinic "
                              "installer): the networks can only run as ONNX graphs here; training and fine-tuning "
                              "need the full bundle of a source checkout")
        if self._torch is None:
            self._torch = load_with_torch(self.path)
        return self._torch

    @property
    def seg(self):
        return self._modules().seg

    @property
    def zone(self):
        return self._modules().zone

    @property
    def severity(self):
        return self._modules().severity


def load_with_torch(directory: str | Path):
    """``lusapp.model.bundle.load_bundle`` (torch); a one-sentence BundleError naming the bundle without torch."""
    try:
        from lusapp.model.bundle import load_bundle
    except ImportError:
        raise BundleError(directory, "this model bundle has no ONNX graphs and torch is not installed, so it "
                                     "cannot run here: export its graphs with `python -m model_training export-onnx` "
                                     "where the training tools are installed") from None
    return load_bundle(directory)


def check_weights(directory: str | Path, manifest: dict, verify: bool = True) -> bool:
    """Check the bundle's weights file against the manifest's sha256; True when it is there. False for an
    ONNX-only copy: no weights file but a graphs entry (whose graphs the caller verifies). A bundle without graphs
    and without weights, or a modified weights file, is a BundleError naming the file."""
    directory = Path(directory)
    wpath = directory / str(manifest["weights_file"])
    if not wpath.is_file():
        if manifest.get(GRAPHS_KEY):
            return False
        raise BundleError(wpath, "weights file is missing")
    inside(directory, wpath)
    if verify and sha256_file(wpath) != str(manifest["weights_sha256"]).lower():
        raise BundleError(wpath, "checksum mismatch: the weights file is corrupt or was modified")
    return True


def open_bundle(directory: str | Path, verify: bool = True):
    """A bundle ready for the engine: a ``GraphBundle`` when it has ONNX graphs (no torch import), else the
    torch-loaded ``Bundle``. Manifest, weights (unless an ONNX-only copy) and graphs are checked (BundleError
    naming the file)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    graphs = read_graphs(directory, manifest, verify)
    if graphs is None:
        return load_with_torch(directory)
    check_weights(directory, manifest, verify)
    return GraphBundle(manifest=manifest, path=directory, graphs=graphs)


def backend_choice(prefer: str | None = None) -> str:
    choice = (prefer or os.environ.get(ENV_BACKEND) or "auto").strip().lower()
    if choice not in BACKENDS:
        raise ValueError(f"engine backend must be one of {', '.join(BACKENDS)}, not {choice!r} (${ENV_BACKEND})")
    return choice


def precision_choice(prefer: str | None = None) -> str:
    """The frame graphs' precision asked for: ``prefer`` (the engine's argument), else $LUSAPP_FRAME_PRECISION,
    else 'auto' (int8 when the bundle has it, else fp32)."""
    choice = (prefer or os.environ.get(ENV_PRECISION) or "auto").strip().lower()
    if choice not in PRECISIONS:
        raise ValueError(f"frame precision must be one of {', '.join(PRECISIONS)}, not {choice!r} (${ENV_PRECISION})")
    return choice


def make_backend(bundle: Any, threads: int | None = None, prefer: str | None = None, findings: Any = None,
                 precision: str | None = None):
    """The forward-pass backend for ``bundle``: ``OrtBackend`` when it has ONNX graphs and onnxruntime is
    installed (unless ``prefer`` / $LUSAPP_ENGINE_BACKEND says 'torch'), else ``TorchBackend``. ``precision``
    (or $LUSAPP_FRAME_PRECISION): 'auto' / 'int8' / 'fp32' frame graphs for the ONNX backend (torch runs fp32;
    an explicit 'int8' it cannot run is a BundleError)."""
    choice = backend_choice(prefer)
    if precision is not None:
        precision_choice(precision)  # a bad engine argument fails whichever backend runs
    path = getattr(bundle, "path", None)
    graphs = getattr(bundle, "graphs", None)
    if graphs is None and path is not None and bundle.manifest.get(GRAPHS_KEY):
        graphs = read_graphs(path, bundle.manifest)
    if choice != "torch" and graphs is not None:
        try:
            from lusapp.model.ort_backend import OrtBackend
        except ImportError:
            if choice == "onnx":
                raise BundleError(path, "onnxruntime is not installed, so the model's ONNX graphs cannot run") from None
        else:
            return OrtBackend(graphs, bundle.manifest, threads, precision)
    if choice == "onnx":
        raise BundleError(path or "model", "this model bundle has no ONNX graphs (engine backend 'onnx' asked for)")
    if precision is not None and precision.strip().lower() == "int8":
        raise BundleError(path or "model", "int8 frame graphs asked for, but this engine runs the torch networks "
                                           "(fp32 only)")
    try:
        from lusapp.model.torch_backend import TorchBackend
    except ImportError:
        raise BundleError(path or "model", "this model bundle has no ONNX graphs and torch is not installed, so "
                                           "it cannot run here") from None
    return TorchBackend(bundle, threads, findings)
