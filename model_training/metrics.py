"""Evaluation metrics: classification (patient severity, zone score), segmentation, paired t-test, plots.

Segmentation metrics, per pattern class c (pleural line 1, A-line 2, B-line 3, consolidation 4), over a set of
evaluated frames with ground truth G_f and prediction P_f (label maps of the same size):

* Dice, IoU, precision, recall are *pooled*: TP, FP, FN are summed over all pixels of all frames, then
  Dice = 2TP / (2TP + FP + FN), IoU = TP / (TP + FP + FN), precision = TP / (TP + FP), recall = TP / (TP + FN).
  A ratio whose denominator is 0 is reported as None (e.g. Dice of a class absent from GT and prediction).
* mIoU = mean of the four pattern IoUs that are not None.
* Hit Ratio @ IoU 50% (HR50): a ground-truth instance of class c is the region {G_f == c} of one frame f in
  which it is non-empty; it is hit when IoU({P_f == c}, {G_f == c}) >= 0.5 in that frame.
  HR50 = hits / number of ground-truth instances (None when there is none).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from lusapp.core.labels import CLASS_NAMES
from lusapp.core.scales import is_severe

PATTERNS = (1, 2, 3, 4)


# ----------------------------------------------------------------------------- classification
def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n: int) -> np.ndarray:
    """(n, n) int64 counts; rows true class, columns predicted class (labels 0..n-1)."""
    cm = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        cm[int(t), int(p)] += 1
    return cm


def _div(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over classes present in the ground truth or the predictions (F1 = 0 when TP = 0)."""
    f1s = []
    for c in range(cm.shape[0]):
        tp = cm[c, c]
        fp = cm[:, c].sum() - tp
        fn = cm[c, :].sum() - tp
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s)) if f1s else 0.0


def multiclass_metrics(y_true: Sequence[int], y_pred: Sequence[int], n: int) -> dict:
    cm = confusion_matrix(y_true, y_pred, n)
    total = cm.sum()
    return {"n": int(total), "accuracy": float(np.trace(cm) / total) if total else None,
            "macro_f1": macro_f1(cm), "confusion": cm.tolist()}


