"""The patient report as PDF (fpdf2), built from :class:`lusapp.report.content.ReportContent`.

Page 1 (:mod:`lusapp.report.summary_page`): patient, the "not a medical device" line, the chest diagram with the
zone scores (:mod:`lusapp.report.chest_diagram`: clinician's or adjudicated consensus solid, model's hatched and
marked M, attention in %), total LUS score, model severity with probabilities, the clinician's final severity,
clinical information, and a table of the zones (every rater's score and the consensus, model score, attention,
findings present). Page 2 (:mod:`lusapp.report.key_frames_page`): one key frame per zone with its masks
overlaid, and under it the raters' scores with times, the model's zone score and findings, and the measures of
the stored masks. Both pages repeat the "not a medical device" line (:mod:`lusapp.report.document`).

Text is set in the bundled DejaVu Sans (any Latin, Greek or Cyrillic name prints as written), Chinese and
Japanese through the fallback Droid Sans Fallback, Korean through NanumSquare. Characters none has are drawn as U+FFFD and page 1 lists them under "Problems" by code point, so nothing is replaced by
'?' silently; :func:`render_report` returns the same sentence for the CLI and the app to show.

``render_pdf(content) -> bytes`` is deterministic: the creation date is ``content.created`` (from the store),
never the clock. ``write_report(content, path)`` writes a temporary file beside ``path`` and renames it, so a
failed write leaves no file that looks complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lusapp import __version__
from lusapp.core.errors import LusError, display_path
from lusapp.report import NOT_A_MEDICAL_DEVICE
from lusapp.report.content import ReportContent
from lusapp.report.document import ReportPdf
from lusapp.report.key_frames_page import draw_key_frames_page
from lusapp.report.summary_page import draw_summary_page


class ReportWriteError(LusError):
    """The report could not be written (the message names the file)."""


@dataclass
class RenderedReport:
    data: bytes
    notes: list[str] = field(default_factory=list)  # e.g. characters the font lacks (also printed on page 1)


def missing_glyphs_note(chars: set[str]) -> str:
    codes = ", ".join(f"U+{ord(c):04X}" for c in sorted(chars))
    return (f"{len(chars)} character{'s' if len(chars) != 1 else ''} cannot be shown in the report's font (no "
            f"glyph) and print as a replacement mark: {codes}")


def _render(content: ReportContent, notes: list[str]) -> ReportPdf:
    pdf = ReportPdf(content)
    p = content.patient
    pdf.alias_nb_pages()
    pdf.set_creation_date(content.created)
    pdf.set_title(f"Lung ultrasound report {p.patient_id}")
    pdf.set_subject(f"LUSApp patient report, exam {p.exam_date}. {NOT_A_MEDICAL_DEVICE}")
    pdf.set_creator(f"LUSApp {__version__}")
    pdf.set_producer("LUSApp (fpdf2)")
    pdf.set_auto_page_break(False)
    draw_summary_page(pdf, list(dict.fromkeys(content.warnings + notes)))
    if any(z.record.media is not None for z in content.zones):  # no image at all: the key-frame page says nothing
        draw_key_frames_page(pdf)
    return pdf


def render_report(content: ReportContent) -> RenderedReport:
    """The PDF and its notes. When some text has characters the font lacks, the pages are drawn a second time
    with the note under "Problems" on page 1 (the first pass is what finds them, page 2 included)."""
    pdf = _render(content, [])
    if not pdf.missing:
        return RenderedReport(bytes(pdf.output()))
    note = missing_glyphs_note(pdf.missing)
    return RenderedReport(bytes(_render(content, [note]).output()), [note])


def render_pdf(content: ReportContent) -> bytes:
    """The report as PDF bytes (same content -> same bytes)."""
    return render_report(content).data


def write_report(content: ReportContent, path: str | Path) -> Path:
    """Render and write the PDF: a temporary file beside ``path``, flushed, then renamed over it. Raises
    ``ReportWriteError`` naming the file; nothing is left at ``path`` (nor a temporary file) on failure.
    Notes about the rendering (characters the font lacks) are added to ``content.warnings`` once."""
    path = Path(path)
    rendered = render_report(content)
    content.warnings.extend(n for n in rendered.notes if n not in content.warnings)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(rendered.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise ReportWriteError(f"{display_path(path)}: cannot write the report ({exc.strerror or exc})") from exc
    return path
