"""The measures table of a zone's clip and the rule-based score, from the masks the clinician accepted.

Which masks count (:func:`choose_masks`): a clip's FINAL masks when it has any (those edited in this session,
from :class:`lusapp.review.final_edits.FinalEdits`, then those in the store), else the model's masks
segmented so far. :func:`compute` turns them into
display rows, the rule score and the rule that fired (it reads the stored FINAL masks itself, so a worker
thread can run it); :func:`source_text` says which masks were used. ``lusapp.gui.measures_ctl`` runs this in
a worker, debounced while masks stream in, and shows the result in the zone panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np


def measure_rows(m: Any) -> list[tuple[str, str]]:
    """Display rows (title, text) of a :class:`lusapp.model.measures.FrameMeasures`."""
    def mm(v: float | None, unit: str = "mm") -> str:
        return "—" if v is None else f"{v:.1f} {unit}"

    rows = [("B-lines", str(m.b_lines)),
            ("B-line coverage", f"{100 * m.b_line_coverage:.0f}% of pleura"),
            ("Pleural line", "found" if m.pleura_found else "not found")]
    if m.pleura_found:
        rows.append(("Pleural thickness", mm(m.pleural_thickness_mm) if m.pleural_thickness_mm is not None
                     else mm(m.pleural_thickness_px, "px")))
        rows.append(("Pleural irregularity", mm(m.pleural_irregularity_mm) if m.pleural_irregularity_mm is not None
                     else mm(m.pleural_irregularity_px, "px")))
    rows.append(("A-lines", "present" if m.a_line_present else "absent"))
    if m.consolidation_cm2 is not None:
        rows.append(("Consolidation", f"{m.consolidation_cm2:.2f} cm²"))
    else:
        rows.append(("Consolidation", f"{m.consolidation_px:.0f} px"))
    return rows


@dataclass
class MaskChoice:
    """The masks the measures of one clip use: ``masks`` in memory, ``store_frames`` to read from the store
    (FINAL), and how many of them are clinician-checked (``n_final``; 0 means the model's masks)."""

    masks: list[np.ndarray] = field(default_factory=list)
    store_frames: list[int] = field(default_factory=list)
    n_final: int = 0

    @property
    def empty(self) -> bool:
        return not self.masks and not self.store_frames


def choose_masks(n_frames: int, edited_final: Mapping[int, np.ndarray], stored_final: set[int],
                 model_mask: Callable[[int], np.ndarray | None] | None = None) -> MaskChoice:
    """The clip's FINAL masks (one edited in this session wins over the stored one of its frame); when there
    is none, the model's masks that ``model_mask(frame)`` has (None for a frame not segmented yet)."""
    choice = MaskChoice()
    for f in range(n_frames):
        if f in edited_final:
            choice.masks.append(edited_final[f])
        elif f in stored_final:
            choice.store_frames.append(f)
    choice.n_final = len(choice.masks) + len(choice.store_frames)
    if choice.n_final == 0 and model_mask is not None:
        choice.masks = [m for m in (model_mask(f) for f in range(n_frames)) if m is not None]
    return choice


def compute(masks: list[np.ndarray], store, pid: str, zone_id: str, final_frames: list[int],
            spacing) -> tuple[list[tuple[str, str]], int, str, int]:
    """(rows, rule score, rule, n frames) of ``masks`` and the FINAL masks of ``final_frames`` read from
    ``store`` (None: none to read). Raises ValueError when there is no mask at all."""
    from lusapp.model.measures import clip_measures, rule_score

    all_masks = list(masks)
    if store is not None:
        for f in final_frames:
            m = store.load_mask(pid, zone_id, f, "final")
            if m is not None:
                all_masks.append(m)
    if not all_masks:
        raise ValueError(f"zone {zone_id}: no masks to measure")
    m = clip_measures(all_masks, spacing)
    score, rule = rule_score(m)
    return measure_rows(m), score, rule, len(all_masks)


def source_text(n_masks: int, n_final: int) -> str:
    """What the panel says the measures came from."""
    if n_final:
        return f"from {n_masks} clinician-checked frame(s)"
    return f"from the model's masks of {n_masks} frame(s)"