def binary_metrics(y_true: Sequence[bool], y_pred: Sequence[bool]) -> dict:
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    tp = int((t & p).sum())
    fp = int((~t & p).sum())
    fn = int((t & ~p).sum())
    tn = int((~t & ~p).sum())
    n = tp + fp + fn + tn
    prec, rec = _div(tp, tp + fp), _div(tp, tp + fn)
    f1 = _div(2 * tp, 2 * tp + fp + fn)
    return {"n": n, "accuracy": _div(tp + tn, n), "precision": prec, "recall": rec, "f1": f1,
            "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def severity_metrics(y_true: Sequence[int], y_pred: Sequence[int]) -> dict:
    """Severity labels 1..4: 4-way accuracy / macro F1 and severe (3, 4) vs non-severe (1, 2)."""
    out = multiclass_metrics([t - 1 for t in y_true], [p - 1 for p in y_pred], 4)
    out["severe"] = binary_metrics([is_severe(t) for t in y_true], [is_severe(p) for p in y_pred])
    return out


def zone_metrics(y_true: Sequence[int], y_pred: Sequence[int]) -> dict:
    """Zone scores 0..4: 5-way accuracy / macro F1 and binary {0, 1} vs {2, 3, 4}."""
    out = multiclass_metrics(y_true, y_pred, 5)
    out["binary"] = binary_metrics([t >= 2 for t in y_true], [p >= 2 for p in y_pred])
    return out


# ----------------------------------------------------------------------------- segmentation
LINE_CLASSES = (1, 2)  # pleural line, A-line: horizontal lines
LINE_TOLERANCE = 0.02  # of the frame height, around the annotated band


class SegAccumulator:
    """Accumulates pooled pixel counts and per-frame hits for the four pattern classes.

    For the horizontal line classes it also counts, column by column, whether the line is found at the
    annotated depth: ``line_recall`` = share of the annotated columns where the prediction has a pixel of the
    class inside the annotated band (+- ``LINE_TOLERANCE`` of the height), ``line_precision`` = share of the
    predicted columns whose pixels are in the band. Unlike Dice these do not depend on how thick a band the
    annotator drew around the line (real CVAT polygons are bands several times the line's thickness).
    """

    def __init__(self, classes: Iterable[int] = PATTERNS):
        self.classes = tuple(classes)
        self.tp = {c: 0 for c in self.classes}
        self.fp = {c: 0 for c in self.classes}
        self.fn = {c: 0 for c in self.classes}
        self.instances = {c: 0 for c in self.classes}
        self.hits = {c: 0 for c in self.classes}
        self.frames = 0
        self.pred_frames = {c: 0 for c in self.classes}
        self.line = {c: [0, 0, 0, 0] for c in self.classes if c in LINE_CLASSES}  # gt cols, found, pred cols, right

    def add(self, gt: np.ndarray, pred: np.ndarray) -> None:
        if gt.shape != pred.shape:
            raise ValueError(f"mask shapes differ: {gt.shape} vs {pred.shape}")
        self.frames += 1
        for c in self.classes:
            g, p = gt == c, pred == c
            tp = int((g & p).sum())
            fp = int((~g & p).sum())
            fn = int((g & ~p).sum())
            self.tp[c] += tp
            self.fp[c] += fp
            self.fn[c] += fn
            if p.any():
                self.pred_frames[c] += 1
            if g.any():
                self.instances[c] += 1
                if tp / (tp + fp + fn) >= 0.5:
                    self.hits[c] += 1
            if c in self.line:
                self._add_line(c, g, p)

    def _add_line(self, c: int, g: np.ndarray, p: np.ndarray) -> None:
        h = g.shape[0]
        tol = max(1, int(round(LINE_TOLERANCE * h)))
        gcols, pcols = g.any(axis=0), p.any(axis=0)
        first = np.argmax(g, axis=0) - tol
        last = h - 1 - np.argmax(g[::-1], axis=0) + tol
        rows = np.arange(h)[:, None]
        inside = p & (rows >= first) & (rows <= last) & gcols
        outside = p & ~((rows >= first) & (rows <= last) & gcols)
        acc = self.line[c]
        acc[0] += int(gcols.sum())
        acc[1] += int((inside.any(axis=0) & gcols).sum())
        acc[2] += int(pcols.sum())
        acc[3] += int((pcols & ~outside.any(axis=0)).sum())

    def result(self) -> dict:
        per = {}
        for c in self.classes:
            tp, fp, fn = self.tp[c], self.fp[c], self.fn[c]
            per[CLASS_NAMES[c]] = {
                "dice": _div(2 * tp, 2 * tp + fp + fn), "iou": _div(tp, tp + fp + fn),
                "precision": _div(tp, tp + fp), "recall": _div(tp, tp + fn),
                "hit_ratio_50": _div(self.hits[c], self.instances[c]), "gt_instances": self.instances[c],
                "frames_with_prediction": self.pred_frames[c]}
            if c in self.line:
                gc, found, pc, right = self.line[c]
                per[CLASS_NAMES[c]].update(line_recall=_div(found, gc), line_precision=_div(right, pc))
        ious = [v["iou"] for v in per.values() if v["iou"] is not None]
        dices = [v["dice"] for v in per.values() if v["dice"] is not None]
        return {"frames": self.frames, "per_class": per, "miou": float(np.mean(ious)) if ious else None,
                "mean_dice": float(np.mean(dices)) if dices else None}


def seg_metrics(gts: Iterable[np.ndarray], preds: Iterable[np.ndarray], classes: Iterable[int] = PATTERNS) -> dict:
    acc = SegAccumulator(classes)
    for g, p in zip(gts, preds):
        acc.add(g, p)
    return acc.result()


# ----------------------------------------------------------------------------- statistics
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta (modified Lentz; Numerical Recipes 6.4)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = tiny if abs(d) < tiny else d
    d = 1.0 / d
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc_reg(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for a, b > 0, 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    bt = math.exp(lbt)
    if x < (a + 1.0) / (a + b + 2.0):
        return bt * _betacf(a, b, x) / a
    return 1.0 - bt * _betacf(b, a, 1.0 - x) / b


def student_t_sf2(t: float, df: float) -> float:
    """Two-sided p-value P(|T| >= |t|) of Student's t with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return betainc_reg(df / 2.0, 0.5, df / (df + t * t))


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> dict:
    """Paired two-sided t-test of a vs b (same seeds). t = mean(d) / (sd(d) / sqrt(n)), df = n - 1.

    Uses our own Student-t CDF (regularised incomplete beta); identical differences give t = +-inf (p = 0) or,
    when all differences are 0, t = 0 and p = 1. n < 2 gives None.
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(d)
    if n < 2:
        return {"n": n, "t": None, "p": None, "mean_diff": float(d.mean()) if n else None}
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    else:
        t = mean / (sd / math.sqrt(n))
    return {"n": n, "t": t, "p": student_t_sf2(t, n - 1), "mean_diff": mean}


# ----------------------------------------------------------------------------- plots
def confusion_png(cm: np.ndarray, labels: Sequence[str], path, title: str = "") -> None:
    """Write a heatmap of ``cm`` (rows true, columns predicted) with the counts printed, via cv2."""
    import cv2

    cm = np.asarray(cm)
    n = cm.shape[0]
    cell, left, top = 64, 110, 60 if title else 40
    h, w = top + n * cell + 40, left + n * cell + 10
    img = np.full((h, w, 3), 255, np.uint8)
    row_sum = cm.sum(axis=1, keepdims=True).clip(min=1)
    frac = cm / row_sum
    font = cv2.FONT_HERSHEY_SIMPLEX
    if title:
        cv2.putText(img, title, (8, 22), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    for i in range(n):
        for j in range(n):
            v = float(frac[i, j])
            colour = (int(255 - 200 * v), int(255 - 140 * v), int(255 - 40 * v))  # BGR: white -> dark orange
            y0, x0 = top + i * cell, left + j * cell
            cv2.rectangle(img, (x0, y0), (x0 + cell - 1, y0 + cell - 1), colour, -1)
            cv2.rectangle(img, (x0, y0), (x0 + cell - 1, y0 + cell - 1), (160, 160, 160), 1)
            txt = str(int(cm[i, j]))
            (tw, th), _ = cv2.getTextSize(txt, font, 0.6, 1)
            ink = (255, 255, 255) if v > 0.6 else (0, 0, 0)
            cv2.putText(img, txt, (x0 + (cell - tw) // 2, y0 + (cell + th) // 2), font, 0.6, ink, 1, cv2.LINE_AA)
        cv2.putText(img, str(labels[i])[:12], (4, top + i * cell + cell // 2 + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, str(labels[i])[:8], (left + i * cell + 4, top + n * cell + 18), font, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    cv2.putText(img, "true \\ predicted", (4, top - 8), font, 0.4, (80, 80, 80), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"could not write {path}")
