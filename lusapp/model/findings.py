"""Clip findings from real-data-trained linear heads, the zone score that follows from them, and how far a
clip lies from what the heads were trained on (numpy only; no torch, no Qt).

A zone's clip is summarised by one descriptor vector (``descriptor``):
  * the segmentation encoder's frame features, mean and standard deviation over the sampled frames;
  * the training-free scan-geometry descriptors of lusapp.model.physics;
  * summaries of the predicted masks (share of each class, frames showing it, B-line brightness contrast,
    largest consolidation blob).
Linear heads (standardised logistic regressions) and, per head where it did better in cross-validation, the
findings branch (lusapp.model.findings_branch: a small convolutional head on the encoder's stage-3 map, its
clip logit the mean over the sampled frames) -- both trained by ``model_training findings`` on the real clips'
development part -- turn it into P(B-lines), P(A-lines), P(consolidation), P(irregular pleura), P(effusion) and
the cumulative B-line grade P(>= 3 B-lines), P(confluent). The 0-4 zone score distribution is composed from
them (``compose_score``), so it follows the findings rather than the synthetic-trained score head:

  P(4) = P(consolidation);  the rest by B-line grade: fewer than 3 -> 0; 3 or more -> 1, or 2 when the gated
  masks count 6 or more B-lines; confluent -> 3. (The irregular-pleura head is reported but does not move the
  score: on the real development clips its cross-validated AUC is only about 0.56.)

Out-of-distribution: the descriptor's Mahalanobis distance in the principal subspace of the training
descriptors (``ood``); above the threshold stored with the head (the 99th percentile of the training clips'
distances) the clip is flagged as unlike anything the heads were trained on.

The head lives in the bundle as ``findings.safetensors`` (tensors, no pickle) listed with its sha256 in the
manifest's ``findings`` entry, which also names the descriptor, the heads and their operating thresholds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lusapp.core.errors import BundleError
from lusapp.core.labels import A_LINE, B_LINE, CONSOLIDATION, PLEURAL_LINE
from lusapp.model import physics

FINDINGS = ("b_lines", "a_lines", "consolidation", "pleural_irregular", "effusion")
FINDING_NAMES = {"b_lines": "B-lines", "a_lines": "A-lines", "consolidation": "consolidation",
                 "pleural_irregular": "irregular pleura", "effusion": "effusion"}
GRADE_HEADS = ("b_grade_ge2", "b_grade_ge3")  # P(3 or more B-lines), P(confluent B-lines)
HEADS = FINDINGS + GRADE_HEADS
MASK_NAMES = ("pleura_share", "a_share", "b_share", "cons_share", "pleura_frames", "a_frames", "b_frames",
              "cons_frames", "b_contrast", "b_width", "cons_blob")
FINDINGS_FILE = "findings.safetensors"


def mask_descriptor(frames: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Summaries (``MASK_NAMES``) of (T, h, w) label maps predicted on (T, h, w) uint8 network inputs."""
    labels = np.asarray(labels)
    x = np.asarray(frames, np.float32)
    out = [float((labels == c).mean()) for c in (PLEURAL_LINE, A_LINE, B_LINE, CONSOLIDATION)]
    out += [float(np.mean([(lab == c).mean() > 0.002 for lab in labels]))
            for c in (PLEURAL_LINE, A_LINE, B_LINE, CONSOLIDATION)]
    contrast, width, blobs = [], [], []
    for img, lab in zip(x, labels):
        b = lab == B_LINE
        rows = np.flatnonzero(b.any(1))
        if b.sum() >= 20:
            sub, bb = img[rows], b[rows]
            other = ~bb & (lab[rows] != CONSOLIDATION)
            contrast.append((sub[bb].mean() - sub[other].mean()) / (sub.mean() + 1) if other.sum() >= 20 else 0.0)
            width.append(float(b.any(0).mean()))
        else:
            contrast.append(0.0)
            width.append(0.0)
        cons = (lab == CONSOLIDATION).astype(np.uint8)
        if cons.any():
            import cv2

            n, _, stats, _ = cv2.connectedComponentsWithStats(cons)
            blobs.append(stats[1:, 4].max() / cons.size)
        else:
            blobs.append(0.0)
    out += [float(np.mean(contrast)), float(np.mean(width)), float(np.percentile(blobs, 75))]
    return np.array(out, np.float32)


