"""Agreement statistics: Cohen's kappa (unweighted, linear or quadratic weights; numpy, the same arithmetic as
scikit-learn's ``cohen_kappa_score``, which the clinic bundle does not ship: docs/decisions/0011), Krippendorff's
alpha (``krippendorff``),
the intraclass correlations ICC(2,1) and ICC(3,1) of Shrout & Fleiss (1979) from their two-way ANOVA mean
squares, and Dice per mask class.

Every function returns ``None`` when the statistic is undefined for the data (fewer than two units, a single
value everywhere...) rather than a number that means nothing; callers print it as "n/a".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lusapp.core.labels import CLASS_NAMES

#: Mask classes Dice is reported for (background is not a finding).
DICE_CLASSES: tuple[int, ...] = tuple(range(1, len(CLASS_NAMES)))


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


KAPPA_WEIGHTS = (None, "linear", "quadratic")


def cohen_kappa(a: Sequence, b: Sequence, weights: str | None = None, labels: Sequence | None = None) -> float:
    """Cohen's kappa of two raters' labels of the same units: 1 - sum(W * O) / sum(W * E), with O the confusion
    matrix (rows ``a``, columns ``b``) over ``labels`` (default: the sorted labels either rater used; units with a
    label outside ``labels`` are left out), E the counts expected by chance from its margins, and W the
    disagreement weights by label index: 1 off the diagonal (``weights=None``), |i - j| ('linear') or
    (i - j)^2 ('quadratic'). nan where it is undefined (no unit, or chance agreement is total)."""
    if weights not in KAPPA_WEIGHTS:
        raise ValueError(f"kappa weights must be one of None, 'linear', 'quadratic', not {weights!r}")
    a, b = np.asarray(list(a)), np.asarray(list(b))
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"two raters' labels of the same units differ in length ({a.size} vs {b.size})")
    classes = np.unique(np.concatenate([a, b])) if labels is None else np.asarray(list(labels))
    n = len(classes)
    index = {v: i for i, v in enumerate(classes.tolist())}
    ia = np.array([index.get(v, -1) for v in a.tolist()], dtype=np.int64)
    ib = np.array([index.get(v, -1) for v in b.tolist()], dtype=np.int64)
    both = (ia >= 0) & (ib >= 0)
    observed = np.zeros((n, n), dtype=np.int64)
    np.add.at(observed, (ia[both], ib[both]), 1)
    sum0, sum1 = observed.sum(axis=0), observed.sum(axis=1)
    if observed.sum() == 0:
        return math.nan
    expected = np.outer(sum0, sum1) / np.sum(sum0)
    if weights is None:
        w = np.ones((n, n))
        np.fill_diagonal(w, 0)
    else:
        offset = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :]).astype(float)
        w = offset if weights == "linear" else offset ** 2
    denominator = np.sum(w * expected)
    if denominator == 0:
        return math.nan
    return float(1 - np.sum(w * observed) / denominator)


def quadratic_kappa(a: Sequence[int], b: Sequence[int], labels: Sequence[int] | None = None) -> float | None:
    """Cohen's kappa with quadratic disagreement weights between two raters' scores of the same units."""
    if len(a) != len(b):
        raise ValueError(f"two raters' scores of the same units differ in length ({len(a)} vs {len(b)})")
    if len(a) < 2:
        return None
    return _finite(cohen_kappa(a, b, weights="quadratic", labels=sorted(set(labels)) if labels is not None else None))


def krippendorff_alpha(ratings: Sequence[Sequence[float | None]], level: str = "ordinal",
                       value_domain: Sequence[int] | None = None) -> float | None:
    """Krippendorff's alpha of a raters x units table (None or nan = not rated) at ``level`` of measurement;
    None with fewer than two units rated by at least two raters."""
    data = np.array([[np.nan if v is None else float(v) for v in row] for row in ratings], dtype=float)
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] < 1:
        return None
    pairable = np.sum(np.sum(~np.isnan(data), axis=0) >= 2)
    if pairable < 2:  # alpha of a single unit rated twice says nothing
        return None
    import krippendorff

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = krippendorff.alpha(reliability_data=data, level_of_measurement=level,
                                       value_domain=sorted(value_domain) if value_domain is not None else None)
    except (ValueError, ZeroDivisionError):  # one value in the whole table: alpha is undefined
        return None
    return _finite(value)


@dataclass(frozen=True)
class ICC:
    """Shrout & Fleiss (1979) single-rater intraclass correlations of n targets x k judges (complete cases)."""
    icc1_1: float | None  # one-way random
    icc2_1: float | None  # two-way random, absolute agreement
    icc3_1: float | None  # two-way mixed, consistency
    n: int
    k: int

    def to_dict(self) -> dict:
        return {"icc1_1": self.icc1_1, "icc2_1": self.icc2_1, "icc3_1": self.icc3_1, "n": self.n, "k": self.k}


def icc(table: Sequence[Sequence[float]]) -> ICC:
    """ICCs of an n targets x k judges table without gaps, from the two-way ANOVA mean squares:
    BMS (between targets), JMS (between judges), EMS (residual), WMS (within targets)::

        ICC(1,1) = (BMS - WMS) / (BMS + (k-1) WMS)
        ICC(2,1) = (BMS - EMS) / (BMS + (k-1) EMS + k (JMS - EMS) / n)
        ICC(3,1) = (BMS - EMS) / (BMS + (k-1) EMS)
    """
    x = np.asarray(table, dtype=float)
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise ValueError("ICC needs a complete targets x judges table of numbers")
    n, k = x.shape
    if n < 2 or k < 2:
        return ICC(None, None, None, n, k)
    grand = x.mean()
    ss_targets = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_judges = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_total = np.sum((x - grand) ** 2)
    ss_error = ss_total - ss_targets - ss_judges
    bms, jms = ss_targets / (n - 1), ss_judges / (k - 1)
    ems, wms = ss_error / ((n - 1) * (k - 1)), (ss_total - ss_targets) / (n * (k - 1))

    def ratio(num: float, den: float) -> float | None:
        return None if den <= 0 else _finite(num / den)

    return ICC(icc1_1=ratio(bms - wms, bms + (k - 1) * wms),
               icc2_1=ratio(bms - ems, bms + (k - 1) * ems + k * (jms - ems) / n),
               icc3_1=ratio(bms - ems, bms + (k - 1) * ems), n=n, k=k)


def dice_per_class(a: np.ndarray, b: np.ndarray, classes: Sequence[int] = DICE_CLASSES) -> dict[str, float | None]:
    """{class name: Dice 2|A and B| / (|A| + |B|)} of two label maps; None where neither holds the class."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"masks of different sizes ({a.shape} vs {b.shape}) cannot be compared")
    out: dict[str, float | None] = {}
    for c in classes:
        in_a, in_b = a == c, b == c
        total = int(in_a.sum()) + int(in_b.sum())
        out[CLASS_NAMES[c]] = None if total == 0 else 2.0 * int(np.sum(in_a & in_b)) / total
    return out


def mean_or_none(values) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None
