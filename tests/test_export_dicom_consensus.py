"""lusapp export --dicom after adjudication (issue 14 walk-through): the SR reports the consensus a chief set, as
the patient report shows it, with its method, and the total adds the scores reported; the CLI says where the
site key is, says when --dicom found no DICOM clip, and does not print highdicom's per-attribute log lines."""

from __future__ import annotations

import highdicom as hd

from export_support import named_store
from lusapp.cli import main
from lusapp.core.raters import set_consensus, set_rater_score
from lusapp.resources import resource
from lusapp.store import Store


def test_sr_reports_the_consensus_and_the_cli_says_what_it_did(tmp_path, capsys):
    store = named_store(tmp_path)
    with Store.open(store) as st:
        pid = st.patient_ids()[0]
        p = st.load_patient(pid)
        set_rater_score(p.zones["R1"], "dr_b", 3)
        set_consensus(p.zones["R1"], "dr_chief", from_rater="dr_b")
        st.save_patient(p, "dr_chief")
    key = tmp_path / "site.key"
    assert main(["export", str(store), "--deidentify", "--dicom", "-o", str(tmp_path / "out"), "--key-file",
                 str(key)]) == 0
    err = capsys.readouterr().err
    assert "copy attributes" not in err and "copy Patient" not in err
    assert f"site key {key}" in err and "--key-file" in err
    sr_path = next((tmp_path / "out").rglob("scores-sr.dcm"))
    values, methods = {}, {}
    for group in hd.sr.srread(sr_path).content.get_image_measurement_groups():
        for m in group.get_measurements():
            values[(group.tracking_identifier, m.name.meaning)] = m.value
            methods[group.tracking_identifier] = m.method.meaning if m.method is not None else None
    assert values[("zone R1", "Lung ultrasound zone score")] == 3  # dr_chief's consensus, not import's 2
    assert methods["zone R1"] == "consensus score" and methods["zone R2"] == "clinician score"
    assert values[("patient", "Lung ultrasound total score")] == 4  # 3 + 1


def test_dicom_without_dicom_clips_says_so(tmp_path, capsys):
    root = tmp_path / "store"
    with Store.create(root) as store:
        store.import_folder(resource("demo"), actor="test")
    assert main(["export", str(root), "--dicom", "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "--dicom: no DICOM SEG or SR written: none of the exported zones' clips came from a DICOM file" in err
