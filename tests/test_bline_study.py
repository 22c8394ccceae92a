"""The B-line column study of ``realbench --bline-columns`` (model_training.bline_study): its summary of
per-clip counts against the second reader's grade, and a run on a few real development clips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_training import bline_study, realbench

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BUNDLED = Path(__file__).resolve().parents[1] / "resources" / "models" / "lus-staged-1.2.0"


def _row(grade, old, new, soldati=None, lus=None, expected_old=1.0, expected_new=1.0):
    counts = {"old_ungated": old, "new_ungated": new, "old_gated": old, "new_gated": new, "new_gated_min1": max(new, 1),
              "present": True, "ms_per_frame": 2.0, "expected_old": expected_old, "expected_new": expected_new}
    return {"reader2": {"b_line_grade": grade, "lus_score": lus}, "soldati": soldati, "bline_columns": counts}


def test_summary_ranks_counts_against_the_grade():
    rows = [_row(g, old=3, new=n, soldati=g, lus=g, expected_old=0.5, expected_new=float(g))
            for g, n in ((0, 0), (0, 0), (1, 1), (1, 2), (2, 3), (2, 4), (3, 5), (3, 6))]
    rows.append({"reader2": {}, "soldati": None})  # an item without the study (e.g. unreadable) is left out
    s = bline_study.summarize(rows, realbench.auc, realbench.spearman)
    assert s["n"] == 8
    new, old = s["counts"]["new_ungated"], s["counts"]["old_ungated"]
    assert new["spearman_grade"] > 0.95 and new["auc_any"] == 1.0 and new["auc_three"] == 1.0
    assert old["spearman_grade"] is None and old["auc_any"] == 0.5  # a constant count ranks nothing
    assert new["mean_by_grade"] == [0.0, 1.5, 3.5, 5.5] and new["six_or_more"] == 1
    assert s["zone_score"]["soldati"]["new"] > 0.95 and s["zone_score"]["soldati"]["old"] is None
    assert s["ms_per_frame"] == 2.0
    text = bline_study.markdown(s)
    assert "| new ungated | 0.9" in text and "| soldati | 8 |" in text


@pytest.mark.skipif(not (SHARED_DATA / "manifest.csv").exists(), reason="../shared/data is absent")
def test_realbench_adds_the_study_on_development_clips(tmp_path, capsys):
    rc = realbench.main(["--model", str(BUNDLED), "--part", "dev", "--limit", "3", "--frames", "8", "--boot", "0",
                         "--no-cvat", "--bline-columns", "--out", str(tmp_path)])
    assert rc == 0
    saved = json.loads((tmp_path / "realbench.json").read_text())
    study = saved["summary"]["bline_columns"]
    assert set(study["counts"]) == set(bline_study.COUNTS)
    for r in saved["items"]:
        c = r["bline_columns"]
        assert c["new_gated"] <= c["new_ungated"] and c["old_gated"] <= c["old_ungated"]
        assert c["present"] or c["new_gated"] == c["old_gated"] == 0
        assert 0 <= c["expected_new"] <= 4
    assert "B-line columns" in (tmp_path / "realbench.md").read_text()
    assert "B-line columns" in capsys.readouterr().out


@pytest.mark.skipif(not (SHARED_DATA / "manifest.csv").exists(), reason="../shared/data is absent")
def test_contact_sheet_shows_old_and_refined_masks_side_by_side(tmp_path):
    import cv2

    from model_training import contact_sheet

    out = tmp_path / "sheet.png"
    assert contact_sheet.main(["--model", str(BUNDLED), "--part", "dev", "--per", "1", "--bline-columns",
                               "--out", str(out)]) == 0
    img = cv2.imread(str(out))
    assert img.shape[:2] == (260 * len(contact_sheet.CATEGORIES), 120 + 2 * 260)  # label + (app, refined) tile