def descriptor(features: np.ndarray, frames: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The findings descriptor of a clip: (T, D) encoder features of the sampled frames, (t, h, w) uint8
    network inputs and their (t, h, w) label maps (t >= 1 frames, usually a subset of the T)."""
    feats = np.asarray(features, np.float32).reshape(len(features), -1)
    return np.concatenate([feats.mean(0), feats.std(0), physics.clip_descriptor(frames),
                           mask_descriptor(frames, labels)]).astype(np.float32)


def descriptor_names(feat_dim: int) -> list[str]:
    return ([f"feat_mean_{i}" for i in range(feat_dim)] + [f"feat_std_{i}" for i in range(feat_dim)]
            + [f"physics.{n}" for n in physics.NAMES] + [f"mask.{n}" for n in MASK_NAMES])


@dataclass
class ZoneFindings:
    probs: dict[str, float]  # P(finding present), keys FINDINGS
    present: dict[str, bool]  # at the head's operating thresholds
    grade_probs: np.ndarray  # (3,) P(fewer than 3 B-lines), P(3 or more, not confluent), P(confluent)
    score_probs: np.ndarray  # (5,) the composed 0-4 zone score distribution
    ood: float  # distance from the training descriptors (1.0 = the threshold)
    unlike_training: bool
    warnings: list[str] = field(default_factory=list)
    _raw: dict = field(default_factory=dict, repr=False)  # every head's probability

    def refine(self, many_b_lines: bool) -> None:
        """Recompose the score once the (gated) masks have counted the B-lines."""
        if self._raw:
            self.grade_probs, self.score_probs = compose_score(self._raw, many_b_lines)

    @property
    def score(self) -> int:
        return int(np.argmax(self.score_probs))

    @property
    def expected(self) -> float:
        return float((self.score_probs * np.arange(len(self.score_probs))).sum())

    def to_dict(self) -> dict:
        return {"findings": {k: round(v, 4) for k, v in self.probs.items()},
                "present": dict(self.present),
                "b_line_grade_probs": [round(float(p), 4) for p in self.grade_probs],
                "ood": round(self.ood, 3), "unlike_training": self.unlike_training, "warnings": list(self.warnings)}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def compose_score(p: dict[str, float], many_b_lines: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(grade probabilities (3,), 0-4 score distribution (5,)) from finding / grade probabilities.
    ``many_b_lines``: the masks count 6 or more B-lines (the scale's score 2 rather than 1)."""
    ge1 = p["b_lines"]
    ge2 = min(p["b_grade_ge2"], ge1)
    ge3 = min(p["b_grade_ge3"], ge2)
    grade = np.array([1.0 - ge2, ge2 - ge3, ge3])
    cons, irr = p["consolidation"], (1.0 if many_b_lines else 0.0)  # the irregular-pleura head is too weak to split
    rest = 1.0 - cons
    score = np.array([rest * grade[0], rest * grade[1] * (1 - irr), rest * grade[1] * irr, rest * grade[2], cons])
    return grade, score / score.sum()


class FindingsHead:
    """Standardisation + one logistic regression per head + the OOD subspace, all numpy arrays."""

    def __init__(self, tensors: dict[str, np.ndarray], thresholds: dict[str, float], names: list[str],
                 branch: dict | None = None):
        self.branch_tensors = {k: np.asarray(v) for k, v in tensors.items() if k.startswith("branch.")}
        self.branch = dict(branch or {}) if self.branch_tensors else {}
        self.combine = {h: str(self.branch.get("combine", {}).get(h, "linear")) for h in HEADS}
        if any(c not in ("linear", "branch", "mean") for c in self.combine.values()):
            raise ValueError(f"findings head: unknown combination in {self.combine}")
        self.mu = tensors["mu"].astype(np.float64)
        self.sd = tensors["sd"].astype(np.float64)
        self.coef = {h: tensors[f"coef.{h}"].astype(np.float64) for h in HEADS}
        self.bias = {h: float(tensors[f"bias.{h}"].reshape(-1)[0]) for h in HEADS}
        self.ood_mean = tensors["ood.mean"].astype(np.float64)
        self.ood_components = tensors["ood.components"].astype(np.float64)
        self.ood_var = tensors["ood.var"].astype(np.float64)
        self.ood_threshold = float(tensors["ood.threshold"].reshape(-1)[0])
        self.thresholds = {k: float(thresholds.get(k, 0.5)) for k in FINDINGS}
        self.names = list(names)
        d = self.mu.shape[0]
        if len(self.names) != d or any(c.shape != (d,) for c in self.coef.values()) or self.ood_components.shape[1] != d \
                or self.ood_mean.shape != (d,) or self.ood_var.shape != (self.ood_components.shape[0],):
            raise ValueError(f"findings head: inconsistent sizes (descriptor {d}, {len(self.names)} names)")

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])

    def tensors(self) -> dict[str, np.ndarray]:
        t = {"mu": self.mu, "sd": self.sd, "ood.mean": self.ood_mean, "ood.components": self.ood_components,
             "ood.var": self.ood_var, "ood.threshold": np.array([self.ood_threshold])}
        for h in HEADS:
            t[f"coef.{h}"], t[f"bias.{h}"] = self.coef[h], np.array([self.bias[h]])
        t.update(self.branch_tensors)
        return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in t.items()}

    def ood_distance(self, desc: np.ndarray) -> float:
        """Mahalanobis distance in the training subspace, relative to the stored threshold (1.0 = at it)."""
        z = (np.asarray(desc, np.float64) - self.mu) / self.sd
        proj = (z - self.ood_mean) @ self.ood_components.T
        return float(np.sqrt(np.mean(proj ** 2 / self.ood_var)) / max(self.ood_threshold, 1e-9))

    def raw_probs(self, desc: np.ndarray, branch_logits: np.ndarray | None = None) -> dict[str, float]:
        """Per head: the linear head's probability, the branch's (sigmoid of the clip logit), or their mean,
        as the head's ``combine`` says (the branch only when its clip logits are given)."""
        z = (np.asarray(desc, np.float64) - self.mu) / self.sd
        z = np.clip(np.nan_to_num(z), -8, 8)  # a wild input must not push a logit to infinity
        out = {}
        for k, h in enumerate(HEADS):
            lin = float(_sigmoid(z @ self.coef[h] + self.bias[h]))
            how = self.combine[h] if branch_logits is not None else "linear"
            br = float(_sigmoid(np.asarray(branch_logits, np.float64)[k])) if how != "linear" else lin
            out[h] = lin if how == "linear" else br if how == "branch" else 0.5 * (lin + br)
        return out

    def predict(self, desc: np.ndarray, warnings: list[str] | None = None,
                branch_logits: np.ndarray | None = None) -> ZoneFindings:
        p = self.raw_probs(desc, branch_logits)
        grade, score = compose_score(p)
        ood = self.ood_distance(desc)
        warn = list(warnings or [])
        unlike = ood > 1.0
        if unlike:
            warn.append(f"this clip is unlike the clips the model was trained on (distance {ood:.1f} x the "
                        "usual limit): check its findings and score yourself")
        return ZoneFindings(probs={k: p[k] for k in FINDINGS},
                            present={k: p[k] >= self.thresholds[k] for k in FINDINGS},
                            grade_probs=grade, score_probs=score, ood=ood, unlike_training=unlike, warnings=warn,
                            _raw=p)


