"""Realism report on real convex clips (skipped when ../shared/data is absent)."""

from __future__ import annotations

import json

import pytest

from model_training import realism

pytestmark = pytest.mark.realdata


@pytest.mark.skipif(not realism.real_convex_clips(), reason="real clips (../shared/data/pocus) absent")
def test_realism_report_numbers_are_close(tmp_path):
    rep = realism.compare(tmp_path, n_real=8, n_synth=5, seed=0)
    assert (tmp_path / "contact_sheet.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "realism.json").read_text())["n_synth"] == 5
    assert rep["histogram_intersection"] > 0.6
    r, s = rep["real"], rep["synth"]
    assert 0.5 < s["local_std_over_mean"][0] / r["local_std_over_mean"][0] < 2.0
    assert 0.5 < s["acf_lateral_px_median"][0] / r["acf_lateral_px_median"][0] < 2.0
    assert abs(s["mean"][0] - r["mean"][0]) < 25


def test_synthetic_stats_without_real_data():
    (f, m), = realism.synth_frames(1, seed=3, size=(240, 320))
    st = realism.frame_stats(f, m)
    assert 10 < st["mean"] < 150 and st["acf_lateral_px"] > st["acf_axial_px"] > 0.5
