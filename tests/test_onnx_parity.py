"""ONNX Runtime (the app's engine) against torch (the networks as trained) for the bundled model: on the demo
patient's clips and synthetic frames, and on real clips of ../shared/data when present; the fp32 graphs
(``precision="fp32"``: the int8 ones are checked against these in test_onnx_int8.py).

Targets (issue 13): segmentation argmax identical on >= 99.9 % of pixels, zone and severity probabilities within
1e-4, findings-branch logits and findings probabilities close, and the same scores in the ``assess`` JSON.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from onnx_support import demo_assessments
from conftest import SHARED_DATA, requires_shared_data
from lusapp.io.readers import open_media
from lusapp.model import preprocess as pp
from lusapp.model.bundle import load_bundle
from lusapp.model.cache import sample_indices
from lusapp.model.clip_source import detect_crop
from lusapp.model.engine import Engine
from lusapp.model.onnx_bundle import open_bundle

pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "resources" / "models" / "lus-staged-1.2.0"
DEMO = REPO / "resources" / "demo"
MIN_AGREEMENT = 0.999
PROB_TOL = 1e-4


@pytest.fixture(scope="module")
def engines():
    onnx = Engine(open_bundle(BUNDLED), threads=1, precision="fp32")  # the fp32 graphs vs torch (int8: test_onnx_int8)
    torch_ = Engine(load_bundle(BUNDLED), threads=1, backend="torch")
    assert onnx.backend.name == "onnxruntime" and torch_.backend.name == "torch"
    return onnx, torch_


def _clip_frames(path: Path, n: int, size) -> np.ndarray:
    with open_media(path) as clip:
        idx = sample_indices(clip.n_frames, n)
        frames = [clip.read_gray(i) for i in idx]
        return pp.prepare_batch_array(frames, detect_crop(clip), size)


def _compare_frames(engines, x: np.ndarray) -> dict:
    onnx, torch_ = engines
    f1, l1, b1 = onnx.backend.frames(x, full=True)
    f2, l2, b2 = torch_.backend.frames(x, full=True)
    z1, z2 = onnx.backend.zone_probs(f1[None]), torch_.backend.zone_probs(f2[None])
    return {"agree": float((l1 == l2).mean()), "feat": float(np.abs(f1 - f2).max()),
            "branch": float(np.abs(b1 - b2).max()), "zone": float(np.abs(z1 - z2).max()), "pixels": l1.size}


def test_segmentation_features_and_zone_on_the_demo_clips_and_synthetic_frames(engines):
    size = engines[0].size
    rng = np.random.default_rng(0)
    batches = [_clip_frames(p, 6, size) for p in sorted(DEMO.glob("*.mp4"))]
    batches.append(rng.random((4, 1, *size), dtype=np.float32))  # speckle noise
    batches.append(np.zeros((1, 1, *size), np.float32))  # a black frame
    gradient = np.linspace(0, 1, size[0], dtype=np.float32)[:, None] * np.ones(size[1], np.float32)
    batches.append(gradient[None, None])
    results = [_compare_frames(engines, x) for x in batches]
    agree = sum(r["agree"] * r["pixels"] for r in results) / sum(r["pixels"] for r in results)
    assert agree >= MIN_AGREEMENT
    assert max(r["feat"] for r in results) < 1e-3
    assert max(r["branch"] for r in results) < 1e-3
    assert max(r["zone"] for r in results) < PROB_TOL


def test_zone_and_severity_probabilities_within_1e4(engines):
    onnx, torch_ = engines
    rng = np.random.default_rng(1)
    for t in (1, 5, 30):
        f = rng.standard_normal((4, t, onnx.feat_dim)).astype(np.float32)
        assert np.abs(onnx.backend.zone_probs(f) - torch_.backend.zone_probs(f)).max() < PROB_TOL
    n_in, clin = int(onnx._sev_arch["feat_dim"]), int(onnx._sev_arch["clin_dim"])
    for z, present in ((10, 0.8), (12, 0.3), (4, 1.0)):
        zf = rng.dirichlet(np.ones(n_in), size=(1, z)).astype(np.float32)
        mask = rng.random((1, z)) < present
        mask[0, 0] = True
        c = rng.random((1, clin)).astype(np.float32)
        p1, a1 = onnx.backend.severity_probs(zf, mask, c)
        p2, a2 = torch_.backend.severity_probs(zf, mask, c)
        assert np.abs(p1 - p2).max() < PROB_TOL and np.abs(a1 - a2).max() < PROB_TOL
        assert np.all(a1[~mask[0]] == 0)


def test_assess_json_has_the_same_scores(engines):
    a, b = demo_assessments(engines)
    assert a["severity"] == b["severity"] and a["votes"] == b["votes"] and a["severe"] == b["severe"]
    assert np.abs(np.subtract(a["severity_probs"], b["severity_probs"])).max() <= 2e-4  # rounded to 4 places
    assert set(a["zones"]) == set(b["zones"]) and len(a["zones"]) >= 8
    for zid, za in a["zones"].items():
        zb = b["zones"][zid]
        for key in ("score", "rule_score", "b_lines", "present", "unlike_training"):
            assert za.get(key) == zb.get(key), (zid, key)
        assert np.abs(np.subtract(za["score_probs"], zb["score_probs"])).max() <= 2e-4, zid
        assert max(abs(za["findings"][k] - zb["findings"][k]) for k in za["findings"]) <= 1e-3, zid


@pytest.mark.realdata
@requires_shared_data
def test_real_clips_segmentation_within_target(engines):
    """Four frames each of 16 real clips (every fifth video of the manifest that decodes)."""
    with open(SHARED_DATA / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "video" and r["decoded_ok"] == "True"]
    paths = [SHARED_DATA / r["file"] for r in rows[::5][:16] if (SHARED_DATA / r["file"]).exists()]
    if not paths:
        pytest.skip("no decodable real video in ../shared/data")
    results = [_compare_frames(engines, _clip_frames(p, 4, engines[0].size)) for p in paths]
    agree = sum(r["agree"] * r["pixels"] for r in results) / sum(r["pixels"] for r in results)
    assert agree >= MIN_AGREEMENT, agree
    assert max(r["zone"] for r in results) < PROB_TOL
    assert max(r["branch"] for r in results) < 1e-3
