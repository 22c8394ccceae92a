"""An ONNX-only copy of a model bundle (no safetensors weights: the clinic installer's copy) lists, verifies and
runs; its graphs are still checked against the manifest, and a bundle without graphs still needs its weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lusapp.core.errors import BundleError
from lusapp.model.onnx_bundle import GraphBundle, open_bundle
from lusapp.model.registry import ModelRegistry

pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "resources" / "models" / "lus-staged-1.2.0"
DEMO_CLIP = REPO / "resources" / "demo" / "L3.mp4"


def _copy(tmp_path: Path, *, weights: bool) -> Path:
    dest = tmp_path / "models" / SOURCE.name
    ignore = shutil.ignore_patterns() if weights else shutil.ignore_patterns("weights.safetensors")
    shutil.copytree(SOURCE, dest, ignore=ignore)
    return dest


def _registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models", tmp_path / "no-user-models")


def test_registry_lists_and_activates_an_onnx_only_copy(tmp_path):
    copy = _copy(tmp_path, weights=False)
    registry = _registry(tmp_path)
    assert [mv.path for mv in registry.versions()] == [copy]
    assert registry.problems == []
    bundle = registry.load_active()
    assert isinstance(bundle, GraphBundle) and bundle.onnx_only
    assert bundle.version == "1.2.0"


def test_a_modified_graph_of_an_onnx_only_copy_is_refused_naming_it(tmp_path):
    copy = _copy(tmp_path, weights=False)
    graph = copy / "zone.onnx"
    data = bytearray(graph.read_bytes())
    data[-1] ^= 0xFF
    graph.write_bytes(bytes(data))
    registry = _registry(tmp_path)
    assert registry.versions() == []
    (where, message), = registry.problems
    assert where == copy and str(graph) in message and "checksum mismatch" in message
    with pytest.raises(BundleError, match="zone.onnx"):
        open_bundle(copy)


def test_a_bundle_without_graphs_still_needs_its_weights(tmp_path):
    copy = _copy(tmp_path, weights=False)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["graphs"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    registry = _registry(tmp_path)
    assert registry.versions() == []
    assert "weights file is missing" in registry.problems[0][1]


def test_weights_that_are_there_are_still_checked(tmp_path):
    copy = _copy(tmp_path, weights=True)
    with (copy / "weights.safetensors").open("r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(BundleError, match="weights file is corrupt"):
        open_bundle(copy)
    assert _registry(tmp_path).versions() == []


def test_the_torch_modules_of_an_onnx_only_copy_say_why_they_are_unavailable(tmp_path):
    bundle = open_bundle(_copy(tmp_path, weights=False))
    with pytest.raises(BundleError, match="ONNX-only copy"):
        _ = bundle.seg  # the property loads the torch modules


def test_an_onnx_only_copy_segments_and_scores_like_the_full_bundle(tmp_path):
    from lusapp.io.readers import open_media
    from lusapp.model.engine import Engine

    results = []
    for bundle in (open_bundle(SOURCE), open_bundle(_copy(tmp_path, weights=False))):
        engine = Engine(bundle, threads=1)
        with open_media(DEMO_CLIP) as clip:
            seg = engine.segment(clip, [0, 1, 2, 3])
        results.append((seg.masks, engine.score_zone(seg.features).probs))
    (full_masks, full_probs), (copy_masks, copy_probs) = results
    assert all(np.array_equal(a, b) for a, b in zip(full_masks, copy_masks, strict=True))
    assert np.allclose(full_probs, copy_probs, atol=1e-6)
