"""Read CVAT task exports (``cvat_ablines``) into per-frame label maps for real-data segmentation checks.

The folder ``/work/shared/data/cvat_ablines/Dataset/<group>/task_<n>/`` holds CVAT *backup* exports:
``task.json`` (labels, frame range), ``annotations.json`` (a list of jobs, each with ``shapes`` -- polygons
with ``frame``, ``label``, ``points`` [x0, y0, x1, y1, ...] in pixels of the original video -- and ``tracks``)
and ``data/`` (``manifest.jsonl`` and, for task_195 only, the clip itself).

Label mapping (the rest of CVAT's labels -- liver, rib, ... -- are ignored):
``lungslidingpresent`` / ``lungslidingabsent`` / ``pleura`` -> 1 pleural line, ``aline`` -> 2, ``bline`` -> 3.
Polygons are rasterised with ``cv2.fillPoly`` in the draw order of :data:`lusapp.core.labels.DRAW_ORDER`
(A-line < pleural line < B-line).

A frame is *fully annotated* when it carries a pleural-line polygon (task_195: frame 2 and every 10th frame);
the annotators also outlined A-lines alone on some neighbouring frames (12, 22, ...): those frames are partial
(no pleural line drawn although it is visible) and :func:`load_task` leaves them out unless ``partial=True``.
Track shapes (``tracks``) are used at their key frames only (no interpolation), skipping ``outside`` ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lusapp.core.labels import A_LINE, B_LINE, DRAW_ORDER, PLEURAL_LINE

LABEL_MAP = {"lungslidingpresent": PLEURAL_LINE, "lungslidingabsent": PLEURAL_LINE, "pleura": PLEURAL_LINE,
             "aline": A_LINE, "bline": B_LINE}
MEDIA_EXT = (".mp4", ".avi", ".mov", ".mkv", ".mpeg", ".mpg", ".gif", ".webm")


def default_root() -> Path:
    """``<repo>/../shared/data/cvat_ablines`` (also /work/shared/data/cvat_ablines)."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here.parent / "shared" / "data" / "cvat_ablines", Path("/work/shared/data/cvat_ablines")):
        if cand.is_dir():
            return cand
    return here.parent / "shared" / "data" / "cvat_ablines"


@dataclass
class CvatTask:
    task_dir: Path
    name: str
    media: Path | None
    size: tuple[int, int]  # (height, width)
    masks: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> uint8 label map
    labels: dict[int, set] = field(default_factory=dict)  # frame -> set of classes annotated


def _shapes(annotations) -> list[dict]:
    jobs = annotations if isinstance(annotations, list) else [annotations]
    out = []
    for job in jobs:
        for s in job.get("shapes", []):
            out.append(s)
        for tr in job.get("tracks", []):
            for s in tr.get("shapes", []):
                if not s.get("outside", False):
                    out.append({**s, "label": tr.get("label", s.get("label"))})
    return out


def _media_size(task_dir: Path) -> tuple[Path | None, tuple[int, int] | None]:
    media = None
    for p in sorted((task_dir / "data").rglob("*")) if (task_dir / "data").is_dir() else []:
        if p.suffix.lower() in MEDIA_EXT and p.is_file():
            media = p
            break
    size = None
    man = task_dir / "data" / "manifest.jsonl"
    if man.is_file():
        for line in man.read_text(encoding="utf-8").splitlines():
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            props = d.get("properties") if isinstance(d, dict) else None
            if props and "resolution" in props:
                w, h = props["resolution"]
                size = (int(h), int(w))
    return media, size


def rasterise(shapes: list[dict], size: tuple[int, int]) -> np.ndarray:
    """Label map (H, W) uint8 from CVAT polygon shapes (already filtered to one frame)."""
    import cv2

    h, w = size
    mask = np.zeros((h, w), np.uint8)
    order = {c: i for i, c in enumerate(DRAW_ORDER)}
    items = [(LABEL_MAP[s["label"]], s) for s in shapes if s.get("label") in LABEL_MAP]
    items.sort(key=lambda t: order.get(t[0], 0))
    for cls, s in items:
        pts = np.asarray(s.get("points", []), dtype=np.float64).reshape(-1, 2)
        if len(pts) < 2:
            continue
        poly = np.round(pts).astype(np.int32).reshape(-1, 1, 2)
        if s.get("type", "polygon") == "polyline":
            cv2.polylines(mask, [poly], False, int(cls), thickness=3)
        elif s.get("type", "polygon") in ("polygon", "rectangle"):
            if s.get("type") == "rectangle" and len(pts) == 2:
                (x0, y0), (x1, y1) = pts
                poly = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.int32).reshape(-1, 1, 2)
            cv2.fillPoly(mask, [poly], int(cls))
    return mask


def load_task(task_dir: str | Path, partial: bool = False) -> CvatTask:
    """Parse one task folder; masks of the fully annotated frames (all annotated frames when ``partial``)."""
    task_dir = Path(task_dir)
    ann = json.loads((task_dir / "annotations.json").read_text(encoding="utf-8"))
    name = task_dir.name
    tj = task_dir / "task.json"
    if tj.is_file():
        name = json.loads(tj.read_text(encoding="utf-8")).get("name", name)
    media, size = _media_size(task_dir)
    if size is None:
        if media is None:
            raise ValueError(f"{task_dir}: neither a clip nor a resolution in data/manifest.jsonl")
        import cv2

        cap = cv2.VideoCapture(str(media))
        size = (int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)))
        cap.release()
    by_frame: dict[int, list[dict]] = {}
    for s in _shapes(ann):
        if s.get("label") in LABEL_MAP:
            by_frame.setdefault(int(s["frame"]), []).append(s)
    task = CvatTask(task_dir=task_dir, name=str(name), media=media, size=size)
    for f, shapes in sorted(by_frame.items()):
        classes = {LABEL_MAP[s["label"]] for s in shapes}
        if not partial and PLEURAL_LINE not in classes:
            continue
        task.masks[f] = rasterise(shapes, size)
        task.labels[f] = classes
    return task


def find_tasks(root: str | Path | None = None, with_media: bool = True) -> list[Path]:
    """Task folders under ``root`` (default :func:`default_root`); only those whose clip is present by default."""
    root = Path(root) if root is not None else default_root()
    if not root.is_dir():
        return []
    out = []
    for ann in sorted(root.rglob("annotations.json")):
        d = ann.parent
        if with_media and _media_size(d)[0] is None:
            continue
        out.append(d)
    return out


def read_frames(media: Path, indices) -> dict[int, np.ndarray]:
    """Grey uint8 frames of a clip by index (cv2 sequential decode; lusapp.io is used where available)."""
    want = sorted(set(int(i) for i in indices))
    try:
        from lusapp.io import open_media  # type: ignore

        clip = open_media(media)
        try:
            return {i: clip.read_gray(i) for i in want}
        finally:
            clip.close()
    except ImportError:
        pass
    import cv2

    cap = cv2.VideoCapture(str(media))
    out: dict[int, np.ndarray] = {}
    i = 0
    while want and i <= want[-1]:
        ok, fr = cap.read()
        if not ok:
            break
        if i in want:
            out[i] = cv2.cvtColor(fr, cv2.COLOR_BGR2GRAY)
        i += 1
    cap.release()
    return out
