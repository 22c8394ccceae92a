"""Mask label map classes shared by the readers, the store, the models and the GUI.

A mask is a ``uint8`` array (H, W) whose value at each pixel is one class index below.
"""

from __future__ import annotations

BACKGROUND, PLEURAL_LINE, A_LINE, B_LINE, CONSOLIDATION = range(5)

CLASS_NAMES: tuple[str, ...] = ("background", "pleural_line", "a_line", "b_line", "consolidation")
CLASS_TITLES: tuple[str, ...] = ("Background", "Pleural line", "A-line", "B-line", "Consolidation")
N_CLASSES = len(CLASS_NAMES)

# Overlay colours of the paper's Fig. 7 (RGB): pleural line cyan, A-line green, B-line brown,
# consolidation purple.
CLASS_COLORS: dict[int, tuple[int, int, int]] = {
    PLEURAL_LINE: (0, 230, 255),
    A_LINE: (40, 220, 60),
    B_LINE: (190, 110, 40),
    CONSOLIDATION: (170, 60, 230),
}

# When patterns overlap in one label map the later class in this order wins.
DRAW_ORDER: tuple[int, ...] = (A_LINE, PLEURAL_LINE, B_LINE, CONSOLIDATION)
