"""``lusapp agreement`` on real readings: the POCUS clips' shipped 0-3 LUS scores and a second blind reading
(../shared/data/pocus_reader2.csv) as two raters of a store. Its data README reports, on the 72 clips both scored,
54 % exact agreement and a weighted kappa of 0.44; the command must find the same. Skipped when the data are
absent (they never enter the repository; the store is built in a temporary folder, scores only)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from lusapp.cli import main
from lusapp.core.raters import set_rater_score
from lusapp.store import Store

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
pytestmark = [pytest.mark.realdata,
              pytest.mark.skipif(not (DATA / "pocus_reader2.csv").is_file(), reason="../shared/data is absent")]


def _pairs() -> list[tuple[int, int]]:
    shipped = {r["file"]: r["lus_score"] for r in csv.DictReader((DATA / "manifest.csv").open())}
    out = []
    for r in csv.DictReader((DATA / "pocus_reader2.csv").open()):
        if shipped.get(r["file"]) not in (None, ""):
            out.append((int(shipped[r["file"]]), int(r["lus_score"])))
    return out


def test_shipped_scores_against_the_second_reader(tmp_path, capsys):
    pairs = _pairs()
    zones = 14  # soldati14: one clip per zone, 14 clips per pseudo-patient
    with Store.create(tmp_path / "store") as store:
        for start in range(0, len(pairs), zones):
            pid = f"POCUS-{start // zones:02d}"
            p = store.new_patient(pid, protocol="soldati14")
            for zid, (a, b) in zip(p.protocol.zone_ids, pairs[start:start + zones]):
                set_rater_score(p.zones[zid], "shipped", a)
                set_rater_score(p.zones[zid], "reader2", b)
            store.save_patient(p, "test")
    assert main(["agreement", str(tmp_path / "store"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["store"]["scores"]
    (pair,) = scores["pairs"]
    assert pair["n"] == len(pairs) == 72
    assert round(pair["exact_agreement"], 2) == 0.54 and round(pair["kappa_quadratic"], 2) == 0.44
    assert 0.3 < scores["krippendorff_alpha_ordinal"] < 0.6 and 0.3 < scores["icc"]["icc2_1"] < 0.6
