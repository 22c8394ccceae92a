"""The patient report as PDF (fpdf2, core Helvetica font: text is reduced to Latin-1).

Page 1: patient, the "not a medical device" line, the chest diagram with the zone scores (clinician's solid,
model's hatched and marked M, attention in %), total LUS score, model severity with probabilities, the
clinician's final severity, clinical information, and a table of the zones (scores, raters, times, findings
present). Page 2: one key frame per zone with its masks overlaid, and under it the findings saved with the
model's zone score and the measures of the stored masks. Both pages repeat the "not a medical device" line.

``render_pdf(content) -> bytes`` is deterministic: the creation date is ``content.created`` (from the store),
never the clock. ``write_report(content, path)`` writes a temporary file beside ``path`` and renames it, so a
failed write leaves no file that looks complete.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
from pathlib import Path

from fpdf import FPDF

from lusapp import __version__
from lusapp.core.errors import LusError, display_path
from lusapp.core.labels import CLASS_COLORS, CLASS_TITLES
from lusapp.core.scales import SEVERITY_LEVELS
from lusapp.report import NOT_A_MEDICAL_DEVICE
from lusapp.report.content import ReportContent, ZoneReport

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
VIEW_TITLES = {"front": "Front (anterior + lateral)", "back": "Back (posterior)", "side": "Side"}
FINDING_TITLES = {"b_lines": "B-lines", "a_lines": "A-lines", "consolidation": "consolidation",
                  "pleural_irregular": "irregular pleura", "effusion": "effusion"}
TILE_W, TILE_H, PANEL_ASPECT = 0.2, 0.18, 0.9  # as on the app's zone board (lusapp.gui.zone_board)

_REPLACE = {"\u2014": "-", "\u2013": "-", "\u2212": "-", "\u2264": "<=", "\u2265": ">=", "\u2192": "->",
            "\u2026": "...", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " ",
            "\u2022": "-", "\u25b6": ">", "\u00b7": "-"}


class ReportWriteError(LusError):
    """The report could not be written (the message names the file)."""


def latin1(text: object) -> str:
    """Text the core fonts can draw: common typography mapped to ASCII, anything else outside Latin-1 as '?'."""
    s = "".join(_REPLACE.get(c, c) for c in str(text))
    return s.encode("latin-1", "replace").decode("latin-1")


def fmt_time(value: str) -> str:
    """'2026-01-31T12:00:00Z' -> '2026-01-31 12:00 UTC' (other text unchanged)."""
    try:
        t = _dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value or "-"
    if t.tzinfo is not None:
        t = t.astimezone(_dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def score_rgb(value: int | None, n_levels: int) -> tuple[int, int, int]:
    if value is None:
        return (215, 217, 222)
    if n_levels == 4:  # 0-3 scale: spread over the same ramp
        value = (0, 2, 3, 4)[max(0, min(3, value))]
    return SCORE_RGB[max(0, min(4, value))]


def _tint(rgb, f: float) -> tuple[int, int, int]:
    return tuple(int(round(c + (255 - c) * f)) for c in rgb)


def _ink_on(rgb) -> tuple[int, int, int]:
    lum = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (255, 255, 255) if lum < 140 else TEXT


def _pct(p: float) -> str:
    return f"{100 * p:.0f} %"


def severity_text(label: int | None) -> str:
    return f"{SEVERITY_LEVELS[label]} ({label})" if label in SEVERITY_LEVELS else "-"


def findings_text(findings: dict | None, present_only: bool = False) -> str:
    if not findings:
        return ""
    parts = []
    for name, p in findings.get("findings", {}).items():
        present = findings.get("present", {}).get(name, False)
        if present_only and not present:
            continue
        title = FINDING_TITLES.get(name, name.replace("_", " "))
        parts.append(f"{title} {p:.2f}" + (" (present)" if present and not present_only else ""))
    return ", ".join(parts)


def measures_text(z: ZoneReport) -> str:
    m = z.measures
    if m is None:
        return ""
    src = []
    if z.n_final:
        src.append(f"{z.n_final} FINAL")
    if z.n_original:
        src.append(f"{z.n_original} model")
    parts = [f"{m.b_lines} B-line" + ("" if m.b_lines == 1 else "s"),
             f"covering {100 * m.b_line_coverage:.0f} % of the pleura"]
    if m.pleura_found:
        if m.pleural_thickness_mm is not None:
            parts.append(f"pleura {m.pleural_thickness_mm:.1f} mm thick")
        elif m.pleural_thickness_px is not None:
            parts.append(f"pleura {m.pleural_thickness_px:.0f} px thick")
    else:
        parts.append("pleural line not found")
    parts.append("A-lines " + ("present" if m.a_line_present else "absent"))
    if not m.consolidation_px:
        parts.append("no consolidation")
    elif z.rule is None or not z.rule[1].startswith("consolidation"):  # the rule below gives its area
        parts.append(f"consolidation {m.consolidation_cm2:.2f} cm2" if m.consolidation_cm2 is not None
                     else f"consolidation {m.consolidation_px:.0f} px")
    plural = "s" if z.n_final + z.n_original != 1 else ""
    text = f"Measures ({' + '.join(src)} mask{plural}): " + ", ".join(parts)
    if z.rule is not None:
        text += f"; rule score {z.rule[0]} ({z.rule[1]})"
    return text


class _Doc(FPDF):
    def __init__(self, content: ReportContent):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.content = content
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN + FOOTER_H)
        self.set_text_color(*TEXT)

    def footer(self) -> None:
        self.set_y(-(MARGIN + FOOTER_H - 2))
        self.set_draw_color(190, 190, 190)
        self.line(MARGIN, self.get_y(), PAGE_W - MARGIN, self.get_y())
        self.set_font("helvetica", "B", 7.5)
        self.set_text_color(*RED)
        self.cell(BODY_W, 3.6, latin1(NOT_A_MEDICAL_DEVICE), align="L", new_x="LMARGIN", new_y="NEXT")
        self.set_font("helvetica", "", 7)
        self.set_text_color(*GREY)
        p = self.content.patient
        self.cell(BODY_W, 3.4, latin1(f"LUSApp {__version__} patient report - {p.patient_id} - exam {p.exam_date}"
                                      f" - page {self.page_no()} of {{nb}}"), align="L")
        self.set_text_color(*TEXT)

    # ------------------------------------------------------------------ small helpers
    def text_at(self, x: float, y: float, w: float, h: float, text: str, size: float, style: str = "",
                align: str = "L", color=TEXT) -> None:
        self.set_font("helvetica", style, size)
        self.set_text_color(*color)
        self.set_xy(x, y)
        self.cell(w, h, self.fit(text, w), align=align)
        self.set_text_color(*TEXT)

    def fit(self, text: str, w: float) -> str:
        """``text`` shortened with '...' to the width ``w`` in the current font."""
        s = latin1(text)
        if self.get_string_width(s) <= w - 0.6:
            return s
        while s and self.get_string_width(s + "...") > w - 0.6:
            s = s[:-1]
        return s.rstrip() + "..."

    def lines(self, x: float, y: float, w: float, bottom: float, items: list[tuple[str, str]], size: float,
              lh: float) -> float:
        """Wrapped paragraphs (style, text) from ``y``, never below ``bottom`` (the last line cut with '...').
        Returns the y after the last line."""
        for style, text in items:
            if not text:
                continue
            self.set_font("helvetica", style, size)
            wrapped = self.multi_cell(w, lh, latin1(text), dry_run=True, output="LINES")
            for i, line in enumerate(wrapped):
                if y + lh > bottom + 0.01:
                    return y
                last = y + 2 * lh > bottom + 0.01 and i < len(wrapped) - 1
                self.set_xy(x, y)
                self.cell(w, lh, self.fit(line + (" ..." if last else ""), w))
                y += lh
                if last:
                    return y
        return y


# ---------------------------------------------------------------------------------------------- page 1
def _header(pdf: _Doc) -> float:
    c = pdf.content
    p = c.patient
    y = MARGIN
    pdf.text_at(MARGIN, y, 110, 8, "Lung ultrasound report", 16, "B")
    pdf.text_at(MARGIN + 100, y, BODY_W - 100, 8, f"Patient {p.patient_id}", 13, "B", "R")
    y += 8
    pdf.text_at(MARGIN, y, BODY_W, 4.5, f"Exam {p.exam_date} - {c.protocol.name} - zone scores {p.scale.name}", 9)
    y += 4.5
    pdf.text_at(MARGIN, y, BODY_W, 3.8, f"From {c.source}; data as of {fmt_time(c.created.isoformat())}", 7,
                color=GREY)
    y += 5
    pdf.set_draw_color(*RED)
    pdf.set_line_width(0.4)
    pdf.rect(MARGIN, y, BODY_W, 6.5)
    pdf.text_at(MARGIN, y + 0.8, BODY_W, 5, NOT_A_MEDICAL_DEVICE, 9.5, "B", "C", RED)
    pdf.set_line_width(0.2)
    return y + 9


def _torso(x0: float, y0: float, w: float, h: float) -> list[tuple[float, float]]:
    """The zone board's chest silhouette (lusapp.gui.zone_board._torso_path) as a polygon."""
    def cubic(p0, p1, p2, p3, n=10):
        out = []
        for i in range(1, n + 1):
            t = i / n
            a, b, cc, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
            out.append((a * p0[0] + b * p1[0] + cc * p2[0] + d * p3[0], a * p0[1] + b * p1[1] + cc * p2[1] + d * p3[1]))
        return out

    def P(fx, fy):  # noqa: N802 - a point
        return (x0 + fx * w, y0 + fy * h)

    pts = [P(0.42, 0.02), P(0.42, 0.10)]
    pts += cubic(pts[-1], P(0.30, 0.13), P(0.12, 0.14), P(0.07, 0.24))
    pts.append(P(0.04, 0.80))
    pts += cubic(pts[-1], P(0.10, 0.92), P(0.30, 0.97), P(0.50, 0.97))
    pts += cubic(pts[-1], P(0.70, 0.97), P(0.90, 0.92), P(0.96, 0.80))
    pts.append(P(0.93, 0.24))
    pts += cubic(pts[-1], P(0.88, 0.14), P(0.70, 0.13), P(0.58, 0.10))
    pts.append(P(0.58, 0.02))
    return pts


