"""Networks of the staged MA-CLR pipeline (Xue et al., MedIA 2021), plain torch (no torchvision).

* :class:`SegNet` -- frame-wise segmentation of the four LUS patterns. A light VGG-style encoder kept in one
  ``self.features`` ``nn.Sequential`` of conv3x3-BN-ReLU blocks and max-pools, so its state-dict names follow
  torchvision's VGG ``features`` indexing (``features.0.weight`` conv, ``features.1.*`` BN, ``features.2`` ReLU,
  ...), a UNet-like decoder with skip connections tapped at recorded ``features`` indices, and a 1x1 head with
  ``N_CLASSES`` (5) outputs. ``frame_features`` is the global-average-pooled bottleneck (D = last width).
* :class:`ZoneScorer` -- zone score (0-4) of a clip from its frame features: masked temporal average pooling,
  dropout, Linear.
* :class:`SeverityNet` -- patient severity (1-4) from the 12 zone features and the clinical vector: attention
  MIL over zones (Ilse et al. 2018, gated or plain), an instance head giving per-zone score logits, a LUS
  projection ``u`` of the bag and a clinical projection ``v`` (the two modalities the contrastive loss aligns).

Every module exposes ``config()`` (its constructor keyword arguments, JSON-serialisable) so a bundle can
rebuild it: ``SegNet(**seg.config())``.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from lusapp.core.labels import N_CLASSES

SEVERITY_CLASSES = 4  # 1 mild, 2 moderate, 3 severe, 4 critical
N_SCORES = 5  # zone scores 0..4
VARIANTS = ("maclr", "mil", "clinical", "concat")


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class MaxPool2x2(nn.MaxPool2d):
    """2x2 / stride-2 max-pool (floor mode) as two elementwise maxima of strided views.

    Same result and the same (parameterless) place in the state dict as ``nn.MaxPool2d(2, 2)``, but it never
    computes the argmax indices: on CPU it is tens of times faster than ``max_pool2d`` in this layout.
    """

    def __init__(self):
        super().__init__(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
        x = x[..., :h, :w]
        rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])
        return torch.maximum(rows[..., 0::2], rows[..., 1::2])


class _Up(nn.Module):
    """Decoder step: 1x1 reduce to ``cout``, nearest x2 upsample, concatenate the skip, conv3x3-BN-ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
        self.conv = nn.Sequential(*_conv_bn_relu(cout + cskip, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.conv(torch.cat([x, skip], dim=1))


class SegNet(nn.Module):
    """VGG-style encoder + UNet decoder; input (N, in_ch, S, S) float in [0, 1], S divisible by ``downsample``.

    ``stem`` (default 2): the input is first folded space-to-depth (``pixel_unshuffle``: 1x128x128 ->
    4x64x64) and the head's ``n_classes * stem**2`` outputs are unfolded back (``pixel_shuffle``, sub-pixel
    convolution), so the logits have full input resolution while no layer runs on full-resolution maps with few
    channels (memory-bound and slow on a CPU). ``widths[i]`` is the channel width of encoder stage i and
    ``convs[i]`` its number of conv3x3-BN-ReLU blocks; ``dec_widths[i]`` the width of the decoder level at stage
    i's resolution (default half the encoder's). Every stage but the last ends with a 2x2 max-pool; the last
    stage is the bottleneck. The skip of stage i (i < last) is the output of its last ReLU, at ``features``
    index ``self.skip_indices[i]``. The defaults (0.53 GFLOP per 128x128 frame, the encoder alone 0.25) are
    sized for >= 60 frames/s whole-path live segmentation on 2 CPU cores with wide enough layers to run near
    the CPU's matmul speed.
    """

    def __init__(self, in_ch: int = 1, n_classes: int = N_CLASSES, widths=(32, 64, 128, 256), convs=(1, 2, 2, 2),
                 dec_widths=None, stem: int = 2):
        super().__init__()
        self.stem = int(stem)
        if self.stem < 1:
            raise ValueError(f"SegNet: stem must be >= 1, got {stem}")
        widths, convs = tuple(int(w) for w in widths), tuple(int(c) for c in convs)
        dec = tuple(int(w) for w in dec_widths) if dec_widths is not None else tuple(max(4, w // 2) for w in widths[:-1])
        if (len(widths) != len(convs) or len(widths) < 2 or len(dec) != len(widths) - 1
                or min(widths + dec) < 1 or min(convs) < 1):
            raise ValueError(f"SegNet: bad widths {widths} / convs {convs} / dec_widths {dec}")
        self.in_ch, self.n_classes, self.widths, self.convs = int(in_ch), int(n_classes), widths, convs
        self.dec_widths = dec
        layers: list[nn.Module] = []
        skips: list[int] = []
        cin = self.in_ch * self.stem * self.stem
        for stage, (w, n) in enumerate(zip(widths, convs)):
            for _ in range(n):
                layers += _conv_bn_relu(cin, w)
                cin = w
            if stage < len(widths) - 1:
                skips.append(len(layers) - 1)  # the ReLU just before the pool
                layers.append(MaxPool2x2())
        self.features = nn.Sequential(*layers)
        self.skip_indices: tuple[int, ...] = tuple(skips)
        ups = []
        cprev = widths[-1]
        for wskip, wdec in zip(reversed(widths[:-1]), reversed(dec)):
            ups.append(_Up(cprev, wskip, wdec))
            cprev = wdec
        self.decoder = nn.ModuleList(ups)
        self.head = nn.Conv2d(dec[0], self.n_classes * self.stem * self.stem, 1)
        self._init_weights()

    @property
    def feat_dim(self) -> int:
        return self.widths[-1]

    @property
    def downsample(self) -> int:
        return self.stem * 2 ** (len(self.widths) - 1)

    def config(self) -> dict:
        return {"in_ch": self.in_ch, "n_classes": self.n_classes, "widths": list(self.widths), "convs": list(self.convs),
                "dec_widths": list(self.dec_widths), "stem": self.stem}

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run ``features``; return (bottleneck, skips from shallow to deep)."""
        skips: list[torch.Tensor] = []
        taps = set(self.skip_indices)
        if self.stem > 1:
            x = F.pixel_unshuffle(x, self.stem)
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in taps:
                skips.append(x)
        return x, skips

    def decode(self, bottleneck: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        x = bottleneck
        for up, skip in zip(self.decoder, reversed(skips)):
            x = up(x, skip)
        x = self.head(x)
        return F.pixel_shuffle(x, self.stem) if self.stem > 1 else x

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass: (logits (N, n_classes, S, S), frame features (N, D))."""
        z, skips = self.encode(x)
        feats = z.mean(dim=(2, 3))
        return self.decode(z, skips), feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        """Global average pooled bottleneck, (N, D); runs the encoder only."""
        return self.encode(x)[0].mean(dim=(2, 3))


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None, dim: int) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` where ``mask`` (bool, x's shape up to ``dim``) is true; zeros where none is."""
    if mask is None:
        return x.mean(dim=dim)
    m = mask.to(x.dtype).unsqueeze(-1)
    x = torch.where(m > 0, x, torch.zeros((), dtype=x.dtype, device=x.device))
    return (x * m).sum(dim=dim) / m.sum(dim=dim).clamp_min(1.0)


class ZoneScorer(nn.Module):
    """Zone score logits from a clip's frame features: masked temporal mean -> dropout -> Linear."""

    def __init__(self, feat_dim: int, n_scores: int = N_SCORES, dropout: float = 0.1):
        super().__init__()
        self.feat_dim, self.n_scores, self.dropout_p = int(feat_dim), int(n_scores), float(dropout)
        self.dropout = nn.Dropout(self.dropout_p)
        self.fc = nn.Linear(self.feat_dim, self.n_scores)

    def config(self) -> dict:
        return {"feat_dim": self.feat_dim, "n_scores": self.n_scores, "dropout": self.dropout_p}

    @staticmethod
    def pool(frame_feats: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) [+ (B, T) bool] -> (B, D) clip feature (the zone feature SeverityNet consumes)."""
        return masked_mean(frame_feats, frame_mask, dim=1)

    def forward(self, frame_feats: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) frame features (+ (B, T) bool mask of real frames) -> (B, n_scores) logits."""
        if frame_feats.dim() == 2:
            frame_feats = frame_feats.unsqueeze(0)
        return self.fc(self.dropout(self.pool(frame_feats, frame_mask)))


class SeverityNet(nn.Module):
    """Attention-MIL over zones + clinical branch; variants 'maclr', 'mil', 'clinical', 'concat'.

    forward(zone_feats (B, Z, D), zone_mask (B, Z) bool, clin (B, C)) -> dict with
    ``severity_logits`` (B, 4), ``zone_logits`` (B, Z, n_scores) from the instance head W_z, ``attention`` (B, Z) (sums to one over present zones, zeros for a bag with no zone), ``u`` (B, P)
    LUS projection of the bag and ``v`` (B, P) clinical projection. 'maclr' and 'concat' classify [u, v];
    'mil' u only; 'clinical' v only. Missing zones never influence any output.

    The instance head reads the raw zone feature f_k (initialised from the stage-2 ZoneScorer). With
    ``instance_on_embed`` it reads [f_k, h_k], h_k the zone embedding that attention and the bag share, its
    h-part starting at zero: then the zone-score term of dual supervision trains the representation the
    severity is computed from even when the encoder is frozen (without it, L_DS only trains W_z).
    """

    def __init__(self, feat_dim: int, clin_dim: int, n_classes: int = SEVERITY_CLASSES, n_scores: int = N_SCORES,
                 embed_dim: int = 64, attn_dim: int = 64, variant: str = "maclr", gated: bool = True,
                 clin_hidden: int = 64, proj_dim: int = 64, dropout: float = 0.1, instance_on_embed: bool = False):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"SeverityNet: variant must be one of {VARIANTS}, not {variant!r}")
        self.feat_dim, self.clin_dim, self.n_classes, self.n_scores = int(feat_dim), int(clin_dim), int(n_classes), int(n_scores)
        self.embed_dim, self.attn_dim, self.variant, self.gated = int(embed_dim), int(attn_dim), variant, bool(gated)
        self.clin_hidden, self.proj_dim, self.dropout_p = int(clin_hidden), int(proj_dim), float(dropout)
        self.instance_on_embed = bool(instance_on_embed)
        self.instance_head = nn.Linear(self.feat_dim + (self.embed_dim if self.instance_on_embed else 0),
                                       self.n_scores)  # W_z
        self.embed = nn.Sequential(nn.Linear(self.feat_dim, self.embed_dim), nn.ReLU(inplace=True))
        self.attn_V = nn.Linear(self.embed_dim, self.attn_dim)
        self.attn_U = nn.Linear(self.embed_dim, self.attn_dim) if self.gated else None
        self.attn_w = nn.Linear(self.attn_dim, 1)
        self.proj_lus = nn.Sequential(nn.Linear(self.embed_dim, self.proj_dim), nn.ReLU(inplace=True),
                                      nn.Linear(self.proj_dim, self.proj_dim))
        self.clin_mlp = nn.Sequential(nn.Linear(self.clin_dim, self.clin_hidden), nn.ReLU(inplace=True),
                                      nn.Linear(self.clin_hidden, self.clin_hidden), nn.ReLU(inplace=True))
        self.proj_clin = nn.Linear(self.clin_hidden, self.proj_dim)
        self.dropout = nn.Dropout(self.dropout_p)
        n_in = 2 * self.proj_dim if variant in ("maclr", "concat") else self.proj_dim
        self.classifier = nn.Linear(n_in, self.n_classes)

    def config(self) -> dict:
        return {"feat_dim": self.feat_dim, "clin_dim": self.clin_dim, "n_classes": self.n_classes,
                "n_scores": self.n_scores, "embed_dim": self.embed_dim, "attn_dim": self.attn_dim,
                "variant": self.variant, "gated": self.gated, "clin_hidden": self.clin_hidden,
                "proj_dim": self.proj_dim, "dropout": self.dropout_p, "instance_on_embed": self.instance_on_embed}

    @torch.no_grad()
    def init_zone_head_from(self, zone_scorer: ZoneScorer) -> None:
        """Initialise the instance head W_z from a trained ZoneScorer's Linear (same D and n_scores); the
        embedding part of an ``instance_on_embed`` head starts at zero (same zone scores as stage 2)."""
        self.instance_head.weight.zero_()
        self.instance_head.weight[:, : self.feat_dim].copy_(zone_scorer.fc.weight)
        self.instance_head.bias.copy_(zone_scorer.fc.bias)

    def attention(self, h: torch.Tensor, zone_mask: torch.Tensor) -> torch.Tensor:
        """(B, Z, E) embeddings, (B, Z) bool -> (B, Z) weights; zeros for masked zones and empty bags."""
        a = torch.tanh(self.attn_V(h))
        if self.attn_U is not None:
            a = a * torch.sigmoid(self.attn_U(h))
        scores = self.attn_w(a).squeeze(-1)
        scores = scores.masked_fill(~zone_mask, float("-inf"))
        any_present = zone_mask.any(dim=1, keepdim=True)
        scores = torch.where(any_present, scores, torch.zeros_like(scores))
        weights = torch.softmax(scores, dim=1)
        return weights * zone_mask.to(weights.dtype)

    def forward(self, zone_feats: torch.Tensor, zone_mask: torch.Tensor | None, clin: torch.Tensor) -> dict:
        if zone_feats.dim() != 3 or zone_feats.shape[-1] != self.feat_dim:
            raise ValueError(f"SeverityNet: zone_feats must be (B, Z, {self.feat_dim}), got {tuple(zone_feats.shape)}")
        if zone_mask is None:
            zone_mask = torch.ones(zone_feats.shape[:2], dtype=torch.bool, device=zone_feats.device)
        zone_mask = zone_mask.to(torch.bool)
        # missing zones are zeroed before anything reads them (even NaN/inf placeholders cannot leak)
        f = torch.where(zone_mask.unsqueeze(-1), zone_feats, torch.zeros((), dtype=zone_feats.dtype, device=zone_feats.device))
        h = self.embed(f)
        zone_logits = self.instance_head(torch.cat([f, h], dim=-1) if self.instance_on_embed else f)
        attn = self.attention(h, zone_mask)
        bag = (attn.unsqueeze(-1) * h).sum(dim=1)
        u = self.proj_lus(bag)
        v = self.proj_clin(self.clin_mlp(clin.to(u.dtype)))
        if self.variant in ("maclr", "concat"):
            z = torch.cat([u, v], dim=1)
        elif self.variant == "mil":
            z = u
        else:
            z = v
        severity_logits = self.classifier(self.dropout(z))
        return {"severity_logits": severity_logits, "zone_logits": zone_logits, "attention": attn, "u": u, "v": v}


def build_modules(architecture: dict) -> tuple[SegNet, ZoneScorer | None, SeverityNet | None]:
    """Rebuild the three modules from a manifest's ``architecture`` dict (``{"seg": {...}, "zone": ..., ...}``)."""
    seg = SegNet(**architecture["seg"])
    zone = ZoneScorer(**architecture["zone"]) if architecture.get("zone") else None
    sev = SeverityNet(**architecture["severity"]) if architecture.get("severity") else None
    return seg, zone, sev
