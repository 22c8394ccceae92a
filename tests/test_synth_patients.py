"""Synthetic patients: class balance, documented correlations, store round trip, demo folder, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from model_training.synth.patients import ZONE_IDS, make_cohort, make_patient
from model_training.synth.patterns import rule_score


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(240, seed=3)


def test_severity_classes_are_balanced(cohort):
    counts = np.bincount([p.severity for p in cohort], minlength=5)[1:]
    assert counts.tolist() == [60, 60, 60, 60]


def test_zone_scores_follow_severity_but_not_perfectly(cohort):
    sev = [p.severity for p in cohort]
    mean_score = [np.mean(list(p.zone_scores().values())) for p in cohort]
    rho = spearmanr(sev, mean_score)[0]
    assert 0.6 < rho < 0.97
    mild = [v for p in cohort if p.severity == 1 for v in p.zone_scores().values()]
    crit = [v for p in cohort if p.severity == 4 for v in p.zone_scores().values()]
    assert np.mean(np.array(mild) <= 1) > 0.7 and np.mean(np.array(crit) >= 3) > 0.5


def test_clinical_links_are_plausible_and_imperfect(cohort):
    sev = np.array([p.severity for p in cohort])
    age = np.array([p.clinical["age"] if p.clinical["age"] is not None else np.nan for p in cohort])
    ok = ~np.isnan(age)
    rho_age = spearmanr(sev[ok], age[ok])[0]
    assert 0.2 < rho_age < 0.8
    dys = np.array([p.clinical["symptoms"]["dyspnea"] for p in cohort], dtype=object)
    known = np.array([d is not None for d in dys])
    rho_dys = spearmanr(sev[known], dys[known].astype(float))[0]
    assert 0.1 < rho_dys < 0.8
    assert any(v is None for p in cohort for v in p.clinical["history"].values())  # some items unknown


def test_zone_records_are_consistent(cohort):
    kinds = [z.kind for p in cohort for z in p.zones.values()]
    assert {"clip", "still", "missing"} <= set(kinds)
    for p in cohort[:40]:
        assert tuple(p.zones) == ZONE_IDS
        for z in p.zones.values():
            if z.kind != "missing":
                assert z.content.score == z.score == rule_score(z.content)
                assert (z.n_frames == 1) == (z.kind == "still")
                assert z.kind == "still" or 12 <= z.n_frames <= 40


def test_patient_is_deterministic():
    a, b = make_patient("P1", 2, seed=11), make_patient("P1", 2, seed=11)
    assert a.to_dict() == b.to_dict()
    assert make_patient("P1", 2, seed=12).to_dict() != a.to_dict()


def test_writer_round_trips_through_the_store(tmp_path):
    from lusapp.store import Store
    from model_training.synth.writer import mask_frame_indices, write_patient

    sp = make_patient("SYN-T1", 3, seed=5, frames=(12, 14))
    assert sp.zones["R1"].content is not None  # seed 5 draws R1 (as a still): made a 13-frame clip here
    sp.zones["R1"].kind, sp.zones["R1"].n_frames = "clip", 13
    store = Store.create(tmp_path / "store")
    try:
        written = write_patient(store, sp, (120, 160))
        p = store.load_patient("SYN-T1")
        assert p.severity.clinician_label == 3 and p.severity.rater == "synth"
        assert p.clinical.age == sp.clinical["age"]
        for zid, z in sp.zones.items():
            rec = p.zones[zid]
            if z.kind == "missing":
                assert rec.media is None and zid not in written
                continue
            assert rec.clinician_score.value == z.score and rec.clinician_score.rater == "synth"
            assert store.mask_frames("SYN-T1", zid, "final") == mask_frame_indices(written[zid])
        import cv2

        cap = cv2.VideoCapture(str(store.media_path("SYN-T1", "R1")))
        n = 0
        while cap.grab():
            n += 1
        cap.release()
        assert n == 13 == written["R1"]
        m = store.load_mask("SYN-T1", "R1", 5, "final")
        assert m.shape == (120, 160) and m.dtype == np.uint8 and m.max() <= 4
        side = json.loads((store.patient_dir("SYN-T1") / "synth.json").read_text())
        assert side["zones"]["R1"]["content"]["score"] == sp.zones["R1"].score
        from model_training.synth.writer import read_sidecar, rerender_zone

        again = rerender_zone(read_sidecar(store.patient_dir("SYN-T1")), "R1")
        assert np.array_equal(again.masks[5], m) and len(again.frames) == 13
    finally:
        store.close()


def test_cli_demo_folder_reads_back(tmp_path):
    from lusapp.store import open_patient_folder
    from model_training.cli import main

    out = tmp_path / "demo"
    assert main(["synth", "--demo", str(out), "--seed", "7", "--size", "96x128"]) == 0
    patient, media = open_patient_folder(out)
    assert patient.patient_id == "DEMO-001" and len(media) == 11
    assert patient.severity.clinician_label in (1, 2, 3, 4)
    assert sum(f.stat().st_size for f in out.iterdir()) < 20e6
    assert "synthetic" in (out / "README.md").read_text().lower()
