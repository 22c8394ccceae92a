"""``python -m model_training realism --out DIR``: synthetic vs real convex lung-ultrasound frames, measured.

Real frames: convex clips of ``../shared/data/pocus/videos/convex`` (skipped cleanly when absent). Synthetic
frames: convex clips of every zone score from :mod:`model_training.synth`. Each frame is reduced to its
imaging region (content mask: bright or moving pixels, largest component, filled, eroded) and rescaled so the
region is 400 px high, then measured:

- grey levels inside the region: mean, std, 5/50/95th percentiles, and the histogram intersection of the
  pooled real vs synthetic histograms (1 = identical);
- speckle: median of local std/mean in 7x7 windows, envelope SNR (median local mean/std), and the
  autocorrelation lengths (lag where the autocorrelation of the high-passed image falls below 0.5) along
  the depth (axial) and across (lateral) in a central patch (mean and median over frames);
- the mean depth profile: mean grey in 10 bins of normalised depth.

Writes ``realism.json`` (all numbers), ``contact_sheet.png`` (real above, synthetic below) and prints a table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REGION_H = 400


def real_convex_clips(data: Path = DATA) -> list[Path]:
    folder = data / "pocus" / "videos" / "convex"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp4", ".avi", ".mov"))


def read_frames(path: Path, n: int = 3) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 30
    out = []
    for i in np.linspace(0, max(total - 2, 0), n).astype(int):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(i))
        ok, f = cap.read()
        if ok:
            out.append(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY))
    cap.release()
    return out


def region_mask(frames: list[np.ndarray]) -> np.ndarray:
    """Imaging region of grey frames: bright or moving, largest component, filled convex hull, eroded."""
    st = np.stack(frames).astype(np.float32)
    mean = cv2.blur(st.mean(0), (9, 9))
    mov = cv2.blur(st.std(0), (9, 9)) if len(frames) > 1 else np.zeros_like(mean)
    m = ((mean > 12) | (mov > 4)).astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((9, 9), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m)
    if n <= 1:
        return np.ones_like(m, bool)
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    pts = np.column_stack(np.nonzero(lab == k)[::-1]).astype(np.int32)
    hull = np.zeros_like(m)
    cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
    return cv2.erode(hull, np.ones((15, 15), np.uint8)).astype(bool)


def normalise(frame: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    s = REGION_H / (y1 - y0)
    size = (max(int(round((x1 - x0) * s)), 8), REGION_H)
    f = cv2.resize(frame[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    m = cv2.resize(mask[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    return f, m


def _acf_length(res: np.ndarray, axis: int) -> float:
    f = np.fft.rfft2(res - res.mean())
    acf = np.fft.irfft2(np.abs(f) ** 2, s=res.shape)
    acf /= acf[0, 0] if acf[0, 0] > 0 else 1.0
    line = acf[:, 0] if axis == 0 else acf[0, :]
    below = np.nonzero(line[: len(line) // 2] < 0.5)[0]
    if len(below) == 0:
        return float(len(line) // 2)
    i = below[0]
    return float(i - 1 + (line[i - 1] - 0.5) / max(line[i - 1] - line[i], 1e-6))  # interpolated


def frame_stats(f: np.ndarray, m: np.ndarray) -> dict:
    v = f[m].astype(np.float32)
    ff = f.astype(np.float32)
    mu = cv2.blur(ff, (7, 7))
    sd = np.sqrt(np.maximum(cv2.blur(ff * ff, (7, 7)) - mu * mu, 0))
    inner = cv2.erode(m.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & (mu > 8)
    ratio = sd[inner] / mu[inner]
    h, w = f.shape
    patch = ff[int(0.35 * h):int(0.75 * h), int(0.35 * w):int(0.65 * w)]
    res = patch - cv2.GaussianBlur(patch, (0, 0), 3)
    ys = np.nonzero(m.any(1))[0]
    rows = np.arange(h)
    prof = []
    for b in range(10):
        sel = (rows >= ys[0] + b * len(ys) / 10) & (rows < ys[0] + (b + 1) * len(ys) / 10)
        mm = m & sel[:, None]
        prof.append(float(f[mm].mean()) if mm.any() else 0.0)
    return {"mean": float(v.mean()), "std": float(v.std()), "p5": float(np.percentile(v, 5)),
            "p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)),
            "local_std_over_mean": float(np.median(ratio)) if ratio.size else 0.0,
            "envelope_snr": float(np.median(1.0 / np.maximum(ratio, 1e-3))) if ratio.size else 0.0,
            "acf_axial_px": _acf_length(res, 0), "acf_lateral_px": _acf_length(res, 1),
            "depth_profile": prof, "hist": np.bincount(v.astype(np.uint8), minlength=256).tolist()}


def real_frames(n_clips: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    clips = real_convex_clips()
    if not clips:
        return []
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(clips), size=min(n_clips, len(clips)), replace=False)
    out = []
    for i in sorted(pick):
        frames = read_frames(clips[i])
        if len(frames) < 2:
            continue
        m = region_mask(frames)
        out.append(normalise(frames[len(frames) // 2], m))
    return out


def synth_frames(n_clips: int, seed: int = 0, size: tuple[int, int] = (480, 640)) -> list[tuple[np.ndarray, np.ndarray]]:
    from model_training.synth import render_zone

    out = []
    for i in range(n_clips):
        clip = render_zone(i % 5, seed=seed + i, n_frames=3, size=size, probe="convex", clutter=False)
        m = region_mask(list(clip.frames))
        out.append(normalise(clip.frames[1], m))
    return out


def summarise(stats: list[dict]) -> dict:
    keys = [k for k in stats[0] if k not in ("depth_profile", "hist")]
    s = {k: (float(np.mean([d[k] for d in stats])), float(np.std([d[k] for d in stats]))) for k in keys}
    for k in ("acf_axial_px", "acf_lateral_px"):  # robust to frames whose patch holds a long structure
        s[k + "_median"] = (float(np.median([d[k] for d in stats])), 0.0)
    s["depth_profile"] = np.mean([d["depth_profile"] for d in stats], axis=0).round(1).tolist()
    hist = np.sum([d["hist"] for d in stats], axis=0).astype(float)
    s["hist"] = (hist / hist.sum()).tolist()
    return s


def contact_sheet(real: list, synth: list, path: Path, n: int = 6, tile: tuple[int, int] = (240, 300)) -> None:
    def tiles(items):
        row = []
        for f, m in items[:n]:
            t = cv2.resize(f * m, (tile[1], tile[0]), interpolation=cv2.INTER_AREA)
            row.append(np.pad(t, 2))
        while len(row) < n:
            row.append(np.zeros((tile[0] + 4, tile[1] + 4), np.uint8))
        return np.hstack(row)

    cv2.imwrite(str(path), np.vstack([tiles(real), tiles(synth)]))


def compare(out: Path, n_real: int = 16, n_synth: int = 15, seed: int = 0) -> dict | None:
    real = real_frames(n_real, seed)
    if not real:
        print(f"realism: no real clips under {DATA / 'pocus'}; skipped")
        return None
    synth = synth_frames(n_synth, seed)
    rs, ss = summarise([frame_stats(*x) for x in real]), summarise([frame_stats(*x) for x in synth])
    inter = float(np.minimum(rs["hist"], ss["hist"]).sum())
    out.mkdir(parents=True, exist_ok=True)
    report = {"n_real": len(real), "n_synth": len(synth), "histogram_intersection": inter,
              "real": {k: v for k, v in rs.items() if k != "hist"},
              "synth": {k: v for k, v in ss.items() if k != "hist"}}
    (out / "realism.json").write_text(json.dumps(report, indent=1))
    contact_sheet(real, synth, out / "contact_sheet.png")
    print(f"{'metric':24s} {'real':>16s} {'synthetic':>16s}")
    for k, v in rs.items():
        if k in ("hist", "depth_profile"):
            continue
        w = ss[k]
        print(f"{k:24s} {v[0]:8.2f} +-{v[1]:6.2f} {w[0]:8.2f} +-{w[1]:6.2f}")
    print(f"{'depth profile real':24s} {rs['depth_profile']}")
    print(f"{'depth profile synth':24s} {ss['depth_profile']}")
    print(f"histogram intersection {inter:.3f} ({len(real)} real, {len(synth)} synthetic frames) -> {out}")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_training realism", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--real", type=int, default=16, help="real clips to sample")
    ap.add_argument("--synth", type=int, default=15, help="synthetic clips")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    compare(a.out, a.real, a.synth, a.seed)
    return 0
