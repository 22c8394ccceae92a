"""The model's findings saved with the patient (``ModelZoneScore.findings``): store round trip, strict
validation naming the field, written by ``apply_assessment``, older documents unchanged, and the zone panel
showing them after the patient is reopened."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lusapp.core.errors import ValidationError
from lusapp.core.patient import ModelZoneScore, Patient, check_findings
from lusapp.model import findings as fd
from lusapp.model.apply import apply_assessment, findings_record
from lusapp.store import Store

ZONES = ("R1", "R2", "L1")


def _zf(b: float, unlike: bool = False, warnings: tuple = (), ood: float | None = None) -> fd.ZoneFindings:
    probs = {"b_lines": b, "a_lines": 1 - b, "consolidation": 0.03, "pleural_irregular": 0.2, "effusion": 0.01}
    warn = list(warnings) + (["this clip is unlike the clips the model was trained on (distance 3.0 x the usual "
                              "limit): check its findings and score yourself"] if unlike else [])
    return fd.ZoneFindings(probs=probs, present={k: v >= 0.5 for k, v in probs.items()},
                           grade_probs=np.array([0.5, 0.3, 0.2]), score_probs=np.array([0.5, 0.3, 0.1, 0.07, 0.03]),
                           ood=(3.0 if unlike else 0.4) if ood is None else ood, unlike_training=unlike,
                           warnings=warn)


def _assessment(found: dict, version: str = "m-2"):
    return SimpleNamespace(severity_probs=[0.4, 0.3, 0.2, 0.1], model_version=version,
                           attention={z: 1 / 3 for z in ZONES},
                           zone_probs={z: [0.5, 0.3, 0.1, 0.07, 0.03] for z in ZONES},
                           zone_scores={z: 0 for z in ZONES}, zone_findings=found, warnings=[],
                           timings={"total_s": 0.1})


def _good() -> dict:
    return findings_record(_zf(0.82, warnings=("colour overlay on 12% of the image (Doppler?)",)))


# ---------------------------------------------------------------------------------------------- core
def test_apply_assessment_saves_findings_and_the_store_round_trips_them(tmp_path):
    with Store.create(tmp_path / "s") as store:
        store.new_patient("P1", actor="t")
        p = store.load_patient("P1")
        apply_assessment(p, _assessment({"R1": _zf(0.82, warnings=("colour overlay (Doppler?)",)),
                                         "R2": _zf(0.1), "L1": _zf(0.6, unlike=True, ood=float("inf"))}))
        f = p.zones["R1"].model_score.findings
        assert f["findings"]["b_lines"] == pytest.approx(0.82) and f["present"]["b_lines"] is True
        assert f["present"]["consolidation"] is False and f["unlike_training"] is False
        assert f["b_line_grade_probs"] == pytest.approx([0.5, 0.3, 0.2]) and f["ood"] == pytest.approx(0.4)
        assert f["warnings"] == ["colour overlay (Doppler?)"]
        assert p.zones["L1"].model_score.findings["ood"] == 1e6  # infinite distance: capped, still storable
        assert p.zones["L3"].model_score is None
        store.save_patient(p, "t")
        doc = json.loads((store.patient_dir("P1") / "patient.json").read_text())
        assert doc["zones"]["R1"]["model_score"]["findings"]["findings"]["b_lines"] == pytest.approx(0.82)
        assert doc["zones"]["L1"]["model_score"]["findings"]["unlike_training"] is True
    with Store.open(tmp_path / "s", readonly=True) as ro:
        again = ro.load_patient("P1")
    for z in ZONES:
        assert again.zones[z].model_score == p.zones[z].model_score
    assert again.zones["L1"].model_score.findings["warnings"][-1].startswith("this clip is unlike")


def test_documents_without_findings_load_unchanged_and_models_without_findings_write_none(tmp_path):
    p = Patient.new("P2")
    apply_assessment(p, _assessment({}))  # a model without a findings head
    assert all(p.zones[z].model_score.findings is None for z in ZONES)
    doc = p.to_dict()
    assert "findings" not in doc["zones"]["R1"]["model_score"]  # the older layout, byte for byte
    assert Patient.from_dict(json.loads(json.dumps(doc))).to_dict() == doc
    old = copy.deepcopy(doc)
    old["zones"]["R1"]["model_score"]["findings"] = None  # an explicit null reads as none
    assert Patient.from_dict(old).zones["R1"].model_score.findings is None
    # an assessment whose findings for a zone cannot be stored keeps the score, drops the findings
    bad = _zf(0.5)
    bad.probs["b_lines"] = float("nan")
    apply_assessment(p, _assessment({"R1": bad, "R2": _zf(0.2)}))
    assert p.zones["R1"].model_score is not None and p.zones["R1"].model_score.findings is None
    assert p.zones["R2"].model_score.findings is not None


def _set(path: str, value):
    def change(d: dict) -> None:
        keys = path.split(".")
        for k in keys[:-1]:
            d = d[k]
        if value is KeyError:
            del d[keys[-1]]
        else:
            d[keys[-1]] = value
    return change


BAD = [
    ("findings.b_lines", _set("findings.b_lines", 1.5), "not a probability"),
    ("findings.b_lines", _set("findings.b_lines", True), "not a probability"),
    ("findings.b_lines", _set("findings.b_lines", "0.4"), "not a probability"),
    ("findings", _set("findings", [0.1, 0.2]), "should be dict"),
    ("findings", _set("findings.Bad Name", 0.1), "not a finding name"),
    ("findings", _set("findings", {f"f{i}": 0.1 for i in range(17)}), "at most 16"),
    ("findings", _set("findings", KeyError), "missing"),
    ("present.b_lines", _set("present.b_lines", 1), "true or false"),
    ("present", _set("present.thing", True), "not among the findings"),
    ("b_line_grade_probs", _set("b_line_grade_probs", [0.5, 0.5]), "expected 3"),
    ("b_line_grade_probs", _set("b_line_grade_probs", [0.5, 0.5, 0.5]), "not 1"),
    ("b_line_grade_probs", _set("b_line_grade_probs", [1.2, -0.2, 0.0]), "not a probability"),
    ("ood", _set("ood", -0.1), "not a distance"),
    ("ood", _set("ood", 1e7), "not a distance"),
    ("ood", _set("ood", float("nan")), "not a distance"),
    ("ood", _set("ood", "far"), "should be int or float"),
    ("unlike_training", _set("unlike_training", "no"), "should be bool"),
    ("unlike_training", _set("unlike_training", KeyError), "missing"),
    ("warnings", _set("warnings", "check it"), "should be list"),
    ("warnings", _set("warnings", ["x"] * 17), "at most 16"),
    ("warnings.0", _set("warnings", [7]), "should be text"),
    ("warnings.1", _set("warnings", ["ok", "w" * 501]), "at most 500"),
    ("colour", _set("colour", "red"), "not a findings field"),
]


@pytest.mark.parametrize("fld,change,message", BAD, ids=[f"{b[0]}:{i}" for i, b in enumerate(BAD)])
def test_bad_findings_are_refused_naming_the_field(fld, change, message):
    p = Patient.new("P3")
    apply_assessment(p, _assessment({"R1": _zf(0.82, warnings=("one",))}))
    doc = p.to_dict()
    change(doc["zones"]["R1"]["model_score"]["findings"])
    with pytest.raises(ValidationError) as ei:
        Patient.from_dict(doc)
    assert ei.value.field == f"zones.R1.model_score.findings.{fld}", str(ei.value)
    assert message in str(ei.value)
    assert len(str(ei.value)) < 1000  # a refused long string does not come back whole


def test_findings_not_an_object_and_in_memory_validation():
    p = Patient.new("P4")
    apply_assessment(p, _assessment({"R1": _zf(0.3)}))
    doc = p.to_dict()
    doc["zones"]["R1"]["model_score"]["findings"] = [1, 2]
    with pytest.raises(ValidationError, match=r"zones\.R1\.model_score\.findings: .*should be dict"):
        Patient.from_dict(doc)
    ms = ModelZoneScore(probs=[1, 0, 0, 0, 0], score=0, expected=0.0, model_version="m", time="2026-01-31T12:00:00Z",
                        findings={**_good(), "ood": math.inf})
    with pytest.raises(ValidationError, match=r"zones\.R2\.model_score\.findings\.ood"):
        ms.validate("zones.R2.model_score")
    assert check_findings(_good()) == _good()  # normalised form is a fixed point


def test_saving_a_patient_with_bad_findings_is_refused_and_nothing_is_written(tmp_path):
    with Store.create(tmp_path / "s") as store:
        store.new_patient("P5", actor="t")
        p = store.load_patient("P5")
        apply_assessment(p, _assessment({"R1": _zf(0.82)}))
        p.zones["R1"].model_score.findings["warnings"] = ["w" * 10_000]
        before = (store.patient_dir("P5") / "patient.json").read_bytes()
        with pytest.raises(ValidationError, match=r"zones\.R1\.model_score\.findings\.warnings\.0"):
            store.save_patient(p, "t")
        assert (store.patient_dir("P5") / "patient.json").read_bytes() == before


# ---------------------------------------------------------------------------------------------- GUI
def _small_store(tmp_path: Path) -> Path:
    from gui_shell_support import make_patient_folder

    folder = make_patient_folder(tmp_path / "src", pid="SMALL", clips=("R1", "R2"), stills=("L1",))
    with Store.create(tmp_path / "store") as store:
        store.import_folder(folder, actor="test")
    return tmp_path / "store"


def test_reopened_patient_shows_the_saved_findings_and_warning(qtbot, tmp_path):
    from lusapp.gui.session import SessionController
    from lusapp.gui.zone_panel import ZonePanel

    root = _small_store(tmp_path)
    s1 = SessionController(rater="dr_test", autosave_ms=50)
    assert s1.open_store(root) and s1.open_patient("SMALL")
    s1.apply_assessment(_assessment({"R1": _zf(0.82, warnings=("colour overlay on 12% of the image (Doppler?)",)),
                                     "R2": _zf(0.1), "L1": _zf(0.6, unlike=True)}))
    assert s1.save() and s1.close_store()

    s2 = SessionController(rater="dr_test", autosave_ms=50)
    zp = ZonePanel(s2)
    qtbot.addWidget(zp)
    zp.show()
    assert s2.open_store(root) and s2.open_patient("SMALL")
    s2.set_zone("R1")
    assert zp.zone_findings() is None  # nothing assessed in this session...
    assert zp.findings_box.isVisible()  # ...but the saved findings are shown
    assert zp.finding_labels["b_lines"].text() == "B-lines 82 %"
    assert "600" in zp.finding_labels["b_lines"].styleSheet()  # present: emphasised
    assert zp.finding_labels["consolidation"].text() == "Consolidation 3 %"
    assert "600" not in zp.finding_labels["consolidation"].styleSheet()
    assert "confluent 20 %" in zp.findings_info.text() and "0.4× the limit" in zp.findings_info.text()
    assert zp.findings_warning.isVisible() and "colour overlay" in zp.findings_warning.text()
    s2.set_zone("R2")
    assert zp.finding_labels["b_lines"].text() == "B-lines 10 %" and not zp.findings_warning.isVisible()
    s2.set_zone("L1")
    assert zp.findings_rows()[-1].startswith("⚠") and "unlike the clips" in zp.findings_rows()[-1]

    # a later assessment by a model without findings replaces the score: the old findings are not shown
    s2.apply_assessment(_assessment({}, version="m-3"))
    assert zp.findings_box.isVisible() and not zp.finding_labels["b_lines"].isVisible()
    assert "No findings" in zp.findings_info.text() and not zp.findings_warning.isVisible()
    assert zp.findings_rows() == []
    s2.discard_changes()
    s2.close_store()


def test_new_media_drops_the_saved_findings_with_the_score(qtbot, tmp_path):
    from gui_shell_support import write_clip

    from lusapp.gui.session import SessionController
    from lusapp.gui.zone_panel import ZonePanel

    root = _small_store(tmp_path)
    s = SessionController(rater="dr_test", autosave_ms=50)
    assert s.open_store(root) and s.open_patient("SMALL")
    s.apply_assessment(_assessment({"R1": _zf(0.82), "R2": _zf(0.1)}))
    assert s.save()
    s.store.add_media("SMALL", "R1", write_clip(tmp_path / "R1.mp4", n=4, seed=5), "t")  # the store clears the score
    s.close_store()
    s2 = SessionController(rater="dr_test", autosave_ms=50)
    zp = ZonePanel(s2)
    qtbot.addWidget(zp)
    zp.show()
    assert s2.open_store(root) and s2.open_patient("SMALL")
    s2.set_zone("R1")
    assert s2.patient.zones["R1"].model_score is None and not zp.findings_box.isVisible()
    s2.set_zone("R2")
    assert zp.finding_labels["b_lines"].text() == "B-lines 10 %"
    s2.close_store()


def test_reopened_patient_says_how_many_zones_are_unlike_training(qtbot, tmp_path):
    """The severity panel's 'unlike the training clips' sentence comes back from the saved findings."""
    from lusapp.gui.model_ctl import ModelController
    from lusapp.gui.session import SessionController
    from lusapp.gui.severity_panel import SeverityPanel

    root = _small_store(tmp_path)
    s1 = SessionController(rater="dr_test", autosave_ms=50)
    assert s1.open_store(root) and s1.open_patient("SMALL")
    s1.apply_assessment(_assessment({"R1": _zf(0.82), "R2": _zf(0.1), "L1": _zf(0.6, unlike=True)}))
    assert s1.save() and s1.close_store()

    s2 = SessionController(rater="dr_test", autosave_ms=50)
    sp = SeverityPanel(s2, ModelController())
    qtbot.addWidget(sp)
    sp.show()
    assert s2.open_store(root) and s2.open_patient("SMALL")
    sp.refresh()
    assert sp.unlike_label.isVisible()
    assert sp.unlike_label.text().startswith("1 of 3 zones are unlike the training clips")
    s2.discard_changes()
    s2.close_store()
