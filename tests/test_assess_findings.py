"""``lusapp assess`` with a findings head: per-zone findings, measures and OOD in the JSON, one CSV row per
zone, several patients and whole stores in one run; the zone panel's findings block and warning line."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lusapp.model import findings as fd
from lusapp.model import physics
from lusapp.model.assess_cli import assess_main, csv_header

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "resources" / "models" / "lus-staged-1.1.0"
DEMO = ROOT / "resources" / "demo"
FRAMES = "4"  # frames per video zone: enough to exercise the path, fast


def _head(dim: int, seed: int = 0) -> fd.FindingsHead:
    """Random but fixed weights; a large OOD threshold so the demo clips count as like the training ones
    (a second head with a tiny one flags them all)."""
    rng = np.random.default_rng(seed)
    t = {"mu": rng.normal(size=dim) * 0.1, "sd": rng.uniform(0.5, 2, size=dim), "ood.mean": np.zeros(dim),
         "ood.components": np.linalg.qr(rng.normal(size=(dim, 4)))[0].T, "ood.var": np.ones(4),
         "ood.threshold": np.array([1e6])}
    for h in fd.HEADS:
        t[f"coef.{h}"], t[f"bias.{h}"] = rng.normal(size=dim) * 0.02, np.array([rng.normal()])
    return fd.FindingsHead(t, {k: 0.5 for k in fd.FINDINGS}, fd.descriptor_names((dim - len(physics.NAMES)
                                                                                    - len(fd.MASK_NAMES)) // 2))


def _bundle(root: Path, ood_threshold: float | None = None) -> Path:
    b = root / "lus-staged-1.1.0"
    shutil.copytree(BUNDLED, b)
    manifest = json.loads((b / "manifest.json").read_text())
    dim = 2 * manifest["architecture"]["feat_dim"] + len(physics.NAMES) + len(fd.MASK_NAMES)
    head = _head(dim)
    if ood_threshold is not None:
        head.ood_threshold = ood_threshold
    fd.add_to_manifest(b, fd.save_findings(b, head, {"trained_on": "test"}))
    return b


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return _bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A store with two patients: the demo, and the demo's R1 + R5 only."""
    from lusapp.store import Store

    root = tmp_path_factory.mktemp("store")
    small = root / "SMALL"
    small.mkdir()
    for name in ("R1.mp4", "R5.png"):
        shutil.copy(DEMO / name, small / name)
    with Store.create(root / "store") as s:
        s.import_folder(DEMO, actor="test")
        s.import_folder(small, actor="test")
    return root / "store"


def _run(capsys, *args) -> tuple[int, object, str]:
    rc = assess_main([*map(str, args), "--frames", FRAMES, "--threads", "1"])
    cap = capsys.readouterr()
    return rc, (json.loads(cap.out) if cap.out.strip() else None), cap.err


