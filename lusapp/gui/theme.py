"""Dark theme for a dim reading room: low-luminance greys, no pure white, muted accents.

Scores and severities use one colour ramp everywhere (board, panels, lists): green (0, mild) through
amber and red to violet (4, critical). The ramp was chosen to stay distinguishable on dark grey and
is backed by text (the number or the word) wherever it appears, so colour is never the only cue.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication

BG = QColor(30, 31, 34)          # window
BASE = QColor(22, 23, 25)        # text fields, lists, canvases
PANEL = QColor(38, 40, 44)       # raised panels, buttons
BORDER = QColor(64, 67, 73)
TEXT = QColor(214, 216, 220)     # never pure white
TEXT_DIM = QColor(140, 144, 152)
ACCENT = QColor(86, 156, 214)    # selection, links, hover
FOCUS = QColor(120, 196, 255)    # keyboard focus ring: 2 px, brighter than the 1 px hover border
WARN = QColor(230, 170, 60)
ERROR = QColor(235, 100, 90)

# Zone score 0..4 (0-3 scales use the first four).
SCORE_COLORS = (
    QColor(74, 160, 96),    # 0 normal
    QColor(176, 178, 64),   # 1
    QColor(222, 146, 52),   # 2
    QColor(210, 72, 60),    # 3
    QColor(150, 70, 190),   # 4 consolidation
)
# Patient severity 1..4 (mild, moderate, severe, critical).
SEVERITY_COLORS = {1: SCORE_COLORS[0], 2: SCORE_COLORS[1], 3: SCORE_COLORS[3], 4: SCORE_COLORS[4]}
NO_SCORE = QColor(70, 73, 80)


def score_color(value: int | None, n_levels: int = 5) -> QColor:
    if value is None:
        return QColor(NO_SCORE)
    if n_levels == 4:  # 0-3 scale: spread over the same ramp (0, 2, 3, 4)
        value = (0, 2, 3, 4)[max(0, min(3, value))]
    return QColor(SCORE_COLORS[max(0, min(4, value))])


def severity_color(label: int | None) -> QColor:
    return QColor(SEVERITY_COLORS.get(label, NO_SCORE)) if label else QColor(NO_SCORE)


def palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: BG, QPalette.ColorRole.WindowText: TEXT, QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: PANEL, QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT, QPalette.ColorRole.Text: TEXT, QPalette.ColorRole.Button: PANEL,
        QPalette.ColorRole.ButtonText: TEXT, QPalette.ColorRole.BrightText: ERROR,
        QPalette.ColorRole.Highlight: ACCENT, QPalette.ColorRole.HighlightedText: QColor(16, 16, 18),
        QPalette.ColorRole.Link: ACCENT, QPalette.ColorRole.PlaceholderText: TEXT_DIM,
        QPalette.ColorRole.Mid: BORDER, QPalette.ColorRole.Dark: QColor(16, 17, 19),
        QPalette.ColorRole.Light: QColor(80, 84, 90), QPalette.ColorRole.Shadow: QColor(0, 0, 0),
    }
    for role, colour in roles.items():
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(98, 101, 108))
    return p


STYLESHEET = f"""
QToolTip {{ color: {TEXT.name()}; background: {PANEL.name()}; border: 1px solid {BORDER.name()}; }}
QDockWidget::title {{ background: {PANEL.name()}; padding: 4px 6px; }}
QGroupBox {{ border: 1px solid {BORDER.name()}; border-radius: 4px; margin-top: 14px; padding-top: 4px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {TEXT_DIM.name()}; }}
QPushButton {{ padding: 4px 10px; border: 1px solid {BORDER.name()}; border-radius: 3px;
              background: {PANEL.name()}; }}
