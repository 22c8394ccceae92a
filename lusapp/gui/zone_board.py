"""The chest diagram: one tile per protocol zone, drawn with QPainter at the protocol's (view, x, y).

Each tile shows, without relying on colour alone:
- the zone id and its score as a number; colour = score (theme ramp);
- who scored it: clinician = solid fill + letter ``C``; model only = hatched fill + letter ``M``;
- the media: a play triangle (clip), a small frame (still), or a dashed outline and "no image" (missing);
- after an assessment, the attention weight as a bar along the tile's bottom edge and a percentage (inside a
  large tile, just below a small one).

Click or drop files on a tile; with keyboard focus, arrow keys move to the nearest tile in that
direction and Enter/Space select it (zone stepping in protocol order is the window's Page Up/Down).
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from lusapp.gui import theme

VIEW_TITLES = {"front": "Front (anterior + lateral)", "back": "Back (posterior)", "side": "Side"}
TILE_W, TILE_H = 0.2, 0.18  # fraction of a view panel
PANEL_ASPECT = 0.9  # torso panel width / height
LEGEND_H = 16.0
LEGEND = "C clinician · M model (hatched) · ▶ clip · ◻ still · dashed: no image · bar: attention"


def _torso_path(r: QRectF) -> QPainterPath:
    """A simple chest silhouette inside ``r`` (neck, shoulders, trunk)."""
    w, h, x0, y0 = r.width(), r.height(), r.left(), r.top()
    p = QPainterPath()
    p.moveTo(x0 + 0.42 * w, y0 + 0.02 * h)
    p.lineTo(x0 + 0.42 * w, y0 + 0.10 * h)
    p.cubicTo(x0 + 0.30 * w, y0 + 0.13 * h, x0 + 0.12 * w, y0 + 0.14 * h, x0 + 0.07 * w, y0 + 0.24 * h)
    p.lineTo(x0 + 0.04 * w, y0 + 0.80 * h)
    p.cubicTo(x0 + 0.10 * w, y0 + 0.92 * h, x0 + 0.30 * w, y0 + 0.97 * h, x0 + 0.50 * w, y0 + 0.97 * h)
    p.cubicTo(x0 + 0.70 * w, y0 + 0.97 * h, x0 + 0.90 * w, y0 + 0.92 * h, x0 + 0.96 * w, y0 + 0.80 * h)
    p.lineTo(x0 + 0.93 * w, y0 + 0.24 * h)
    p.cubicTo(x0 + 0.88 * w, y0 + 0.14 * h, x0 + 0.70 * w, y0 + 0.13 * h, x0 + 0.58 * w, y0 + 0.10 * h)
    p.lineTo(x0 + 0.58 * w, y0 + 0.02 * h)
    return p


def _px(v: float, lo: int, hi: int) -> int:
    return int(max(lo, min(hi, round(v))))


class ZoneBoard(QWidget):
    zoneSelected = Signal(str)
    filesDropped = Signal(str, list)  # zone id ('' = not on a tile: assign by file name), paths

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("zoneBoard")
        self.setAccessibleName("Zone board")
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # clicks do not steal the arrow keys from the clip view
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.setMinimumSize(300, 170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._patient = None
        self._protocol = None
        self._current = ""
        self._attention: dict[str, float] = {}
        self._drop_zone = ""
        self._rects: dict[str, QRectF] = {}

    # ------------------------------------------------------------------ API
    def sizeHint(self) -> QSize:
        return QSize(520, 300)

    def set_patient(self, patient) -> None:
        self._patient = patient
        self._protocol = patient.protocol if patient is not None else None
        if patient is None or self._current not in patient.zones:
            self._current = ""
        self._attention = {}
        self._layout()
        self.update()

    def set_current(self, zone_id: str) -> None:
        if zone_id != self._current:
            self._current = zone_id
            self.update()

    @property
    def current(self) -> str:
        return self._current

    def set_attention(self, weights: dict[str, float]) -> None:
        self._attention = dict(weights or {})
        self.update()

    def refresh(self) -> None:
        self.update()

    def zone_rect(self, zone_id: str) -> QRectF:
        return QRectF(self._rects[zone_id])

    def zone_at(self, pos: QPointF) -> str:
        for zid, r in self._rects.items():
            if r.contains(pos):
                return zid
        return ""

    def describe(self, zone_id: str) -> str:
        """Plain-text summary of a tile (tooltip and accessibility)."""
        if self._patient is None or zone_id not in self._patient.zones:
            return zone_id
        rec = self._patient.zones[zone_id]
        zone = self._protocol.zone(zone_id)
        media = {"clip": "clip", "still": "still image"}.get(rec.media.kind, "") if rec.media else "no image"
        parts = [f"{zone_id} — {zone.name}", media]
        if rec.clinician_score is not None:
            parts.append(f"clinician score {rec.clinician_score.value} ({rec.clinician_score.rater})")
        if rec.model_score is not None:
            parts.append(f"model score {rec.model_score.score} ({rec.model_score.model_version})")
        if zone_id in self._attention:
            parts.append(f"attention {self._attention[zone_id]:.0%}")
        return "\n".join(parts)

    # ------------------------------------------------------------------ geometry
    def _views(self) -> list[str]:
        if self._protocol is None:
            return []
        return [v for v in ("front", "back", "side") if self._protocol.zones_in_view(v)]

    def _panels(self) -> dict[str, QRectF]:
        """One rectangle per view, of a fixed torso aspect, side by side or stacked (whichever is larger)."""
        views = self._views()
        if not views:
            return {}
        margin, gap, title_h, aspect = 6.0, 8.0, 18.0, PANEL_ASPECT
        n = len(views)
        W, H = self.width() - 2 * margin, self.height() - 2 * margin - self._legend_height()

        def fit(cell_w: float, cell_h: float) -> tuple[float, float]:
            cell_h -= title_h
            w = min(cell_w, cell_h * aspect)
            return max(w, 1.0), max(w / aspect, 1.0)

        row = fit((W - gap * (n - 1)) / n, H)
        col = fit(W, (H - gap * (n - 1)) / n)
        stacked = col[0] > row[0]
        pw, ph = col if stacked else row
        out = {}
        for i, v in enumerate(views):
            if stacked:
                cell_h = (H - gap * (n - 1)) / n
                x0, y0 = margin + (W - pw) / 2, margin + i * (cell_h + gap) + (cell_h - ph - title_h) / 2
            else:
                cell_w = (W - gap * (n - 1)) / n
                x0, y0 = margin + i * (cell_w + gap) + (cell_w - pw) / 2, margin + (H - ph - title_h) / 2
            out[v] = QRectF(x0, y0 + title_h, pw, ph)
        return out

    def _layout(self) -> None:
        self._rects = {}
        if self._protocol is None:
            return
        for view, panel in self._panels().items():
            tw, th = panel.width() * TILE_W, panel.height() * TILE_H
            for z in self._protocol.zones_in_view(view):
                cx, cy = panel.left() + z.x * panel.width(), panel.top() + z.y * panel.height()
                self._rects[z.id] = QRectF(cx - tw / 2, cy - th / 2, tw, th)

    def resizeEvent(self, event) -> None:  # noqa: N802
        self._layout()
        super().resizeEvent(event)

    def _legend_height(self) -> float:
        """0 on small boards; else as many lines as the legend needs wrapped to the board's width."""
        if self.height() < 260 or self.width() < 300:
            return 0.0
        box = self._small_font_metrics().boundingRect(QRectF(0, 0, self.width() - 12, 10 * LEGEND_H),
                                                      int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                                                      LEGEND)
        return max(LEGEND_H, math.ceil(box.height()) + 2.0)

    def _small_font(self) -> QFont:
        f = QFont(self.font())
        f.setPointSizeF(max(7.5, self.font().pointSizeF() - 1))
        return f

    def _small_font_metrics(self):
        return QFontMetricsF(self._small_font())

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), theme.BASE)
        if self._patient is None:
            p.setPen(theme.TEXT_DIM)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No patient open")
            return
        small = self._small_font()
        for view, panel in self._panels().items():
            p.setPen(QPen(theme.BORDER, 1.5))
            p.setBrush(QColor(34, 36, 40))
            p.drawPath(_torso_path(panel))
            p.setPen(theme.TEXT_DIM)
            p.setFont(small)
            text = VIEW_TITLES.get(view, view)  # centred on the panel, wider than it when it must be
            tw = min(self.width() - 4.0, max(panel.width(), QFontMetricsF(small).horizontalAdvance(text) + 4))
            left = min(max(2.0, panel.center().x() - tw / 2), self.width() - 2.0 - tw)
            p.drawText(QRectF(left, panel.top() - 18, tw, 16), Qt.AlignmentFlag.AlignCenter, text)
            # the patient's sides, so front and back are never mixed up
            left_side, right_side = ("R", "L") if view == "front" else ("L", "R")
            side_y = panel.top() + 0.88 * panel.height()
            p.drawText(QRectF(panel.left() + 0.12 * panel.width(), side_y, 20, 16), Qt.AlignmentFlag.AlignLeft,
                       left_side)
            p.drawText(QRectF(panel.right() - 0.12 * panel.width() - 20, side_y, 20, 16),
                       Qt.AlignmentFlag.AlignRight, right_side)
        if self._legend_height():
            p.setPen(theme.TEXT_DIM)
            p.setFont(small)
            lh = self._legend_height()
            p.drawText(QRectF(6, self.height() - lh - 2, self.width() - 12, lh),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, LEGEND)
        max_att = max(self._attention.values(), default=0.0)
        for zid, r in self._rects.items():
            self._paint_tile(p, zid, r, max_att)
        if self.hasFocus() and self._current in self._rects:
            p.setPen(QPen(theme.ACCENT, 1, Qt.PenStyle.DotLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(self._rects[self._current].adjusted(-5, -5, 5, 5), 7, 7)

    def _paint_tile(self, p: QPainter, zid: str, r: QRectF, max_att: float) -> None:
        rec = self._patient.zones[zid]
        n_levels = self._patient.scale.n_levels
        clin = rec.clinician_score.value if rec.clinician_score is not None else None
        model = rec.model_score.score if rec.model_score is not None else None
        shown = clin if clin is not None else model
        colour = theme.score_color(shown, n_levels)
        radius = 5.0
        # fill: solid for the clinician's score, hatched over a dark tint for the model's
        if clin is not None:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour)
            p.drawRoundedRect(r, radius, radius)
        elif model is not None:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour.darker(260))
            p.drawRoundedRect(r, radius, radius)
            p.setBrush(QBrush(colour, Qt.BrushStyle.BDiagPattern))
            p.drawRoundedRect(r, radius, radius)
        else:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(46, 48, 53))
            p.drawRoundedRect(r, radius, radius)
        # outline: dashed when there is no image; accent and thick when current
        if zid == self._current:
            pen = QPen(theme.ACCENT.lighter(120), 3)
        elif zid == self._drop_zone:
            pen = QPen(theme.WARN, 2.5)
        else:
            pen = QPen(theme.BORDER.lighter(130), 1.2)
        if rec.media is None:
            pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(r, radius, radius)

        text_col = QColor(20, 20, 22) if clin is not None and shown in (1, 2) else theme.TEXT
        u = min(r.width(), r.height())
        pad = max(3.0, u * 0.06)
        top = r.adjusted(pad, pad * 0.6, -pad, 0)
        self._text(p, top, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, zid, _px(u * 0.22, 9, 14),
                   text_col)
        if (clin is not None or model is not None) and r.width() >= u * 0.9:
            self._text(p, top, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                       "C" if clin is not None else "M", _px(u * 0.22, 9, 14), text_col)
        if shown is not None:  # score number, large, centred
            self._text(p, r.adjusted(0, u * 0.06, 0, 0), Qt.AlignmentFlag.AlignCenter, str(shown),
                       _px(u * 0.42, 12, 30), text_col)
        self._paint_media_glyph(p, rec, r, text_col, u, pad)
        if self._attention and zid in self._attention:
            self._paint_attention(p, r, self._attention[zid], max_att, u, pad)

    def _text(self, p: QPainter, r: QRectF, align, text: str, px: int, col: QColor, bold: bool = True) -> None:
        f = QFont(self.font())
        f.setPixelSize(px)
        f.setBold(bold)
        p.setFont(f)
        if col.lightness() > 128:  # light text: a dark shadow keeps it readable over hatching
            p.setPen(QColor(0, 0, 0, 170))
            p.drawText(r.translated(1, 1), align, text)
        p.setPen(col)
        p.drawText(r, align, text)

    def _paint_media_glyph(self, p: QPainter, rec, r: QRectF, col: QColor, u: float, pad: float) -> None:
        s = _px(u * 0.18, 7, 12)
        x, y = r.left() + pad, r.bottom() - s - pad
        if rec.media is None:
            self._text(p, r.adjusted(0, 0, 0, -pad * 0.6), Qt.AlignmentFlag.AlignHCenter
                       | Qt.AlignmentFlag.AlignBottom, "no image" if r.width() > 56 else "none",
                       _px(u * 0.16, 8, 11), theme.TEXT_DIM, bold=False)
            return
        p.setPen(QPen(col, 1.2))
        if rec.media.kind == "clip":
            p.setBrush(col)
            p.drawPolygon(QPolygonF([QPointF(x, y), QPointF(x + s * 0.9, y + s / 2), QPointF(x, y + s)]))
        else:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(x, y + s * 0.1, s, s * 0.8))
            p.drawEllipse(QPointF(x + s / 2, y + s * 0.5), s * 0.18, s * 0.18)

    def _paint_attention(self, p: QPainter, r: QRectF, w: float, max_att: float, u: float, pad: float) -> None:
        frac = w / max_att if max_att > 0 else 0.0
        bar = self._attention_bar(r, u, pad)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRect(bar)
        p.setBrush(QColor(235, 235, 240))
        p.drawRect(QRectF(bar.left(), bar.top(), bar.width() * frac, bar.height()))
        rect, align, px = self._attention_text_place(r, bar, u)
        self._text(p, rect, align, f"{w:.0%}", px, theme.TEXT)

    @staticmethod
    def _attention_text_place(r: QRectF, bar: QRectF, u: float) -> tuple[QRectF, Qt.AlignmentFlag, int]:
        """Where the attention percentage goes: above the bar inside a large tile; just below a small tile
        (the rows of tiles leave that gap), where it does not cover the score."""
        if u >= 56:
            px = _px(u * 0.16, 8, 11)
            return (QRectF(bar.left(), bar.top() - px - 3, bar.width(), px + 2),
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom, px)
        px = _px(u * 0.25, 8, 10)
        return (QRectF(r.left(), r.bottom() + 1, r.width(), px + 3),
                Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, px)

    def attention_text_rect(self, zone_id: str) -> QRectF | None:
        """The rectangle of the zone's attention percentage (None without attention for it): for tests."""
        if zone_id not in self._attention or zone_id not in self._rects:
            return None
        r = self._rects[zone_id]
        u = min(r.width(), r.height())
        return self._attention_text_place(r, self._attention_bar(r, u, max(3.0, u * 0.06)), u)[0]

    @staticmethod
    def _attention_bar(r: QRectF, u: float, pad: float) -> QRectF:
        bar_h = max(3.0, u * 0.06)
        left = r.left() + pad + _px(u * 0.18, 7, 12) + pad
        return QRectF(left, r.bottom() - pad - bar_h, r.right() - pad - left, bar_h)

    # ------------------------------------------------------------------ interaction
    def mousePressEvent(self, event) -> None:  # noqa: N802
        zid = self.zone_at(event.position())
        if zid and event.button() == Qt.MouseButton.LeftButton:
            self._select(zid)
        super().mousePressEvent(event)

    def _select(self, zid: str) -> None:
        self.set_current(zid)
        self.zoneSelected.emit(zid)

    def event(self, ev) -> bool:  # noqa: D401 - tooltips per tile
        if ev.type() == ev.Type.ToolTip:
            zid = self.zone_at(QPointF(ev.pos()))
            if zid:
                QToolTip.showText(ev.globalPos(), self.describe(zid), self)
            else:
                QToolTip.hideText()
            return True
        if ev.type() == ev.Type.ShortcutOverride and self.hasFocus() and ev.key() in (
                Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Space):
            ev.accept()  # with focus on the board, arrows move between tiles, not frames
            return True
        return super().event(ev)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        dirs = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}
        key = event.key()
        if key in dirs and self._rects:
            nxt = self._neighbour(self._current, *dirs[key])
            if nxt:
                self._select(nxt)
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) and self._current:
            self.zoneSelected.emit(self._current)
            return
        super().keyPressEvent(event)

    def _neighbour(self, zid: str, dx: int, dy: int) -> str:
        if zid not in self._rects:
            return next(iter(self._rects))
        c = self._rects[zid].center()
        best, best_cost = "", math.inf
        for other, r in self._rects.items():
            if other == zid:
                continue
            v = r.center() - c
            along = v.x() * dx + v.y() * dy
            if along <= 1:
                continue
            across = abs(v.x() * dy) + abs(v.y() * dx)
            cost = along + 2.0 * across
            if cost < best_cost:
                best, best_cost = other, cost
        return best

    # ------------------------------------------------------------------ drag & drop of clips
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and self._patient is not None:
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        zid = self.zone_at(event.position())
        if zid != self._drop_zone:
            self._drop_zone = zid
            self.update()
        event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802
        self._drop_zone = ""
        self.update()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        zid = self.zone_at(event.position())
        self._drop_zone = ""
        self.update()
        if paths:
            event.acceptProposedAction()
            self.filesDropped.emit(zid if len(paths) == 1 else "", [str(Path(p)) for p in paths])
