"""``python -m model_training contactsheet [--model BUNDLE] [--out FILE.png] [--part test] [--per 3]
[--bline-columns]``

A contact sheet of real frames with the model's masks as the app shows them (findings-gated), for a person to
look at: rows of normal lung with A-lines, scattered B-lines, white lung (confluent B-lines), consolidation and
pleural effusion, picked by the second reading (pocus_reader2.csv) from one part of the split. Each tile: the
frame, the mask overlay in the app's colours, the reader's call and the model's findings and zone score; with
``--bline-columns``, beside it the same frame with the B-line mask refined into columns (old vs new masks).

The sheet is written outside the repository by default (docs/ must not hold copies of ../shared/data).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

CATEGORIES = {
    "normal, A-lines": lambda r: r.get("b_line_grade") == 0 and r.get("a_lines") == 1 and not r.get("consolidation")
    and not r.get("effusion"),
    "scattered B-lines": lambda r: r.get("b_line_grade") in (1, 2) and not r.get("consolidation"),
    "white lung": lambda r: r.get("b_line_grade") == 3,
    "consolidation": lambda r: r.get("consolidation") == 1 and not r.get("effusion"),
    "pleural effusion": lambda r: r.get("effusion") == 1,
}
COLOURS = {1: (255, 220, 0), 2: (60, 200, 60), 3: (30, 90, 170), 4: (200, 60, 200)}  # BGR: the app colours


def _overlay(img: np.ndarray, m: np.ndarray, size: int, lines: list[str]) -> np.ndarray:
    import cv2

    over = img.copy()
    for c, col in COLOURS.items():
        over[m == c] = col
    out = cv2.resize(cv2.addWeighted(img, 0.55, over, 0.45, 0), (size, size), interpolation=cv2.INTER_AREA)
    cv2.rectangle(out, (0, 0), (size, 13 * len(lines) + 4), (0, 0, 0), -1)
    for k, text in enumerate(lines):
        cv2.putText(out, text, (3, 12 + 13 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def tile(engine, item, size: int = 260, columns: bool = False) -> np.ndarray:
    """The middle frame with the app's (gated) masks; with ``columns``, beside it the same frame with the B-line
    mask refined into columns (lusapp.model.bline_columns)."""
    import cv2

    from lusapp.io import open_media
    from lusapp.model.clip_report import gate_labels
    from lusapp.model.preprocess import project_mask

    rep = engine.clip_report(item.path)
    with open_media(item.path) as clip:
        i = clip.n_frames // 2
        seg = engine.segment(clip, [i])
        gray = clip.read_gray(i)
        _, entry = engine.features(clip, [i], label_indices=[i]) if columns else (None, None)
    mask = gate_labels(seg.masks[0], rep.findings)
    x0, y0, x1, y1 = seg.crop
    img = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)[y0:y1, x0:x1]
    r = item.reader2
    p = rep.probs
    lines = [f"reader: B{r.get('b_line_grade')} A{r.get('a_lines')} C{r.get('consolidation')} E{r.get('effusion')}",
             f"model: B {p.get('b_lines', 0):.2f} A {p.get('a_lines', 0):.2f} C {p.get('consolidation', 0):.2f} "
             f"E {p.get('effusion', 0):.2f}  score {rep.score}"]
    out = _overlay(img, mask[y0:y1, x0:x1], size, lines)
    if not columns:
        return out
    from lusapp.model.bline_columns import refine

    small = gate_labels(entry.labels[i], rep.findings)
    confluent = bool(rep.findings.grade_probs[2] >= 0.5) if rep.findings is not None else None
    refined, n = refine(entry.inputs[i], small, confluent=confluent)
    full = project_mask(refined, seg.crop, gray.shape)
    return np.hstack([out, _overlay(img, full[y0:y1, x0:x1], size, [f"B-line columns: {n}"])])


def main(argv: list[str] | None = None) -> int:
    import cv2

    ap = argparse.ArgumentParser(prog="python -m model_training contactsheet", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="bundle folder (default: the active model)")
    ap.add_argument("--data", default=None)
    ap.add_argument("--part", default="test", choices=("test", "dev", "all"))
    ap.add_argument("--per", type=int, default=3, help="clips per category")
    ap.add_argument("--out", default="/tmp/lusapp_contact_sheet.png")
    ap.add_argument("--bline-columns", action="store_true",
                    help="beside each tile, the B-line mask refined into columns (lusapp.model.bline_columns)")
    args = ap.parse_args(argv)
    from lusapp.model.bundle import load_bundle
    from lusapp.model.engine import Engine
    from lusapp.model.registry import ModelRegistry
    from model_training.realdata import load_items

    items = [i for i in load_items(args.data) if i.reader2 and (args.part == "all" or i.part == args.part)]
    if not items:
        print("contactsheet: no real clips (is ../shared/data there?)", file=sys.stderr)
        return 0
    engine = Engine(load_bundle(args.model) if args.model else ModelRegistry().load_active(), threads=2)
    rows = []
    for name, rule in CATEGORIES.items():
        chosen = [i for i in items if rule(i.reader2) and i.kind == "video"][:args.per]
        tiles = [tile(engine, i, columns=args.bline_columns) for i in chosen]
        while len(tiles) < args.per:
            tiles.append(np.zeros_like(tiles[0]) if tiles else np.zeros((260, 520 if args.bline_columns else 260, 3), np.uint8))
        label = np.zeros((260, 120, 3), np.uint8)
        for k, word in enumerate(name.split(", ") if "," in name else name.split(" ")):
            cv2.putText(label, word, (4, 110 + 18 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(np.hstack([label] + tiles))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.vstack(rows))
    print(str(out))
    return 0
