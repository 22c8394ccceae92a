"""The report's sentences: times, severities, findings, measures and the raters' scores of a zone, as text.

Plain functions of the report content (no drawing), shared by both pages of :mod:`lusapp.report.pdf`.
"""

from __future__ import annotations

import datetime as _dt

from lusapp.core.patient import ZoneRecord
from lusapp.core.raters import rater_scores
from lusapp.core.scales import SEVERITY_LEVELS
from lusapp.report.content import ZoneReport

FINDING_TITLES = {"b_lines": "B-lines", "a_lines": "A-lines", "consolidation": "consolidation",
                  "pleural_irregular": "irregular pleura", "effusion": "effusion"}


def fmt_time(value: str) -> str:
    """'2026-01-31T12:00:00Z' -> '2026-01-31 12:00 UTC' (other text unchanged)."""
    try:
        t = _dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value or "-"
    if t.tzinfo is not None:
        t = t.astimezone(_dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def pct(p: float) -> str:
    return f"{100 * p:.0f} %"


def severity_text(label: int | None) -> str:
    return f"{SEVERITY_LEVELS[label]} ({label})" if label in SEVERITY_LEVELS else "-"


def raters_text(rec: ZoneRecord, times: bool = True) -> str:
    """Every rater's score of the zone and the adjudicated consensus: with ``times``
    'dr_a 2 (2026-01-31 12:00 UTC), dr_b 3 (...); consensus 3 by dr_c (dr_b's), 2026-02-01 09:00 UTC', else the
    short 'dr_a 2, dr_b 3; consensus 3 (dr_c)'; '-' when nobody scored."""
    scores = rater_scores(rec)
    text = ", ".join(f"{r} {e.value}" + (f" ({fmt_time(e.time)})" if times else "") for r, e in scores.items())
    text = text or "-"
    c = rec.consensus_score
    if c is not None:
        if times:
            picked = f" ({c.from_rater}'s)" if c.from_rater else ""
            text += f"; consensus {c.value} by {c.rater}{picked}, {fmt_time(c.time)}"
        else:
            text += f"; consensus {c.value} ({c.rater})"
    elif len({e.value for e in scores.values()}) > 1:
        text += "; raters disagree, not adjudicated" if times else "; disagree"
    return text


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
