"""The patient report (lusapp.report, `lusapp report`): content, pages, reproducibility, exit codes."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from lusapp.cli import main
from lusapp.core.labels import B_LINE, CONSOLIDATION, PLEURAL_LINE
from lusapp.core.patient import ModelZoneScore
from lusapp.report import NOT_A_MEDICAL_DEVICE
from lusapp.report.content import document_time, gather_path, gather_store
from lusapp.report.pdf import render_pdf, write_report
from lusapp.resources import resource
from lusapp.store import Store

MODEL = "lus-staged-1.2.0"
T_MODEL = "2026-02-01T10:00:00Z"


def pdf_text(data: bytes) -> str:
    """The text drawn in a PDF (pypdf's extraction of every page), whitespace collapsed to single spaces (so a
    phrase wrapped over two lines is still found)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() or "" for page in reader.pages))


def n_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", data))


def _mask(h: int, w: int, n_b: int, consolidation: bool = False) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[h // 5: h // 5 + 3, w // 6: 5 * w // 6] = PLEURAL_LINE
    for i in range(n_b):
        x = w // 4 + i * w // 10
        m[h // 5 + 3: 4 * h // 5, x: x + 4] = B_LINE
    if consolidation:
        m[h // 2: h // 2 + h // 6, w // 3: w // 2] = CONSOLIDATION
    return m


def _assess(root: Path, pid: str) -> None:
    """A stored assessment without running the model: model zone scores with findings, severity with attention,
    ORIGINAL masks on two frames of R1 and R2, a labelled FINAL frame of R1, no clinician score for L6."""
    with Store.open(root) as store:
        p = store.load_patient(pid)
        with_media = [z for z, r in p.zones.items() if r.media is not None]
        for i, zid in enumerate(with_media):
            probs = np.full(5, 0.05)
            probs[i % 5] = 0.8
            findings = {"findings": {"b_lines": 0.81, "a_lines": 0.12, "consolidation": 0.07,
                                     "pleural_irregular": 0.3, "effusion": 0.02},
                        "present": {"b_lines": True, "a_lines": False, "consolidation": False,
                                    "pleural_irregular": False, "effusion": False},
                        "b_line_grade_probs": [0.2, 0.5, 0.3], "ood": 0.4, "unlike_training": zid == "R5",
                        "warnings": ["colour overlay \u2014 check the clip"] if zid == "R5" else []}
            p.zones[zid].model_score = ModelZoneScore(
                probs=[float(v) for v in probs], score=i % 5,
                expected=float((probs * np.arange(5)).sum()), model_version=MODEL, time=T_MODEL, findings=findings)
        p.zones["L6"].clinician_score = None
        att = {z: 1.0 / len(with_media) for z in with_media}
        p.severity.model_probs = [0.1, 0.2, 0.5, 0.2]
        p.severity.model_version, p.severity.model_time, p.severity.model_attention = MODEL, T_MODEL, att
        store.save_patient(p, actor="test")
        for zid in ("R1", "R2"):
            ref = p.zones[zid].media
            h, w = ref.height, ref.width
            store.save_masks(pid, zid, {3: _mask(h, w, 1), 10: _mask(h, w, 4, consolidation=True)}, "original",
                             "model", MODEL)
        ref = p.zones["R1"].media
        store.save_mask(pid, "R1", 5, _mask(ref.height, ref.width, 2), "final", "dr_a", MODEL)


def test_report_of_assessed_demo_patient(demo_store, tmp_path):
    root, pid = demo_store
    _assess(root, pid)
    with Store.open(root, readonly=True) as store:
        content = gather_store(store, pid)
        patient = store.load_patient(pid)
    data = render_pdf(content)
    zones = {z.zone.id: z for z in content.zones}
    assert (zones["R1"].key.frame, zones["R1"].key.why, zones["R1"].key.mask_kind) == (5, "labelled FINAL", "final")
    assert zones["R1"].key.mask_rater == "dr_a"
    assert (zones["R2"].key.frame, zones["R2"].key.why, zones["R2"].key.mask_kind) == \
        (10, "most B-line pixels", "original")
    assert zones["R3"].key.why.startswith("middle frame") and zones["R3"].measures is None
    assert zones["R2"].measures.b_lines == 4 and zones["R2"].rule[0] == 4  # consolidation in frame 10
    assert zones["L2"].key is None and zones["L2"].record.media is None
    assert zones["L6"].shown_score == (patient.zones["L6"].model_score.score, "model")

    assert data.startswith(b"%PDF-") and n_pages(data) == 2
    text = pdf_text(data)
    assert pid in text and NOT_A_MEDICAL_DEVICE in text
    assert text.count(NOT_A_MEDICAL_DEVICE) >= 3  # the banner and each page's footer
    assert f"{patient.total_score()} / 48" in text
    for zid in ("R1", "R5", "L6"):
        score, who = zones[zid].shown_score
        assert f"{zid} {score} {'C' if who == 'clinician' else 'M'}" in text  # the key frame's badge
    assert "severe (3), P 0.50" in text and "Severe or critical: P 0.70" in text
    assert "Clinician's final severity" in text and "by import" in text
    assert MODEL in text and "Findings (P): B-lines 0.81 (present)" in text
    assert "unlike the training clips; colour overlay \u2014 check the clip" in text  # the dash as written
    assert "labelled FINAL; FINAL mask by dr_a," in text and "most B-line pixels; the model's mask (ORIGINAL)" in text
    assert "Measures (1 FINAL + 2 model masks): 4 B-lines" in text and "rule score 4 (consolidation" in text
    assert "Age 67, sex male" in text

    # reproducible: same store, same bytes; the creation date is the document's latest time, not the clock
    with Store.open(root, readonly=True) as store:
        assert render_pdf(gather_store(store, pid)) == data
    copy = tmp_path / "elsewhere" / root.name  # a copy of the store in another folder: the same PDF
    shutil.copytree(root, copy)
    assert render_pdf(gather_path(copy / "patients" / pid)) == data
    stamp = document_time(patient).strftime("D:%Y%m%d%H%M%S")
    assert stamp.encode() in data


def test_cli_writes_the_report_and_leaves_the_store_untouched(demo_store, tmp_path, capsys):
    root, pid = demo_store
    _assess(root, pid)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    with Store.open(root):  # the app holds the store for writing: the report reads it anyway
        out1, out2 = tmp_path / "a.pdf", tmp_path / "b.pdf"
        assert main(["report", str(root / "patients" / pid), "-o", str(out1)]) == 0
        assert main(["report", str(root / "patients" / pid), "--output", str(out2)]) == 0
    assert out1.read_bytes() == out2.read_bytes() and n_pages(out1.read_bytes()) == 2
    assert capsys.readouterr().out.strip().splitlines() == [str(out1), str(out2)]
    after = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.name != ".lock"}
    assert after == {p: t for p, t in before.items() if p.name != ".lock"}
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("args", [
    ["{tmp}/no-such-folder", "-o", "{tmp}/r.pdf"],   # not a folder
    ["{store}", "-o", "{tmp}/r.pdf"],                # a whole store
    ["{store}/patients/NOPE", "-o", "{tmp}/r.pdf"],  # not a patient of the store
    ["{tmp}/a-file.txt", "-o", "{tmp}/r.pdf"],       # a file
    ["{store}/patients/DEMO-001"],                   # no -o
    [],                                              # nothing
])
def test_cli_bad_folder_or_arguments_exit_2_with_one_line(demo_store, tmp_path, capsys, args):
    root, _pid = demo_store
    (tmp_path / "a-file.txt").write_text("x")
    (root / "patients" / "NOPE").mkdir()
    argv = ["report"] + [a.format(tmp=tmp_path, store=root) for a in args]
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("lusapp report: "), err
    assert not (tmp_path / "r.pdf").exists()


def test_cli_unwritable_output_exits_1_naming_the_file(demo_store, tmp_path, capsys):
    root, pid = demo_store
    out = tmp_path / "missing-folder" / "r.pdf"
    assert main(["report", str(root / "patients" / pid), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "r.pdf" in err[0] and "cannot write the report" in err[0]
    assert not out.exists() and not (tmp_path / "missing-folder").exists()


def test_patient_without_assessment_or_media_says_not_assessed(tmp_path):
    root = tmp_path / "store"
    with Store.create(root) as store:
        store.new_patient("P-EMPTY", exam_date="2026-03-04", actor="test")
    content = gather_path(root / "patients" / "P-EMPTY")
    data = render_pdf(content)
    text = pdf_text(data)
    assert n_pages(data) == 1  # no image: no key-frame page
    assert "P-EMPTY" in text and "not assessed (no model assessment stored)" in text and "not scored" in text
    assert NOT_A_MEDICAL_DEVICE in text and "not set" in text
    assert b"D:20260304000000" in data  # nothing recorded: the exam date
    assert render_pdf(gather_path(root / "patients" / "P-EMPTY")) == data


def test_demo_imported_but_not_assessed_and_plain_folder(demo_store, tmp_path):
    root, pid = demo_store
    data = render_pdf(gather_path(root / "patients" / pid))
    text = pdf_text(data)
    assert n_pages(data) == 2 and "not assessed (no model assessment stored)" in text
    assert "R1 3 C" in text and "severe (3)" in text and "Model: not assessed" in text
    out = write_report(gather_path(resource("demo")), tmp_path / "plain.pdf")  # a plain patient folder
    plain = out.read_bytes()
    assert n_pages(plain) == 2 and "plain patient folder" in pdf_text(plain) and "DEMO-001" in pdf_text(plain)


def test_damaged_media_is_named_in_the_report(demo_store, tmp_path):
    root, pid = demo_store
    media = root / "patients" / pid / "media" / "R3.mp4"
    media.write_bytes(b"not a video at all")
    content = gather_path(root / "patients" / pid)
    assert any("R3.mp4" in w for w in content.warnings)
    text = pdf_text(render_pdf(content))
    assert "R3.mp4" in text and "Problems:" in text


def test_file_export_report_in_the_app(qtbot, demo_store, tmp_path, monkeypatch):
    """File > Export report…: a file dialog, then the same PDF as `lusapp report` (built in a worker)."""
    from PySide6.QtWidgets import QFileDialog

    from gui_shell_support import ini_settings
    from lusapp.gui import app as gui_app
    from lusapp.gui.workers import wait_all

    root, pid = demo_store
    _assess(root, pid)
    w = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w)
    assert w.session.open_store(root) and w.session.open_patient(pid)
    action = w.actions_.action("file.export_report")
    file_menu = w.menuBar().actions()[0].menu()
    assert action in file_menu.actions() and action.shortcut().toString() == "Ctrl+E"
    out = tmp_path / "gui.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "PDF (*.pdf)")))
    action.trigger()
    assert wait_all(30000)
    qtbot.waitUntil(lambda: "Report written" in w.statusBar().currentMessage(), timeout=10000)
    w.session.close_store()
    w.close()
    cli = tmp_path / "cli.pdf"
    assert main(["report", str(root / "patients" / pid), "-o", str(cli)]) == 0
    assert out.read_bytes() == cli.read_bytes()
