"""The findings head: descriptor, composed zone score, OOD distance, storage in a bundle, and the linear
models that train it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lusapp.core.errors import BundleError
from lusapp.core.labels import B_LINE, CONSOLIDATION, PLEURAL_LINE
from lusapp.model import findings as fd
from lusapp.model import physics
from lusapp.model.assess_cli import load_patient_any
from media_files import write_video
from model_training import linear

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = next((ROOT / "resources" / "models").glob("lus-staged-1.1.0"))


def _head(dim: int, seed: int = 0, coef_scale: float = 0.05) -> fd.FindingsHead:
    rng = np.random.default_rng(seed)
    t = {"mu": rng.normal(size=dim), "sd": rng.uniform(0.5, 2, size=dim), "ood.mean": np.zeros(dim),
         "ood.components": np.linalg.qr(rng.normal(size=(dim, 4)))[0].T, "ood.var": np.ones(4),
         "ood.threshold": np.array([2.0])}
    for h in fd.HEADS:
        t[f"coef.{h}"], t[f"bias.{h}"] = rng.normal(size=dim) * coef_scale, np.array([0.0])
    return fd.FindingsHead(t, {k: 0.5 for k in fd.FINDINGS}, [f"d{i}" for i in range(dim)])


def test_composed_score_follows_the_findings():
    normal = {"b_lines": 0.05, "b_grade_ge2": 0.02, "b_grade_ge3": 0.01, "consolidation": 0.03, "pleural_irregular": 0.1,
              "a_lines": 0.9, "effusion": 0.0}
    grade, score = fd.compose_score(normal)
    assert score.argmax() == 0 and abs(score.sum() - 1) < 1e-9 and abs(grade.sum() - 1) < 1e-9
    confluent = dict(normal, b_lines=0.99, b_grade_ge2=0.97, b_grade_ge3=0.9)
    assert fd.compose_score(confluent)[1].argmax() == 3
    cons = dict(normal, consolidation=0.9)
    assert fd.compose_score(cons)[1].argmax() == 4
    # a grade head that contradicts P(B-lines) cannot make a distribution with negative mass
    odd = dict(normal, b_lines=0.1, b_grade_ge2=0.8, b_grade_ge3=0.95)
    g, s = fd.compose_score(odd)
    assert (g >= 0).all() and (s >= 0).all()


def test_mask_descriptor_sees_b_lines_and_consolidation():
    frames = np.full((3, 64, 64), 40, np.uint8)
    labels = np.zeros((3, 64, 64), np.uint8)
    labels[:, 10:12, :] = PLEURAL_LINE
    empty = fd.mask_descriptor(frames, labels)
    labels[:, 12:, 20:24] = B_LINE
    frames[:, 12:, 20:24] = 160
    labels[:, 30:40, 40:50] = CONSOLIDATION
    d = dict(zip(fd.MASK_NAMES, fd.mask_descriptor(frames, labels)))
    e = dict(zip(fd.MASK_NAMES, empty))
    assert e["b_share"] == 0 and d["b_share"] > 0 and d["b_frames"] == 1.0
    assert d["b_contrast"] > 0.5  # the marked column is brighter than its row neighbours
    assert d["cons_blob"] == pytest.approx(100 / 4096)


def test_physics_descriptor_is_finite_and_blank_is_neutral():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, size=(4, 128, 128)).astype(np.uint8)
    d = physics.clip_descriptor(frames)
    assert d.shape == (len(physics.NAMES),) and np.isfinite(d).all()
    assert not physics.clip_descriptor(np.zeros((3, 128, 128), np.uint8)).any()


def test_unroll_turns_radial_lines_into_columns():
    h = w = 128
    img = np.zeros((h, w), np.uint8)
    apex = (64.0, -40.0)
    for y in range(h):  # a fan between two lines through the apex, and one bright radial line inside it
        half = (y - apex[1]) * 0.35
        x0, x1 = int(apex[0] - half), int(apex[0] + half)
        img[y, max(0, x0):min(w, x1)] = 60
        xr = int(round(apex[0] + (y - apex[1]) * 0.2))
        if 0 <= xr < w:
            img[y, xr] = 250
    u = physics.unroll(img[None])[0]
    cols = u[20:].argmax(1)
    assert cols.std() < 2.0  # the radial line stays in one column of the unrolled image


def test_head_predicts_probabilities_warnings_and_ood(tmp_path):
    head = _head(12)
    near = head.mu.copy()
    z = head.predict(near)
    assert set(z.probs) == set(fd.FINDINGS) and all(0 <= p <= 1 for p in z.probs.values())
    assert not z.unlike_training and z.ood < 1
    far = head.mu + head.sd * 50 * head.ood_components[0]
    z = head.predict(far, ["colour overlay"])
    assert z.unlike_training and z.ood > 1
    assert z.warnings[0] == "colour overlay" and "unlike" in z.warnings[1]
    assert json.dumps(z.to_dict())
    assert 0 <= z.score <= 4 and 0 <= z.expected <= 4


def test_head_round_trips_through_a_bundle_and_refuses_tampering(tmp_path):
    b = tmp_path / "b"
    shutil.copytree(BUNDLED, b)
    head = _head(20)
    entry = fd.save_findings(b, head, {"trained_on": "test"})
    fd.add_to_manifest(b, entry)
    manifest = json.loads((b / "manifest.json").read_text())
    back = fd.load_findings(b, manifest)
    x = head.mu + 0.3
    assert back.raw_probs(x) == pytest.approx(head.raw_probs(x), abs=1e-5)
    assert fd.load_findings(b, {"name": "x"}) is None
    data = bytearray((b / fd.FINDINGS_FILE).read_bytes())
    data[-1] ^= 1
    (b / fd.FINDINGS_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum"):
        fd.load_findings(b, manifest)
    with pytest.raises(BundleError, match="malformed"):
        fd.load_findings(b, {"findings": {"file": "../x"}})


def test_engine_uses_the_head_for_zone_scores(tmp_path):
    from lusapp.model.bundle import load_bundle
    from lusapp.model.engine import Engine

    b = tmp_path / "b"
    shutil.copytree(BUNDLED, b)
    manifest = json.loads((b / "manifest.json").read_text())
    dim = 2 * manifest["architecture"]["feat_dim"] + len(physics.NAMES) + len(fd.MASK_NAMES)
    fd.add_to_manifest(b, fd.save_findings(b, _head(dim, coef_scale=0.0), {}))
    engine = Engine(load_bundle(b), threads=1)
    a = engine.assess(*load_patient_any(ROOT / "resources" / "demo"), n_frames=6)
    assert set(a.zone_findings) == set(a.zone_scores)
    for zid, zf in a.zone_findings.items():  # zero coefficients: every probability is 0.5
        assert zf.probs["b_lines"] == pytest.approx(0.5)
        assert a.zone_probs[zid] == pytest.approx(zf.score_probs)
        assert zid in a.zone_head_probs
    rep = engine.clip_report(next((ROOT / "resources" / "demo").glob("R1.*")), n_frames=6)
    assert rep.descriptor.shape == (dim,) and rep.findings is not None


def test_logistic_regression_recovers_a_separable_rule_and_auc_is_exact():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.1 * rng.normal(size=400)) > 0
    coef, bias = linear.fit_logistic(x, y, l2=0.1)
    assert coef[0] > 0 and coef[1] < 0 and abs(coef[2]) < 0.3 * coef[0]
    assert linear.roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert linear.roc_auc([1, 1, 1], [0, 1, 1]) == pytest.approx(0.5)
    assert linear.roc_auc([1, 2], [1, 1]) is None


def test_grouped_folds_never_split_a_group_and_cv_is_honest():
    groups = np.repeat(np.arange(30), 3)
    folds = linear.group_folds(groups, 5, seed=3)
    for g in range(30):
        assert len(set(folds[groups == g])) == 1
    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 20))
    y = rng.integers(0, 2, 90).astype(float)  # labels unrelated to x: out-of-fold AUC stays near chance
    auc = linear.roc_auc(linear.cv_logits(x, y, groups, l2=10.0), y)
    assert 0.25 < auc < 0.75
    assert linear.youden_threshold(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) in (0.8,)


def test_gating_hides_only_the_findings_called_absent():
    from lusapp.model.clip_report import gate_labels

    lab = np.zeros((8, 8), np.uint8)
    lab[0, :] = PLEURAL_LINE
    lab[2:, 2] = B_LINE
    lab[5:, 5:] = CONSOLIDATION
    head = _head(6)
    z = head.predict(head.mu)
    z.present.update(b_lines=False, consolidation=True)
    out = gate_labels(lab, z)
    assert not (out == B_LINE).any() and (out == CONSOLIDATION).sum() == 9 and (out == PLEURAL_LINE).sum() == 8
    z.present.update(b_lines=True, consolidation=False)
    out = gate_labels(lab, z)
    assert (out == B_LINE).sum() == 6 and not (out == CONSOLIDATION).any()
    assert gate_labels(lab, None) is lab


def test_severity_network_on_zone_score_distributions(tmp_path):
    """A bundle whose severity network reads the findings-composed zone-score distribution (5 numbers a zone)
    saves, loads and assesses; the same network on features of another width is refused."""
    from lusapp.model.bundle import load_bundle, save_bundle
    from lusapp.model.engine import Engine
    from lusapp.model.networks import SeverityNet

    base = load_bundle(BUNDLED)
    dim = 2 * base.seg.feat_dim + len(physics.NAMES) + len(fd.MASK_NAMES)
    sev = SeverityNet(5, base.severity.clin_dim, variant="maclr", embed_dim=8, attn_dim=8, proj_dim=8, clin_hidden=8)
    fields = {"name": "t", "version": "9.0.0", "clinical_features": base.manifest["clinical_features"]}
    with pytest.raises(ValueError, match="SegNet.feat_dim"):
        save_bundle(tmp_path / "bad", base.seg, base.zone, sev, fields)
    b = save_bundle(tmp_path / "b", base.seg, base.zone, sev, {**fields, "severity_input": "zone_score_probs"})
    fd.add_to_manifest(b, fd.save_findings(b, _head(dim, coef_scale=0.0), {}))
    engine = Engine(load_bundle(b), threads=1)
    seen = []
    real_forward = engine.severity.forward
    engine.severity.forward = lambda zf, m, c: (seen.append(zf.clone()), real_forward(zf, m, c))[1]
    a = engine.assess(*load_patient_any(ROOT / "resources" / "demo"), n_frames=4)
    assert seen and seen[0].shape[-1] == 5
    rows = seen[0][0]  # every zone with a clip: a distribution over the 5 scores; a zone without: zeros
    sums = rows.sum(1)
    assert int(((sums - 1).abs() < 1e-5).sum()) == len(a.zone_probs) and float(rows.min()) >= 0
    assert int((sums == 0).sum()) == rows.shape[0] - len(a.zone_probs)
    assert abs(float(a.severity_probs.sum()) - 1) < 1e-6



def test_clips_the_model_cannot_read_get_warnings(tmp_path):
    """The bundled findings model warns on a blank clip, a colour overlay, a frozen clip and pictures without a
    pleural line (noise, dark chambers), and not on a lung clip of the demo patient."""
    from lusapp.model.bundle import load_bundle
    from lusapp.model.engine import Engine

    engine = Engine(load_bundle(ROOT / "resources" / "models" / "lus-staged-1.2.0"), threads=1)
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 255, (120, 160)).astype(np.uint8) for _ in range(8)]
    import cv2

    chambers = np.full((240, 320), 90, np.uint8)  # two dark round chambers in grey tissue, no pleural line
    cv2.circle(chambers, (120, 130), 50, 10, -1)
    cv2.circle(chambers, (210, 120), 40, 10, -1)
    chambers = cv2.GaussianBlur(chambers, (0, 0), 2)
    colour = [np.repeat(f[..., None], 3, 2) for f in noise]
    for f in colour:
        f[30:80, 50:110] = (0, 0, 255)
    cases = {"blank": ([np.zeros((120, 160), np.uint8)] * 8, "blank"),
             "noise": (noise, "not be a lung view"),
             "chambers": ([np.roll(chambers, k, 1) + rng.integers(0, 20, chambers.shape).astype(np.uint8)
                           for k in range(8)], "not be a lung view"),
             "frozen": ([noise[0]] * 8, "do not change"),
             "doppler": (colour, "colour overlay")}
    for name, (frames, expect) in cases.items():
        rep = engine.clip_report(write_video(tmp_path / f"{name}.avi", frames, fps=20), n_frames=8)
        engine.clear_cache()
        assert any(expect in w for w in rep.warnings), (name, rep.warnings)
    lung = engine.clip_report(ROOT / "resources" / "demo" / "R1.mp4", n_frames=8)
    assert not any("lung view" in w or "blank" in w or "colour" in w for w in lung.warnings), lung.warnings