def _diagram(pdf: _Doc, x: float, y: float, w: float, h: float) -> None:
    c = pdf.content
    views = []
    for z in c.protocol.zones:
        if z.view not in views:
            views.append(z.view)
    gap = 5.0
    legend_h, title_h = 7.5, 4.5
    ph = h - legend_h - title_h
    pw = min((w - gap * (len(views) - 1)) / len(views), ph * PANEL_ASPECT)
    ph = pw / PANEL_ASPECT
    x0 = x + (w - (pw * len(views) + gap * (len(views) - 1))) / 2
    panels = {}
    for i, view in enumerate(views):
        px = x0 + i * (pw + gap)
        py = y + title_h
        panels[view] = (px, py)
        pdf.text_at(px, y, pw, title_h, VIEW_TITLES.get(view, view), 7.5, "B", "C", GREY)
        pdf.set_draw_color(160, 160, 165)
        pdf.set_fill_color(238, 239, 242)
        pdf.polygon(_torso(px, py, pw, ph), style="DF")
        left, right = ("R", "L") if view == "front" else ("L", "R")
        pdf.text_at(px + 0.1 * pw, py + 0.86 * ph, 6, 4, left, 8, "B", "L", GREY)
        pdf.text_at(px + 0.9 * pw - 6, py + 0.86 * ph, 6, 4, right, 8, "B", "R", GREY)
    att = c.patient.severity.model_attention or {}
    max_att = max(att.values(), default=0.0)
    n_levels = c.patient.scale.n_levels
    for zr in c.zones:
        zone = zr.zone
        px, py = panels[zone.view]
        tw, th = TILE_W * pw, TILE_H * ph
        tx, ty = px + zone.x * pw - tw / 2, py + zone.y * ph - th / 2
        _tile(pdf, zr, tx, ty, tw, th, n_levels, att.get(zone.id), max_att)
    pdf.set_font("helvetica", "", 6.5)
    pdf.set_text_color(*GREY)
    pdf.set_xy(x, y + title_h + ph + 1)
    pdf.multi_cell(w, 3, latin1("C: clinician's score (solid) - M: model's score (hatched; no clinician score) - "
                                "dashed outline: no image - % and bar: the model's attention"), align="C")
    pdf.set_text_color(*TEXT)


