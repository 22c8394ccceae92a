"""Model bundles: a folder with ``manifest.json`` and ``weights.safetensors``.

The weights file holds every module's state dict flattened with the prefixes ``seg.``, ``zone.`` and
``severity.`` (safetensors: loading never executes code). The manifest describes the bundle::

    format, format_version       "lusapp-model-bundle", 1
    name, version                e.g. "maclr-synth", "1.0.0" (semantic version)
    created                      ISO 8601 UTC time stamp
    parent_version               version this one was fine-tuned from, or null
    input_size                   [H, W] of the network input (the crop resized), e.g. [128, 128]
    classes                      mask class names (lusapp.core.labels.CLASS_NAMES)
    scale_id                     zone score scale, e.g. "0-4"
    architecture                 {"seg": SegNet.config(), "zone": ZoneScorer.config()|null,
                                  "severity": SeverityNet.config()|null}, plus feat_dim, clin_dim, variant,
                                  embed_dim, widths copied to the top level for reading at a glance
    clinical_features            names of the clinical vector's entries, in order
    training_data                free text: what the model was trained on
    licences                     list / text of the data and code licences
    metrics                      dict of evaluation numbers
    weights_file, weights_sha256 "weights.safetensors" and its sha256

``save_bundle`` writes into a temporary sibling folder and renames it into place (``os.replace``), so a
reader never sees a half-written bundle. ``load_bundle`` refuses (``BundleError`` naming the file) a missing
or unparsable manifest, a missing key, a missing weights file, a checksum mismatch, an unreadable safetensors
file and tensors whose names or shapes do not fit the architecture.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lusapp.core.errors import BundleError
from lusapp.core.labels import CLASS_NAMES
from lusapp.model.manifest import (BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, MANIFEST_NAME, PREFIXES,  # noqa: F401
                                   REQUIRED_KEYS, WEIGHTS_NAME, ManifestFields, inside, parse_version, read_manifest,
                                   sha256_file)
from lusapp.model.networks import SegNet, SeverityNet, ZoneScorer, build_modules

# Caller-provided fields (everything else is derived from the modules and the weights).
DEFAULTS = {"input_size": [128, 128], "classes": list(CLASS_NAMES), "scale_id": "0-4", "clinical_features": [],
            "training_data": "", "licences": [], "metrics": {}, "parent_version": None}


@dataclass
class Bundle(ManifestFields):
    manifest: dict
    seg: SegNet
    zone: ZoneScorer | None
    severity: SeverityNet | None
    path: Path

    @property
    def clin_dim(self) -> int:
        return self.severity.clin_dim if self.severity is not None else len(self.manifest.get("clinical_features", []))


def flatten_state(seg: nn.Module, zone: nn.Module | None, severity: nn.Module | None) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in zip(PREFIXES, (seg, zone, severity)):
        if module is None:
            continue
        for k, t in module.state_dict().items():
            tensors[f"{prefix}.{k}"] = t.detach().cpu().contiguous().clone()
    return tensors


def _architecture(seg: SegNet, zone: ZoneScorer | None, severity: SeverityNet | None) -> dict:
    arch = {"seg": seg.config(), "zone": zone.config() if zone is not None else None,
            "severity": severity.config() if severity is not None else None,
            "widths": list(seg.widths), "feat_dim": seg.feat_dim}
    if severity is not None:
        arch.update(clin_dim=severity.clin_dim, variant=severity.variant, embed_dim=severity.embed_dim)
    return arch


def save_bundle(directory: str | Path, seg: SegNet, zone: ZoneScorer | None = None,
                severity: SeverityNet | None = None, manifest_fields: dict | None = None) -> Path:
    """Write a bundle folder atomically; returns its path. ``manifest_fields`` must give ``name`` and
    ``version`` and may give any of ``DEFAULTS`` (plus extra keys, kept as they are)."""
    from safetensors.torch import save_file

    fields = dict(manifest_fields or {})
    fields.pop("graphs", None)  # ONNX graphs belong to the weights they were exported from: export them again
    for key in ("name", "version"):
        if not fields.get(key):
            raise ValueError(f"save_bundle: manifest field {key!r} is required")
    parse_version(fields["version"])
    if zone is not None and zone.feat_dim != seg.feat_dim:
        raise ValueError("save_bundle: ZoneScorer.feat_dim differs from SegNet.feat_dim")
    on_scores = fields.get("severity_input") == "zone_score_probs"  # stage 3 on the zone-score distribution
    if severity is not None and severity.feat_dim != (severity.n_scores if on_scores else seg.feat_dim):
        raise ValueError("save_bundle: SeverityNet.feat_dim differs from "
                         + ("the number of zone scores" if on_scores else "SegNet.feat_dim"))
    manifest = {"format": BUNDLE_FORMAT, "format_version": BUNDLE_FORMAT_VERSION}
    for k, v in DEFAULTS.items():
        manifest[k] = fields.get(k, v)
    manifest.update({k: v for k, v in fields.items() if k not in manifest})
    manifest["name"], manifest["version"] = str(fields["name"]), str(fields["version"])
    manifest["created"] = fields.get("created") or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    manifest["input_size"] = [int(s) for s in manifest["input_size"]]
    manifest["architecture"] = _architecture(seg, zone, severity)
    if severity is not None and manifest["clinical_features"] and len(manifest["clinical_features"]) != severity.clin_dim:
        raise ValueError(f"save_bundle: {len(manifest['clinical_features'])} clinical feature names but "
                         f"SeverityNet.clin_dim = {severity.clin_dim}")
    manifest["weights_file"] = WEIGHTS_NAME

    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        save_file(flatten_state(seg, zone, severity), str(tmp / WEIGHTS_NAME),
                  metadata={"name": manifest["name"], "version": manifest["version"]})
        manifest["weights_sha256"] = sha256_file(tmp / WEIGHTS_NAME)
        with open(tmp / MANIFEST_NAME, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_bundle(directory: str | Path, verify: bool = True) -> Bundle:
    """Load and verify a bundle; modules are returned in eval mode on the CPU."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    manifest = read_manifest(directory)
    wpath = directory / str(manifest["weights_file"])
    if not wpath.is_file():
        raise BundleError(wpath, "weights file is missing")
    inside(directory, wpath)
    if verify:
        digest = sha256_file(wpath)
        if digest != str(manifest["weights_sha256"]).lower():
            raise BundleError(wpath, "checksum mismatch: the weights file is corrupt or was modified "
                                     f"(sha256 {digest[:12]}..., manifest says {str(manifest['weights_sha256'])[:12]}...)")
    seg, zone, severity = _check_declared_size(manifest["architecture"], wpath, directory / MANIFEST_NAME)
    try:
        tensors = load_file(str(wpath))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise BundleError(wpath, f"weights file cannot be read ({e})") from None
    groups: dict[str, dict[str, torch.Tensor]] = {p: {} for p in PREFIXES}
    for key, t in tensors.items():
        prefix, _, rest = key.partition(".")
        if prefix not in groups or not rest:
            raise BundleError(wpath, f"unexpected tensor {key!r}")
        groups[prefix][rest] = t
    for prefix, module in zip(PREFIXES, (seg, zone, severity)):
        if module is None:
            if groups[prefix]:
                raise BundleError(wpath, f"holds '{prefix}.' weights but the manifest has no {prefix} network")
            continue
        _load_state(module, groups[prefix], wpath, prefix)
        module.eval()
    return Bundle(manifest=manifest, seg=seg, zone=zone, severity=severity, path=directory)


