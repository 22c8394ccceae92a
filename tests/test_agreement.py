"""Agreement statistics on published worked examples, then on a store with two raters and a model: per pair,
over all raters, model vs each rater, the review queue, and ``lusapp agreement`` (text, JSON, CSV, bad store)."""

from __future__ import annotations

import csv
import json
import math

import cv2
import numpy as np
import pytest

from lusapp.agreement.collect import collect
from lusapp.agreement.queue import review_queue
from lusapp.agreement.statistics import dice_per_class, icc, krippendorff_alpha, quadratic_kappa
from lusapp.agreement.summary import agreement
from lusapp.cli import main
from lusapp.core.patient import ModelZoneScore
from lusapp.core.raters import set_consensus, set_rater_score
from lusapp.store import Store

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges; their Table 4 gives ICC(1,1) = .17,
# ICC(2,1) = .29, ICC(3,1) = .71.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", example C: 4 coders x 12 units with
# missing values; alpha nominal .743, interval .849 (paper); ordinal .815 (the krippendorff package's docs).
N = None
KRIPPENDORFF = [[1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
                [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
                [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
                [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N]]


def test_icc_reproduces_shrout_and_fleiss():
    r = icc(SHROUT_FLEISS)
    assert (round(r.icc1_1, 2), round(r.icc2_1, 2), round(r.icc3_1, 2)) == (0.17, 0.29, 0.71)
    assert (r.n, r.k) == (6, 4)
    assert icc([[1, 2, 3]]).icc2_1 is None  # one target: undefined, not a number
    with pytest.raises(ValueError, match="complete"):
        icc([[1, 2], [3, float("nan")]])


def test_krippendorff_alpha_reproduces_the_published_example():
    assert round(krippendorff_alpha(KRIPPENDORFF, "nominal"), 3) == 0.743
    assert round(krippendorff_alpha(KRIPPENDORFF, "interval"), 3) == 0.849
    assert round(krippendorff_alpha(KRIPPENDORFF, "ordinal"), 3) == 0.815
    assert krippendorff_alpha([[2, 2], [2, 2]]) is None  # one value everywhere: undefined
    assert krippendorff_alpha([[1, N], [N, 2]]) is None  # no unit rated twice


def test_quadratic_kappa_by_hand():
    # 3 categories, weights (i-j)^2/4: sum w*O = 0.125, sum w*E = 0.34375 -> 1 - 0.125/0.34375 = 7/11
    assert math.isclose(quadratic_kappa([0, 1, 2, 2], [0, 2, 2, 1], labels=[0, 1, 2]), 7 / 11)
    # 2 categories: quadratic = unweighted; p_o = 3/4, p_e = 1/2 -> 0.5
    assert math.isclose(quadratic_kappa([0, 0, 1, 1], [0, 1, 1, 1]), 0.5)
    assert quadratic_kappa([2, 2], [2, 2]) is None and quadratic_kappa([1], [1]) is None


def test_dice_per_class():
    a = np.zeros((4, 4), np.uint8)
    b = np.zeros((4, 4), np.uint8)
    a[0, :] = 1          # 4 pleural pixels
    b[0, :2] = 1         # 2, both inside a's
    a[3, 0] = b[3, 1] = 3  # one B-line pixel each, not overlapping
    d = dice_per_class(a, b)
    assert d == {"pleural_line": 2 * 2 / 6, "a_line": None, "b_line": 0.0, "consolidation": None}


def _mask(b_line_columns, pleura=True) -> np.ndarray:
    m = np.zeros((60, 80), np.uint8)
    if pleura:
        m[10:12, 5:75] = 1
    for c in b_line_columns:
        m[12:58, c:c + 3] = 3
    return m


def _model(value: int, n_levels: int = 5) -> ModelZoneScore:
    probs = [0.0] * n_levels
    probs[value] = 1.0
    return ModelZoneScore(probs, value, float(value), "m-1", "2026-01-01T10:00:00Z")


@pytest.fixture
def two_raters(tmp_path):
    cv2.imwrite(str(tmp_path / "still.png"), np.full((60, 80), 90, np.uint8))
    root = tmp_path / "store"
    with Store.create(root) as store:
        store.new_patient("P1")
        store.new_patient("P2")
        for zone in ("R1", "R2", "R3"):
            store.add_media("P1", zone, tmp_path / "still.png", "t")
        p = store.load_patient("P1")
        for zone, a, b, model in (("R1", 1, 1, 1), ("R2", 2, 3, 2), ("R3", 3, 3, 0)):
            set_rater_score(p.zones[zone], "dr_a", a)
            set_rater_score(p.zones[zone], "dr_b", b)
            p.zones[zone].model_score = _model(model)
        store.save_patient(p, "t")
        p2 = store.load_patient("P2")
        set_rater_score(p2.zones["L1"], "dr_a", 4)
        set_rater_score(p2.zones["L1"], "dr_b", 2)
        store.save_patient(p2, "t")
        store.save_masks("P1", "R1", {0: _mask([20, 40])}, kind="final", rater="dr_a")
        store.save_masks("P1", "R1", {0: _mask([20, 40, 60])}, kind="final", rater="dr_b")
        store.save_masks("P1", "R1", {0: _mask([20])}, kind="original", rater="model")
    return root


def test_agreement_of_two_raters_and_the_model(two_raters):
    with Store.open(two_raters, readonly=True) as store:
        ratings = collect(store)
    blk = agreement(ratings)
    assert blk["raters"] == ["dr_a", "dr_b"] and blk["patients"] == 2
    pair = blk["scores"]["pairs"][0]
    # dr_a (1, 2, 3, 4) vs dr_b (1, 3, 3, 2) over the store's 0-4 scale
    assert pair["n"] == 4 and pair["exact_agreement"] == 0.5
    assert math.isclose(pair["kappa_quadratic"], quadratic_kappa([1, 2, 3, 4], [1, 3, 3, 2], range(5)))
    assert math.isclose(blk["scores"]["krippendorff_alpha_ordinal"],
                        krippendorff_alpha([[1, 2, 3, 4], [1, 3, 3, 2]], "ordinal", range(5)))
    assert math.isclose(blk["scores"]["icc"]["icc2_1"], icc([[1, 1], [2, 3], [3, 3], [4, 2]]).icc2_1)
    masks = blk["masks"]["pairs"][0]
    assert masks["n_frames"] == 1 and masks["dice"]["pleural_line"] == 1.0
    assert math.isclose(masks["dice"]["b_line"], 2 * (2 * 46 * 3) / (2 * 46 * 3 + 3 * 46 * 3))
    frame = ratings.zones[0].frames[0]
    assert frame.b_lines == {"dr_a": 2, "dr_b": 3, "model": 1}
    model_a = blk["model"][0]
    assert model_a["rater"] == "dr_a" and model_a["n_zones"] == 3 and model_a["n_frames"] == 1
    assert math.isclose(model_a["dice"]["b_line"], 2 * 46 * 3 / (46 * 3 + 2 * 46 * 3))
    p2 = agreement(ratings.of_patient("P2"))
    assert p2["scores"]["pairs"][0]["n"] == 1 and p2["scores"]["pairs"][0]["kappa_quadratic"] is None
    assert p2["scores"]["krippendorff_alpha_ordinal"] is None  # one zone: undefined


def test_review_queue_puts_the_largest_disagreement_first_and_drops_settled_zones(two_raters):
    with Store.open(two_raters, readonly=True) as store:
        queue = review_queue(collect(store))
    # P1 R3: raters agree (3) but the model says 0 -> gap 3; P2 L1: raters 2 apart; P1 R2: 1 apart, model
    # 0.5 off; P1 R1: everyone agrees on the score, but frame 0 has two raters' masks and no consensus.
    assert [(q.patient, q.zone) for q in queue] == [("P1", "R3"), ("P2", "L1"), ("P1", "R2"), ("P1", "R1")]
    assert queue[0].reason == "raters agree; model expects 0.0, 3.0 from the raters' mean"
    assert queue[3].frames_to_adjudicate == [0]
    with Store.open(two_raters) as store:
        p = store.load_patient("P1")
        set_consensus(p.zones["R3"], "dr_chief", from_rater="dr_a")
        store.save_patient(p, "dr_chief")
        store.pick_rater_masks("P1", "R1", [0], "dr_b", "dr_chief")
        queue = review_queue(collect(store))
    assert [(q.patient, q.zone) for q in queue] == [("P2", "L1"), ("P1", "R2")]


def test_cli_json_csv_text_and_bad_store(two_raters, tmp_path, capsys):
    assert main(["agreement", str(two_raters), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"store", "patients", "problems", "queue"} and set(out["patients"]) == {"P1", "P2"}
    assert out["queue"][0]["zone"] == "R3"
    target = tmp_path / "agreement.csv"
    assert main(["agreement", str(two_raters), "--csv", str(target)]) == 0
    rows = list(csv.DictReader(target.open()))
    kappas = [r for r in rows if r["measure"] == "score_kappa_quadratic" and r["scope"] == "store"]
    assert {(r["a"], r["b"]) for r in kappas} == {("dr_a", "dr_b"), ("model", "dr_a"), ("model", "dr_b")}
    assert main(["agreement", str(two_raters), "--queue", "2"]) == 0
    text = capsys.readouterr().out
    assert "dr_a vs dr_b: quadratic kappa" in text and "2. P2 L1: raters 2 apart" in text and "3. " not in text
    assert main(["agreement", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a LUSApp store" in err[0]
    assert main(["agreement", str(two_raters), "--csv", str(tmp_path / "no" / "x.csv")]) == 2
    assert "no such folder" in capsys.readouterr().err
