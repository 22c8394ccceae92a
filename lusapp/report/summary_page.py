"""Page 1 of the report: header, chest diagram, total score and severities, clinical information, notes and the
table of the zones (every rater's score, the consensus, the model's score, attention, findings present)."""

from __future__ import annotations

from lusapp.core.scales import SEVERITY_LEVELS
from lusapp.report import NOT_A_MEDICAL_DEVICE
from lusapp.report.chest_diagram import draw_diagram
from lusapp.report.document import (BODY_W, FOOTER_H, GREY, MARGIN, PAGE_H, RED, SEVERITY_RGB, TEXT, ReportPdf,
                                    score_rgb, tint)
from lusapp.report.wording import findings_text, fmt_time, pct, raters_text, severity_text


def _header(pdf: ReportPdf) -> float:
    c = pdf.content
    p = c.patient
    y = MARGIN
    pdf.text_at(MARGIN, y, 110, 8, "Lung ultrasound report", 16, "B")
    pdf.text_at(MARGIN + 100, y, BODY_W - 100, 8, f"Patient {p.patient_id}", 13, "B", "R")
    y += 8
    pdf.text_at(MARGIN, y, BODY_W, 4.5, f"Exam {p.exam_date} \u2014 {c.protocol.name} \u2014 zone scores "
                f"{p.scale.name}", 9)
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


def _summary(pdf: ReportPdf, x: float, y: float, w: float) -> float:
    c = pdf.content
    p = c.patient
    sev = p.severity
    shown = [z.shown_score[0] for z in c.zones if z.shown_score[0] is not None]
    total = sum(shown) if shown else None  # as the tiles show: consensus > first rater > model
    n_zones = len(c.zones)
    n_clin = sum(1 for z in c.zones if z.shown_score[1] == "clinician")
    n_model = sum(1 for z in c.zones if z.shown_score[1] == "model")
    max_total = (p.scale.n_levels - 1) * n_zones
    pdf.text_at(x, y, w, 4.5, "Total LUS score", 9, "B")
    y += 4.5
    pdf.text_at(x, y, w, 8, "not scored" if total is None else f"{total} / {max_total}", 18 if total is not None
                else 12, "B")
    y += 8
    y = pdf.lines(x, y, w, y + 2 * 3.1, [("", f"{n_clin + n_model} of {n_zones} zones scored: {n_clin} by the "
                                           f"clinician, {n_model} by the model")], 6.8, 3.1) + 2.4
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
            pdf.text_at(bar_x + bar_w, y, 10, 3.4, pct(prob), 7, "", "R")
            y += 3.6
        severe = sum(sev.model_probs[2:])
        pdf.text_at(x, y, w, 3.6, f"Severe or critical: P {severe:.2f} ({'severe' if severe >= 0.5 else 'non-severe'})",
                    7)
        y += 3.8
        if sev.model_attention:
            top = sorted(sev.model_attention.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
            pdf.text_at(x, y, w, 3.6, "Attention: " + ", ".join(f"{z} {pct(a)}" for z, a in top), 7)
            y += 3.8
        pdf.text_at(x, y, w, 3.6, f"Model {sev.model_version}, {fmt_time(sev.model_time)}", 7, color=GREY)
        y += 4.5
    else:
        pdf.set_text_color(*GREY)
        y = pdf.lines(x, y, w, y + 2 * 3.8, [("B", "not assessed (no model assessment stored)")], 8.5, 3.8) + 1.5
        pdf.set_text_color(*TEXT)
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


def _clinical(pdf: ReportPdf, y: float) -> float:
    from lusapp.core.clinical import HISTORY, SYMPTOMS

    info = pdf.content.patient.clinical
    pdf.text_at(MARGIN, y, BODY_W, 4.5, "Clinical information", 9, "B")
    y += 4.8
    sex = {"F": "female", "M": "male"}.get(info.sex or "", "unknown")
    items = [("", f"Age {info.age if info.age is not None else 'unknown'}, sex {sex}."),
             ("", f"Symptoms \u2014 {_flags(info.symptoms, SYMPTOMS)}."),
             ("", f"History \u2014 {_flags(info.history, HISTORY)}.")]
    return pdf.lines(MARGIN, y, BODY_W, y + 6 * 3.4, items, 7.5, 3.4) + 1.5


def _zone_table(pdf: ReportPdf, y: float, bottom: float) -> float:
    c = pdf.content
    cols = [("Zone", 10), ("Region", 30), ("Shown", 13), ("Raters' scores (consensus)", 50),
            ("Model score (P, E)", 27), ("Attn.", 10), ("Findings present (model)", BODY_W - 140)]
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
        ms = rec.model_score
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
                 raters_text(rec, times=False),
                 f"{ms.score} (P {ms.probs[ms.score]:.2f}, E {ms.expected:.1f})" if ms else "not assessed",
                 pct(att[zr.zone.id]) if zr.zone.id in att else "-", present]
        x = MARGIN
        for j, ((_t, cw), text) in enumerate(zip(cols, cells)):
            if j == 2 and score is not None:
                rgb = score_rgb(score, n_levels)
                pdf.set_fill_color(*(rgb if who == "clinician" else tint(rgb, 0.55)))
                pdf.rect(x + 0.5, y + 0.6, 3.2, rh - 1.2, style="F")
                pdf.text_at(x + 4.2, y + 0.2, cw - 4.7, rh, text, 7, "B")
            else:
                pdf.text_at(x + 0.5, y + 0.2, cw - 1, rh, text, 7, "B" if j == 0 else "")
            x += cw
        y += rh
    pdf.set_draw_color(200, 200, 205)
    pdf.line(MARGIN, y, MARGIN + BODY_W, y)
    versions = c.model_versions
    pdf.set_text_color(*GREY)
    y = pdf.lines(MARGIN, y + 0.8, BODY_W, y + 0.8 + 2 * 3, [("", "C: clinician's score (the consensus when "
                  "adjudicated, else the first rater's), M: model's score (when no clinician scored). P: the model's "
                  "probability of its score, E: its expected score. Times of the scores: page 2. Model version"
                  + ("s: " if len(versions) > 1 else ": ") + (", ".join(versions) if versions else
                                                               "none (not assessed)") + ".")], 6.5, 3)
    pdf.set_text_color(*TEXT)
    return y + 1.2


def draw_summary_page(pdf: ReportPdf, problems: list[str]) -> None:
    """Page 1; ``problems``: sentences printed in red at the bottom (unreadable media, missing glyphs)."""
    pdf.add_page()
    y = _header(pdf)
    diag_w, diag_h = 116.0, 80.0
    draw_diagram(pdf, MARGIN, y, diag_w, diag_h)
    sy = _summary(pdf, MARGIN + diag_w + 6, y + 1, BODY_W - diag_w - 6)
    y = max(y + diag_h, sy) + 2
    y = _clinical(pdf, y)
    notes = pdf.content.patient.notes.strip()
    if notes:
        y = pdf.lines(MARGIN, y, BODY_W, y + 2 * 3.4, [("I", f"Notes: {notes}")], 7.5, 3.4) + 1.5
    bottom = PAGE_H - MARGIN - FOOTER_H - 6
    y = _zone_table(pdf, y + 1, bottom)
    if problems:
        pdf.set_text_color(*RED)
        pdf.lines(MARGIN, y, BODY_W, PAGE_H - MARGIN - FOOTER_H - 1, [("", "Problems: " + "; ".join(problems))],
                  7, 3.2)
        pdf.set_text_color(*TEXT)