def test_assess_reports_findings_measures_and_ood_per_zone(bundle, tmp_path, capsys):
    out_csv = tmp_path / "zones.csv"
    rc, doc, err = _run(capsys, DEMO, "--model", bundle, "--csv", out_csv)
    assert rc == 0 and err == "" and isinstance(doc, dict)
    assert len(doc["zones"]) == 11 and doc["zones_unlike_training"] == []
    for zid, z in doc["zones"].items():
        assert {"score", "expected", "score_probs", "b_lines", "rule_score", "rule", "findings", "present",
                "b_line_grade_probs", "measures", "ood", "unlike_training", "warnings",
                "head_score_probs"} <= set(z)
        assert set(z["findings"]) == set(fd.FINDINGS) == set(z["present"])
        for f, p in z["findings"].items():
            assert 0 <= p <= 1 and z["present"][f] == (p >= 0.5)
        assert z["measures"]["b_lines"] == z["b_lines"] and "pleural_width_px" in z["measures"]
        assert z["ood"] < 1 and z["unlike_training"] is False and isinstance(z["warnings"], list)
        assert sum(z["score_probs"]) == pytest.approx(1, abs=1e-3) and z["score"] == int(np.argmax(z["score_probs"]))
    with open(out_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == csv_header() and len(rows) == 11
    assert {r["zone"] for r in rows} == set(doc["zones"])
    for r in rows:
        z = doc["zones"][r["zone"]]
        assert r["patient_id"] == doc["patient_id"] and int(r["score"]) == z["score"]
        assert float(r["p_b_lines"]) == pytest.approx(z["findings"]["b_lines"])
        assert r["consolidation_present"] == str(int(z["present"]["consolidation"]))
        assert r["unlike_training"] == "0" and r["model_version"] == doc["model_version"]


def test_unlike_training_clips_are_flagged(tmp_path, capsys):
    b = _bundle(tmp_path, ood_threshold=1e-6)
    out_csv = tmp_path / "z.csv"
    rc, doc, _ = _run(capsys, DEMO, "--model", b, "--csv", out_csv)
    assert rc == 0 and sorted(doc["zones_unlike_training"]) == sorted(doc["zones"])
    for z in doc["zones"].values():
        assert z["unlike_training"] and z["ood"] > 1 and any("unlike" in w for w in z["warnings"])
    rows = list(csv.DictReader(open(out_csv, newline="", encoding="utf-8")))
    assert all(r["unlike_training"] == "1" and "unlike the clips" in r["warnings"] for r in rows)


def test_several_patients_and_a_store_with_one_bad_patient(bundle, store, tmp_path, capsys):
    bad = tmp_path / "BAD"
    bad.mkdir()
    (bad / "R1.mp4").write_bytes(b"not a video")
    out_csv = tmp_path / "all.csv"
    rc, docs, err = _run(capsys, store, bad, store / "patients" / "SMALL", "--model", bundle, "--csv", out_csv)
    assert rc == 1  # the bad patient failed, the others ran
    assert err.count("\n") == 1 and "BAD" in err and "Traceback" not in err
    assert isinstance(docs, list) and [d["patient_id"] for d in docs] == ["DEMO-001", "SMALL", "SMALL"]
    assert set(docs[1]["zones"]) == {"R1", "R5"} and docs[1] == {**docs[2], "timings": docs[1]["timings"]}
    rows = list(csv.DictReader(open(out_csv, newline="", encoding="utf-8")))
    assert len(rows) == 11 + 2 + 2 and rows[0]["patient_id"] == "DEMO-001"

    rc, docs, err = _run(capsys, store, "--model", bundle)  # a whole store alone is a list too
    assert rc == 0 and err == "" and [d["patient_id"] for d in docs] == ["DEMO-001", "SMALL"]


def test_usage_errors_and_models_without_findings(store, tmp_path, capsys):
    rc, doc, err = _run(capsys, store, tmp_path / "missing")
    assert rc == 2 and doc is None and "missing" in err and err.count("\n") == 1
    rc, doc, err = _run(capsys, store, "--csv", tmp_path / "no" / "such" / "dir.csv")
    assert rc == 2 and "--csv" in err
    # the bundled model has no findings head: today's output, empty finding cells in the CSV
    out_csv = tmp_path / "plain.csv"
    rc, docs, err = _run(capsys, store / "patients" / "SMALL", "--model", BUNDLED, "--csv", out_csv)
    assert rc == 0 and err == ""
    assert set(docs["zones"]["R1"]) == {"score_probs", "score", "expected", "attention", "b_lines", "rule_score",
                                        "rule"} and "zones_unlike_training" not in docs
    rows = list(csv.DictReader(open(out_csv, newline="", encoding="utf-8")))
    assert len(rows) == 2 and rows[0]["p_b_lines"] == "" and rows[0]["ood"] == "" and rows[0]["b_lines"] != ""


# ---------------------------------------------------------------------------------------------- GUI
def _zf(b: float, unlike: bool = False, warnings: tuple = ()) -> fd.ZoneFindings:
    probs = {"b_lines": b, "a_lines": 1 - b, "consolidation": 0.03, "pleural_irregular": 0.2, "effusion": 0.01}
    warn = list(warnings) + (["this clip is unlike the clips the model was trained on (distance 3.0 x the usual "
                              "limit): check its findings and score yourself"] if unlike else [])
    return fd.ZoneFindings(probs=probs, present={k: v >= 0.5 for k, v in probs.items()},
                           grade_probs=np.array([0.5, 0.3, 0.2]), score_probs=np.array([0.5, 0.3, 0.1, 0.07, 0.03]),
                           ood=3.0 if unlike else 0.4, unlike_training=unlike, warnings=warn)


def _assessment(found: dict, version: str = "m-2"):
    from types import SimpleNamespace

    zones = ("R1", "R2", "L1")
    return SimpleNamespace(severity_probs=[0.4, 0.3, 0.2, 0.1], model_version=version, attention={z: 1 / 3 for z in zones},
                           zone_probs={z: [0.5, 0.3, 0.1, 0.07, 0.03] for z in zones}, zone_scores={z: 0 for z in zones},
                           zone_findings=found, warnings=[], timings={"total_s": 0.1})


def test_zone_panel_shows_findings_and_warnings_and_severity_says_unlike(qtbot, tmp_path):
    from PySide6.QtCore import QObject, Signal

    from lusapp.gui.session import SessionController
    from lusapp.gui.severity_panel import SeverityPanel
    from lusapp.gui.zone_panel import ZonePanel
    from lusapp.store import Store

    class FakeModel(QObject):
        engineChanged, loadingChanged, loadFailed = Signal(object), Signal(bool), Signal(str)
        engine, loading, description = object(), False, "fake"
        result = None

        def assess(self, session, done, failed):
            done(self.result)
            return None

    s = SessionController(rater="dr_test", autosave_ms=50)
    with Store.create(tmp_path / "store") as store:
        store.import_folder(make_small(tmp_path), actor="test")
    assert s.open_store(tmp_path / "store") and s.open_patient("SMALL")
    model = FakeModel()
    zp, sp = ZonePanel(s), SeverityPanel(s, model)
    sp.assessmentApplied.connect(zp.set_assessment)  # as the main window wires them
    for w in (zp, sp):
        qtbot.addWidget(w)
        w.show()
    s.set_zone("R1")
    assert not zp.findings_box.isVisible()  # not assessed: no block

    model.result = _assessment({"R1": _zf(0.82, warnings=("colour overlay on 12% of the image (Doppler?)",)),
                                "R2": _zf(0.1), "L1": _zf(0.6, unlike=True)})
    sp.assess()
    assert zp.findings_box.isVisible()
    assert zp.finding_labels["b_lines"].text() == "B-lines 82 %"
    assert "600" in zp.finding_labels["b_lines"].styleSheet()  # present: emphasised
    assert zp.finding_labels["consolidation"].text() == "Consolidation 3 %"
    assert "600" not in zp.finding_labels["consolidation"].styleSheet()
    assert zp.findings_warning.isVisible() and "colour overlay" in zp.findings_warning.text()
    assert "confluent 20 %" in zp.findings_info.text()
    assert sp.unlike_label.isVisible()
    assert sp.unlike_label.text() == "1 of 3 zones are unlike the training clips: severity not backed by the model"

    s.set_zone("R2")
    assert zp.finding_labels["b_lines"].text() == "B-lines 10 %" and not zp.findings_warning.isVisible()
    s.set_zone("L1")
    assert zp.findings_warning.isVisible() and "unlike the clips the model was trained on" in zp.findings_warning.text()
    assert zp.findings_rows()[-1].startswith("⚠")

    # a model without a findings head: the block says so, no stale numbers, no unlike sentence
    model.result = _assessment({}, version="m-3")
    sp.assess()
    assert zp.zone_findings() is None and not zp.findings_warning.isVisible()
    assert not zp.finding_labels["b_lines"].isVisible() and "No findings" in zp.findings_info.text()
    assert not sp.unlike_label.isVisible()
    s.close_store()


def make_small(tmp_path: Path) -> Path:
    """A plain patient folder SMALL with three zones (two copies of a demo still and one clip)."""
    d = tmp_path / "SMALL"
    d.mkdir()
    shutil.copy(DEMO / "R1.mp4", d / "R1.mp4")
    shutil.copy(DEMO / "R5.png", d / "R2.png")
    shutil.copy(DEMO / "R6.png", d / "L1.png")
    return d
