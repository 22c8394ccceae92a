"""Engine + preprocessing + `lusapp assess`: back-projection, caching, assessment, CLI errors (tiny networks)."""

from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import pytest
import torch

from lusapp.bench import write_demo_video
from lusapp.model import preprocess as pp
from lusapp.model.assess_cli import assess_main, load_patient_any
from lusapp.model.clip_source import prefetch
from lusapp.model.bundle import load_bundle, save_bundle
from lusapp.model.engine import Engine, fuse_segnet
from lusapp.model.networks import SegNet, SeverityNet, ZoneScorer
from lusapp.core.clinical import CLINICAL_DIM


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    torch.manual_seed(0)
    seg = SegNet(widths=(4, 8, 16), convs=(1, 1, 1))
    for m in seg.modules():  # non-trivial BN statistics so that folding is really tested
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    sev = SeverityNet(seg.feat_dim, CLINICAL_DIM, embed_dim=8, attn_dim=8, proj_dim=8, clin_hidden=8)
    d = tmp_path_factory.mktemp("bundle") / "tiny-0.1.0"
    return save_bundle(d, seg, ZoneScorer(seg.feat_dim), sev, {"name": "tiny", "version": "0.1.0",
                                                               "input_size": [32, 32]})


@pytest.fixture(scope="module")
def patient_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("patient") / "P-1"
    d.mkdir()
    for k, z in enumerate(("R1", "R2", "L4")):
        write_demo_video(d / f"{z}.avi", n_frames=12, size=(72, 96), seed=k)
    still = np.zeros((72, 96), np.uint8)
    still[10:60, 20:80] = 120
    cv2.imwrite(str(d / "L1.png"), still)
    (d / "clinical.json").write_text(json.dumps({"age": 70, "sex": "F", "symptoms": {"cough": True}}))
    return d


def test_fused_network_matches_bn_network(bundle_dir):
    b = load_bundle(bundle_dir)
    x = torch.rand(2, 1, 32, 32)
    fused = fuse_segnet(b.seg)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    with torch.inference_mode():
        (l1, f1), (l2, f2) = b.seg.forward_with_features(x), fused.forward_with_features(x)
    assert torch.allclose(l1, l2, atol=1e-4) and torch.allclose(f1, f2, atol=1e-4)


def test_prepare_and_back_projection():
    frame = np.zeros((60, 80), np.uint8)
    frame[10:50, 20:70] = 255
    box = (20, 10, 70, 50)
    t = pp.prepare(frame, box, 16)
    assert t.shape == (1, 16, 16) and t.dtype == torch.float32 and float(t.min()) == 1.0
    assert pp.prepare_batch([frame, frame], None, (16, 24)).shape == (2, 1, 16, 24)
    labels = np.full((16, 16), 3, np.uint8)
    out = pp.project_mask(labels, box, frame.shape)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (out[10:50, 20:70] == 3).all() and out.sum() == 3 * 40 * 50
    mask = np.zeros((60, 80), np.uint8)
    mask[20:30, 30:40] = 4
    back = pp.project_mask(pp.mask_to_input(mask, box, 40), box, mask.shape)
    assert (back == mask).mean() > 0.98
    assert pp.box_tuple((-5, -5, 500, 500), 60, 80) == (0, 0, 80, 60)


def test_segment_masks_in_frame_coordinates(bundle_dir, patient_dir):
    eng = Engine(load_bundle(bundle_dir))
    res = eng.segment(patient_dir / "R1.avi", [0, 3, 5], crop=(10, 8, 90, 70), batch_size=2)
    assert res.indices == [0, 3, 5] and res.features.shape == (3, 16) and res.features.dtype == np.float32
    for m in res.masks:
        assert m.shape == (72, 96) and m.dtype == np.uint8
        assert m[:8].sum() == 0 and m[:, 90:].sum() == 0  # background outside the crop
    assert eng.stats["network_calls"] == 2
    auto = eng.segment(patient_dir / "R1.avi")  # every frame, crop detected once
    assert len(auto.masks) == 12 and auto.masks[0].shape == (72, 96)
    zs = eng.score_zone(auto.features)
    assert zs.probs.shape == (5,) and abs(zs.probs.sum() - 1) < 1e-5
    assert zs.score == int(np.argmax(zs.probs)) and 0 <= zs.expected <= 4


