"""`python -m model_training pocus`: the real-clip check's statistics, and its behaviour without the data."""

import pytest

from model_training import pocus_check


def test_auc_matches_hand_computed_values():
    assert pocus_check.auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)  # 3 of 4 pairs ordered
    assert pocus_check.auc([1, 1, 1], [0, 1, 1]) == pytest.approx(0.5)  # ties count half
    assert pocus_check.auc([0.2, 0.9], [1, 1]) is None  # one class only


def test_summary_counts_sensitivity_specificity_and_rank_correlation():
    rows = [
        {"label": "regular", "lus_score": 0, "expected_score": 0.2, "b_lines": 0.0, "a_lines": 1.0, "consolidation": 0.0,
         "label_b_lines": 0, "label_a_lines": 1, "label_consolidation": 0},
        {"label": "COVID-19", "lus_score": 2, "expected_score": 2.5, "b_lines": 0.8, "a_lines": 0.0, "consolidation": 0.0,
         "label_b_lines": 1, "label_a_lines": 0, "label_consolidation": 0},
        {"label": "COVID-19", "lus_score": 1, "expected_score": 1.1, "b_lines": 0.6, "a_lines": 0.0, "consolidation": 0.7,
         "label_b_lines": 0, "label_a_lines": 0, "label_consolidation": 1},
        {"label": "Bacterial pneumonia", "lus_score": None, "expected_score": 3.0, "b_lines": 0.1, "a_lines": 0.0,
         "consolidation": 0.9, "label_b_lines": None, "label_a_lines": 0, "label_consolidation": 1},
    ]
    s = pocus_check.summarize(rows)
    b = s["B-lines"]
    assert b["n"] == 3 and b["positive"] == 1  # the row without a finding is left out
    assert b["sensitivity"] == 1.0 and b["specificity"] == 0.5  # 0.6 >= 0.5 is a false positive
    assert s["consolidation"]["auc"] == pytest.approx(1.0)
    z = s["zone score vs Soldati score"]
    assert z["n"] == 3 and z["spearman_rho"] == pytest.approx(1.0)
    assert s["zone score: not healthy"]["auc"] == pytest.approx(1.0)
    assert "B-lines" in pocus_check.markdown(s, "m 1.0.0")


def test_without_the_shared_data_it_says_so_and_succeeds(tmp_path, capsys):
    assert pocus_check.main(["--data", str(tmp_path)]) == 0
    assert "not found" in capsys.readouterr().err