#: No architecture holds more parameters than this (the bundled model has ~2 M).
MAX_PARAMETERS = 200_000_000


#: No declared size (a width, a dimension, a count of layers) may exceed this: checked before anything is built.
MAX_DECLARED = 4096


def _declared_ints(x):
    if isinstance(x, bool):
        return
    if isinstance(x, int):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _declared_ints(v)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _declared_ints(v)


def _check_declared_size(arch, wpath: Path, mpath: Path):
    """Refuse, before any allocation, an architecture with a declared size above ``MAX_DECLARED`` (so building it
    is bounded), then build it and refuse more than ``MAX_PARAMETERS`` values or more than its weights file can
    hold. Returns the built (seg, zone, severity). (Not on torch's meta device: that pulls in sympy, which the
    clinic bundle leaves out.)"""
    big = max(_declared_ints(arch), default=0)
    if big > MAX_DECLARED:
        raise BundleError(mpath, f"architecture declares a size of {big}, above the {MAX_DECLARED} limit")
    try:
        modules = build_modules(arch)
        n = sum(p.numel() for m in modules if m is not None for p in m.parameters())
        n += sum(b.numel() for m in modules if m is not None for b in m.buffers())
    except (TypeError, ValueError, KeyError, OverflowError, RuntimeError, AttributeError) as e:
        raise BundleError(mpath, f"architecture cannot be built ({str(e)[:160]})") from None
    if n > MAX_PARAMETERS:
        raise BundleError(mpath, f"architecture declares {n} parameters, above the {MAX_PARAMETERS} limit")
    size = wpath.stat().st_size
    if n * 2 > size + 4096:  # at least 2 bytes (fp16) per value
        raise BundleError(mpath, f"architecture declares {n} parameters but {wpath.name} holds only {size} bytes")
    return modules


def _load_state(module: nn.Module, state: dict[str, torch.Tensor], wpath: Path, prefix: str) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise BundleError(wpath, f"'{prefix}' weights do not match the architecture (missing {missing[:3]}, "
                                 f"unexpected {extra[:3]})")
    for k, t in state.items():
        if tuple(t.shape) != tuple(expected[k].shape):
            raise BundleError(wpath, f"tensor {prefix}.{k} has shape {tuple(t.shape)}, architecture expects "
                                     f"{tuple(expected[k].shape)}")
        if t.dtype != expected[k].dtype:
            state[k] = t.to(expected[k].dtype)
    module.load_state_dict(state, strict=True)