def test_segment_reads_the_next_batch_ahead_and_gives_what_batch_by_batch_gives(bundle_dir, patient_dir, monkeypatch):
    eng = Engine(load_bundle(bundle_dir))
    path, crop = patient_dir / "R1.avi", (10, 8, 90, 70)
    single = [eng.segment(path, [i], crop=crop) for i in range(12)]  # one batch a call: no helper thread
    readers = set()
    read = eng._read
    monkeypatch.setattr(eng, "_read", lambda *a: (readers.add(threading.current_thread().name), read(*a))[1])
    eng.clear_cache()
    ahead = eng.segment(path, range(12), crop=crop, batch_size=5)  # three batches, read one ahead
    assert readers and all(name.startswith("lusapp-prefetch") for name in readers)
    assert np.allclose(ahead.features, np.concatenate([r.features for r in single]), atol=1e-5)
    assert all((m == r.masks[0]).mean() > 0.999 for m, r in zip(ahead.masks, single))
    readers.clear()
    eng.segment(path, [2, 3], crop=crop)
    assert readers == {threading.current_thread().name}


def test_prefetch_keeps_order_and_hands_each_failure_to_its_item():
    def work(k):
        if k == 2:
            raise ValueError("item 2 is broken")
        return k * k, threading.current_thread().name

    results = []
    for fut in prefetch(work, range(5)):
        try:
            results.append(fut.result())
        except ValueError as e:
            results.append(str(e))
    assert [r if isinstance(r, str) else r[0] for r in results] == [0, 1, "item 2 is broken", 9, 16]
    assert all(r[1].startswith("lusapp-prefetch") for r in results if not isinstance(r, str))
    two_ahead = [fut.result()[0] for fut in prefetch(work, [0, 1, 3, 4, 5, 6], ahead=2)]
    assert two_ahead == [0, 1, 9, 16, 25, 36]
    only = list(prefetch(work, [3]))
    assert len(only) == 1 and only[0].result() == (9, threading.current_thread().name)
    inline = [fut.result() for fut in prefetch(work, [0, 1, 3], ahead=0)]  # ahead 0: in the caller's thread
    assert inline == [(k * k, threading.current_thread().name) for k in (0, 1, 3)]
    with pytest.raises(ValueError, match="broken"):
        next(iter(prefetch(work, [2]))).result()
    assert list(prefetch(work, [])) == []
    started = []
    gen = prefetch(lambda k: started.append(k), range(10), ahead=2)
    next(gen).result()
    gen.close()  # the caller stops after the first item: at most the two read ahead were started
    assert started[0] == 0 and len(started) <= 3


def test_assess_then_warm_assess_skips_the_network(bundle_dir, patient_dir, monkeypatch):
    eng = Engine(load_bundle(bundle_dir))
    calls = {"n": 0}
    for name in ("encode",):  # every network pass (full or encoder-only) starts with the encoder
        f = getattr(eng.seg, name)
        monkeypatch.setattr(eng.seg, name, lambda *a, _f=f, **k: (calls.__setitem__("n", calls["n"] + 1), _f(*a, **k))[1])
    a = eng.assess(*load_patient_any(patient_dir), n_frames=30)
    cold_calls = calls["n"]
    assert cold_calls > 0
    assert set(a.zone_probs) == {"R1", "R2", "L4", "L1"}
    assert sum(a.attention.values()) == pytest.approx(1.0, abs=1e-5)
    assert 1 <= a.severity <= 4 and a.severity_probs.shape == (4,)
    assert a.severe == (a.severity >= 3) and a.severe_prob == pytest.approx(a.severity_probs[2:].sum())
    assert a.zone_rules["R1"][0] in range(5) and isinstance(a.zone_rules["R1"][1], str)
    assert a.model_version == eng.model_id == "tiny-0.1.0"  # the one identity, as masks carry it
    import lusapp.io.readers as readers

    monkeypatch.setattr(readers, "open_media", lambda *a, **k: pytest.fail("warm run opened a clip"))
    preparers = set()
    prepare = eng._prepare_zone
    monkeypatch.setattr(eng, "_prepare_zone",
                        lambda *a: (preparers.add(threading.current_thread().name), prepare(*a))[1])
    b = eng.assess(*load_patient_any(patient_dir), n_frames=30)
    assert calls["n"] == cold_calls  # no network pass, no decoding
    assert preparers == {threading.current_thread().name}  # cached zones: no helper thread to hand off to
    assert np.allclose(a.severity_probs, b.severity_probs) and a.zone_rules == b.zone_rules
    monkeypatch.undo()
    c = eng.assess(*load_patient_any(patient_dir), n_frames=5, samplings=3)
    assert len(c.votes) == 3 and c.severity in c.votes


