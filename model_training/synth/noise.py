"""Small random-field helpers (numpy + cv2 only) shared by the renderer."""

from __future__ import annotations

import cv2
import numpy as np


def smooth_curve(rng: np.random.Generator, n: int, sigma: float, amp: float = 1.0) -> np.ndarray:
    """A smooth random curve of length ``n`` (float64), zero mean, max |value| about ``amp``."""
    if n <= 0:
        return np.zeros(0)
    sigma = max(float(sigma), 0.5)
    pad = int(3 * sigma) + 1
    x = rng.standard_normal(n + 2 * pad)
    k = np.exp(-0.5 * (np.arange(-pad, pad + 1) / sigma) ** 2)
    y = np.convolve(x, k / k.sum(), mode="same")[pad:pad + n]
    y -= y.mean()
    m = np.abs(y).max()
    return y * (amp / m) if m > 0 else y


def complex_field(rng: np.random.Generator, shape: tuple[int, int], sigma_ax: float, sigma_lat: float) -> np.ndarray:
    """Correlated circular complex Gaussian field (H, W, 2) float32 with E|z|^2 = 1.

    Rows are depth samples (axial), columns beams (lateral); ``sigma_*`` are the Gaussian smoothing sigmas in
    pixels. Its magnitude is Rayleigh distributed (fully developed speckle).
    """
    z = rng.standard_normal((shape[0], shape[1], 2), dtype=np.float32)
    z = cv2.GaussianBlur(z, (0, 0), sigmaX=max(sigma_lat, 0.3), sigmaY=max(sigma_ax, 0.3),
                         borderType=cv2.BORDER_REFLECT)
    # Variance after a separable Gaussian blur of unit white noise: 1 / (4 pi sx sy) for sigma >~ 0.7.
    var = float(np.mean(z * z)) * 2.0
    return z / np.float32(np.sqrt(var) if var > 0 else 1.0)


def magnitude(z: np.ndarray) -> np.ndarray:
    return cv2.magnitude(z[..., 0], z[..., 1])


def gaussian_rows(z: np.ndarray, centers: np.ndarray, sigma: float | np.ndarray) -> np.ndarray:
    """exp(-0.5 ((z[:, None] - centers[None, :]) / sigma)^2) for a depth axis z and per-beam centres."""
    d = (z[:, None] - centers[None, :]) / sigma
    return np.exp(-0.5 * d * d).astype(np.float32)