def save_findings(bundle_dir: str | Path, head: FindingsHead, info: dict) -> dict:
    """Write ``findings.safetensors`` into a bundle folder (not yet published) and return the manifest entry
    (caller adds it as ``manifest["findings"]``)."""
    from safetensors.numpy import save_file

    from lusapp.model.manifest import sha256_file

    path = Path(bundle_dir) / FINDINGS_FILE
    save_file(head.tensors(), str(path))
    entry = {"file": FINDINGS_FILE, "sha256": sha256_file(path), "heads": list(HEADS), "descriptor": head.names,
             "thresholds": head.thresholds, **info}
    if head.branch:
        entry["branch"] = head.branch
    return entry


def load_findings(bundle_dir: str | Path, manifest: dict, verify: bool = True) -> FindingsHead | None:
    """The bundle's findings head, or None when its manifest has none. A missing, modified or unreadable
    file is a BundleError naming it."""
    entry = manifest.get("findings")
    if not entry:
        return None
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from lusapp.model.manifest import sha256_file

    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or "/" in entry["file"] or "\\" in entry["file"]:
        raise BundleError(Path(bundle_dir) / "manifest.json", "the 'findings' entry is malformed")
    path = Path(bundle_dir) / entry["file"]
    if not path.is_file() or path.is_symlink():
        raise BundleError(path, "findings head file is missing")
    if verify and sha256_file(path) != str(entry.get("sha256", "")).lower():
        raise BundleError(path, "checksum mismatch: the findings head is corrupt or was modified")
    try:
        tensors = load_file(str(path))
        return FindingsHead(tensors, dict(entry.get("thresholds") or {}), list(entry.get("descriptor") or []),
                            entry.get("branch"))
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise BundleError(path, f"findings head cannot be read ({e})") from None


def add_to_manifest(bundle_dir: str | Path, entry: dict) -> None:
    """Add the findings entry to an unpublished bundle's manifest.json (atomic replace)."""
    from lusapp.model.manifest import MANIFEST_NAME, write_manifest

    m = Path(bundle_dir) / MANIFEST_NAME
    manifest = json.loads(m.read_text(encoding="utf-8"))
    manifest["findings"] = entry
    write_manifest(bundle_dir, manifest)