def _tile(pdf: _Doc, zr: ZoneReport, x: float, y: float, w: float, h: float, n_levels: int,
          attention: float | None, max_att: float) -> None:
    score, who = zr.shown_score
    rgb = score_rgb(score, n_levels)
    if who == "model":
        fill = _tint(rgb, 0.55)
        pdf.set_fill_color(*fill)
        pdf.rect(x, y, w, h, style="F")
        pdf.set_draw_color(*rgb)
        pdf.set_line_width(0.35)
        with pdf.rect_clip(x, y, w, h):
            k = -h
            while k < w:
                pdf.line(x + k, y + h, x + k + h, y)
                k += 1.7
        ink = TEXT
    else:
        fill = rgb
        pdf.set_fill_color(*fill)
        pdf.rect(x, y, w, h, style="F")
        ink = _ink_on(fill)
    pdf.set_line_width(0.3)
    pdf.set_draw_color(70, 70, 75)
    if zr.record.media is None:
        pdf.set_dash_pattern(dash=0.8, gap=0.6)
    pdf.rect(x, y, w, h)
    pdf.set_dash_pattern()
    pdf.set_line_width(0.2)
    pdf.text_at(x + 0.4, y + 0.3, w / 2, 3, zr.zone.id, 6, "B", "L", ink)
    if who:
        pdf.text_at(x + w / 2, y + 0.3, w / 2 - 0.4, 3, "C" if who == "clinician" else "M", 6, "B", "R", ink)
    pdf.text_at(x, y + h * 0.28, w, h * 0.42, "-" if score is None else str(score), 13, "B", "C", ink)
    if zr.record.media is None:
        pdf.text_at(x, y + h - 3.2, w, 3, "no image", 5, "", "C", ink)
    if attention is not None:
        pdf.text_at(x, y + h - 3.3, w, 3, _pct(attention), 5.5, "B", "C", ink)
        if max_att > 0:
            pdf.set_fill_color(*ATTENTION_RGB)
            pdf.rect(x, y + h + 0.4, w * attention / max_att, 0.9, style="F")


