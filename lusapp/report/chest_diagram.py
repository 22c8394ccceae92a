"""Page 1's chest diagram: the zone board's torso per view with a tile per zone (score, who scored it, the
model's attention), as on the app's zone board (lusapp.gui.zone_board), drawn with fpdf2 primitives."""

from __future__ import annotations

from lusapp.report.content import ZoneReport
from lusapp.report.document import ATTENTION_RGB, GREY, TEXT, ReportPdf, ink_on, score_rgb, tint
from lusapp.report.wording import pct

VIEW_TITLES = {"front": "Front (anterior + lateral)", "back": "Back (posterior)", "side": "Side"}
TILE_W, TILE_H, PANEL_ASPECT = 0.2, 0.18, 0.9  # as on the app's zone board (lusapp.gui.zone_board)


def torso(x0: float, y0: float, w: float, h: float) -> list[tuple[float, float]]:
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


def draw_diagram(pdf: ReportPdf, x: float, y: float, w: float, h: float) -> None:
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
        pdf.polygon(torso(px, py, pw, ph), style="DF")
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
        draw_tile(pdf, zr, tx, ty, tw, th, n_levels, att.get(zone.id), max_att)
    pdf.font("", 6.5)
    pdf.set_text_color(*GREY)
    pdf.set_xy(x, y + title_h + ph + 1)
    pdf.multi_cell(w, 3, pdf.clean("C: clinician's score (solid; the consensus when adjudicated) \u2014 M: model's "
                                   "score (hatched; no clinician score) \u2014 dashed outline: no image \u2014 % "
                                   "and bar: the model's attention"), align="C")
    pdf.set_text_color(*TEXT)


def draw_tile(pdf: ReportPdf, zr: ZoneReport, x: float, y: float, w: float, h: float, n_levels: int,
              attention: float | None, max_att: float) -> None:
    score, who = zr.shown_score
    rgb = score_rgb(score, n_levels)
    if who == "model":
        fill = tint(rgb, 0.55)
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
        ink = ink_on(fill)
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
        pdf.text_at(x, y + h - 3.3, w, 3, pct(attention), 5.5, "B", "C", ink)
        if max_att > 0:
            pdf.set_fill_color(*ATTENTION_RGB)
            pdf.rect(x, y + h + 0.4, w * attention / max_att, 0.9, style="F")
