"""The int8 frame graphs (issue 13): the bundled lus-staged-1.2.0 carries ``frames_full_int8`` /
``frames_encode_int8`` (variant stem_pool, written by ``export-onnx --int8``) and the ONNX backend runs them for
every frame pass unless the precision switch says fp32.

Specification: int8 vs fp32 of the bundled model -- label argmax equal on >= 99 % of pixels, findings-branch
logits within 0.1, the same ``assess`` zone scores on the demo patient; on real development-part frames of
../shared/data the same bar (skipped without the data); the int8 files are verified like every graph (a modified
one is refused naming it; a bundle without them stays valid and runs fp32); ``$LUSAPP_FRAME_PRECISION`` and the
engine's ``precision`` switch to fp32; a publish without calibration data, or whose graphs miss the bar, lists
fp32 graphs only and says why.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from onnx_support import demo_assessments
from conftest import requires_shared_data
from lusapp.core.errors import BundleError
from lusapp.io.readers import open_media
from lusapp.model import preprocess as pp
from lusapp.model.cache import sample_indices
from lusapp.model.clip_source import detect_crop
from lusapp.model.engine import Engine
from lusapp.model.manifest import sha256_file
from lusapp.model.onnx_bundle import ENV_PRECISION, INT8_GRAPHS, open_bundle

pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "resources" / "models" / "lus-staged-1.2.0"
PARENT = REPO / "resources" / "models" / "lus-staged-1.1.0"
DEMO = REPO / "resources" / "demo"
MIN_AGREEMENT = 0.99
MAX_BRANCH_DRIFT = 0.1


@pytest.fixture(scope="module")
def engines():
    bundle = open_bundle(BUNDLED)
    int8, fp32 = Engine(bundle, threads=1), Engine(bundle, threads=1, precision="fp32")
    assert int8.backend.precision == "int8" and fp32.backend.precision == "fp32"
    return int8, fp32


def _clip_frames(path: Path, n: int, size) -> np.ndarray:
    with open_media(path) as clip:
        frames = [clip.read_gray(i) for i in sample_indices(clip.n_frames, n)]
        return pp.prepare_batch_array(frames, detect_crop(clip), size)


def _compare(engines, batches: list[np.ndarray]) -> tuple[float, float]:
    """(share of equal label pixels, largest |branch logit| difference) of int8 vs fp32 over ``batches``."""
    equal = pixels = 0
    drift = 0.0
    for x in batches:
        (_, l8, b8), (_, l32, b32) = (e.backend.frames(x, full=True) for e in engines)
        equal, pixels = equal + int((l8 == l32).sum()), pixels + l8.size
        drift = max(drift, float(np.abs(b8 - b32).max()))
        (_, _, e8), (_, _, e32) = (e.backend.frames(x, full=False) for e in engines)
        drift = max(drift, float(np.abs(e8 - e32).max()))
    return equal / pixels, drift


def test_the_bundled_model_lists_its_int8_graphs_with_calibration_and_measures():
    entry = json.loads((BUNDLED / "manifest.json").read_text())["graphs"]
    assert entry["int8"]["included"] is True and entry["int8"]["variant"] == "stem_pool"
    for name in INT8_GRAPHS.values():
        item = entry["files"][name]
        assert sha256_file(BUNDLED / item["file"]) == item["sha256"]
        assert item["variant"] == "stem_pool" and item["calibration"]["count"] > 0
        assert "locked test part" in item["calibration"]["frames"]
        assert set(item["vs_fp32"]) == {"synthetic", "real_dev"}
        for measured in item["vs_fp32"].values():
            assert measured.get("labels", 1.0) >= MIN_AGREEMENT and measured["branch_logits_max"] < MAX_BRANCH_DRIFT
    parent = json.loads((PARENT / "manifest.json").read_text())["graphs"]
    assert not set(INT8_GRAPHS.values()) & set(parent["files"])  # 1.1.0 kept as it is: fp32 only


def test_int8_labels_and_branch_logits_stay_close_to_fp32_on_demo_and_synthetic_frames(engines):
    size = engines[0].size
    rng = np.random.default_rng(0)
    batches = [_clip_frames(p, 6, size) for p in sorted(DEMO.glob("*.mp4"))]
    batches.append(rng.random((4, 1, *size), dtype=np.float32))  # speckle noise
    gradient = np.linspace(0, 1, size[0], dtype=np.float32)[:, None] * np.ones(size[1], np.float32)
    batches.append(gradient[None, None])
    agree, drift = _compare(engines, batches)
    assert agree >= MIN_AGREEMENT, agree
    assert drift < MAX_BRANCH_DRIFT, drift


def test_assess_gives_the_same_zone_scores_with_int8_and_fp32(engines):
    a, b = demo_assessments(engines)
    assert a["severity"] == b["severity"] and a["severe"] == b["severe"]
    assert set(a["zones"]) == set(b["zones"]) and len(a["zones"]) >= 8
    for zid, za in a["zones"].items():
        assert za.get("score") == b["zones"][zid].get("score"), zid
        assert za.get("present") == b["zones"][zid].get("present"), zid


@pytest.mark.realdata
@requires_shared_data
def test_int8_stays_close_to_fp32_on_real_development_frames(engines):
    """Four frames each of up to 24 development-part clips (never the locked test part)."""
    from model_training.realdata import load_items

    dev = [i for i in load_items() if i.part == "dev" and Path(i.path).exists()][::4][:24]
    if not dev:
        pytest.skip("no development-part clip in ../shared/data")
    agree, drift = _compare(engines, [_clip_frames(i.path, 4, engines[0].size) for i in dev])
    assert agree >= MIN_AGREEMENT, agree
    assert drift < MAX_BRANCH_DRIFT, drift


def test_the_precision_switch_runs_the_fp32_graphs(engines, monkeypatch):
    int8, fp32 = engines
    assert int8.backend.paths["frames_full"].name == "frames_full_int8.onnx"
    assert fp32.backend.paths["frames_full"].name == "frames_full.onnx"
    assert fp32.backend.paths["frames_encode"].name == "frames_encode.onnx"
    monkeypatch.setenv(ENV_PRECISION, "fp32")
    switched = Engine(open_bundle(BUNDLED), threads=1)
    assert switched.backend.precision == "fp32"
    x = _clip_frames(sorted(DEMO.glob("*.mp4"))[0], 2, switched.size)
    assert np.array_equal(switched.backend.frames(x, True)[0], fp32.backend.frames(x, True)[0])
    assert Engine(open_bundle(BUNDLED), threads=1, precision="int8").backend.precision == "int8"  # argument first
    monkeypatch.setenv(ENV_PRECISION, "half")
    with pytest.raises(ValueError, match="LUSAPP_FRAME_PRECISION"):
        Engine(open_bundle(BUNDLED), threads=1)


def test_a_bundle_without_int8_graphs_runs_fp32_and_refuses_an_explicit_int8():
    bundle = open_bundle(PARENT)
    assert not bundle.graphs.has_int8
    assert Engine(bundle, threads=1).backend.precision == "fp32"
    with pytest.raises(BundleError, match="no.*int8|has none"):
        Engine(bundle, threads=1, precision="int8")


def test_a_modified_int8_graph_is_refused_naming_it(tmp_path):
    b = shutil.copytree(BUNDLED, tmp_path / "b")
    data = bytearray((b / "frames_encode_int8.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (b / "frames_encode_int8.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"frames_encode_int8\.onnx.*checksum mismatch"):
        open_bundle(b)


def test_an_int8_graph_without_its_pair_or_an_unknown_graph_is_refused(tmp_path):
    b = shutil.copytree(BUNDLED, tmp_path / "b")
    m = json.loads((b / "manifest.json").read_text())
    del m["graphs"]["files"]["frames_full_int8"]
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="frames_encode_int8 without its pair"):
        open_bundle(b)
    m["graphs"]["files"]["frames_half"] = m["graphs"]["files"].pop("frames_encode_int8")
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="malformed"):
        open_bundle(b)


# ---------------------------------------------------------------------------------------------- publishing them
@pytest.fixture()
def tiny(tmp_path) -> Path:
    pytest.importorskip("torch")
    from media_files import make_bundle, tiny_networks
    from model_training.cli import main as training_main

    b = make_bundle(tmp_path / "tiny", networks=tiny_networks(seed=3, clin_dim=6))
    assert training_main(["export-onnx", str(b)]) == 0
    return b


def _frames(n: int, size, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, size[0], dtype=np.float32)[:, None]
    bands = [np.exp(-((y - rng.uniform(0.2, 0.8)) / 0.05) ** 2) for _ in range(n)]
    return np.stack([np.clip(0.3 * y + 0.6 * b + 0.1 * rng.random(size), 0, 1)[None] for b in bands]).astype(np.float32)


def test_a_plain_export_says_its_bundle_has_fp32_frame_graphs_only(tiny):
    entry = open_bundle(tiny).graphs.entry
    assert entry["int8"]["included"] is False and "without --int8" in entry["int8"]["reason"]


def test_export_int8_without_development_data_publishes_fp32_only(tiny, tmp_path):
    from model_training.cli import main as training_main

    assert training_main(["export-onnx", str(tiny), "--int8", "--data", str(tmp_path / "absent")]) == 0
    note = open_bundle(tiny).graphs.entry["int8"]
    assert note["included"] is False and "absent" in note["reason"]
    assert not list(tiny.glob("*_int8.onnx"))


def test_installed_int8_graphs_are_listed_verified_and_run(tiny, monkeypatch):
    from model_training import int8_graphs, quantize

    size = open_bundle(tiny).input_size
    monkeypatch.setattr(quantize, "MIN_AGREEMENT", 0.0)  # tiny random networks: the listing is under test here
    monkeypatch.setattr(quantize, "MAX_BRANCH_DRIFT", float("inf"))
    note = int8_graphs.install_int8_graphs(tiny, _frames(32, size), {"synthetic": _frames(8, size, 1)},
                                           {"frames": "test frames", "count": 32})
    assert note["included"] is True
    bundle = open_bundle(tiny)  # checksums of the int8 files verified
    assert bundle.graphs.has_int8
    item = bundle.graphs.entry["files"]["frames_full_int8"]
    assert item["variant"] == "stem_pool" and item["calibration"]["count"] == 32
    assert 0.0 <= item["vs_fp32"]["synthetic"]["labels"] <= 1.0
    engine = Engine(bundle, threads=1)
    assert engine.backend.precision == "int8"
    feats, labels, _ = engine.backend.frames(_frames(3, size, 2), full=True)
    assert feats.shape[0] == 3 and labels.shape == (3, *size)
    # exporting again (new weights, say) replaces them: the int8 graphs belonged to the old fp32 ones
    from model_training.export_onnx import export_graphs

    assert export_graphs(tiny, check=False)["int8"]["included"] is False
    assert not list(tiny.glob("*_int8.onnx")) and not open_bundle(tiny).graphs.has_int8


def test_int8_graphs_that_miss_the_bar_are_not_published(tiny, monkeypatch):
    from model_training import int8_graphs, quantize

    size = open_bundle(tiny).input_size
    monkeypatch.setattr(quantize, "MIN_AGREEMENT", 1.01)  # no graph can meet this
    note = int8_graphs.install_int8_graphs(tiny, _frames(32, size), {"synthetic": _frames(8, size, 1)},
                                           {"frames": "test frames", "count": 32})
    assert note["included"] is False and "missed the bar" in note["reason"]
    assert not list(tiny.glob("*int8*")) and not list(tiny.glob(".*tmp*"))
    assert not open_bundle(tiny).graphs.has_int8
