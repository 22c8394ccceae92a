"""The engine's forward passes with torch: training, ONNX export, the parity test and bundles without graphs.

The same interface as ``lusapp.model.ort_backend.OrtBackend`` (the engine delegates to either):
``frames(x, full)`` -> (features (N, D), label maps (N, H, W) uint8 or None, findings-branch logits or None),
``zone_probs(frame_feats)`` -> (B, n_scores) and ``severity(zone_feats, mask, clinical)`` -> (probs, attention),
all numpy. For inference the SegNet's BatchNorms are folded into the convolutions (``fuse_segnet``) at load
time; the findings branch comes from the bundle's findings file (BN folded too).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from lusapp.core.errors import BundleError
from lusapp.model import preprocess as pp


def fuse_segnet(seg: nn.Module) -> nn.Module:
    """An eval-mode copy of ``seg`` with every Conv2d+BatchNorm2d pair of its Sequentials folded."""
    fused = copy.deepcopy(seg).eval()
    for mod in fused.modules():
        if isinstance(mod, nn.Sequential):
            kids = list(mod)
            for i in range(len(kids) - 1):
                if isinstance(kids[i], nn.Conv2d) and isinstance(kids[i + 1], nn.BatchNorm2d):
                    mod[i] = fuse_conv_bn_eval(kids[i], kids[i + 1])
                    mod[i + 1] = nn.Identity()
    return fused


def build_branch(findings, bundle_path):
    """The findings head's convolutional branch (torch ensemble, BN folded), or None when it has none."""
    if findings is None or not findings.branch:
        return None
    from lusapp.model.findings_branch import build_ensemble

    b = findings.branch
    try:
        return build_ensemble(findings.branch_tensors, int(b["in_ch"]), int(b["hidden"]), int(b["n_out"]))
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(bundle_path, f"findings branch cannot be built ({e})") from None


class TorchBackend:
    name = "torch"

    def __init__(self, bundle, threads: int | None = None, findings=None):
        if threads:
            torch.set_num_threads(int(threads))
        self.seg = fuse_segnet(bundle.seg)
        self.zone = bundle.zone.eval() if bundle.zone is not None else None
        self.severity = bundle.severity.eval() if bundle.severity is not None else None
        if findings is None and bundle.path is not None:
            from lusapp.model.findings import load_findings

            findings = load_findings(bundle.path, bundle.manifest)
        self.branch = build_branch(findings, bundle.path)

    @property
    def has_branch(self) -> bool:
        return self.branch is not None

    @property
    def threads(self) -> int:
        return torch.get_num_threads()

    def frames(self, x: np.ndarray, full: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        from lusapp.model.findings_branch import TAP

        with torch.inference_mode():
            xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            z, skips = self.seg.encode(xt)
            feats = z.mean(dim=(2, 3)).float().numpy()
            labels = pp.logits_to_labels(self.seg.decode(z, skips)) if full else None
            branch = self.branch.frame_logits(skips[TAP]).float().numpy() if self.branch is not None else None
        return feats, labels, branch

    def zone_probs(self, frame_feats: np.ndarray) -> np.ndarray:
        f = torch.from_numpy(np.ascontiguousarray(frame_feats, dtype=np.float32))
        with torch.inference_mode():
            return torch.softmax(self.zone(f), dim=1).numpy().astype(np.float64)

    def severity_probs(self, zone_feats: np.ndarray, mask: np.ndarray, clinical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            out = self.severity(torch.from_numpy(np.ascontiguousarray(zone_feats, dtype=np.float32)),
                                torch.from_numpy(np.asarray(mask, dtype=bool)),
                                torch.from_numpy(np.ascontiguousarray(clinical, dtype=np.float32)))
            probs = torch.softmax(out["severity_logits"], 1)[0].numpy().astype(np.float64)
            return probs, out["attention"][0].numpy().astype(np.float64)

    def warm_up(self, input_size: tuple[int, int]) -> None:
        self.frames(np.zeros((1, 1, *input_size), np.float32), full=True)
