"""Joint frame + mask augmentation with torchvision.transforms.v2 (training only; lusapp never imports this).

Frames are ``tv_tensors.Image`` (1, S, S) float in [0, 1], masks ``tv_tensors.Mask`` (S, S) uint8 label maps:
v2 applies the same geometric parameters to both (masks resampled with nearest neighbour, so labels stay
labels) and the photometric transforms (contrast/brightness, Gaussian noise, Gaussian blur) to the image only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2


@dataclass
class AugmentConfig:
    degrees: float = 10.0
    translate: float = 0.08
    scale: tuple[float, float] = (0.9, 1.1)
    shear: float = 5.0
    p_affine: float = 0.8
    p_flip: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.3
    p_color: float = 0.8
    noise_sigma: float = 0.03
    p_noise: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 1.0)
    p_blur: float = 0.3

    def to_dict(self) -> dict:
        return asdict(self)


def build_transform(cfg: AugmentConfig | None = None) -> v2.Compose:
    cfg = cfg or AugmentConfig()
    return v2.Compose([
        v2.RandomApply([v2.RandomAffine(degrees=cfg.degrees, translate=(cfg.translate, cfg.translate),
                                        scale=cfg.scale, shear=cfg.shear)], p=cfg.p_affine),
        v2.RandomHorizontalFlip(p=cfg.p_flip),
        v2.RandomApply([v2.ColorJitter(brightness=cfg.brightness, contrast=cfg.contrast)], p=cfg.p_color),
        v2.RandomApply([v2.GaussianNoise(sigma=cfg.noise_sigma, clip=True)], p=cfg.p_noise),
        v2.RandomApply([v2.GaussianBlur(kernel_size=5, sigma=cfg.blur_sigma)], p=cfg.p_blur),
    ])


class JointAugment:
    """Callable: (frame uint8/float (S, S) or (1, S, S), mask uint8 (S, S) or None) -> (float (1, S, S), long (S, S)).

    ``frames`` may also be a clip (T, S, S): then the same random parameters are applied to all frames (used for
    zone clips), and the mask is None.
    """

    def __init__(self, cfg: AugmentConfig | None = None):
        self.cfg = cfg or AugmentConfig()
        self.t = build_transform(self.cfg)

    @staticmethod
    def _to_float(frame) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(frame))
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        x = x.float()
        if x.dim() == 2:
            x = x.unsqueeze(0)
        return x

    def __call__(self, frame, mask=None):
        x = tv_tensors.Image(self._to_float(frame))
        if mask is None:
            y = self.t(x)
            return y.as_subclass(torch.Tensor), None
        m = tv_tensors.Mask(torch.as_tensor(np.asarray(mask), dtype=torch.uint8))
        y, mm = self.t(x, m)
        return y.as_subclass(torch.Tensor), mm.as_subclass(torch.Tensor).long()

    def clip(self, frames) -> torch.Tensor:
        """(T, S, S) uint8/float -> (T, 1, S, S) float, one set of random parameters for the whole clip."""
        x = self._to_float(frames)  # (T, S, S)
        if x.dim() == 3:
            x = x.unsqueeze(1)
        y = self.t(tv_tensors.Image(x))  # batched image (T, 1, S, S): same params for all frames
        return y.as_subclass(torch.Tensor)