def test_segment_fills_the_cache_assess_uses(bundle_dir, patient_dir):
    eng = Engine(load_bundle(bundle_dir))
    for z in ("R1", "R2", "L4", "L1"):
        p = next(patient_dir.glob(f"{z}.*"))
        eng.segment(p)  # as review does: every frame
    runs = eng.stats["frames_run"]
    eng.assess(*load_patient_any(patient_dir), n_frames=30)
    assert eng.stats["frames_run"] == runs


def test_a_given_crop_is_reused_by_assess(bundle_dir, patient_dir):
    eng = Engine(load_bundle(bundle_dir))
    for z in ("R1", "R2", "L4", "L1"):
        p = next(patient_dir.glob(f"{z}.*"))
        eng.segment(p, crop=(4, 4, 90, 68))  # the GUI passes its (maybe user-adjusted) crop
    runs = eng.stats["frames_run"]
    eng.assess(*load_patient_any(patient_dir), n_frames=30)
    assert eng.stats["frames_run"] == runs


def test_missing_zone_and_clinical_handling(bundle_dir, patient_dir):
    eng = Engine(load_bundle(bundle_dir))
    media = {"R1": patient_dir / "R1.avi", "R2": patient_dir / "nope.avi"}
    a = eng.assess(None, media, clinical=np.full(CLINICAL_DIM, 0.5, np.float32))
    assert set(a.zone_probs) == {"R1"} and a.attention == {"R1": pytest.approx(1.0)}
    assert len(a.warnings) == 1 and "R2" in a.warnings[0] and "nope.avi" in a.warnings[0]
    from lusapp.core.errors import ValidationError

    with pytest.raises(ValidationError, match="clinical"):
        eng.assess(None, media, clinical=[1.0, 2.0])
    with pytest.raises(TypeError, match="load_patient_any"):  # folders are the caller's (the CLI's) business
        eng.assess(str(patient_dir), {})


def test_cli_json_and_errors(bundle_dir, patient_dir, tmp_path, capsys):
    assert assess_main([str(patient_dir), "--model", str(bundle_dir), "--frames", "4"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["patient_id"] == "P-1" and doc["severity"] in (1, 2, 3, 4)
    assert doc["severity_name"] in ("mild", "moderate", "severe", "critical")
    z = doc["zones"]["R1"]
    assert set(z) == {"score_probs", "score", "expected", "attention", "b_lines", "rule_score", "rule"}
    assert doc["model_version"] == "tiny-0.1.0" and "total_s" in doc["timings"]

    assert assess_main([str(tmp_path / "missing"), "--model", str(bundle_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing" in err and "Traceback" not in err
    assert assess_main([str(patient_dir), "--samplings", "x"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in bundle_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "weights.safetensors").write_bytes(b"\0" * 64)
    assert assess_main([str(patient_dir), "--model", str(broken)]) == 2
    assert "weights.safetensors" in capsys.readouterr().err


def test_cli_on_a_store_patient_folder(bundle_dir, patient_dir, tmp_path, capsys):
    from lusapp.store import Store

    store = Store.create(tmp_path / "store")
    pid = store.import_folder(patient_dir, actor="test")
    store.close()
    folder = tmp_path / "store" / "patients" / pid
    assert assess_main([str(folder), "--model", str(bundle_dir), "--frames", "3"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["patient_id"] == pid and set(doc["zones"]) == {"R1", "R2", "L4", "L1"}
