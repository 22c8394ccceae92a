"""ONNX graphs in a model bundle: ``python -m model_training export-onnx`` writes one graph per stage the engine
runs and lists them with their sha256 in the manifest; ``open_bundle`` opens such a bundle without torch and the
engine runs it with ONNX Runtime; a modified, missing or stale graph is refused naming the file; re-saving a
bundle drops its graphs (they belong to the weights they were exported from)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lusapp.core.errors import BundleError
from lusapp.model.bundle import load_bundle, save_bundle
from lusapp.model.engine import Engine
from lusapp.model.manifest import sha256_file
from lusapp.model.onnx_bundle import GRAPH_NAMES, GraphBundle, open_bundle
from media_files import make_bundle, tiny_networks
from model_training.cli import main as training_main
from model_training.export_onnx import export_graphs

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    b = make_bundle(tmp_path_factory.mktemp("onnx") / "tiny", networks=tiny_networks(seed=3, clin_dim=6))
    assert training_main(["export-onnx", str(b)]) == 0
    return b


def test_export_writes_every_graph_with_its_checksum(exported):
    m = json.loads((exported / "manifest.json").read_text())
    g = m["graphs"]
    assert set(g["files"]) == set(GRAPH_NAMES)
    for item in g["files"].values():
        assert sha256_file(exported / item["file"]) == item["sha256"]
    assert g["weights_sha256"] == m["weights_sha256"]
    assert g["check"]["frames_full.labels_agreement"] >= 0.999  # the export's own ONNX Runtime vs torch run
    assert sorted(p.name for p in exported.glob("*.onnx")) == sorted(i["file"] for i in g["files"].values())


def test_the_frame_graphs_share_one_external_weights_file(exported):
    import onnx

    g = json.loads((exported / "manifest.json").read_text())["graphs"]
    data = exported / g["external_data"]["file"]
    assert sha256_file(data) == g["external_data"]["sha256"]
    assert sorted(p.name for p in exported.glob("frames_weights-*.bin")) == [data.name]
    refs = {}  # graph -> {(offset, length)} of its initializers in the shared file
    for name in ("frames_full", "frames_encode"):
        model = onnx.load(str(exported / g["files"][name]["file"]), load_external_data=False)
        external = [dict((e.key, e.value) for e in t.external_data) for t in model.graph.initializer
                    if t.data_location == onnx.TensorProto.EXTERNAL]
        assert external, f"{name} keeps its weights inline"
        assert {e["location"] for e in external} == {data.name}
        refs[name] = {(int(e["offset"]), int(e["length"])) for e in external}
    assert refs["frames_encode"] <= refs["frames_full"]  # the encoder's tensors, stored once for both graphs
    assert max(o + n for o, n in refs["frames_full"]) == data.stat().st_size
    assert data.stat().st_size < sum(n for r in refs.values() for _, n in r)


def test_a_modified_or_missing_external_weights_file_is_refused_naming_it(exported, tmp_path):
    b = shutil.copytree(exported, tmp_path / "b")
    data = next(b.glob("frames_weights-*.bin"))
    with open(data, "ab") as f:
        f.write(b"x")
    with pytest.raises(BundleError, match="frames_weights-.*checksum mismatch"):
        open_bundle(b)
    data.unlink()
    with pytest.raises(BundleError, match="frames_weights-.*missing"):
        open_bundle(b)


def test_open_bundle_gives_graphs_and_the_engine_runs_them(exported):
    b = open_bundle(exported)
    assert isinstance(b, GraphBundle) and b.version == "0.0.1"
    ort_engine = Engine(b, threads=1)
    torch_engine = Engine(load_bundle(exported), threads=1, backend="torch")
    assert ort_engine.backend.name == "onnxruntime" and torch_engine.backend.name == "torch"
    x = np.random.default_rng(0).random((3, 1, *b.input_size), dtype=np.float32)
    f1, l1, _ = ort_engine.backend.frames(x, full=True)
    f2, l2, _ = torch_engine.backend.frames(x, full=True)
    assert l1.dtype == np.uint8 and l1.shape == (3, *b.input_size)
    assert (l1 == l2).mean() >= 0.999 and np.abs(f1 - f2).max() < 1e-4
    f3, l3, _ = ort_engine.backend.frames(x, full=False)
    assert l3 is None and np.abs(f3 - f1).max() < 1e-5
    feats = np.random.default_rng(1).standard_normal((7, ort_engine.feat_dim)).astype(np.float32)
    assert np.abs(ort_engine.score_zone(feats).probs - torch_engine.score_zone(feats).probs).max() < 1e-4


def test_a_modified_graph_is_refused_naming_it(exported, tmp_path):
    b = shutil.copytree(exported, tmp_path / "b")
    with open(b / "zone.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match="zone.onnx.*checksum mismatch"):
        open_bundle(b)
    (b / "zone.onnx").unlink()
    with pytest.raises(BundleError, match="zone.onnx.*missing"):
        open_bundle(b)


def test_graphs_of_other_weights_are_refused(exported, tmp_path):
    b = shutil.copytree(exported, tmp_path / "b")
    m = json.loads((b / "manifest.json").read_text())
    m["graphs"]["weights_sha256"] = "0" * 64
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="exported from other weights"):
        open_bundle(b)


def test_resaving_a_bundle_drops_its_graphs(exported, tmp_path):
    src = load_bundle(exported)
    out = save_bundle(tmp_path / "re", src.seg, src.zone, src.severity, dict(src.manifest, version="0.0.2"))
    assert "graphs" not in json.loads((out / "manifest.json").read_text())
    assert not list(out.glob("*.onnx"))
    assert open_bundle(out).__class__.__name__ == "Bundle"  # no graphs: the torch bundle


def test_export_again_replaces_the_graphs(exported, tmp_path):
    b = shutil.copytree(exported, tmp_path / "b")
    (b / "stale.onnx").write_bytes(b"old")
    (b / "frames_weights-000000000000.bin").write_bytes(b"old")
    entry = export_graphs(b, check=False)
    assert not (b / "stale.onnx").exists() and "check" not in entry
    assert [p.name for p in b.glob("frames_weights-*.bin")] == [entry["external_data"]["file"]]
    assert isinstance(open_bundle(b), GraphBundle)


def test_the_bundled_models_carry_checked_graphs():
    root = Path(__file__).resolve().parents[1] / "resources" / "models"
    for d in sorted(root.iterdir()):
        if (d / "manifest.json").exists():
            assert isinstance(open_bundle(d), GraphBundle), d  # checksums verified on opening


def test_every_publish_path_of_model_training_exports_graphs():
    """Each function of model_training that writes a bundle (save_bundle) also exports its graphs, so a newly
    published model (train, finetune, findings, severity, evaluate --update-manifest, recipes) carries them."""
    import ast

    root = Path(__file__).resolve().parents[1] / "model_training"
    writers = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                called = {c.func.id if isinstance(c.func, ast.Name) else getattr(c.func, "attr", "")
                          for c in ast.walk(fn) if isinstance(c, ast.Call)}
                if "save_bundle" in called:
                    writers.append((path.name, fn.name, "export_graphs" in called))
    assert len(writers) >= 6
    assert [w for w in writers if not w[2]] == []
