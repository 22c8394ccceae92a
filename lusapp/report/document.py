"""The report's page frame: A4 geometry, colours, the bundled Unicode font and the text helpers every page uses.

Text is drawn in DejaVu Sans (``resources/fonts``, embedded as a subset), so names, notes and rater names in
Latin, Greek or Cyrillic script print as written; Chinese and Japanese characters come from the fallback font
Droid Sans Fallback (Apache-2.0, 4 MB), Korean Hangul from NanumSquare (OFL-1.1, 0.7 MB), both also subset. A
character no bundled font has is drawn as U+FFFD and
recorded in ``ReportPdf.missing``; the report then says so in words (``lusapp.report.pdf.render_pdf``) instead of
a silent '?'.
"""

from __future__ import annotations

import logging

from fpdf import FPDF

from lusapp import __version__
from lusapp.report import NOT_A_MEDICAL_DEVICE
from lusapp.report.content import ReportContent
from lusapp.resources import resource

MARGIN = 12.0
PAGE_W, PAGE_H = 210.0, 297.0
BODY_W = PAGE_W - 2 * MARGIN
FOOTER_H = 9.0
# the app's score ramp (lusapp.gui.theme.SCORE_COLORS; the report sits below the GUI layer)
SCORE_RGB = ((74, 160, 96), (176, 178, 64), (222, 146, 52), (210, 72, 60), (150, 70, 190))
SEVERITY_RGB = {1: SCORE_RGB[0], 2: SCORE_RGB[1], 3: SCORE_RGB[3], 4: SCORE_RGB[4]}
RED = (180, 30, 30)
GREY = (110, 110, 110)
TEXT = (25, 25, 25)
ATTENTION_RGB = (40, 90, 170)

FONT = "dejavu"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
# fallbacks for what DejaVu lacks, in order (no bold/italic: drawn regular): Chinese / Japanese, Korean Hangul
FALLBACK_FONTS = {"droidfallback": "DroidSansFallbackFull.ttf", "nanumsquare": "NanumSquareR.ttf"}
MISSING = "\ufffd"  # drawn for a character the font lacks
# fpdf2 subsets the font with fontTools, which logs ~100 INFO lines per report ("glyf subsetted"...): not for the
# app's log or the console of a command that shows INFO
logging.getLogger("fontTools").setLevel(logging.WARNING)


def score_rgb(value: int | None, n_levels: int) -> tuple[int, int, int]:
    if value is None:
        return (215, 217, 222)
    if n_levels == 4:  # 0-3 scale: spread over the same ramp
        value = (0, 2, 3, 4)[max(0, min(3, value))]
    return SCORE_RGB[max(0, min(4, value))]


def tint(rgb, f: float) -> tuple[int, int, int]:
    return tuple(int(round(c + (255 - c) * f)) for c in rgb)


def ink_on(rgb) -> tuple[int, int, int]:
    lum = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (255, 255, 255) if lum < 140 else TEXT


class ReportPdf(FPDF):
    """One report: A4 portrait, the bundled font in three styles, a footer with the "not a medical device"
    line on every page."""

    def __init__(self, content: ReportContent):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.content = content
        self.missing: set[str] = set()  # characters the font lacks, drawn as MISSING
        for style, name in FONT_FILES.items():
            self.add_font(FONT, style, str(resource("fonts", name)))
        for family, name in FALLBACK_FONTS.items():
            self.add_font(family, "", str(resource("fonts", name)))
        self.set_fallback_fonts(list(FALLBACK_FONTS), exact_match=False)
        self._fallback_cmap = set().union(*(self.fonts[family].cmap for family in FALLBACK_FONTS))
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN + FOOTER_H)
        self.set_text_color(*TEXT)

    def font(self, style: str, size: float) -> None:
        self.set_font(FONT, style, size)

    def clean(self, text: object) -> str:
        """``text`` as the current font (or the CJK fallback) can draw it: every character both lack as U+FFFD
        (and remembered)."""
        s = str(text)
        cmap, fallback = self.current_font.cmap, self._fallback_cmap
        if all(ord(c) in cmap or c in "\n\r\t" for c in s):
            return s
        out = []
        for c in s:
            if ord(c) in cmap or ord(c) in fallback or c in "\n\r\t":
                out.append(c)
            else:
                self.missing.add(c)
                out.append(MISSING)
        return "".join(out)

    def footer(self) -> None:
        self.set_y(-(MARGIN + FOOTER_H - 2))
        self.set_draw_color(190, 190, 190)
        self.line(MARGIN, self.get_y(), PAGE_W - MARGIN, self.get_y())
        self.font("B", 7.5)
        self.set_text_color(*RED)
        self.cell(BODY_W, 3.6, self.clean(NOT_A_MEDICAL_DEVICE), align="L", new_x="LMARGIN", new_y="NEXT")
        self.font("", 7)
        self.set_text_color(*GREY)
        p = self.content.patient
        self.cell(BODY_W, 3.4, self.clean(f"LUSApp {__version__} patient report \u2014 {p.patient_id} \u2014 exam "
                                          f"{p.exam_date} \u2014 page {self.page_no()} of {{nb}}"), align="L")
        self.set_text_color(*TEXT)

    # ------------------------------------------------------------------ text helpers
    def text_at(self, x: float, y: float, w: float, h: float, text: str, size: float, style: str = "",
                align: str = "L", color=TEXT) -> None:
        self.font(style, size)
        self.set_text_color(*color)
        self.set_xy(x, y)
        self.cell(w, h, self.fit(text, w), align=align)
        self.set_text_color(*TEXT)

    def fit(self, text: str, w: float) -> str:
        """``text`` shortened with '...' to the width ``w`` in the current font."""
        s = self.clean(text)
        if self.get_string_width(s) <= w - 0.6:
            return s
        while s and self.get_string_width(s + "\u2026") > w - 0.6:
            s = s[:-1]
        return s.rstrip() + "\u2026"

    def lines(self, x: float, y: float, w: float, bottom: float, items: list[tuple[str, str]], size: float,
              lh: float) -> float:
        """Wrapped paragraphs (style, text) from ``y``, never below ``bottom`` (the last line cut with '...').
        Returns the y after the last line."""
        for style, text in items:
            if not text:
                continue
            self.font(style, size)
            wrapped = self.multi_cell(w, lh, self.clean(text), dry_run=True, output="LINES")
            for i, line in enumerate(wrapped):
                if y + lh > bottom + 0.01:
                    return y
                last = y + 2 * lh > bottom + 0.01 and i < len(wrapped) - 1
                self.set_xy(x, y)
                self.cell(w, lh, self.fit(line + (" \u2026" if last else ""), w))
                y += lh
                if last:
                    return y
        return y
