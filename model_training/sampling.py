"""Partner sampling for the MA-CLR loss and class-balanced sampling weights.

MA-CLR partners (Xue et al. 2021, Sec. 3.3): for an anchor patient i with severity ps_i, partner j is another
patient with |ps_i - ps_j| = 1 (adjacent severity) and partner k another patient with
|ps_i - ps_k| > |ps_i - ps_j| = 1, i.e. |ps_i - ps_k| >= 2. Both are drawn uniformly among the valid candidates,
afresh at every step. When no valid j (or k) exists among the candidates (the batch, or the whole dataset when
the caller passes it), the partner is ``None`` and the loss skips exactly the terms that need it for that
anchor (see :func:`model_training.losses.maclr_loss`).

Class balance: :func:`balanced_weights` gives every sample the weight 1 / frequency of its class, so that a
``WeightedRandomSampler`` draws each class equally often (rare classes: frames with consolidation or A-lines,
high zone scores, mild and critical patients).
"""

from __future__ import annotations

from collections import Counter
from typing import Hashable, Sequence

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler

from lusapp.core.labels import A_LINE, B_LINE, CONSOLIDATION, PLEURAL_LINE

Partner = tuple[int | None, int | None]


def sample_partners(severities: Sequence[int], rng: np.random.Generator,
                    candidates: Sequence[int] | None = None) -> list[Partner]:
    """Draw (j, k) for every anchor in ``severities`` (indices into ``severities``).

    ``candidates``: optional subset of indices allowed as partners (default: all). A partner is None when no
    valid candidate exists. Guarantees: j != i, k != i, |s_i - s_j| == 1, |s_i - s_j| < |s_i - s_k|.
    """
    s = np.asarray(severities, dtype=np.int64)
    allowed = np.arange(len(s)) if candidates is None else np.asarray(list(candidates), dtype=np.int64)
    out: list[Partner] = []
    for i in range(len(s)):
        cand = allowed[allowed != i]
        d = np.abs(s[cand] - s[i]) if len(cand) else np.zeros(0, dtype=np.int64)
        js, ks = cand[d == 1], cand[d >= 2]
        j = int(rng.choice(js)) if len(js) else None
        k = int(rng.choice(ks)) if len(ks) else None
        out.append((j, k))
    return out


def partner_tensors(partners: Sequence[Partner]) -> tuple[torch.Tensor, torch.Tensor]:
    """(j, k) index tensors with -1 where the partner is missing."""
    j = torch.tensor([-1 if p[0] is None else p[0] for p in partners], dtype=torch.long)
    k = torch.tensor([-1 if p[1] is None else p[1] for p in partners], dtype=torch.long)
    return j, k


# ----------------------------------------------------------------------------- class balance
def balanced_weights(labels: Sequence[Hashable]) -> np.ndarray:
    """Weight 1 / count(label) per sample (float64); every class gets the same total weight."""
    counts = Counter(labels)
    return np.array([1.0 / counts[lab] for lab in labels], dtype=np.float64)


def weighted_sampler(labels: Sequence[Hashable], num_samples: int | None = None, seed: int = 0) -> WeightedRandomSampler:
    w = balanced_weights(labels)
    g = torch.Generator()
    g.manual_seed(int(seed))
    return WeightedRandomSampler(torch.as_tensor(w, dtype=torch.double), num_samples or len(w), replacement=True,
                                 generator=g)


def frame_category(mask: np.ndarray) -> str:
    """Balance class of a labelled frame: its rarest pattern (consolidation > A-line > B-line > pleural > none)."""
    present = set(np.unique(mask).tolist())
    for cls, name in ((CONSOLIDATION, "consolidation"), (A_LINE, "a_line"), (B_LINE, "b_line"),
                      (PLEURAL_LINE, "pleural_line")):
        if cls in present:
            return name
    return "background"
