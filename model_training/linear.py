"""Small, exact linear models for the findings heads (numpy only): L2 logistic regression by Newton steps
(IRLS), grouped k-fold cross-validation, ROC AUC, an operating threshold, and the PCA subspace that the
out-of-distribution distance of lusapp.model.findings uses.
"""

from __future__ import annotations

import numpy as np


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, weights: np.ndarray | None = None,
                 iters: int = 100) -> tuple[np.ndarray, float]:
    """(coef, bias) minimising sum_i w_i * logloss_i + l2/2 * |coef|^2 (bias unpenalised). ``x`` should be
    standardised. Newton's method; converges in a few steps for these sizes."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    reg = np.full(d + 1, float(l2))
    reg[-1] = 1e-8
    beta = np.zeros(d + 1)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ beta, -40, 40)))
        grad = xb.T @ (w * (p - y)) + reg * beta
        hess = (xb * (w * p * (1 - p) + 1e-9)[:, None]).T @ xb + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    return beta[:-1], float(beta[-1])


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Sample weights giving both classes the same total weight (mean weight 1)."""
    y = np.asarray(y, bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return np.ones(len(y))
    return np.where(y, len(y) / (2.0 * n1), len(y) / (2.0 * n0))


def roc_auc(scores, labels) -> float | None:
    """Mann-Whitney ROC AUC with mid-ranks for ties; None when a class is absent."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # mid-ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def group_folds(groups, k: int, seed: int = 0) -> np.ndarray:
    """Fold number per row: whole groups are assigned to folds at random (deterministic per seed)."""
    groups = np.asarray(groups)
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    rng.shuffle(uniq)
    fold_of = {g: i % k for i, g in enumerate(uniq)}
    return np.array([fold_of[g] for g in groups])


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = x.mean(0)
    sd = x.std(0)
    return mu, np.where(sd > 1e-6, sd, 1.0)


def cv_logits(x: np.ndarray, y: np.ndarray, groups, l2: float, k: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold logits of a balanced L2 logistic regression under grouped k-fold CV."""
    folds = group_folds(groups, k, seed)
    out = np.zeros(len(y))
    for f in range(k):
        tr, te = folds != f, folds == f
        if not te.any() or len(np.unique(y[tr])) < 2:
            continue
        mu, sd = standardise(x[tr])
        coef, bias = fit_logistic((x[tr] - mu) / sd, y[tr], l2, balanced_weights(y[tr]))
        out[te] = np.clip((x[te] - mu) / sd, -8, 8) @ coef + bias
    return out


def choose_l2(x: np.ndarray, y: np.ndarray, groups, grid=(1.0, 10.0, 100.0, 1000.0), seeds=(0, 1, 2)) -> tuple[float, dict]:
    """The L2 strength of ``grid`` with the best mean out-of-fold AUC over ``seeds`` fold assignments."""
    res = {}
    for l2 in grid:
        aucs = [roc_auc(cv_logits(x, y, groups, l2, seed=s), y) for s in seeds]
        res[l2] = float(np.mean([a for a in aucs if a is not None])) if any(a is not None for a in aucs) else 0.0
    best = max(res, key=lambda v: (res[v], v))
    return best, res


def youden_threshold(probs: np.ndarray, y: np.ndarray) -> float:
    """The probability threshold maximising sensitivity + specificity (ties: the one nearest 0.5)."""
    probs = np.asarray(probs, np.float64)
    y = np.asarray(y, bool)
    best, best_j = 0.5, -1.0
    for t in np.unique(np.round(probs, 4)):
        pred = probs >= t
        sens = (pred & y).sum() / max(1, y.sum())
        spec = (~pred & ~y).sum() / max(1, (~y).sum())
        j = sens + spec - 1
        if j > best_j + 1e-9 or (abs(j - best_j) <= 1e-9 and abs(t - 0.5) < abs(best - 0.5)):
            best, best_j = float(t), float(j)
    return best


def pca_subspace(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, components (k, D), variances (k,)) of standardised rows ``z``."""
    mean = z.mean(0)
    _, s, vt = np.linalg.svd(z - mean, full_matrices=False)
    k = min(k, vt.shape[0])
    var = (s[:k] ** 2) / max(1, len(z) - 1)
    return mean, vt[:k], np.maximum(var, 1e-6)
