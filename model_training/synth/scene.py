"""Static per-clip scene in beam coordinates: chest wall, ribs, pleura, A-lines, B-lines, consolidation.

All arrays are (n_samples, n_beams) float32 echogenicities (before speckle and depth gain) or label maps.
Depths are handled in samples; ``cm`` values are converted with ``Geometry.cm_per_sample`` and the lateral
beam spacing at the pleura depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from lusapp.core.labels import A_LINE, B_LINE, CONSOLIDATION, PLEURAL_LINE

from .geometry import Geometry
from .patterns import ClipParams, ZoneContent

LN2 = float(np.log(2.0))


# ----------------------------------------------------------------------------- random fields
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


@dataclass
class Scene:
    shape: tuple[int, int]
    wall: np.ndarray  # chest wall + rib surfaces, rib shadows applied (static speckle)
    pleura: np.ndarray  # pleural line (shimmers with lung speckle)
    lung_haze: np.ndarray  # aerated lung below the pleura
    alines: np.ndarray  # A-line reverberations
    bline_depth: np.ndarray  # B-line brightness along depth (0 above the pleura)
    lung_visible: np.ndarray  # 1 in the intercostal window, ~0 in rib shadows
    below_pleura: np.ndarray  # bool: where a B-line column is labelled
    labels_static: np.ndarray  # uint8 A-lines + pleural line
    pleura_samples: np.ndarray  # (n_beams,) pleural depth in samples
    pleura_half: float  # half thickness of the pleural band in samples
    aline_orders: list[int] = field(default_factory=list)  # multiples k of the pleural depth drawn/labelled
    gap: tuple[int, int] = (0, 0)  # visible intercostal window [gl, gr) in beams
    bl_centers: np.ndarray = field(default_factory=lambda: np.zeros(0))  # B-line centres (beams, at rest)
    bl_half: np.ndarray = field(default_factory=lambda: np.zeros(0))  # half widths (beams, at half max)
    bl_amp: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bl_fused: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # True for fused bands
    fused_mod: np.ndarray | None = None  # (n_beams + 2 pad) lateral modulation inside fused bands
    cons: np.ndarray | None = None  # consolidation echogenicity (static speckle)
    cons_region: np.ndarray | None = None  # float 0/1
    cons_mask: np.ndarray | None = None  # bool

    def blines_at(self, slide: float) -> tuple[np.ndarray, np.ndarray]:
        """(brightness profile over beams, bool label columns) with the B-lines shifted by ``slide`` beams."""
        nb = self.shape[1]
        prof = np.zeros(nb, np.float32)
        cols = np.zeros(nb, bool)
        if len(self.bl_centers) == 0:
            return prof, cols
        b = np.arange(nb, dtype=np.float32)
        for c, hw, a, fused in zip(self.bl_centers, self.bl_half, self.bl_amp, self.bl_fused):
            d = (b - (c + slide)) / hw
            shape = np.exp(-LN2 * d ** 2 if not fused else -LN2 * d ** 6)
            if fused and self.fused_mod is not None:
                mod = np.interp(b - slide, np.arange(len(self.fused_mod)), self.fused_mod)
                prof = np.maximum(prof, (a * shape * mod).astype(np.float32))
            else:
                prof = np.maximum(prof, (a * shape).astype(np.float32))
            cols |= shape >= 0.5
        return prof, cols

    def labels_at(self, cols: np.ndarray) -> np.ndarray:
        lab = self.labels_static.copy()
        if cols.any():
            lab[self.below_pleura & cols[None, :]] = B_LINE
        if self.cons_mask is not None:
            lab[self.cons_mask] = CONSOLIDATION
        return lab


def beam_cm(g: Geometry, depth_cm: float) -> float:
    """Lateral distance between adjacent beams at a depth, in cm."""
    if g.kind == "convex":
        r_cm = g.r0 / g.px_per_cm + depth_cm
        return r_cm * 2 * g.half_angle / (g.n_beams - 1)
    return (g.box[2] - g.box[0]) / g.px_per_cm / (g.n_beams - 1)


def _chest_wall(z: np.ndarray, dp: np.ndarray, nb: int, rng: np.random.Generator) -> np.ndarray:
    """Skin line, dark subcutaneous fat with septa, striated muscle, fascia (z, dp in cm)."""
    ns = len(z)
    dmin = float(dp.min())
    fat_end = float(np.clip(rng.uniform(0.25, 0.5) * dmin, 0.25, 1.2))
    wall = np.zeros((ns, nb), np.float32)
    zz = z[:, None]
    wave = smooth_curve(rng, nb, nb / rng.uniform(3, 8), rng.uniform(0.08, 0.25))
    base = np.where(zz < fat_end + wave[None, :], rng.uniform(0.1, 0.18), rng.uniform(0.18, 0.32)).astype(np.float32)
    # blobby tissue texture (muscle bundles, vessels): a low-frequency random field multiplying the layers
    blob = smooth_curve(rng, ns * nb, 1.0, 1.0).reshape(ns, nb).astype(np.float32)
    blob = cv2.GaussianBlur(blob, (0, 0), sigmaX=rng.uniform(6, 14), sigmaY=rng.uniform(3, 6))
    blob = np.clip(1.0 + 0.8 * blob / (np.abs(blob).max() + 1e-6), 0.3, 1.8)
    base = base * blob
    wall += base
    wall += rng.uniform(0.8, 1.4) * gaussian_rows(z, np.full(nb, 0.1), 0.14)  # skin / dermis
    lines = [(rng.uniform(0.15, fat_end), rng.uniform(0.1, 0.3), 0.04) for _ in range(rng.integers(1, 3))]
    n_mus = max(1, int((dmin - fat_end) / rng.uniform(0.2, 0.4)))
    for d in np.linspace(fat_end, dmin - 0.15, n_mus):
        lines.append((d + rng.uniform(-0.06, 0.06), rng.uniform(0.1, 0.4), rng.uniform(0.04, 0.09)))
    lines.append((fat_end, rng.uniform(0.3, 0.6), 0.05))  # superficial fascia
    for d, a, sg in lines:
        centers = d + smooth_curve(rng, nb, nb / rng.uniform(3, 10), rng.uniform(0.05, 0.25)) + \
            np.linspace(0, rng.uniform(-0.15, 0.15), nb)
        lat = np.clip(0.6 + smooth_curve(rng, nb, nb / rng.uniform(6, 20), 0.7), 0.0, 1.3)
        wall += (a * lat)[None, :] * gaussian_rows(z, centers, sg)
    # Fade the wall into the pleura: nothing of the wall below the pleural line.
    wall *= np.clip((dp[None, :] - zz) / 0.08, 0.0, 1.0)
    return wall


def build_scene(c: ZoneContent, p: ClipParams, g: Geometry, rng: np.random.Generator) -> Scene:
    ns, nb = g.n_samples, g.n_beams
    cps = g.cm_per_sample
    z = np.arange(ns) * cps  # depth in cm
    zz = z[:, None]
    bcm = beam_cm(g, p.pleura_cm)
    # --- pleural depth per beam ---------------------------------------------------------------------------
    dp = p.pleura_cm + smooth_curve(rng, nb, nb / 4, 0.08) + np.linspace(0, rng.uniform(-0.2, 0.2), nb)
    if c.pleura == "irregular":
        bump = smooth_curve(rng, nb, max(0.25 / bcm, 1.0), 1.0)
        # 1.15-1.6 mm std of the undulation about a quadratic, measured over the (approximate) intercostal window
        half_w = 0.5 * (p.rib_gap_frac if p.ribs else 1.0) * nb
        win = np.arange(max(int(nb / 2 - half_w), 0), min(int(nb / 2 + half_w), nb))
        resid = bump[win] - np.polyval(np.polyfit(win, bump[win], 2), win)
        bump *= min(rng.uniform(0.115, 0.16) / max(float(resid.std()), 1e-6), 0.5)  # |bump| <= 0.5 cm
        dp = dp + bump + smooth_curve(rng, nb, max(0.05 / bcm, 1.0), rng.uniform(0.02, 0.04))
    thick = {"smooth": 0.045, "irregular": 0.06, "thickened": rng.uniform(0.12, 0.18)}[c.pleura]
    half = max(1.5 * thick / cps, 1.0)  # half band in samples
    # --- ribs / intercostal window ------------------------------------------------------------------------
    gap_frac = p.rib_gap_frac if c.n_blines < 6 else max(p.rib_gap_frac, 0.65)
    vis_cols = np.ones(nb, np.float32)
    wall_extra = np.zeros((ns, nb), np.float32)
    shadow = np.ones((ns, nb), np.float32)
    if p.ribs:
        gw = int(gap_frac * nb)
        gl = int(np.clip(nb / 2 - gw / 2 + rng.uniform(-0.08, 0.08) * nb, 2, nb - gw - 2))
        gr = gl + gw
        rib_w = 2.0 / bcm  # ~2 cm wide ribs
        b = np.arange(nb)
        for edge, side in ((gl, -1), (gr, 1)):
            rc = edge + side * rib_w / 2
            top = p.pleura_cm - rng.uniform(0.15, 0.45)
            surf = top + 0.35 * ((b - rc) / (rib_w / 2)) ** 2
            col = 0.5 * (1.0 + np.tanh(side * (b - edge) / (0.25 / bcm + 2.0)))  # soft rib edge, 1 under the rib
            below = 0.5 * (1.0 + np.tanh((zz - surf[None, :]) / 0.08))
            shadow *= 1.0 - 0.985 * col[None, :] * below
            wall_extra += (rng.uniform(0.9, 1.3) * col)[None, :] * gaussian_rows(z, surf + 0.05, 0.06)
            vis_cols *= 1.0 - col
    else:
        gl, gr = 0, nb
    # --- chest wall, pleura ----------------------------------------------------------------------------------
    wall = _chest_wall(z, dp, nb, rng) * shadow + wall_extra
    pl_lat = np.clip(1.0 + smooth_curve(rng, nb, nb / 10, 0.15), 0.6, 1.3)
    if c.pleura == "irregular":
        pl_lat = pl_lat * np.clip(0.75 + smooth_curve(rng, nb, max(0.15 / bcm, 1.0), 0.6), 0.15, 1.3)
    pl_lat = pl_lat * np.clip(1.0 + smooth_curve(rng, nb, 2.0, 0.35), 0.5, 1.4)
    pleura = (rng.uniform(1.2, 1.8) * pl_lat)[None, :] * gaussian_rows(z, dp, max(thick, 1.2 * cps))
    if c.pleura == "thickened":
        pleura *= (0.8 + 0.2 * smooth_curve(rng, ns, 2.0, 1.0))[:, None]
    pleura *= shadow
    visible = shadow  # lung content seen only through the intercostal window
    # --- aerated lung and A-lines --------------------------------------------------------------------------
    below = zz > dp[None, :]
    # Aerated lung is not black on real scanners: a diffuse grey speckle haze (reverberation under the pleura),
    # from faint to about half a B-line's brightness, patchy across the window. Without its bright end a
    # network learns "bright under the pleura = B-line" and marks every real normal lung (measured on POCUS).
    haze_lat = np.clip(1.0 + smooth_curve(rng, nb, nb / 6, 0.35), 0.5, 1.5)[None, :]
    haze = (np.exp(rng.uniform(np.log(0.06), np.log(0.55))) * haze_lat * np.exp(-(zz - dp[None, :]) / rng.uniform(4.0, 14.0))
            * below).astype(np.float32)
    alines = np.zeros((ns, nb), np.float32)
    labels = np.zeros((ns, nb), np.uint8)
    orders: list[int] = []
    ok_cols = vis_cols > 0.5
    if c.a_lines:
        a0, r = rng.uniform(0.22, 0.45), rng.uniform(0.45, 0.7)
        if c.n_blines >= 3 or c.pleura != "smooth":  # A-lines fade where the interstitium is wet
            a0 *= rng.uniform(0.5, 0.75)
        a_lat = np.clip(0.85 + smooth_curve(rng, nb, nb / 5, 0.2), 0.5, 1.1)
        k = 2
        while a0 * r ** (k - 2) >= 0.08 and k * dp.max() / cps + half * 1.2 < ns - 2:
            centers = k * dp
            alines += (a0 * r ** (k - 2) * a_lat)[None, :] * gaussian_rows(z, centers, max(thick * 3.0, 2.0 * cps))
            band = np.abs(zz - centers[None, :]) <= half * 1.2 * cps
            labels[band & ok_cols[None, :]] = A_LINE
            orders.append(k)
            k += 1
    pl_band = (np.abs(zz - dp[None, :]) <= half * cps) & ok_cols[None, :]
    if c.pleura == "irregular":
        pl_band &= (pl_lat >= 0.35)[None, :]
    labels[pl_band] = PLEURAL_LINE
    below_pl = (zz >= dp[None, :] + half * cps) & ok_cols[None, :]
    bline_depth = (below * rng.uniform(0.85, 1.05) * np.exp(-(zz - dp[None, :]) / rng.uniform(12, 30))).astype(np.float32)
    bline_depth *= np.clip((zz - dp[None, :]) / (2 * thick) + 0.5, 0, 1).astype(np.float32)
    bline_depth *= np.clip(1.0 + smooth_curve(rng, ns, ns / 12, 0.25), 0.6, 1.3).astype(np.float32)[:, None]
    scene = Scene(shape=(ns, nb), wall=wall.astype(np.float32), pleura=pleura.astype(np.float32),
                  lung_haze=haze, alines=alines, bline_depth=bline_depth, lung_visible=visible.astype(np.float32),
                  below_pleura=below_pl, labels_static=labels, pleura_samples=(dp / cps).astype(np.float32),
                  pleura_half=float(half), aline_orders=orders, gap=(gl, gr))
    _place_blines(scene, c, p, g, rng, bcm)
    if c.consolidation_cm2 > 0:
        _consolidation(scene, c, g, rng, z, dp, bcm, thick)
    return scene


def _place_blines(s: Scene, c: ZoneContent, p: ClipParams, g: Geometry, rng: np.random.Generator,
                  bcm: float) -> None:
    gl, gr = s.gap
    m = p.sliding_px + 2.0
    lo, hi = gl + m, gr - m
    if hi - lo < 2.0:  # small images (e.g. 96x128): the sliding margin eats the intercostal window
        mid, half = (gl + gr) / 2.0, max((gr - gl) / 2.0 - 1.0, 1.0)
        lo, hi = mid - half, mid + half
    centers, halves, amps, fused = [], [], [], []
    if c.fused:
        width = c.fused_fraction * (hi - lo)
        start = lo + rng.uniform(0, max((hi - lo) - width, 0.0))
        centers.append(start + width / 2)
        halves.append(width / 2)
        amps.append(rng.uniform(0.75, 0.95))
        fused.append(True)
        s.fused_mod = np.clip(0.8 + smooth_curve(rng, s.shape[1], max(0.1 / bcm, 1.0), 0.25), 0.55, 1.05)
        # discrete lines go into the larger remaining side
        if start - lo > hi - (start + width):
            hi = start - 2
        else:
            lo = start + width + 2
    n = c.n_blines
    if n > 0:
        slot = (hi - lo) / n
        hw_max = max(min(0.18 * slot, 0.1 * (hi - lo)), 0.8)  # < half the pleura, each < 1/4: not fused
        for i in range(n):
            hw = min(rng.uniform(0.15, 0.45) / bcm, hw_max)
            hw = max(hw, 0.8)
            cx = lo + (i + 0.5) * slot + rng.uniform(-0.15, 0.15) * slot
            centers.append(cx)
            halves.append(hw)
            amps.append(rng.uniform(0.35, 0.75))
            fused.append(False)
    s.bl_centers = np.array(centers, np.float32)
    s.bl_half = np.array(halves, np.float32)
    s.bl_amp = np.array(amps, np.float32)
    s.bl_fused = np.array(fused, bool)


def _consolidation(s: Scene, c: ZoneContent, g: Geometry, rng: np.random.Generator, z: np.ndarray,
                   dp: np.ndarray, bcm: float, thick: float) -> None:
    ns, nb = s.shape
    aspect = rng.uniform(1.2, 2.5)
    h_cm = np.sqrt(4 * c.consolidation_cm2 / (np.pi * aspect))
    w_cm = aspect * h_cm
    gl, gr = s.gap
    w_b = min(w_cm / bcm, 0.9 * (gr - gl))
    h_cm = max(min(h_cm, 0.8 * (g.depth_cm - float(dp.max()))), 0.3)
    cc = rng.uniform(gl + w_b / 2 + 1, max(gr - w_b / 2 - 1, gl + w_b / 2 + 1.5))
    b = np.arange(nb)
    u = (b - cc) / (w_b / 2)
    prof = np.sqrt(np.clip(1 - u ** 2, 0, 1))
    shred = 1 + smooth_curve(rng, nb, max(0.06 / bcm, 0.8), 0.25) + smooth_curve(rng, nb, nb / 8, 0.15)
    bottom = dp + h_cm * prof * np.clip(shred, 0.5, 1.5)
    zz = z[:, None]
    region = (zz >= dp[None, :]) & (zz <= bottom[None, :]) & (prof > 0)[None, :]
    tex = np.clip(1 + 0.25 * smooth_curve(rng, ns, 3, 1.0)[:, None] * smooth_curve(rng, nb, 3, 1.0)[None, :], 0.6, 1.4)
    cons = rng.uniform(0.3, 0.45) * tex * cv2.GaussianBlur(region.astype(np.float32), (0, 0), 1.8)
    # shred sign: bright irregular deep border
    edge = np.clip(0.6 + smooth_curve(rng, nb, max(0.15 / bcm, 1.0), 0.6), 0.0, 1.2) * (prof > 0.05)
    cons += rng.uniform(0.4, 0.7) * gaussian_rows(z, bottom, 0.06) * edge[None, :]
    rr, bb = np.nonzero(region)
    if c.bronchograms and len(rr):
        n = max(2, int(c.consolidation_cm2 * rng.uniform(1.5, 3.5)))
        yy, xx = np.mgrid[0:ns, 0:nb]
        for _ in range(n):
            i = rng.integers(len(rr))
            y, x = rr[i], bb[i]
            ln = rng.integers(0, 4)  # short branch along a random direction
            ang = rng.uniform(0, np.pi)
            for j in range(ln + 1):
                yj, xj = y + j * 1.5 * np.sin(ang), x + j * 1.5 * np.cos(ang)
                y0, y1, x0, x1 = int(yj) - 3, int(yj) + 4, int(xj) - 3, int(xj) + 4
                sl = (slice(max(y0, 0), max(y1, 0)), slice(max(x0, 0), max(x1, 0)))
                d2 = (yy[sl] - yj) ** 2 / 0.8 + (xx[sl] - xj) ** 2 / 1.2
                cons[sl] += rng.uniform(0.8, 1.6) * np.exp(-0.5 * d2) * region[sl]
    near = (zz >= dp[None, :] - 2 * thick) & (zz <= bottom[None, :] + 0.15) & (prof > 0)[None, :]
    s.pleura = s.pleura * np.where(near, 0.35, 1.0).astype(np.float32)
    vis = s.lung_visible
    s.cons_region = np.clip(cv2.GaussianBlur(near.astype(np.float32), (0, 0), 1.5) * 1.3, 0, 1) * vis
    s.cons = (cons * vis).astype(np.float32)
    s.cons_mask = region & (vis > 0.5)
