"""The annotator's "label next" (issue 11): how unsure the model is about a zone (spread of the score
probabilities, findings near 0.5), and the review queue's ``uncertain`` part: unreviewed zones where the
model is unsure, after the disagreements, the most uncertain first (lusapp.agreement.uncertainty / queue)."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from lusapp.agreement.collect import collect
from lusapp.agreement.queue import review_queue
from lusapp.agreement.uncertainty import UNSURE, closest_finding, score_entropy, zone_uncertainty
from lusapp.cli import main
from lusapp.core.patient import ModelZoneScore
from lusapp.core.raters import set_rater_score
from lusapp.store import Store


def _score(probs, findings=None) -> ModelZoneScore:
    s = int(np.argmax(probs))
    return ModelZoneScore(list(probs), s, float(sum(i * p for i, p in enumerate(probs))), "m-1",
                          "2026-01-01T10:00:00Z", findings)


def test_score_entropy_runs_from_certain_to_uniform():
    assert score_entropy([0, 0, 1, 0, 0]) == 0.0
    assert math.isclose(score_entropy([0.2] * 5), 1.0)
    assert 0 < score_entropy([0.1, 0.8, 0.1, 0, 0]) < score_entropy([0.3, 0.4, 0.3, 0, 0]) < 1
    assert score_entropy(None) is None and score_entropy([1.0]) is None


def test_the_finding_nearest_the_decision_names_the_zones_doubt():
    f = {"findings": {"b_lines": 0.55, "a_lines": 0.97, "consolidation": 0.02}}
    assert closest_finding(f) == ("b_lines", 0.55, 0.9)
    u, why = zone_uncertainty(_score([0.0, 0.0, 1.0, 0.0, 0.0], f))
    assert u == 0.9 and "B-lines P=0.55" in why and "score 2 at 100%" in why
    assert zone_uncertainty(None) == (None, "")


@pytest.fixture
def store_root(tmp_path):
    cv2.imwrite(str(tmp_path / "still.png"), np.full((60, 80), 90, np.uint8))
    root = tmp_path / "store"
    with Store.create(root) as store:
        store.new_patient("P1")
        for zone in ("R1", "R2", "R3", "R4"):
            store.add_media("P1", zone, tmp_path / "still.png", "t")
        p = store.load_patient("P1")
        p.zones["R1"].model_score = _score([0.3, 0.35, 0.35, 0, 0])  # unsure, nobody looked
        p.zones["R2"].model_score = _score([0, 0, 0.02, 0.96, 0.02])  # sure: not worth a look
        p.zones["R3"].model_score = _score([0, 0.1, 0.8, 0.1, 0], {"findings": {"b_lines": 0.49},
                                                                      "present": {"b_lines": False},
                                                                      "unlike_training": False, "warnings": []})  # B-lines?
        p.zones["R4"].model_score = _score([0.4, 0.3, 0.3, 0, 0])  # unsure, but two raters disagree
        set_rater_score(p.zones["R4"], "dr_a", 1)
        set_rater_score(p.zones["R4"], "dr_b", 3)
        p.zones["L1"].model_score = _score([0.2] * 5)  # no media: nothing to label
        store.save_patient(p, "t")
    return root


def test_the_queue_lists_unreviewed_unsure_zones_after_the_disagreements(store_root):
    with Store.open(store_root, readonly=True) as store:
        ratings = collect(store)
    assert [q.zone for q in review_queue(ratings)] == ["R4"]  # the adjudicator's queue is unchanged
    queue = review_queue(ratings, uncertain=True)
    assert [q.zone for q in queue] == ["R4", "R3", "R1"]
    assert all(q.model_uncertainty >= UNSURE for q in queue[1:])
    assert queue[1].reason.startswith("no rater yet; model unsure") and "B-lines P=0.49" in queue[1].reason
    assert queue[1].scores == {} and queue[1].frames_to_adjudicate == []


def test_cli_uncertain_flag(store_root, capsys):
    assert main(["agreement", str(store_root), "--json", "--uncertain"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [q["zone"] for q in out["queue"]] == ["R4", "R3", "R1"] and out["queue"][2]["model_uncertainty"] == pytest.approx(0.681, abs=1e-3)
    assert main(["agreement", str(store_root), "--queue", "5", "--uncertain"]) == 0
    text = capsys.readouterr().out
    assert "P1 R1: no rater yet; model unsure: score 1 at 35% (spread 0.68) [model 1]" in text
    assert main(["agreement", str(store_root), "--queue", "5"]) == 0
    assert "no rater yet" not in capsys.readouterr().out
