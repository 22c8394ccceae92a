"""Page 2 of the report: one key frame per zone with its masks overlaid, a score badge, and under it every
rater's score and the consensus with their times, the model's score and findings, and the measures of the
stored masks."""

from __future__ import annotations

import io

from lusapp.core.labels import CLASS_COLORS, CLASS_TITLES
from lusapp.report.content import ZoneReport
from lusapp.report.document import BODY_W, FOOTER_H, GREY, MARGIN, PAGE_H, TEXT, ReportPdf, ink_on, score_rgb, tint
from lusapp.report.wording import findings_text, fmt_time, measures_text, raters_text


def _legend(pdf: ReportPdf, x: float, y: float) -> None:
    pdf.font("", 7)
    for cls, rgb in CLASS_COLORS.items():
        pdf.set_fill_color(*rgb)
        pdf.rect(x, y + 0.7, 3, 2.4, style="F")
        title = CLASS_TITLES[cls]
        pdf.text_at(x + 3.6, y, 24, 3.8, title, 7)
        x += 3.6 + pdf.get_string_width(pdf.clean(title)) + 5


def _key_tile(pdf: ReportPdf, zr: ZoneReport, x: float, y: float, w: float, h: float, img_h: float) -> None:
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
    pdf.font("B", 7.5)
    bw = pdf.get_string_width(pdf.clean(badge)) + 3
    pdf.set_fill_color(*(rgb if who != "model" else tint(rgb, 0.55)))
    pdf.rect(x, y, bw, 4.2, style="F")
    pdf.text_at(x, y + 0.2, bw, 3.8, badge, 7.5, "B", "C", ink_on(rgb) if who != "model" else TEXT)
    # caption
    lines: list[tuple[str, str]] = [("B", f"{zr.zone.id} {zr.zone.name}")]
    if key is not None:
        if key.mask_kind == "consensus":
            picked = f" ({key.mask_from}'s)" if key.mask_from else ""
            mask = f"; consensus mask by {key.mask_rater}{picked}, {fmt_time(key.mask_time)}"
        elif key.mask_kind == "final":
            mask = f"; FINAL mask by {key.mask_rater or 'clinician'}, {fmt_time(key.mask_time)}"
        elif key.mask_kind == "original":
            mask = "; the model's mask (ORIGINAL)"
        else:
            mask = ""
        lines.append(("", f"Frame {key.frame + 1} of {key.n_frames}: {key.why}{mask}"))
    ms = rec.model_score
    lines.append(("", f"Raters: {raters_text(rec)}" if rec.clinician_score else "Raters: not scored"))
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
    pdf.lines(x, y + img_h + 0.8, w, y + h, lines, 5.9, 2.45)


def draw_key_frames_page(pdf: ReportPdf) -> None:
    c = pdf.content
    pdf.add_page()
    y = MARGIN
    pdf.text_at(MARGIN, y, 120, 6, "Key frames with masks", 12, "B")
    pdf.text_at(MARGIN + 120, y, BODY_W - 120, 6, f"Patient {c.patient.patient_id}", 9, "B", "R")
    y += 6.5
    _legend(pdf, MARGIN, y)
    y += 4.2
    pdf.text_at(MARGIN, y, BODY_W, 3.5, "Per zone: the labelled frame, else the stored-mask frame with most B-line "
                "pixels, else the middle frame. Masks: consensus, else FINAL, else ORIGINAL (model).", 6.5,
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
