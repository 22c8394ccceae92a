"""Protocols: built-in zone sets, diagram positions, strict validation of protocol files."""

import json

import pytest

from lusapp.core.errors import ValidationError
from lusapp.core.protocols import builtin_protocols, load_protocol


def test_lus12_is_the_paper_12_zone_protocol():
    p = load_protocol("lus12")
    assert p.zone_ids == ("R1", "R2", "R3", "R4", "R5", "R6", "L1", "L2", "L3", "L4", "L5", "L6")
    expected = {1: ("anterior", "upper"), 2: ("anterior", "lower"), 3: ("lateral", "upper"),
                4: ("lateral", "lower"), 5: ("posterior", "upper"), 6: ("posterior", "lower")}
    for z in p.zones:
        assert (z.region, z.level) == expected[int(z.id[1])]
        assert z.side == z.id[0]
        assert 0.0 <= z.x <= 1.0 and 0.0 <= z.y <= 1.0
        assert z.view == ("back" if z.region == "posterior" else "front")
    assert p.default_scale == "0-4"


def test_front_view_shows_patient_right_on_viewer_left_and_back_view_mirrored():
    p = load_protocol("lus12")
    assert p.zone("R1").x < 0.5 < p.zone("L1").x
    assert p.zone("R5").x > 0.5 > p.zone("L5").x
    assert p.zone("R1").y < p.zone("R2").y and p.zone("R5").y < p.zone("R6").y
    positions = {(z.view, z.x, z.y) for z in p.zones}
    assert len(positions) == 12, "no two zones drawn on the same spot"


def test_other_builtins_have_their_zone_counts():
    ps = builtin_protocols()
    assert list(ps)[0] == "lus12"
    assert len(ps["soldati14"].zones) == 14 and ps["soldati14"].default_scale == "0-3"
    assert ps["six_point"].zone_ids == ("R1", "R2", "R3", "L1", "L2", "L3")


def test_unknown_zone_lookup_is_a_clear_key_error():
    p = load_protocol("six_point")
    with pytest.raises(KeyError, match="R6"):
        p.zone("R6")
    assert p.find_zone("r2").id == "R2"


def _write(tmp_path, doc, name="mine.json"):
    f = tmp_path / name
    f.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return f


def test_user_protocol_file_round_trips(tmp_path):
    doc = load_protocol("six_point").to_dict()
    doc["id"] = "my_proto"
    p = load_protocol(_write(tmp_path, doc))
    assert p.id == "my_proto" and len(p.zones) == 6 and p.source.endswith("mine.json")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["zones"][0].update(x=1.5), r"zones\[0\]\.x: 1\.5 must be a number in \[0, 1\]"),
    (lambda d: d["zones"][1].update(side="X"), r"zones\[1\]\.side: 'X' is not one of R, L"),
    (lambda d: d["zones"][2].update(id="R1"), r"zones\[2\]\.id: duplicate zone id 'R1'"),
    (lambda d: d["zones"][0].pop("view"), r"zones\[0\]\.view: missing"),
    (lambda d: d.update(zones=[]), r"zones: must be a non-empty list"),
    (lambda d: d["zones"][0].update(colour="red"), r"unknown keys colour"),
])
def test_bad_protocol_file_names_the_file_and_the_problem(tmp_path, mutate, message):
    doc = load_protocol("six_point").to_dict()
    mutate(doc)
    f = _write(tmp_path, doc, "bad.json")
    with pytest.raises(ValidationError, match=message) as info:
        load_protocol(f)
    assert str(f) in str(info.value)


def test_invalid_json_protocol_names_file_and_line(tmp_path):
    f = _write(tmp_path, '{"id": "x",\n "zones": [', "broken.json")
    with pytest.raises(ValidationError, match=r"broken\.json: not valid JSON \(line 2"):
        load_protocol(f)


def test_unknown_protocol_id_lists_builtins():
    with pytest.raises(ValidationError, match="lus12"):
        load_protocol("no_such_protocol")


def test_user_protocols_folder_lists_valid_files_and_reports_bad_ones(tmp_path, monkeypatch):
    from lusapp.core.protocols import user_protocols

    monkeypatch.setenv("LUSAPP_DATA_DIR", str(tmp_path))
    folder = tmp_path / "protocols"
    folder.mkdir()
    doc = load_protocol("six_point").to_dict()
    (folder / "ward.json").write_text(json.dumps(dict(doc, id="ward6", name="Ward 6-point")))
    (folder / "clash.json").write_text(json.dumps(doc))  # re-uses the built-in id six_point
    (folder / "broken.json").write_text("{")
    found, problems = user_protocols()
    assert list(found) == ["ward6"] and load_protocol("ward6").name == "Ward 6-point"
    assert len(problems) == 2
    assert any("broken.json: not valid JSON" in p for p in problems)
    assert any("clash.json: id 'six_point' is already used" in p for p in problems)
