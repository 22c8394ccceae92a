"""The patient report in any script and with several raters (issue 14): names in Polish, Greek and Russian print
as written in the bundled DejaVu Sans (embedded as a subset, nothing replaced by '?'); Chinese, Japanese and
Korean names print through the fallback fonts (Droid Sans Fallback, NanumSquare); a character no bundled font has
prints as a replacement mark and the report says which in words; every rater's score, the
adjudicated consensus and their times are in the report, and the consensus is the score shown."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from lusapp.core.raters import set_consensus, set_rater_score
from lusapp.report.content import gather_store
from lusapp.report.pdf import render_pdf, render_report, write_report
from lusapp.store import Store

NAMES = ("Łukasz Żółć", "Σοφία", "Алексей")
CJK = ("李雷", "さくら", "김민준")  # Chinese, Japanese (kana), Korean (Hangul): in the fallback fonts
NO_GLYPH = "\U00010000\U00010001\U00010002"  # Linear B syllables: in no bundled font
T1, T2, T3 = "2026-03-01T09:00:00Z", "2026-03-01T10:30:00Z", "2026-03-02T08:15:00Z"


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() or "" for page in reader.pages))


def _edit(root, pid, change) -> None:
    with Store.open(root) as store:
        p = store.load_patient(pid)
        change(p)
        store.save_patient(p, "test")


def _content(root, pid):
    with Store.open(root, readonly=True) as store:
        return gather_store(store, pid)


def test_names_in_greek_cyrillic_and_polish_print_as_written(demo_store):
    root, pid = demo_store

    def change(p):
        p.notes = "Referred by " + ", ".join(NAMES) + "."
        p.zones["R1"].clinician_score = p.zones["R2"].clinician_score = None  # the demo's own rater "import"
        set_rater_score(p.zones["R1"], NAMES[0], 2, T1)
        set_rater_score(p.zones["R1"], NAMES[1], 3, T2)
        set_rater_score(p.zones["R2"], NAMES[2], 1, T1)
        p.zones["R2"].notes = f"Checked with {NAMES[2]}"

    _edit(root, pid, change)
    rendered = render_report(_content(root, pid))
    text = pdf_text(rendered.data)
    for name in NAMES:
        assert text.count(name) >= 2, name  # the notes, the zone table and the key-frame captions
    assert f"{NAMES[0]} 2, {NAMES[1]} 3; disagree" in text  # page 1's table: both raters of R1
    assert "?" not in text  # nothing reduced to '?'
    assert rendered.notes == []  # every character has its glyph
    assert b"DejaVuSans" in rendered.data and b"/FontFile2" in rendered.data  # the TTF embedded
    assert len(rendered.data) < 600_000  # a subset, not the three 0.7 MB fonts


def test_chinese_japanese_and_korean_names_print_through_the_fallback_fonts(demo_store, tmp_path):
    root, pid = demo_store

    def change(p):
        for zid, name in zip(("R1", "R2", "L1"), CJK):
            p.zones[zid].clinician_score = None
            set_rater_score(p.zones[zid], name, 3, T1)

    _edit(root, pid, change)
    content = _content(root, pid)
    out = write_report(content, tmp_path / "r.pdf")
    text = pdf_text(out.read_bytes())
    for name in CJK:
        assert name in text
    assert "\ufffd" not in text and "?" not in text and not any("no glyph" in w for w in content.warnings)
    assert len(out.read_bytes()) < 700_000  # subsets, not the 4 MB fallback font


def test_a_character_no_font_has_prints_as_a_mark_and_the_report_says_so(demo_store, tmp_path):
    root, pid = demo_store

    def change(p):
        p.zones["R1"].clinician_score = None
        set_rater_score(p.zones["R1"], NO_GLYPH, 4, T1)

    _edit(root, pid, change)
    content = _content(root, pid)
    out = write_report(content, tmp_path / "r.pdf")
    text = pdf_text(out.read_bytes())
    assert "?" not in text
    assert "\ufffd\ufffd\ufffd 4" in text  # the rater's three characters as marks, then the score
    note = "3 characters cannot be shown in the report's font (no glyph) and print as a replacement mark: " \
           "U+10000, U+10001, U+10002"
    assert note in text  # page 1, under Problems
    assert content.warnings.count(note) == 1  # what `lusapp report` prints on stderr
    assert render_pdf(content) == out.read_bytes()  # rendering again gives the same bytes


def test_every_rater_and_the_consensus_with_times(demo_store):
    root, pid = demo_store

    def change(p):
        p.zones["R1"].clinician_score = p.zones["R2"].clinician_score = None
        set_rater_score(p.zones["R1"], "dr_a", 2, T1)
        set_rater_score(p.zones["R1"], "dr_b", 4, T2)
        set_consensus(p.zones["R1"], "dr_c", from_rater="dr_b", time=T3)
        set_rater_score(p.zones["R2"], "dr_a", 1, T1)
        set_rater_score(p.zones["R2"], "dr_b", 3, T2)

    _edit(root, pid, change)
    content = _content(root, pid)
    zones = {z.zone.id: z for z in content.zones}
    assert zones["R1"].shown_score == (4, "clinician")  # the consensus, not the first rater's 2
    assert zones["R2"].shown_score == (1, "clinician")  # no consensus: the first rater's
    text = pdf_text(render_pdf(content))
    assert "dr_a 2, dr_b 4; consensus 4 (dr_c)" in text and "dr_a 1, dr_b 3; disagree" in text  # the table
    assert ("Raters: dr_a 2 (2026-03-01 09:00 UTC), dr_b 4 (2026-03-01 10:30 UTC); consensus 4 by dr_c (dr_b's), "
            "2026-03-02 08:15 UTC") in text  # the key-frame caption
    assert "raters disagree, not adjudicated" in text
    total = sum(z.shown_score[0] for z in content.zones if z.shown_score[0] is not None)
    assert f"{total} / 48" in text  # the total adds what the tiles show


def test_the_adjudicated_mask_is_the_key_frame_and_says_whose_it_was(demo_store):
    import numpy as np

    from lusapp.core.labels import B_LINE, PLEURAL_LINE

    root, pid = demo_store
    with Store.open(root) as store:
        ref = store.load_patient(pid).zones["R1"].media
        a = np.zeros((ref.height, ref.width), np.uint8)
        a[20:24, 10:-10] = PLEURAL_LINE
        b = a.copy()
        b[24:-20, 40:46] = B_LINE
        store.save_masks(pid, "R1", {4: a, 9: a}, "final", "dr_a")
        store.save_masks(pid, "R1", {4: a, 9: b}, "final", "dr_b")
        store.save_consensus_masks(pid, "R1", {4: a, 9: b}, "dr_c", from_rater="dr_b")
    zr = next(z for z in _content(root, pid).zones if z.zone.id == "R1")
    key = zr.key
    assert (key.frame, key.why, key.mask_kind, key.mask_rater, key.mask_from) == \
        (9, "labelled FINAL", "consensus", "dr_c", "dr_b")  # the consensus frame with the B-line
    text = pdf_text(render_pdf(_content(root, pid)))
    assert "Frame 10 of 59: labelled FINAL; consensus mask by dr_c (dr_b's)," in text


def test_embedding_the_font_logs_nothing_at_info(demo_store, caplog):
    """fontTools, which fpdf2 subsets the font with, logs about a hundred INFO lines per report; a command or an
    app log that shows INFO (e.g. after lusapp.logs.log_to_console) must not get them."""
    import logging

    caplog.set_level(logging.INFO)
    render_pdf(_content(*demo_store))
    assert [r.getMessage() for r in caplog.records if r.name.startswith("fontTools")] == []


def test_file_export_report_in_the_app_shows_the_no_glyph_note(qtbot, demo_store, tmp_path, monkeypatch):
    """The app says what the PDF says: a character no font has is named in a note beside 'Report written'."""
    from PySide6.QtWidgets import QFileDialog

    from gui_shell_support import ini_settings
    from lusapp.gui import app as gui_app
    from lusapp.gui.workers import wait_all

    root, pid = demo_store

    def change(p):
        p.zones["R1"].clinician_score = None
        set_rater_score(p.zones["R1"], NO_GLYPH, 4, T1)

    _edit(root, pid, change)
    w = gui_app.build_window(settings=ini_settings(tmp_path), modal_errors=False)
    qtbot.addWidget(w)
    assert w.session.open_store(root) and w.session.open_patient(pid)
    out = tmp_path / "gui.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "PDF (*.pdf)")))
    w.actions_.action("file.export_report").trigger()
    assert wait_all(30000)
    qtbot.waitUntil(lambda: "Report written" in w.statusBar().currentMessage(), timeout=10000)
    assert "1 note(s)" in w.statusBar().currentMessage()
    assert "U+10000, U+10001, U+10002" in w.report_notes_box.informativeText()
    w.report_notes_box.close()
    w.session.close_store()
    w.close()
