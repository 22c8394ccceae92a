"""The findings branch: a small convolutional head on the segmentation encoder's 16 x 16 stage-3 map, trained on
real clips (weak, clip-level labels) while the encoder stays frozen (torch; built from the findings file's
tensors, no pickle).

Per frame: conv3x3-BN-ReLU (BN folded at load), conv3x3-ReLU, then two pooled views -- the strongest column of
the lower rows (B-lines and rib shadows are columns below the pleura; the max over columns keeps one bright
column from being averaged away) and the global mean -- and a linear layer to one logit per findings head.
A clip's logit is the mean of its frames' logits (multiple-instance learning with mean pooling); an ensemble of
members trained with different seeds averages them. ``TAP`` names the encoder skip the branch reads.
"""

from __future__ import annotations

import torch
from torch import nn

TAP = 2  # index into SegNet.encode's skips: the last stage before the bottleneck (16 x 16 at 128 x 128 input)
LOWER_FROM = 6  # rows of the 16-row map from which the column profile is taken (below a typical pleura)


class FindingsBranch(nn.Module):
    def __init__(self, in_ch: int, hidden: int, n_out: int, dropout: float = 0.2):
        super().__init__()
        self.in_ch, self.hidden, self.n_out = int(in_ch), int(hidden), int(n_out)
        self.conv1 = nn.Conv2d(self.in_ch, self.hidden, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(self.hidden)
        self.drop = nn.Dropout2d(dropout)
        self.conv2 = nn.Conv2d(self.hidden, self.hidden, 3, padding=1)
        self.fc = nn.Linear(2 * self.hidden, self.n_out)

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_ch, h, w) stage maps -> (N, n_out) logits per frame."""
        f = torch.relu(self.conv2(self.drop(torch.relu(self.bn1(self.conv1(x))))))
        lower = f[:, :, min(LOWER_FROM, f.shape[2] - 1):, :].mean(2)
        return self.fc(torch.cat([lower.max(-1).values, f.mean((2, 3))], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(T, in_ch, h, w) frames of one clip -> (n_out,) clip logits (mean over frames)."""
        return self.frame_logits(x).mean(0)


class BranchEnsemble(nn.Module):
    """Members with the same shape; ``frame_logits`` is their mean."""

    def __init__(self, members: list[FindingsBranch]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m.frame_logits(x) for m in self.members]).mean(0)


def branch_tensors(members: list[FindingsBranch]) -> dict[str, torch.Tensor]:
    return {f"branch.{k}.{name}": t.detach().cpu().float().contiguous()
            for k, m in enumerate(members) for name, t in m.state_dict().items()
            if not name.endswith("num_batches_tracked")}


def build_ensemble(tensors: dict, in_ch: int, hidden: int, n_out: int) -> BranchEnsemble | None:
    """The ensemble stored under ``branch.<k>.`` in ``tensors`` (numpy or torch arrays), eval mode, BN folded;
    None when there is none. Shapes that do not fit raise ValueError."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    keys = sorted({int(k.split(".")[1]) for k in tensors if k.startswith("branch.")})
    members = []
    for k in keys:
        m = FindingsBranch(in_ch, hidden, n_out)
        prefix = f"branch.{k}."
        state = {name[len(prefix):]: torch.as_tensor(v) for name, v in tensors.items() if name.startswith(prefix)}
        state["bn1.num_batches_tracked"] = torch.tensor(0)
        expected = m.state_dict()
        if set(state) != set(expected) or any(tuple(state[n].shape) != tuple(expected[n].shape) for n in expected):
            raise ValueError(f"findings branch {k}: tensors do not fit ({in_ch} -> {hidden} -> {n_out})")
        m.load_state_dict(state)
        m.eval()
        m.conv1 = fuse_conv_bn_eval(m.conv1, m.bn1)
        m.bn1 = nn.Identity()
        members.append(m)
    return BranchEnsemble(members).eval() if members else None
