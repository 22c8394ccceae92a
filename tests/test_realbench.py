"""The real-data benchmark: groups, split, licence rule, metric functions, and a smoke run on real clips."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from model_training import realbench, realdata
from model_training.realdata import FINDINGS, RealItem

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

BUNDLED = Path(__file__).resolve().parents[1] / "resources" / "models" / "lus-staged-1.1.0"


# ------------------------------------------------------------------------------------------ groups
def test_findings_match_the_app():
    from lusapp.model.findings import FINDINGS as APP_FINDINGS

    assert FINDINGS == APP_FINDINGS


@pytest.mark.parametrize("a, b", [
    ("pocus/videos/convex/Cov_denault_proposedUS_vid1.mov", "pocus/videos/convex/Cov_denault_proposedUS_vid14.mov"),
    ("pocus/videos/convex/Cov-Atlas+(44).gif", "pocus/videos/convex/Cov-Atlas-+(43).gif"),
    ("pocus/videos/convex/Reg_Image_181602_trimmed_crop.mp4", "pocus/videos/linear/Reg_Image_18122_crop.mp4"),
    ("pocus/images/convex/Cov_Oliviera_2020_Fig15A.jpg", "pocus/images/linear/Cov_Oliviera_2020_Fig14.jpg"),
    ("x/Lung_Example 1.mp4", "x/Lung_Example 2.mp4"),
    ("x/clip (1).mp4", "x/clip (2).mp4"),
])
def test_series_key_joins_copies_and_numbered_files(a, b):
    assert realdata.series_key(a) == realdata.series_key(b)


def test_series_key_keeps_different_pages_apart():
    assert realdata.series_key("Reg-Atlas.gif") != realdata.series_key("Cov-Atlas+(44).gif")
    assert realdata.series_key("Reg-Atlas-alines.gif") != realdata.series_key("Reg-Atlas-lungcurtain.gif")


def test_groups_union_patient_ids_series_and_named_sources():
    rows = [{"file": "a/Pneu_northumbria_0409_set3_vid1.avi", "patient_id": "1"},
            {"file": "a/Reg_northumbria_0409_set3_vid2.avi", "patient_id": "2"},  # same set, other label
            {"file": "a/Pneu_northumbria_0409_set4_vid1.avi", "patient_id": "3"},
            {"file": "a/Foo_page.mp4", "patient_id": "3"},  # patient id joins it to set4
            {"file": "a/Foo_page2.mp4", "patient_id": ""},  # series key joins it to Foo_page (transitive)
            {"file": "a/Pneu_prospective_file3.mp4", "patient_id": ""},
            {"file": "a/Vir_prospective_file1.mp4", "patient_id": ""},
            {"file": "a/Alone.mp4", "patient_id": "9"}]
    g = realdata.group_files(rows)
    assert g["a/Pneu_northumbria_0409_set3_vid1.avi"] == g["a/Reg_northumbria_0409_set3_vid2.avi"]
    assert g["a/Pneu_northumbria_0409_set4_vid1.avi"] == g["a/Foo_page.mp4"] == g["a/Foo_page2.mp4"]
    assert g["a/Pneu_northumbria_0409_set3_vid1.avi"] != g["a/Pneu_northumbria_0409_set4_vid1.avi"]
    assert g["a/Pneu_prospective_file3.mp4"] == g["a/Vir_prospective_file1.mp4"]
    assert len(set(g.values())) == 4


# ------------------------------------------------------------------------------------------ licences
@pytest.mark.parametrize("licence, ok", [
    ("CC BY 4.0", True), ("CC BY 2.0", True), ("CC BY-NC 4.0", True), ("CC BY-NC 3.0", True),
    ("CC BY-NC -SA 4.0", False), ("CC BY-NC-SA 3.0", False), ("CC BY-SA 4.0", False), ("None", False),
    ("COVID-19 emergency license", False), ("", False), ("MIT (repo)", False), ("CC BY-ND 4.0", False)])
def test_licence_rule(licence, ok):
    assert realdata.trainable(licence) is ok
    item = _item("x.mp4", "g", licence=licence)
    assert realdata.trainable(item) is ok


# ------------------------------------------------------------------------------------------ split
def _item(file, group, licence="CC BY 4.0", grade=0, cons=0, label="regular", part=""):
    r2 = {"b_lines": int(grade >= 1), "a_lines": 0, "consolidation": cons, "pleural_irregular": 0, "effusion": 0,
          "b_line_grade": grade, "lus_score": grade, "confidence": "low"}
    return RealItem(file=file, path=Path("/nowhere") / file, group=group, licence=licence, probe="convex",
                    kind="video", label=label, shipped={k: None for k in FINDINGS}, reader2=r2, soldati=None,
                    part=part)


def _synthetic_items(seed=1, n_groups=60):
    rng = random.Random(seed)
    items = []
    for g in range(n_groups):
        label = rng.choice(["regular", "COVID-19", "Bacterial pneumonia"])
        for j in range(rng.choice([1, 1, 1, 2, 3, 5])):
            items.append(_item(f"f{g:03d}_{j}.mp4", f"g{g:03d}", grade=rng.randrange(4), cons=rng.randrange(2),
                               label=label))
    return items


def test_split_keeps_groups_whole_hits_the_fraction_and_is_deterministic():
    items = _synthetic_items()
    split = realdata.make_split(items, test_fraction=0.4)
    assert set(split) == {i.file for i in items} and set(split.values()) == {"dev", "test"}
    parts = {}
    for i in items:
        parts.setdefault(i.group, set()).add(split[i.file])
    assert all(len(p) == 1 for p in parts.values())
    share = sum(v == "test" for v in split.values()) / len(split)
    assert 0.35 <= share <= 0.45
    for label in ("regular", "COVID-19", "Bacterial pneumonia"):  # stratified
        sel = [split[i.file] == "test" for i in items if i.label == label]
        assert 0.25 <= np.mean(sel) <= 0.55
    assert realdata.make_split(list(reversed(items)), test_fraction=0.4) == split  # order-free
    assert realdata.make_split(items, test_fraction=0.4) == split
    other = realdata.make_split(items, test_fraction=0.4, seed=7)
    assert all(len({other[i.file] for i in items if i.group == g}) == 1 for g in parts)


def test_committed_split_file_has_no_group_on_both_sides():
    rows = list(csv.DictReader(open(realdata.SPLIT_FILE, newline="", encoding="utf-8")))
    assert rows and set(rows[0]) == {"file", "group", "part"}
    by_group = {}
    for r in rows:
        by_group.setdefault(r["group"], set()).add(r["part"])
    assert all(len(p) == 1 for p in by_group.values())
    share = sum(r["part"] == "test" for r in rows) / len(rows)
    assert 0.35 <= share <= 0.45
    assert all(not r["file"].startswith("/") and ".." not in r["file"] for r in rows)  # names only


@pytest.mark.realdata
def test_committed_split_matches_the_data(shared_data):
    items = realdata.load_items(shared_data)
    split = realdata.read_split()
    assert {i.file for i in items} == set(split)  # every file, nothing else
    assert all(i.part in ("dev", "test") for i in items)
    assert all(split[i.file][0] == i.group for i in items)  # groups recomputed by the rules = the committed ones
    parts = {}
    for i in items:
        parts.setdefault(i.group, set()).add(i.part)
    assert all(len(p) == 1 for p in parts.values())
    assert realdata.make_split(items) == {f: p for f, (_, p) in split.items()}  # regenerates identically
    r2 = [i for i in items if i.reader2]
    assert len(r2) == 150 and all(i.reader2["b_lines"] == int(i.reader2["b_line_grade"] >= 1) for i in r2)
    assert sum(i.soldati is not None for i in items) == 72
    assert {i.kind for i in items} == {"video", "image"} and {i.probe for i in items} <= {"convex", "linear", ""}


def test_without_the_data_nothing_is_loaded_and_realbench_exits_0(tmp_path, capsys):
    assert realdata.load_items(tmp_path) == []
    assert realbench.main(["--data", str(tmp_path)]) == 0
    assert "no real data" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ metrics
def test_auc_known_values():
    assert realbench.auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert realbench.auc([1, 1, 1], [0, 1, 1]) == pytest.approx(0.5)
    assert realbench.auc([0.2, 0.9], [1, 1]) is None
    assert realbench.auc([3, 2, 1], [1, 0, 0]) == pytest.approx(1.0)
    assert realbench.auc([1, 2, 3], [1, 0, 0]) == pytest.approx(0.0)


def test_midranks_and_spearman():
    assert realbench.midranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert realbench.spearman([1, 2, 3, 4], [10, 20, 30, 400]) == pytest.approx(1.0)
    assert realbench.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert realbench.spearman([1, 1, 1], [1, 2, 3]) is None
    assert realbench.spearman([1, 2], [1, 2]) is None
    # hand value with ties: ranks x = 1,2,3,4, y = 1.5,1.5,3,4 -> rho = 0.9487
    assert realbench.spearman([1, 2, 3, 4], [0, 0, 1, 2]) == pytest.approx(0.948683, abs=1e-5)
    scipy = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 4, 40), rng.normal(size=40)
    assert realbench.spearman(x, y) == pytest.approx(scipy.spearmanr(x, y).statistic)


def test_sensitivity_specificity():
    r = realbench.sens_spec([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    assert r["sensitivity"] == pytest.approx(2 / 3) and r["specificity"] == pytest.approx(1 / 2)
    assert realbench.sens_spec([1], [1])["specificity"] is None


def test_grouped_bootstrap_interval_contains_the_estimate():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 80).astype(bool)
    s = y * 0.6 + rng.normal(0, 0.5, 80)
    groups = np.repeat(np.arange(40), 2)
    point = realbench.auc(s, y)
    lo, hi, n = realbench.grouped_bootstrap(lambda i: realbench.auc(s[i], y[i]), groups, 300)
    assert lo < point < hi and n >= 290 and 0 <= lo and hi <= 1
    assert realbench.grouped_bootstrap(lambda i: None, groups, 50) == (None, None, 0)
    # same seed -> same interval; one group only -> the interval collapses onto the estimate
    assert realbench.grouped_bootstrap(lambda i: realbench.auc(s[i], y[i]), groups, 300)[:2] == (lo, hi)
    lo1, hi1, _ = realbench.grouped_bootstrap(lambda i: realbench.auc(s[i], y[i]), np.zeros(80), 50)
    assert lo1 == pytest.approx(point) and hi1 == pytest.approx(point)


def test_score_metrics_mapping():
    r = realbench.score_metrics([0.2, 1.4, 1.6, 3.9], [0, 2, 2, 3], ["a", "b", "c", "d"], n_boot=0)
    assert r["accuracy_01_vs_23"] == pytest.approx(0.75)  # 1.4 -> {0,1} but truth 2
    assert r["majority_accuracy"] == pytest.approx(0.75)
    assert r["spearman"] == pytest.approx(realbench.spearman([0.2, 1.4, 1.6, 3.9], [0, 2, 2, 3]))


def test_summarize_on_synthetic_rows():
    rows = []
    for i in range(12):
        y = i % 2
        rows.append({"file": f"f{i}", "group": f"g{i // 2}", "probs": {k: (0.9 if y else 0.1) for k in FINDINGS},
                     "present": {k: bool(y) for k in FINDINGS}, "expected": 3.0 * y, "score": 3 * y,
                     "unlike_training": i == 0, "warnings": [], "source": "findings head",
                     "shipped": {k: y for k in FINDINGS}, "reader2": {**{k: y for k in FINDINGS}, "lus_score": 3 * y},
                     "soldati": 2 * y})
    rows.append({"file": "bad", "group": "gx", "error": "unreadable"})
    s = realbench.summarize(rows, n_boot=100)
    assert s["items"] == 13 and s["failed"] == 1
    for k in FINDINGS:
        for ref in ("shipped", "reader2", "both_agree"):
            v = s["findings"][k][ref]
            assert v["auc"] == pytest.approx(1.0) and v["sensitivity"] == 1.0 and v["specificity"] == 1.0
    assert s["zone_score"]["soldati"]["spearman"] == pytest.approx(1.0)
    assert s["zone_score"]["reader2"]["accuracy_01_vs_23"] == pytest.approx(1.0)
    assert s["score_distribution"]["counts"] == [6, 0, 0, 6, 0]
    assert s["score_distribution"]["most_common_share"] == pytest.approx(0.5)
    assert s["unlike_training_share"] == pytest.approx(1 / 12)
    assert "| B-lines | reader2 |" in realbench.markdown({**s, "cvat": None}, "t")


# ------------------------------------------------------------------------------------------ real run
@pytest.mark.realdata
@pytest.mark.skipif(not (SHARED_DATA / "manifest.csv").exists(), reason="../shared/data is absent")
def test_realbench_on_five_test_items(tmp_path, capsys):
    rc = realbench.main(["--model", str(BUNDLED), "--part", "test", "--limit", "5", "--frames", "8",
                         "--boot", "100", "--json", "--out", str(tmp_path)])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "realbench.json").read_text())
    assert printed == saved["summary"]
    s = saved["summary"]
    for key in ("items", "failed", "findings", "zone_score", "score_distribution", "unlike_training_share",
                "warning_share", "model", "part", "cvat", "source"):
        assert key in s, key
    assert s["items"] == 5 and s["failed"] == 0 and s["part"] == "test"
    assert set(s["findings"]) == set(FINDINGS)
    for ref in ("shipped", "reader2", "both_agree"):
        assert {"n", "positive", "auc", "auc_ci", "sensitivity", "specificity"} <= set(s["findings"]["b_lines"][ref])
    assert set(s["zone_score"]) == {"soldati", "reader2"} and "spearman_ci" in s["zone_score"]["reader2"]
    assert sum(s["score_distribution"]["counts"]) == 5
    assert s["cvat"] is None or "pleural_line" in s["cvat"]["per_class"]
    items = saved["items"]
    assert len(items) == 5 and all(r["part"] == "test" for r in items)
    assert all(set(r["probs"]) == set(FINDINGS) and 0 <= r["expected"] <= 4 for r in items)
    assert (tmp_path / "realbench.md").read_text().startswith("### ")


def test_item_row_reads_a_findings_head_report():
    from types import SimpleNamespace

    found = SimpleNamespace(present={k: k == "b_lines" for k in FINDINGS}, unlike_training=True, ood=1.7)
    report = SimpleNamespace(probs={k: (0.8 if k == "b_lines" else 0.2) for k in FINDINGS}, findings=found,
                             frames=30, expected=1.2, score=1, rule_score=2, warnings=["colour overlay"])
    engine = SimpleNamespace(clip_report=lambda path, n: report)
    row = realbench.item_row(engine, _item("x.mp4", "g", part="test"), 30)
    assert row["source"] == "findings head" and row["probs"]["b_lines"] == 0.8
    assert row["present"] == {k: k == "b_lines" for k in FINDINGS}
    assert row["unlike_training"] is True and row["warnings"] == ["colour overlay"] and row["score"] == 1
