"""Frame renderer: physics-inspired lung-ultrasound clips with exact per-frame label maps.

Each clip is drawn in beam coordinates (depth sample x beam, see :mod:`.geometry`) as an echogenicity map
times Rayleigh speckle, attenuated with depth, partly compensated by time-gain compensation, power-law
compressed, then scan converted with ``cv2.remap``. The label map is drawn in the same polar grid from the
same geometry (pleural band, A-line bands, B-line columns, consolidation region) and remapped with nearest
neighbour, so that masks match the pixels.

Static layers (chest wall, ribs, pleura, A-lines, consolidation, speckle fields, remap maps) are computed
once per clip; per frame only the moving parts are recomputed: lung sliding (lung speckle and B-lines shift
laterally with a respiratory phase), probe drift, and partial speckle decorrelation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import Clutter, Geometry, make_clutter, make_geometry
from .patterns import ClipParams, ZoneContent
from .scene import Scene, build_scene, complex_field, magnitude


@dataclass
class SynthClip:
    frames: np.ndarray  # (T, H, W) uint8
    masks: np.ndarray  # (T, H, W) uint8 label maps
    content: ZoneContent
    params: ClipParams
    geometry: Geometry
    scene: Scene


class ClipRenderer:
    """Renders frame ``t`` of one clip on demand (deterministic per (seed, t), any order)."""

    def __init__(self, content: ZoneContent, params: ClipParams, size: tuple[int, int] = (480, 640),
                 seed: int = 0):
        self.content, self.params, self.size, self.seed = content, params, tuple(size), int(seed)
        rng = np.random.default_rng([self.seed, 1])
        self.clutter: Clutter | None = None
        margin = (0, 0, 0, 0)
        if params.clutter:
            h, w = size
            margin = (int(h * rng.uniform(0.06, 0.1)), int(h * rng.uniform(0.03, 0.07)),
                      int(w * rng.uniform(0.08, 0.16)), int(w * rng.uniform(0.1, 0.18)))
        if params.probe == "convex":
            self.geometry = make_geometry("convex", size, params.depth_cm, fan_deg=params.fan_deg,
                                          radius_cm=params.radius_cm, margin=margin)
        else:
            self.geometry = make_geometry("linear", size, params.depth_cm, lateral_cm=params.lateral_cm,
                                          margin=margin)
        g = self.geometry
        self.scene = build_scene(content, params, g, rng)
        ns, nb = g.n_samples, g.n_beams
        self.pad = int(np.ceil(params.sliding_px + 3))
        # Complex speckle fields: wall (static, shifts with drift only) and lung (wider, slides).
        self.z_wall = complex_field(rng, (ns, nb), params.speckle_ax, params.speckle_lat * 1.6)
        self.z_lung = complex_field(rng, (ns, nb + 2 * self.pad), params.speckle_ax, params.speckle_lat)
        self.fresh_pool = [complex_field(rng, (ns, nb), params.speckle_ax, params.speckle_lat) for _ in range(3)]
        self.phase0 = float(rng.uniform(0, 2 * np.pi))
        self.drift_phase = float(rng.uniform(0, 2 * np.pi))
        # Depth gain: attenuation (two way) times TGC, then overall gain.
        zc = np.arange(ns) * g.cm_per_sample
        tgc = np.interp(zc, np.linspace(0, g.depth_cm, len(params.tgc)), params.tgc)
        self.depth_gain = (np.exp(-2 * params.attenuation * zc) * tgc * params.gain).astype(np.float32)[:, None]
        if params.clutter:
            self.clutter = make_clutter(g, params, rng)
        self.inside_u8 = g.inside.astype(np.uint8)
        self._m1, self._m2 = cv2.convertMaps(g.map_x, g.map_y, cv2.CV_16SC2)
        self._n1, self._n2 = cv2.convertMaps(g.map_x, g.map_y, cv2.CV_16SC2, nninterpolation=True)

    # --- motion -------------------------------------------------------------------------------------------
    def phase(self, t: int) -> float:
        return 2 * np.pi * t / (self.params.fps * self.params.resp_period_s) + self.phase0

    def sliding(self, t: int) -> float:
        """Lateral lung shift in beams at frame t (respiratory sinusoid)."""
        return float(self.params.sliding_px * np.sin(self.phase(t)))

    def drift(self, t: int) -> float:
        return float(self.params.drift_px * np.sin(0.37 * self.phase(t) + self.drift_phase))

    # --- rendering ----------------------------------------------------------------------------------------
    def polar(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Polar grey image (float32 0-255) and polar label map (uint8) of frame t."""
        p, s = self.params, self.scene
        frng = np.random.default_rng([self.seed, 2, int(t)])
        ns, nb = s.shape
        slide = self.sliding(t)
        k = int(np.floor(slide))
        f = np.float32(slide - k)
        a = self.pad - k
        zl = (1 - f) * self.z_lung[:, a:a + nb] + f * self.z_lung[:, a - 1:a - 1 + nb]
        # fresh speckle for partial decorrelation: a pooled field at a random circular offset (cheap)
        pool = self.fresh_pool[int(frng.integers(len(self.fresh_pool)))]
        fresh = np.roll(pool, (int(frng.integers(ns)), int(frng.integers(nb))), axis=(0, 1))
        cw, sw = np.float32(np.cos(0.25)), np.float32(np.sin(0.25))
        cl, sl = np.float32(np.cos(0.5)), np.float32(np.sin(0.5))
        k = np.float32(p.speckle_k)
        s_wall = cv2.pow(magnitude(cw * self.z_wall + sw * fresh), k)
        s_lung = cv2.pow(magnitude(cl * zl + sl * fresh[:, ::-1]), k)
        b_prof, b_mask_cols = s.blines_at(slide)
        lung = s.lung_haze + s.alines * np.clip(1.0 - 1.6 * b_prof[None, :], 0.0, 1.0)
        blines = s.bline_depth * b_prof[None, :]
        lung_amp = (lung * s_lung + blines * (0.55 + 0.45 * s_lung)) * s.lung_visible
        if s.cons is not None:
            lung_amp = lung_amp * (1 - s.cons_region) + s.cons * s_lung  # consolidated lung slides too
        amp = s.wall * s_wall + s.pleura * (0.45 + 0.55 * s_lung) + lung_amp
        amp *= self.depth_gain
        amp = cv2.GaussianBlur(amp, (0, 0), sigmaX=0.8, sigmaY=0.6)  # system blur / persistence
        img = cv2.pow(np.maximum(amp, 0), float(p.dynamic))
        img = (img - np.float32(p.reject)) * np.float32(215.0 / (1.0 - p.reject))
        np.maximum(img, 0, out=img)
        img += np.float32(p.noise_floor) * s_wall  # electronic noise floor: shadows are not pure black
        np.clip(img, 0, 255, out=img)
        lab = s.labels_at(b_mask_cols)
        return img, lab

    def frame(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(grey uint8 HxW, label map uint8 HxW) of frame t."""
        img_p, lab_p = self.polar(t)
        d = self.drift(t)
        if d != 0:  # probe drift: the whole polar image shifts laterally (edges replicated)
            img_p = _shift_cols(img_p, d)
            lab_p = _shift_cols(lab_p, float(np.round(d)))
        img = cv2.remap(img_p, self._m1, self._m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        lab = cv2.remap(lab_p, self._n1, self._n2, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        img = img.astype(np.uint8) * self.inside_u8
        lab *= self.inside_u8
        if self.clutter is not None:
            self.clutter.apply(img)
        return img, lab

    def render(self, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.size
        frames = np.empty((n_frames, h, w), np.uint8)
        masks = np.empty((n_frames, h, w), np.uint8)
        for t in range(n_frames):
            frames[t], masks[t] = self.frame(t)
        return frames, masks


def _shift_cols(a: np.ndarray, d: float) -> np.ndarray:
    """Shift columns right by ``d`` (float for float images: linear interpolation; edges replicated)."""
    nb = a.shape[1]
    src = np.arange(nb, dtype=np.float64) - d
    i0 = np.clip(np.floor(src).astype(int), 0, nb - 1)
    if a.dtype != np.float32:
        return a[:, i0]
    i1 = np.clip(i0 + 1, 0, nb - 1)
    f = np.clip(src - np.floor(src), 0, 1).astype(np.float32)
    return a[:, i0] * (1 - f) + a[:, i1] * f


def render_clip(content: ZoneContent, params: ClipParams, n_frames: int, size: tuple[int, int] = (480, 640),
                seed: int = 0) -> SynthClip:
    r = ClipRenderer(content, params, size, seed)
    frames, masks = r.render(n_frames)
    return SynthClip(frames, masks, content, params, r.geometry, r.scene)


def render_zone(score: int, seed: int = 0, n_frames: int = 16, size: tuple[int, int] = (480, 640),
                probe: str | None = None, clutter: bool | None = None) -> SynthClip:
    """Convenience: random content with rule score ``score`` and random imaging parameters, from ``seed``."""
    from .patterns import sample_clip_params, sample_content

    rng = np.random.default_rng([int(seed), 0])
    content = sample_content(score, rng)
    params = sample_clip_params(rng, probe=probe, clutter=clutter)
    return render_clip(content, params, n_frames, size, seed)


__all__ = ["ClipRenderer", "SynthClip", "render_clip", "render_zone"]