QPushButton:hover {{ border-color: {ACCENT.name()}; }}
QPushButton:checked {{ background: {ACCENT.darker(160).name()}; border-color: {ACCENT.name()}; }}
QPushButton:disabled {{ color: #62656c; }}
QToolButton {{ padding: 1px 2px; border: 1px solid {BORDER.name()}; border-radius: 3px; background: {PANEL.name()}; }}
QToolButton:hover {{ border-color: {ACCENT.name()}; }}
QToolButton:checked {{ background: {ACCENT.darker(160).name()}; border-color: {ACCENT.name()}; }}
QToolButton:disabled {{ color: #62656c; }}
QLineEdit, QPlainTextEdit, QComboBox, QSpinBox {{ border: 1px solid {BORDER.name()}; border-radius: 3px;
              padding: 2px 4px; background: {BASE.name()}; }}
QPushButton:focus {{ border: 2px solid {FOCUS.name()}; padding: 3px 9px; }}
QToolButton:focus {{ border: 2px solid {FOCUS.name()}; padding: 0px 1px; }}
QLineEdit:focus, QPlainTextEdit:focus, QComboBox:focus, QSpinBox:focus {{ border: 2px solid {FOCUS.name()};
              padding: 1px 3px; }}
QLineEdit[invalid="true"] {{ border-color: {ERROR.name()}; }}
QLabel[role="error"] {{ color: {ERROR.name()}; }}
QLabel[role="dim"] {{ color: {TEXT_DIM.name()}; }}
QLabel[role="heading"] {{ font-weight: 600; }}
QProgressBar {{ border: 1px solid {BORDER.name()}; border-radius: 3px; text-align: center; background: {BASE.name()}; }}
QProgressBar::chunk {{ background: {ACCENT.darker(130).name()}; }}
QHeaderView::section {{ background: {PANEL.name()}; border: 0; border-right: 1px solid {BORDER.name()};
              padding: 3px 6px; }}
QTableView, QTreeView, QListView {{ gridline-color: {BORDER.name()}; selection-background-color: {ACCENT.darker(140).name()};
              selection-color: {TEXT.name()}; }}
QStatusBar {{ color: {TEXT_DIM.name()}; }}
QCheckBox::indicator {{ width: 13px; height: 13px; border: 1px solid #9aa0a8; border-radius: 2px;
              background: {BASE.name()}; }}
QCheckBox::indicator:checked {{ background: {ACCENT.name()}; border-color: {ACCENT.lighter(130).name()}; }}
QCheckBox::indicator:indeterminate {{ background: #4a4e56; border: 1px dashed #9aa0a8; }}
QCheckBox::indicator:disabled {{ border-color: #50545c; }}
QCheckBox::indicator:focus {{ width: 11px; height: 11px; border: 2px solid {FOCUS.name()}; }}
QCheckBox:focus {{ color: {FOCUS.name()}; }}
QCheckBox[unknown="true"] {{ color: {TEXT_DIM.name()}; font-style: italic; }}
"""


def app_icon() -> QIcon:
    """The window icon, drawn (no image files): an ultrasound sector with a cyan pleural line and B-lines."""
    icon = QIcon()
    for size in (16, 32, 64, 128, 256):
        pm = QPixmap(size, size)
        pm.fill(QColor(0, 0, 0, 0))
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        s = float(size)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(28, 30, 34))
        p.drawRoundedRect(QRectF(0, 0, s, s), s * 0.18, s * 0.18)
        fan = QPainterPath()
        fan.moveTo(s * 0.5, s * 0.06)
        fan.arcTo(QRectF(-s * 0.35, s * 0.06 - s * 0.85, s * 1.7, s * 1.7), 235, 70)
        fan.closeSubpath()
        p.setBrush(QColor(120, 124, 132))
        p.drawPath(fan)
        p.setPen(QPen(QColor(0, 230, 255), max(1.0, s * 0.06)))
        r = s * 0.36  # the pleura: an arc around the probe's apex, as a convex probe shows it
        p.drawArc(QRectF(s * 0.5 - r, s * 0.06 - r, 2 * r, 2 * r), 238 * 16, 64 * 16)
        p.setPen(QPen(QColor(190, 110, 40), max(1.0, s * 0.05)))
        for dx in (-0.07, 0.07):  # two B-lines, radial from the pleura down
            p.drawLine(QPointF(s * (0.5 + dx), s * 0.06 + r * 1.0), QPointF(s * (0.5 + dx * 2.6), s * 0.92))
        p.end()
        icon.addPixmap(pm)
    return icon


def apply(app: QApplication) -> None:
    """Fusion style, the dark palette and the small stylesheet above."""
    app.setStyle("Fusion")
    app.setWindowIcon(app_icon())
    app.setPalette(palette())
    app.setStyleSheet(STYLESHEET)
    font = QFont(app.font())
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
        app.setFont(font)
