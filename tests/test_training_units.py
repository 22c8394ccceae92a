"""Unit tests of the training building blocks: partner sampling, losses, metrics, statistics, augmentation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model_training import losses, metrics, sampling


# ----------------------------------------------------------------------------- partner sampling
def test_partner_sampling_constraints_property():
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(1, 14))
        sev = rng.integers(1, 5, size=n).tolist()
        partners = sampling.sample_partners(sev, rng)
        assert len(partners) == n
        for i, (j, k) in enumerate(partners):
            has_j = any(abs(sev[i] - sev[x]) == 1 for x in range(n) if x != i)
            has_k = any(abs(sev[i] - sev[x]) >= 2 for x in range(n) if x != i)
            assert (j is not None) == has_j
            assert (k is not None) == has_k
            if j is not None:
                assert j != i and abs(sev[i] - sev[j]) == 1
            if k is not None:
                assert k != i and abs(sev[i] - sev[k]) > 1
            if j is not None and k is not None:
                assert abs(sev[i] - sev[j]) < abs(sev[i] - sev[k])


def test_partner_sampling_candidates_and_randomness():
    sev = [1, 2, 2, 2, 3, 4, 4]
    rng = np.random.default_rng(1)
    seen = {sampling.sample_partners(sev, rng)[0][0] for _ in range(60)}
    assert seen == {1, 2, 3}  # uniform over the three moderate patients
    p = sampling.sample_partners(sev, rng, candidates=[0, 5])
    assert p[0] == (None, 5)  # j impossible among candidates, k = the critical one
    assert p[1] == (0, 5)  # moderate anchor: mild is adjacent, critical two steps away


def test_balanced_weights_equalise_classes():
    labels = ["a"] * 8 + ["b"] * 2
    w = sampling.balanced_weights(labels)
    assert math.isclose(w[:8].sum(), w[8:].sum())
    s = sampling.weighted_sampler(labels, num_samples=4000, seed=3)
    drawn = np.array([labels[i] for i in s])
    assert 0.45 < (drawn == "b").mean() < 0.55


def test_frame_category():
    m = np.zeros((4, 4), np.uint8)
    assert sampling.frame_category(m) == "background"
    m[0, 0] = 3
    m[1, 1] = 2
    assert sampling.frame_category(m) == "a_line"
    m[2, 2] = 4
    assert sampling.frame_category(m) == "consolidation"


# ----------------------------------------------------------------------------- losses
def test_maclr_loss_hand_computed():
    u = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    v = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    j = torch.tensor([1, -1, -1])
    k = torch.tensor([2, -1, 0])
    loss, parts = losses.maclr_loss(u, v, j, k)
    # r = 1 / sqrt(2)
    # anchor 0: align 0; sims u0.v1=1, v0.v1=1, u0.v2=0, v0.v2=0; rank max(0-1,0)=0 -> 2
    # anchor 1: align 1 - 0 = 1; nothing else -> 1
    # anchor 2: align 1 - r; k=0: u2.v0 = r, v2.v0 = 0 -> 1 - r + r = 1
    expected = (2.0 + 1.0 + 1.0) / 3
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert parts["n_j"] == 1 and parts["n_k"] == 2


def test_maclr_rank_term():
    u = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # v_k identical to v_i, v_j orthogonal
    loss, parts = losses.maclr_loss(u, v, torch.tensor([1, -1, -1]), torch.tensor([2, -1, -1]))
    # anchor 0: align 0 + (0 + 0) + (1 + 1) + max(1 - 0, 0) = 3; anchor 1: 1; anchor 2: 0
    assert loss.item() == pytest.approx(4.0 / 3, abs=1e-6)


def test_ds_loss_skips_missing_zones():
    sev_logits = torch.zeros(2, 4)
    zl = torch.zeros(2, 3, 5)
    zl[0, 0, 2] = 10.0
    zt = torch.tensor([[2, -1, -1], [-1, -1, -1]])
    loss, parts = losses.ds_loss(sev_logits, torch.tensor([0, 3]), zl, zt)
    assert parts["severity_ce"] == pytest.approx(math.log(4), abs=1e-5)
    assert parts["zone_ce"] == pytest.approx(0.0, abs=1e-3)
    zt2 = torch.tensor([[2, 0, -1], [-1, -1, -1]])
    _, p2 = losses.ds_loss(sev_logits, torch.tensor([0, 3]), zl, zt2)
    ce0 = -torch.log_softmax(zl[0, 1], 0)[0].item()
    assert p2["zone_ce"] == pytest.approx((0.0 + ce0) / 2, abs=1e-3)


def test_dice_ce_perfect_prediction_is_small():
    t = torch.randint(0, 5, (2, 8, 8))
    good = torch.nn.functional.one_hot(t, 5).permute(0, 3, 1, 2).float() * 20
    bad = torch.zeros(2, 5, 8, 8)
    lg, _ = losses.dice_ce_loss(good, t)
    lb, _ = losses.dice_ce_loss(bad, t)
    assert lg.item() < 0.01 < lb.item()


# ----------------------------------------------------------------------------- metrics
def test_classification_metrics_hand_computed():
    yt = [1, 1, 2, 3, 4, 4]
    yp = [1, 2, 2, 3, 4, 3]
    m = metrics.severity_metrics(yt, yp)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # F1: c1 2*1/(2+0+1)=2/3, c2 2/(2+1+0)=2/3, c3 2/(2+1+0)=2/3, c4 2/(2+0+1)=2/3
    assert m["macro_f1"] == pytest.approx(2 / 3)
    s = m["severe"]  # true severe: idx 3,4,5 ; pred severe: 3,4,5 -> all correct
    assert s["accuracy"] == 1.0 and s["f1"] == 1.0
    z = metrics.zone_metrics([0, 1, 2, 4], [0, 2, 2, 1])
    assert z["accuracy"] == 0.5
    b = z["binary"]  # true pos: 2,4 (idx 2,3) ; pred pos: idx 1,2 -> tp 1 fp 1 fn 1 tn 1
    assert (b["tp"], b["fp"], b["fn"], b["tn"]) == (1, 1, 1, 1)
    assert b["precision"] == 0.5 and b["recall"] == 0.5 and b["f1"] == 0.5


def test_seg_metrics_hand_computed():
    gt = np.zeros((4, 4), np.uint8)
    gt[0, :] = 1  # 4 pleural px
    gt[2, :2] = 3  # 2 B-line px
    pr = np.zeros((4, 4), np.uint8)
    pr[0, :3] = 1  # 3 correct pleural
    pr[1, 0] = 1  # 1 false pleural
    pr[2, 0] = 3  # 1 correct B-line
    pr[3, 3] = 2  # false A-line
    r = metrics.seg_metrics([gt], [pr])
    pl = r["per_class"]["pleural_line"]
    assert pl["dice"] == pytest.approx(6 / 8) and pl["iou"] == pytest.approx(3 / 5)
    assert pl["precision"] == pytest.approx(3 / 4) and pl["recall"] == pytest.approx(3 / 4)
    assert pl["hit_ratio_50"] == 1.0
    bl = r["per_class"]["b_line"]
    assert bl["iou"] == pytest.approx(0.5) and bl["hit_ratio_50"] == 1.0
    al = r["per_class"]["a_line"]
    assert al["iou"] == 0.0 and al["hit_ratio_50"] is None and al["recall"] is None
    assert r["per_class"]["consolidation"]["dice"] is None
    assert r["miou"] == pytest.approx((0.6 + 0.5 + 0.0) / 3)
    # a second frame where the B-line is missed: hit ratio 1/2
    gt2 = np.zeros((4, 4), np.uint8)
    gt2[3, :] = 3
    r2 = metrics.seg_metrics([gt, gt2], [pr, np.zeros_like(pr)])
    assert r2["per_class"]["b_line"]["hit_ratio_50"] == 0.5


def test_line_metrics_ignore_band_thickness_but_not_depth_or_extent():
    gt = np.zeros((100, 10), np.uint8)
    gt[40:60, :] = 1  # an annotator's thick band around the pleural line, all 10 columns
    thin = np.zeros_like(gt)
    thin[50, :6] = 1  # a thin line in the band, found over 6 of the 10 columns
    thin[90, 8] = 1  # and one column with a stray pixel far below the band
    r = metrics.seg_metrics([gt], [thin], classes=(1,))["per_class"]["pleural_line"]
    assert r["dice"] < 0.5  # Dice punishes the thickness convention...
    assert r["line_recall"] == pytest.approx(6 / 10)  # ...line recall does not
    assert r["line_precision"] == pytest.approx(6 / 7)
    deep = np.zeros_like(gt)
    deep[80, :] = 1  # at the wrong depth (A-line confusion): nothing found
    r = metrics.seg_metrics([gt], [deep], classes=(1,))["per_class"]["pleural_line"]
    assert r["line_recall"] == 0.0 and r["line_precision"] == 0.0
    assert "line_recall" not in metrics.seg_metrics([gt], [deep], classes=(3,))["per_class"]["b_line"]


def test_betainc_and_ttest_against_known_values():
    assert metrics.betainc_reg(2, 3, 0.4) == pytest.approx(0.5248, abs=1e-4)  # 1 - sum binomial, hand value
    assert metrics.betainc_reg(1, 1, 0.3) == pytest.approx(0.3)
    # two-sided p of t = 2.0 with df = 10 is 0.07339 (tables); t = 2.228, df = 10 -> 0.05
    assert metrics.student_t_sf2(2.0, 10) == pytest.approx(0.07339, abs=2e-4)
    assert metrics.student_t_sf2(2.228, 10) == pytest.approx(0.05, abs=5e-4)
    assert metrics.student_t_sf2(0.0, 5) == pytest.approx(1.0)
    r = metrics.paired_ttest([1.0, 2.0, 3.0, 4.0], [0.5, 1.0, 2.0, 2.5])
    # d = .5 1 1 1.5: mean 1, sd sqrt(1/6); t = 1 / (0.40825 / 2) = 4.899, df 3 -> p = 0.01628
    assert r["t"] == pytest.approx(4.89898, abs=1e-4)
    assert r["p"] == pytest.approx(0.01628, abs=2e-4)
    scipy_stats = pytest.importorskip("scipy.stats")
    ref = scipy_stats.ttest_rel([1.0, 2.0, 3.0, 4.0], [0.5, 1.0, 2.0, 2.5])
    assert r["p"] == pytest.approx(ref.pvalue, rel=1e-6)


def test_confusion_png(tmp_path):
    cv2 = pytest.importorskip("cv2")
    p = tmp_path / "cm.png"
    metrics.confusion_png(np.array([[3, 1], [0, 5]]), ["no", "yes"], p, title="t")
    img = cv2.imread(str(p))
    assert img is not None and img.shape[0] > 100 and img.std() > 10


# ----------------------------------------------------------------------------- augmentation
def test_joint_augment_keeps_labels_aligned():
    from model_training.augment import AugmentConfig, JointAugment

    torch.manual_seed(0)
    frame = np.zeros((32, 32), np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    frame[10:20, 5:25] = 255
    mask[10:20, 5:25] = 2
    cfg = AugmentConfig(p_color=0.0, p_noise=0.0, p_blur=0.0, p_affine=1.0, p_flip=0.5)
    aug = JointAugment(cfg)
    for _ in range(10):
        x, m = aug(frame, mask)
        assert x.shape == (1, 32, 32) and m.shape == (32, 32) and m.dtype == torch.long
        assert set(torch.unique(m).tolist()) <= {0, 2}
        bright = x[0] > 0.5
        if (m == 2).sum() > 20:
            agree = (bright == (m == 2)).float().mean().item()
            assert agree > 0.9
    clip = aug.clip(np.stack([frame] * 3))
    assert clip.shape == (3, 1, 32, 32)
    assert torch.allclose(clip[0], clip[2])  # same parameters for all frames of a clip


# ----------------------------------------------------------------------------- CVAT reader (no real data needed)
def test_cvat_reader_on_a_made_up_task(tmp_path):
    import json as _json

    from model_training import cvat

    task = tmp_path / "task_1"
    (task / "data").mkdir(parents=True)
    (task / "task.json").write_text(_json.dumps({"name": "clip.mp4"}))
    (task / "data" / "manifest.jsonl").write_text(
        '{"version":"1.1"}\n{"type":"video"}\n{"properties":{"name":"clip.mp4","resolution":[40,30],"length":5}}\n')
    square = lambda x0, y0, x1, y1: [x0, y0, x1, y0, x1, y1, x0, y1]  # noqa: E731
    shapes = [
        {"type": "polygon", "frame": 0, "label": "aline", "points": square(0, 10, 39, 14)},
        {"type": "polygon", "frame": 0, "label": "lungslidingpresent", "points": square(0, 12, 39, 16)},
        {"type": "polygon", "frame": 0, "label": "liver", "points": square(0, 0, 5, 5)},
        {"type": "polygon", "frame": 3, "label": "aline", "points": square(0, 20, 39, 22)},  # partial frame
    ]
    (task / "annotations.json").write_text(_json.dumps([{"version": 3, "tags": [], "shapes": shapes, "tracks": [
        {"label": "bline", "shapes": [{"type": "polygon", "frame": 0, "outside": False, "points": square(20, 17, 22, 29)},
                                      {"type": "polygon", "frame": 2, "outside": True, "points": square(0, 0, 3, 3)}]}]}]))
    t = cvat.load_task(task)
    assert t.size == (30, 40) and sorted(t.masks) == [0] and t.labels[0] == {1, 2, 3}
    m = t.masks[0]
    assert m[11, 5] == 2  # A-line only
    assert m[13, 5] == 1  # pleural line drawn over the A-line (draw order)
    assert m[20, 21] == 3  # B-line from a track shape
    assert m[2, 2] == 0  # unmapped label ignored
    assert sorted(cvat.load_task(task, partial=True).masks) == [0, 3]
    assert cvat.find_tasks(tmp_path) == []  # no clip in data/: not listed by default
    assert cvat.find_tasks(tmp_path, with_media=False) == [task]


def test_maclr_term_borrows_missing_partners_from_the_training_set():
    from lusapp.model.networks import SeverityNet
    from model_training.features import FeatureBank, draw
    from model_training.stages import _maclr_term

    rng = np.random.default_rng(0)
    feats = [[rng.normal(size=(3, 8)).astype(np.float32) for _ in range(2)] for _ in range(6)]
    bank = FeatureBank([f"P{i}" for i in range(6)], ("R1", "L1"), feats, np.zeros((6, 2), np.int64),
                       np.array([1, 1, 2, 3, 4, 4]), rng.normal(size=(6, 20)).astype(np.float32))
    net = SeverityNet(8, 20)
    sel = np.array([0, 1])  # two mild patients: no valid partner inside the batch
    x, m, _, clin = draw(bank, sel, None)
    out = net(x, m, clin)
    loss = _maclr_term(net, bank, sel, out, rng, 30, np.arange(6))
    from model_training import losses as L

    align_only, _ = L.maclr_loss(out["u"], out["v"], torch.tensor([-1, -1]), torch.tensor([-1, -1]))
    assert torch.isfinite(loss) and abs(loss.item() - align_only.item()) > 1e-6  # partner terms were added
    loss.backward()
    assert net.proj_clin.weight.grad is not None
