"""End-to-end training tests on a tiny generated store (6 patients, short clips, 64x64 input).

One module-scoped fixture generates the store and trains a tiny bundle through the CLI; the tests then check
the bundle round trip, that each stage's loss goes down, the evaluation report, the ablation helpers, finetune's
refusal to publish a worse model, its exit code on a bad store, and the CVAT reader on the real clip (skipped
when /work/shared/data is absent).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from model_training import cvat, stages
from model_training.data import FrameCache, SegDataset, build_index
from model_training.features import compute_bank
from model_training.train import RECIPES, TrainConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from model_training.cli import main as cli_main

    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("train")
    store = root / "store"
    rc = cli_main(["synth", "--patients", "6", "--out", str(store), "--seed", "3", "--frames-min", "3",
                   "--frames-max", "5", "--size", "96x128"])
    assert rc == 0
    out = root / "model"
    rc = cli_main(["train", "--stage", "all", "--store", str(store), "--out", str(out), "--recipe", "tiny",
                   "--cache-dir", str(root / "cache"), "--seed", "1"])
    assert rc == 0
    return {"root": root, "store": store, "model": out, "cache": root / "cache"}


def test_bundle_round_trip(tiny):
    from lusapp.model.bundle import load_bundle
    from safetensors.torch import load_file

    b = load_bundle(tiny["model"])
    assert b.input_size == (64, 64) and b.zone is not None and b.severity is not None
    assert b.severity.variant == "maclr" and b.manifest["parent_version"] is None
    m = b.manifest
    assert m["metrics"]["training"]["seg_loss"] and len(m["metrics"]["training"]["patient_loss"]) == RECIPES["tiny"]["patient_epochs"]
    assert "model_training train" in m["recipe"] and json.loads(m["training_data"])["patients"] == 6
    # the resumable checkpoint beside the bundle holds the same encoder weights
    ck = load_file(str(Path(str(tiny["model"]) + ".train_state") / "seg.safetensors"))
    w = b.seg.state_dict()["features.0.weight"]
    assert torch.equal(ck["model.features.0.weight"], w)
    assert any(k.startswith("opt.") for k in ck)
    x = torch.rand(2, 1, 64, 64)
    assert b.seg(x).shape == (2, 5, 64, 64)


def test_resume_skips_finished_epochs(tiny, capsys):
    from model_training.cli import main as cli_main

    out = tiny["model"]
    before = (Path(str(out) + ".train_state") / "seg.safetensors").stat().st_mtime_ns
    rc = cli_main(["train", "--stage", "seg", "--store", str(tiny["store"]), "--out", str(out), "--recipe", "tiny",
                   "--cache-dir", str(tiny["cache"]), "--resume"])
    assert rc == 0
    assert (Path(str(out) + ".train_state") / "seg.safetensors").stat().st_mtime_ns == before


def test_each_stage_lowers_its_loss(tiny):
    from lusapp.model.bundle import load_bundle
    from lusapp.model.networks import SegNet
    from model_training import losses

    torch.manual_seed(0)
    index = build_index(tiny["store"])
    cache = FrameCache(tiny["cache"], 64, RECIPES["tiny"]["max_frames"])
    ds = SegDataset(index, cache)
    assert len(ds) > 8 and ds.y.max() > 0
    x = torch.from_numpy(ds.x[:8]).float().unsqueeze(1) / 255
    y = torch.from_numpy(ds.y[:8]).long()
    seg = SegNet(widths=[8, 16, 32], convs=[1, 1, 1])
    opt = torch.optim.Adam(seg.parameters(), lr=3e-3)
    first = last = None
    for step in range(12):
        loss, _ = losses.dice_ce_loss(seg(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = float(loss.detach()) if first is None else first
        last = float(loss.detach())
    assert last < first
    bank = compute_bank(load_bundle(tiny["model"]).seg, index, cache)
    _, zh = stages.train_zone(bank, epochs=25, batch=16, lr=1e-2, seed=0, dropout=0.0)
    assert np.mean(zh[-3:]) < zh[0]
    hist: list = []
    stages.train_severity(bank, "maclr", True, True, None, epochs=25, batch=6, lr=3e-3, seed=0, history=hist,
                          net_kwargs={"dropout": 0.0})
    assert np.mean([h["loss"] for h in hist[-3:]]) < hist[0]["loss"]
    assert all(abs(h["maclr"]) > 1e-6 for h in hist)  # the contrastive term was active (it may be negative)


def test_evaluate_cli_writes_report(tiny):
    from model_training.cli import main as cli_main

    out = tiny["root"] / "eval"
    rc = cli_main(["evaluate", "--store", str(tiny["store"]), "--model", str(tiny["model"]), "--out", str(out),
                   "--cache-dir", str(tiny["cache"])])
    assert rc == 0
    rep = json.loads((out / "evaluation.json").read_text())
    assert rep["patient"]["n"] == 6 and len(rep["patient"]["confusion"]) == 4
    assert set(rep["segmentation"]["per_class"]) == {"pleural_line", "a_line", "b_line", "consolidation"}
    assert 0.0 <= rep["zone"]["accuracy"] <= 1.0
    assert (out / "confusion_patient.png").stat().st_size > 1000
    assert "Patient severity" in (out / "evaluation.md").read_text()


def test_mzs_thresholds():
    from model_training.ablate import apply_thresholds, fit_thresholds

    x = np.array([0.1, 0.2, 1.1, 1.3, 2.2, 2.4, 3.5, 3.0])
    y = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    th = fit_thresholds(x, y)
    assert np.all(np.diff(th) >= 0)
    assert apply_thresholds(x, th).tolist() == y.tolist()
    assert th[0] == pytest.approx(0.65) and th[1] == pytest.approx(1.75) and th[2] == pytest.approx(2.7)


def _registry_with(tiny, tmp_path) -> tuple[Path, Path]:
    bundled, user = tmp_path / "bundled", tmp_path / "user"
    bundled.mkdir()
    shutil.copytree(tiny["model"], bundled / "lus-staged-1.0.0")
    return bundled, user


def test_finetune_refuses_a_worse_candidate(tiny, tmp_path):
    from model_training.finetune import finetune, should_publish, split_ids

    bundled, user = _registry_with(tiny, tmp_path)
    index = build_index(tiny["store"])
    _, held = split_ids([p.pid for p in index.patients])
    held_p = [p for p in index.patients if p.pid in held]
    # a severity and a zone score that no held-out patient/zone has: the sabotaged candidate gets everything wrong
    bad_sev = min(set(range(1, 5)) - {p.severity for p in held_p})
    bad_zone = min(set(range(5)) - {z.score for p in held_p for z in p.zones.values()})

    def sabotage(seg, zone, sev):
        with torch.no_grad():
            seg.head.weight.zero_()
            r2 = seg.head.bias.numel() // 5  # pixel-shuffle head: stem**2 channels per class
            seg.head.bias.copy_(torch.tensor([9.0, 0.0, 0.0, 0.0, 0.0]).repeat_interleave(r2))  # background: Dice 0
            zone.fc.weight.zero_()
            zone.fc.bias.copy_(torch.nn.functional.one_hot(torch.tensor(bad_zone), 5).float() * 9)
            sev.classifier.weight.zero_()
            sev.classifier.bias.copy_(torch.nn.functional.one_hot(torch.tensor(bad_sev - 1), 4).float() * 9)

    cfg = TrainConfig().update({**RECIPES["tiny"], "seg_epochs": 1, "patient_epochs": 2, "zone_epochs": 2})
    seen = []
    res = finetune(str(tiny["store"]), user, bundled, cfg=cfg, cache_dir=tiny["cache"], candidate_hook=sabotage,
                   progress=lambda p, m: seen.append(p))
    assert res["score_candidate"] == 0.0
    assert res["score_active"] > 0.005  # the trained tiny model segments something
    assert res["published"] is False and res["version"] is None
    assert not user.exists() or not any(user.iterdir())
    assert seen[-1] == 100 and seen == sorted(seen)
    assert should_publish(0.50, 0.496) and not should_publish(0.50, 0.494) and should_publish(0.3, 0.9)
    train, held2 = split_ids([f"P{i}" for i in range(20)])
    assert held2 and train and not set(train) & set(held2)
    assert split_ids([f"P{i}" for i in range(20)]) == (train, held2)  # deterministic


def test_finetune_bad_store_exit_2(tmp_path, capsys):
    from model_training.finetune import main

    assert main(["--store", str(tmp_path / "nope")]) == 2
    assert "error" in capsys.readouterr().err


def test_cvat_task_195_masks():
    tasks = cvat.find_tasks()
    if not tasks:
        pytest.skip("cvat_ablines data not present")
    t = cvat.load_task(tasks[0])
    assert t.size == (720, 1280)
    assert len(t.masks) >= 10 and all(m.shape == (720, 1280) for m in t.masks.values())
    f = sorted(t.masks)[1]
    vals = set(np.unique(t.masks[f]).tolist())
    assert {1, 2} <= vals
    partial = cvat.load_task(tasks[0], partial=True)
    assert len(partial.masks) > len(t.masks)


def test_finetune_of_a_findings_model_retrains_the_decoder_only(tiny, tmp_path):
    """A model whose findings head reads the encoder: fine-tuning keeps encoder, zone and severity networks
    exactly, retrains the mask decoder, and a published candidate carries the findings head over."""
    from lusapp.model import findings as fd
    from lusapp.model import physics
    from lusapp.model.bundle import load_bundle
    from model_training.finetune import finetune

    bundled, user = _registry_with(tiny, tmp_path)
    active_dir = bundled / "lus-staged-1.0.0"
    active = load_bundle(active_dir)
    dim = 2 * active.seg.feat_dim + len(physics.NAMES) + len(fd.MASK_NAMES)
    rng = np.random.default_rng(0)
    t = {"mu": np.zeros(dim), "sd": np.ones(dim), "ood.mean": np.zeros(dim), "ood.components": np.eye(3, dim),
         "ood.var": np.ones(3), "ood.threshold": np.array([3.0])}
    for h in fd.HEADS:
        t[f"coef.{h}"], t[f"bias.{h}"] = rng.normal(size=dim) * 0.01, np.array([0.0])
    fd.add_to_manifest(active_dir, fd.save_findings(active_dir, fd.FindingsHead(t, {}, [f"d{i}" for i in range(dim)]), {}))
    active = load_bundle(active_dir)
    seen = {}

    def capture(seg, zone, sev):
        seen.update(seg=seg, zone=zone, sev=sev)

    cfg = TrainConfig().update({**RECIPES["tiny"], "seg_epochs": 1})
    res = finetune(str(tiny["store"]), user, bundled, cfg=cfg, cache_dir=tiny["cache"], candidate_hook=capture)
    enc_a, enc_c = active.seg.features.state_dict(), seen["seg"].features.state_dict()
    assert all(torch.equal(enc_a[k], enc_c[k]) for k in enc_a)  # encoder (weights and BN statistics) unchanged
    dec_a, dec_c = active.seg.decoder.state_dict(), seen["seg"].decoder.state_dict()
    assert any(not torch.equal(dec_a[k], dec_c[k]) for k in dec_a)  # the decoder learnt
    for a, c in ((active.zone, seen["zone"]), (active.severity, seen["sev"])):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))
    assert "score_candidate" in res and "zone" not in res["metrics_candidate"]  # judged on the masks
    if res["published"]:
        pub = load_bundle(res["path"])
        assert pub.manifest["findings"]["sha256"] == active.manifest["findings"]["sha256"]
        assert fd.load_findings(pub.path, pub.manifest) is not None


# ------------------------------------------------------------------ finetune with a day's corrections (issue 11)
def test_finetune_plan_skips_stages_without_data_with_a_sentence():
    from model_training.finetune import MIN_SEV_PATIENTS, describe_plan, plan_stages

    base = {"patients": 3, "final_mask_frames": 5, "clips_with_final": 1, "zones_scored": 30,
            "patients_scored": 3}
    for n_sev in (0, 1, 2, 3):  # the numbers a user tried: never a failure, a sentence
        plan = {s["stage"]: s for s in plan_stages({**base, "patients_with_severity": n_sev})}
        assert plan["seg"]["train"] and plan["zone"]["train"]
        assert not plan["severity"]["train"] and f"at least {MIN_SEV_PATIENTS}" in plan["severity"]["why"]
        assert plan["severity"]["why"].startswith("skipped:") and f"{n_sev} patient" in plan["severity"]["why"]
    plan = {s["stage"]: s for s in plan_stages({**base, "patients_with_severity": 8})}
    assert all(s["train"] for s in plan.values())
    none = {s["stage"]: s for s in plan_stages({"final_mask_frames": 1, "clips_with_final": 1})}
    assert not any(s["train"] for s in none.values()) and "at least 2" in none["seg"]["why"]
    fm = plan_stages({**base, "patients_with_severity": 8}, findings_model=True)
    assert [s["train"] for s in fm] == [True, False, False]
    assert all("only the mask decoder is retrained" in s["why"] for s in fm[1:])
    lines = describe_plan(fm)
    assert lines[0].startswith("Masks (segmentation): retrained from 5 corrected (FINAL) frames in 1 clip")
    assert all(ln.endswith(".") and "{" not in ln for ln in lines)


def test_held_out_frames_not_one_patient():
    from model_training.data import ZoneItem
    from model_training.finetune import split_frames

    def z(pid, zid, frames):
        return ZoneItem(pid, zid, Path("x"), "0", "clip", None, frames)

    one = [z("P", "R1", list(range(0, 30, 3)))]  # one patient, one clip, 10 corrected frames
    train, held, unit = split_frames(one)
    assert unit == "frames" and 2 <= len(held[("P", "R1")]) <= 3
    assert not set(held[("P", "R1")]) & set(train[("P", "R1")])
    assert sorted(held[("P", "R1")] + train[("P", "R1")]) == list(range(0, 30, 3))
    two = [z("P", "R1", [4]), z("P", "L1", [7])]
    train, held, unit = split_frames(two)
    assert sum(map(len, held.values())) == 1 and sum(map(len, train.values())) == 1
    clips = [z(f"P{i % 3}", f"R{i}", [1, 2, 3, 4]) for i in range(1, 7)]  # 6 clips: whole clips held out
    train, held, unit = split_frames(clips)
    assert unit == "clips" and held and train and not set(held) & set(train)
    assert all(len(v) == 4 for v in held.values()) and sum(map(len, held.values())) <= 0.25 * 24
    assert split_frames(clips) == (train, held, unit)  # deterministic


def test_finetune_with_few_severities_skips_stage_3_and_says_so(tiny, tmp_path, capsys):
    """Issue 11: with one or two patients with a final severity finetune stopped (exit 2 and a dict; a
    traceback at 61 %). Now stage 3 is skipped with a sentence, the rest is retrained and judged."""
    from lusapp.store import Store
    from model_training.finetune import main

    bundled, user = _registry_with(tiny, tmp_path)
    store = tmp_path / "store"
    shutil.copytree(tiny["store"], store)
    st = Store.open(store)
    try:
        for pid in st.patient_ids()[2:]:  # two patients keep their final severity
            p = st.load_patient(pid)
            p.severity.clinician_label = None
            st.save_patient(p, "test")
    finally:
        st.close()
    rc = main(["--store", str(store), "--registry-dir", str(user), "--bundled-dir", str(bundled), "--epochs", "1",
               "--seg-samples", "16", "--zone-epochs", "2", "--cache-dir", str(tiny["cache"]), "--no-real-check"])
    out, err = capsys.readouterr()
    assert rc == 0 and "Traceback" not in out + err
    lines = out.strip().splitlines()
    assert all(ln.startswith("PROGRESS ") for ln in lines[:-1])
    res = json.loads(lines[-1])
    plan = {s["stage"]: s for s in res["stages"]}
    assert not plan["severity"]["train"] and plan["severity"]["why"].startswith("skipped: 2 patients have")
    assert plan["seg"]["train"] and res["held_out_frames"] >= 2
    assert any("Patient severity: skipped" in ln for ln in lines)
    assert res["decision"].startswith(("Published", "Not published")) and "mask Dice" in res["decision"]
    assert "{" not in res["decision"]
    if res["published"]:
        from lusapp.model.bundle import load_bundle

        pub, act = load_bundle(res["path"]), load_bundle(bundled / "lus-staged-1.0.0")
        # stage 3 was not retrained, so the encoder it reads is the active one's, exactly
        assert all(torch.equal(a, b) for a, b in zip(act.seg.features.state_dict().values(),
                                                      pub.seg.features.state_dict().values()))
        assert all(torch.equal(a, b) for a, b in zip(act.severity.state_dict().values(),
                                                      pub.severity.state_dict().values()))


def test_finetune_errors_are_sentences(tmp_path, capsys):
    from model_training.finetune import main

    assert main(["--store", str(tmp_path / "nope")]) == 2
    out, err = capsys.readouterr()
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["published"] is False and doc["error"].endswith(".") and str(tmp_path / "nope") in doc["error"]
    assert err.startswith("error: ") and "Traceback" not in err and "{'" not in err + doc["error"]


def test_finetune_merges_a_store_and_an_export(tiny, tmp_path, capsys):
    """finetune --store takes several stores / lusapp exports, merged as train --store merges them: a store and a
    de-identified export of it (pseudonymised ids) are twice the patients; the same export twice is refused."""
    from lusapp.export.exporter import export_store
    from model_training.finetune import main

    bundled, user = _registry_with(tiny, tmp_path)
    export = tmp_path / "export"
    export_store(tiny["store"], export, True, key_path=tmp_path / "site.key")
    n = len(build_index(tiny["store"]).patients)
    rc = main(["--store", str(tiny["store"]), str(export), "--registry-dir", str(user), "--bundled-dir",
               str(bundled), "--epochs", "1", "--seg-samples", "16", "--zone-epochs", "2", "--patient-epochs", "2",
               "--cache-dir", str(tiny["cache"]), "--no-real-check"])
    out, err = capsys.readouterr()
    assert rc == 0 and "Traceback" not in out + err
    res = json.loads(out.strip().splitlines()[-1])
    assert res["counts"]["patients"] == 2 * n
    assert f"PROGRESS 2 store: {2 * n} patients" in out
    assert res["trained_on"] + len(res["held_out"]) == 2 * n

    rc = main(["--store", str(export), str(export), "--registry-dir", str(user), "--bundled-dir", str(bundled)])
    out, err = capsys.readouterr()
    assert rc == 2 and "in both" in err and str(export) in err and "Traceback" not in err
