"""lusapp's Cohen's kappa (numpy; the clinic bundle ships no scikit-learn) is scikit-learn's ``cohen_kappa_score``:
the same value to 1e-12 on random rating pairs for every weighting and label set, and the published worked examples
of Cohen's kappa; undefined kappas are nan (None from quadratic_kappa, printed as n/a)."""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import pytest

from lusapp.agreement.statistics import cohen_kappa, quadratic_kappa

sklearn_metrics = pytest.importorskip("sklearn.metrics")  # a test dependency only (pyproject: dev)


def _sklearn(a, b, weights, labels=None) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(sklearn_metrics.cohen_kappa_score(a, b, weights=weights, labels=labels))


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_equals_sklearn_on_random_rating_pairs(weights):
    rng = np.random.default_rng(13)
    for trial in range(300):
        n_classes = int(rng.integers(2, 7))
        n = int(rng.integers(2, 80))
        a = rng.integers(0, n_classes, n)
        # correlated second rater: mostly the first one's score, sometimes off by one, sometimes random
        b = np.where(rng.random(n) < 0.6, a, np.clip(a + rng.integers(-1, 2, n), 0, n_classes - 1))
        b = np.where(rng.random(n) < 0.15, rng.integers(0, n_classes, n), b)
        labels = None if trial % 3 else list(range(n_classes + 1))  # an unused label too (scores 0-3 of 0-4)
        ref = _sklearn(a.tolist(), b.tolist(), weights, labels)
        ours = cohen_kappa(a.tolist(), b.tolist(), weights=weights, labels=labels)
        assert (math.isnan(ref) and math.isnan(ours)) or abs(ours - ref) <= 1e-12, (trial, a, b, ours, ref)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_equals_sklearn_when_labels_leave_units_out_and_on_string_labels(weights):
    a, b = [0, 1, 2, 3, 3, 1, 2, 0], [0, 2, 2, 3, 1, 1, 3, 0]
    assert abs(cohen_kappa(a, b, weights, labels=[0, 1, 2]) - _sklearn(a, b, weights, [0, 1, 2])) <= 1e-12
    x, y = ["no", "yes", "yes", "maybe", "no"], ["no", "maybe", "yes", "maybe", "yes"]
    assert abs(cohen_kappa(x, y, weights) - _sklearn(x, y, weights)) <= 1e-12


def test_published_worked_examples():
    """Wikipedia, 'Cohen's kappa': 50 applications read by two readers, 20 yes/yes, 15 no/no, 5 yes/no, 10 no/yes:
    p_o = 0.7, p_e = 0.5, kappa = 0.4. 'Same percentages but different numbers': 45/15/25/15 -> 0.1304 (3/23)
    and 25/35/5/35 -> 0.2593 (7/27). With two categories every weighting gives the same kappa."""
    def table(yy, yn, ny, nn):
        a = [1] * yy + [1] * yn + [0] * ny + [0] * nn
        b = [1] * yy + [0] * yn + [1] * ny + [0] * nn
        return a, b

    for counts, kappa in (((20, 5, 10, 15), 0.4), ((45, 15, 25, 15), 3 / 23), ((25, 35, 5, 35), 7 / 27)):
        a, b = table(*counts)
        for weights in (None, "linear", "quadratic"):
            assert abs(cohen_kappa(a, b, weights) - kappa) <= 1e-12
            assert abs(_sklearn(a, b, weights) - kappa) <= 1e-12


def test_weighting_matters_with_ordinal_scores():
    """A near miss (1 vs 2) costs less than a far one (0 vs 3) once weighted; unweighted they cost the same."""
    near = cohen_kappa([0, 1, 2, 3], [0, 2, 2, 3], "quadratic")
    far = cohen_kappa([0, 1, 2, 3], [3, 1, 2, 3], "quadratic")
    assert near > far
    assert cohen_kappa([0, 1, 2, 3], [0, 2, 2, 3]) == cohen_kappa([0, 1, 2, 3], [3, 1, 2, 3])


def test_undefined_and_bad_input():
    assert math.isnan(cohen_kappa([2, 2, 2], [2, 2, 2]))  # chance agreement is total
    assert math.isnan(cohen_kappa([5, 6], [5, 6], labels=[0, 1]))  # no unit inside the labels
    assert quadratic_kappa([2, 2, 2], [2, 2, 2]) is None
    with pytest.raises(ValueError, match="length"):
        cohen_kappa([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa([0, 1], [0, 1], weights="cubic")


def test_agreement_statistics_import_no_sklearn_or_scipy():
    import subprocess

    code = ("import sys, lusapp.agreement.summary, lusapp.agreement.statistics as s; s.quadratic_kappa([0, 1], [0, 1]); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')]; assert not bad, bad")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