def _summary(pdf: _Doc, x: float, y: float, w: float) -> float:
    c = pdf.content
    p = c.patient
    sev = p.severity
    total = p.total_score()
    n_zones = len(c.zones)
    n_clin = sum(1 for z in c.zones if z.shown_score[1] == "clinician")
    n_model = sum(1 for z in c.zones if z.shown_score[1] == "model")
    max_total = (p.scale.n_levels - 1) * n_zones
    pdf.text_at(x, y, w, 4.5, "Total LUS score", 9, "B")
    y += 4.5
    pdf.text_at(x, y, w, 8, "not scored" if total is None else f"{total} / {max_total}", 18 if total is not None
                else 12, "B")
    y += 8
    pdf.text_at(x, y, w, 3.6, f"{n_clin + n_model} of {n_zones} zones scored: {n_clin} by the clinician, "
                f"{n_model} by the model", 7)
    y += 6
    pdf.text_at(x, y, w, 4.5, "Model severity", 9, "B")
    y += 4.8
    if sev.model_probs:
        label = sev.model_label
        pdf.text_at(x, y, w, 4.5, f"{severity_text(label)}, P {sev.model_probs[label - 1]:.2f}", 9.5, "B")
        y += 5
        bar_x, bar_w = x + 16, w - 16 - 10
        for i, prob in enumerate(sev.model_probs):
            lvl = i + 1
            pdf.text_at(x, y, 16, 3.4, SEVERITY_LEVELS[lvl], 7)
            pdf.set_fill_color(232, 233, 236)
            pdf.rect(bar_x, y + 0.5, bar_w, 2.4, style="F")
            pdf.set_fill_color(*SEVERITY_RGB[lvl])
            pdf.rect(bar_x, y + 0.5, max(0.2, bar_w * prob), 2.4, style="F")
            pdf.text_at(bar_x + bar_w, y, 10, 3.4, _pct(prob), 7, "", "R")
            y += 3.6
        severe = sum(sev.model_probs[2:])
        pdf.text_at(x, y, w, 3.6, f"Severe or critical: P {severe:.2f} ({'severe' if severe >= 0.5 else 'non-severe'})",
                    7)
        y += 3.8
        if sev.model_attention:
            top = sorted(sev.model_attention.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
            pdf.text_at(x, y, w, 3.6, "Attention: " + ", ".join(f"{z} {_pct(a)}" for z, a in top), 7)
            y += 3.8
        pdf.text_at(x, y, w, 3.6, f"Model {sev.model_version}, {fmt_time(sev.model_time)}", 7, color=GREY)
        y += 4.5
    else:
        pdf.text_at(x, y, w, 4.5, "not assessed (no model assessment stored)", 8.5, "B", color=GREY)
        y += 6
    pdf.text_at(x, y, w, 4.5, "Clinician's final severity", 9, "B")
    y += 4.8
    if sev.clinician_label is not None:
        pdf.text_at(x, y, w, 4.5, severity_text(sev.clinician_label), 9.5, "B")
        y += 4.6
        pdf.text_at(x, y, w, 3.6, f"by {sev.rater}, {fmt_time(sev.time)}", 7, color=GREY)
        y += 4
    else:
        pdf.text_at(x, y, w, 4.5, "not set", 8.5, "B", color=GREY)
        y += 5
    return y


def _flags(d: dict, names) -> str:
    yes = [n.replace("_", " ") for n in names if d.get(n) is True]
    no = [n.replace("_", " ") for n in names if d.get(n) is False]
    unk = [n.replace("_", " ") for n in names if d.get(n) is None]
    parts = []
    if yes:
        parts.append("yes: " + ", ".join(yes))
    if no:
        parts.append("no: " + ", ".join(no))
    if unk:
        parts.append("unknown: " + ", ".join(unk))
    return "; ".join(parts)


def _clinical(pdf: _Doc, y: float) -> float:
    from lusapp.core.clinical import HISTORY, SYMPTOMS

    info = pdf.content.patient.clinical
    pdf.text_at(MARGIN, y, BODY_W, 4.5, "Clinical information", 9, "B")
    y += 4.8
    sex = {"F": "female", "M": "male"}.get(info.sex or "", "unknown")
    items = [("", f"Age {info.age if info.age is not None else 'unknown'}, sex {sex}."),
             ("", f"Symptoms - {_flags(info.symptoms, SYMPTOMS)}."),
             ("", f"History - {_flags(info.history, HISTORY)}.")]
    return pdf.lines(MARGIN, y, BODY_W, y + 6 * 3.4, items, 7.5, 3.4) + 1.5


def _zone_table(pdf: _Doc, y: float, bottom: float) -> float:
    c = pdf.content
    cols = [("Zone", 10), ("Region", 33), ("Shown", 13), ("Clinician score (rater, time)", 43),
            ("Model score (P, E)", 27), ("Attn.", 10), ("Findings present (model)", BODY_W - 136)]
    pdf.text_at(MARGIN, y, BODY_W, 4.5, "Zones", 9, "B")
    y += 5
    rh = 4.4
    pdf.set_fill_color(228, 230, 235)
    pdf.rect(MARGIN, y, BODY_W, rh, style="F")
    x = MARGIN
    for title, cw in cols:
        pdf.text_at(x + 0.5, y + 0.2, cw - 1, rh, title, 7, "B")
        x += cw
    y += rh
    att = c.patient.severity.model_attention or {}
    n_levels = c.patient.scale.n_levels
    for i, zr in enumerate(c.zones):
        if y + rh > bottom:
            break
        rec = zr.record
        score, who = zr.shown_score
        cs, ms = rec.clinician_score, rec.model_score
        if i % 2:
            pdf.set_fill_color(246, 247, 249)
            pdf.rect(MARGIN, y, BODY_W, rh, style="F")
        if ms is not None and ms.findings:
            present = findings_text(ms.findings, present_only=True) or "none at the operating point"
            if ms.findings.get("unlike_training"):
                present += "; unlike training"
        elif ms is not None:
            present = "(no findings stored)"
        else:
            present = "not assessed" if rec.media is not None else "no image"
        cells = [zr.zone.id, zr.zone.name,
                 "-" if score is None else f"{score} {'C' if who == 'clinician' else 'M'}",
                 f"{cs.value} ({cs.rater}, {fmt_time(cs.time)})" if cs else "-",
                 f"{ms.score} (P {ms.probs[ms.score]:.2f}, E {ms.expected:.1f})" if ms else "not assessed",
                 _pct(att[zr.zone.id]) if zr.zone.id in att else "-", present]
        x = MARGIN
        for j, ((_t, cw), text) in enumerate(zip(cols, cells)):
            if j == 2 and score is not None:
                rgb = score_rgb(score, n_levels)
                pdf.set_fill_color(*(rgb if who == "clinician" else _tint(rgb, 0.55)))
                pdf.rect(x + 0.5, y + 0.6, 3.2, rh - 1.2, style="F")
                pdf.text_at(x + 4.2, y + 0.2, cw - 4.7, rh, text, 7, "B")
            else:
                pdf.text_at(x + 0.5, y + 0.2, cw - 1, rh, text, 7, "B" if j == 0 else "")
            x += cw
        y += rh
    pdf.set_draw_color(200, 200, 205)
    pdf.line(MARGIN, y, MARGIN + BODY_W, y)
    versions = c.model_versions
    pdf.text_at(MARGIN, y + 0.8, BODY_W, 3.6, "C: clinician's score, M: model's score (shown when the clinician gave "
                "none). P: the model's probability of its score, E: its expected score. Model version"
                + ("s: " if len(versions) > 1 else ": ") + (", ".join(versions) if versions else "none (not assessed)")
                + ".", 6.5, color=GREY)
    return y + 5


def _page1(pdf: _Doc) -> None:
    pdf.add_page()
    y = _header(pdf)
    diag_w, diag_h = 116.0, 80.0
    _diagram(pdf, MARGIN, y, diag_w, diag_h)
    sy = _summary(pdf, MARGIN + diag_w + 6, y + 1, BODY_W - diag_w - 6)
    y = max(y + diag_h, sy) + 2
    y = _clinical(pdf, y)
    notes = pdf.content.patient.notes.strip()
    if notes:
        y = pdf.lines(MARGIN, y, BODY_W, y + 2 * 3.4, [("I", f"Notes: {notes}")], 7.5, 3.4) + 1.5
    bottom = PAGE_H - MARGIN - FOOTER_H - 6
    y = _zone_table(pdf, y + 1, bottom)
    warnings = pdf.content.warnings
    if warnings:
        pdf.set_text_color(*RED)
        pdf.lines(MARGIN, y, BODY_W, PAGE_H - MARGIN - FOOTER_H - 1, [("", "Problems: " + "; ".join(warnings))],
                  7, 3.2)
        pdf.set_text_color(*TEXT)


# ---------------------------------------------------------------------------------------------- page 2
def _legend(pdf: _Doc, x: float, y: float) -> None:
    pdf.set_font("helvetica", "", 7)
    for cls, rgb in CLASS_COLORS.items():
        pdf.set_fill_color(*rgb)
        pdf.rect(x, y + 0.7, 3, 2.4, style="F")
        title = CLASS_TITLES[cls]
        pdf.text_at(x + 3.6, y, 24, 3.8, title, 7)
        x += 3.6 + pdf.get_string_width(title) + 5


def _key_tile(pdf: _Doc, zr: ZoneReport, x: float, y: float, w: float, h: float, img_h: float) -> None:
    from PIL import Image

    n_levels = pdf.content.patient.scale.n_levels
    rec = zr.record
    score, who = zr.shown_score
    pdf.set_fill_color(0, 0, 0)
    pdf.rect(x, y, w, img_h, style="F")
    key = zr.key
    if key is not None and key.image is not None:
        ih, iw = key.image.shape[:2]
        scale = min(w / iw, img_h / ih)
        dw, dh = iw * scale, ih * scale
        buf = io.BytesIO()
        Image.fromarray(key.image).save(buf, format="JPEG", quality=88, optimize=False)
        buf.seek(0)
        pdf.image(buf, x=x + (w - dw) / 2, y=y + (img_h - dh) / 2, w=dw, h=dh)
    else:
        msg = zr.problem or ("no image" if rec.media is None else "frame not available")
        pdf.set_text_color(220, 220, 220)
        pdf.lines(x + 2, y + img_h / 2 - 3, w - 4, y + img_h - 1, [("", msg)], 6.5, 3)
        pdf.set_text_color(*TEXT)
    # the score badge on the picture
    rgb = score_rgb(score, n_levels)
    badge = f"{zr.zone.id}  {'-' if score is None else score}" + (" C" if who == "clinician" else " M" if who else "")
    pdf.set_font("helvetica", "B", 7.5)
    bw = pdf.get_string_width(badge) + 3
    pdf.set_fill_color(*(rgb if who != "model" else _tint(rgb, 0.55)))
    pdf.rect(x, y, bw, 4.2, style="F")
    pdf.text_at(x, y + 0.2, bw, 3.8, badge, 7.5, "B", "C", _ink_on(rgb) if who != "model" else TEXT)
    # caption
    lines: list[tuple[str, str]] = [("B", f"{zr.zone.id} {zr.zone.name}")]
    if key is not None:
        if key.mask_kind == "final":
            mask = f"; FINAL mask by {key.mask_rater or 'clinician'}, {fmt_time(key.mask_time)}"
        elif key.mask_kind == "original":
            mask = "; the model's mask (ORIGINAL)"
        else:
            mask = ""
        lines.append(("", f"Frame {key.frame + 1} of {key.n_frames}: {key.why}{mask}"))
    cs, ms = rec.clinician_score, rec.model_score
    lines.append(("", f"Clinician: {cs.value} by {cs.rater}, {fmt_time(cs.time)}" if cs else "Clinician: not scored"))
    lines.append(("", f"Model: {ms.score} (P {ms.probs[ms.score]:.2f}, E {ms.expected:.1f}), {ms.model_version}"
                  if ms else "Model: not assessed"))
    if ms is not None and ms.findings:
        f = ms.findings
        lines.append(("", "Findings (P): " + findings_text(f)))
        grade = f.get("b_line_grade_probs")
        if grade:
            lines.append(("", f"B-line grade: <3 {grade[0]:.2f}, 3+ {grade[1]:.2f}, confluent {grade[2]:.2f}"))
        flags = (["unlike the training clips"] if f.get("unlike_training") else []) + list(f.get("warnings") or [])
        if flags:
            lines.append(("B", "Warnings: " + "; ".join(dict.fromkeys(flags))))
    m = measures_text(zr)
    if m:
        lines.append(("", m))
    if rec.notes.strip():
        lines.append(("I", f"Notes: {rec.notes.strip()}"))
    pdf.lines(x, y + img_h + 0.8, w, y + h, lines, 6.2, 2.6)


def _page2(pdf: _Doc) -> None:
    c = pdf.content
    pdf.add_page()
    y = MARGIN
    pdf.text_at(MARGIN, y, 120, 6, "Key frames with masks", 12, "B")
    pdf.text_at(MARGIN + 120, y, BODY_W - 120, 6, f"Patient {c.patient.patient_id}", 9, "B", "R")
    y += 6.5
    _legend(pdf, MARGIN, y)
    y += 4.2
    pdf.text_at(MARGIN, y, BODY_W, 3.5, "Per zone: the labelled FINAL frame, else the stored-mask frame with most "
                "B-line pixels, else the middle frame. Masks: FINAL (clinician-checked) over ORIGINAL (model).", 6.5,
                color=GREY)
    y += 5
    n = len(c.zones)
    cols = 3 if n <= 12 else 4
    rows = max(1, -(-n // cols))
    gap_x, gap_y = 4.0, 3.0
    w = (BODY_W - gap_x * (cols - 1)) / cols
    bottom = PAGE_H - MARGIN - FOOTER_H - 1
    h = (bottom - y - gap_y * (rows - 1)) / rows
    img_h = min(w * 0.75, h * 0.5)
    for i, zr in enumerate(c.zones):
        r, col = divmod(i, cols)
        _key_tile(pdf, zr, MARGIN + col * (w + gap_x), y + r * (h + gap_y), w, h, img_h)


def render_pdf(content: ReportContent) -> bytes:
    """The report as PDF bytes (same content -> same bytes)."""
    pdf = _Doc(content)
    p = content.patient
    pdf.alias_nb_pages()
    pdf.set_creation_date(content.created)
    pdf.set_title(latin1(f"Lung ultrasound report {p.patient_id}"))
    pdf.set_subject(latin1(f"LUSApp patient report, exam {p.exam_date}. {NOT_A_MEDICAL_DEVICE}"))
    pdf.set_creator(f"LUSApp {__version__}")
    pdf.set_producer("LUSApp (fpdf2)")
    pdf.set_auto_page_break(False)
    _page1(pdf)
    if any(z.record.media is not None for z in content.zones):  # no image at all: the key-frame page says nothing
        _page2(pdf)
    return bytes(pdf.output())


def write_report(content: ReportContent, path: str | Path) -> Path:
    """Render and write the PDF: a temporary file beside ``path``, flushed, then renamed over it. Raises
    ``ReportWriteError`` naming the file; nothing is left at ``path`` (nor a temporary file) on failure."""
    path = Path(path)
    data = render_pdf(content)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
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
