"""Quantitative measures on drawn masks with known answers, and the rule score."""

from __future__ import annotations

import numpy as np
import pytest

from lusapp.model.measures import FrameMeasures, clip_measures, frame_measures, rule_score


def base(h=200, w=300, thickness=5):
    m = np.zeros((h, w), np.uint8)
    m[40:40 + thickness, 20:280] = 1
    return m


def bars(m, xs, width=6, top=45, bottom=180):
    for x in xs:
        m[top:bottom, x:x + width] = 3
    return m


def test_four_separated_b_lines_count_four():
    fm = frame_measures(bars(base(), (50, 110, 170, 230)))
    assert fm.b_lines == 4
    assert fm.pleura_found and fm.pleural_width_px == 260
    assert fm.b_line_coverage == pytest.approx(24 / 260)
    assert rule_score(fm) == (1, "4 B-lines")


def test_touching_lines_still_count_and_specks_do_not():
    m = bars(base(), (60, 80), width=6)
    m[45:60, 60:86] = 3  # joined at the pleura, separate below
    m[100:103, 200:203] = 3  # a speck is no B-line
    assert frame_measures(m).b_lines == 2


def test_fanning_lines_merging_deeper_count_by_their_origins():
    m = base()
    for y in range(45, 190):  # two wedges from x=100 and x=124 that widen and merge below row ~100
        grow = (y - 45) // 6
        m[y, 100 - grow:104 + grow] = 3
        m[y, 124 - grow:128 + grow] = 3
    fm = frame_measures(m)
    assert fm.b_lines == 2
    assert fm.b_line_coverage == pytest.approx(8 / 260, abs=0.01)  # measured where they start
    assert rule_score(fm)[0] == 0


def test_six_b_lines_score_two_and_pixel_count_is_not_the_count():
    fm = frame_measures(bars(base(), range(30, 270, 40), width=4))
    assert fm.b_lines == 6
    assert rule_score(fm) == (2, "6 B-lines")
    fat = frame_measures(bars(base(), (100,), width=20))  # one wide line: many pixels, one line
    assert fat.b_lines == 1


def test_pleural_thickness_and_irregularity():
    fm = frame_measures(base(thickness=5), spacing_mm=(0.2, 0.2))
    assert fm.pleural_thickness_px == 5
    assert fm.pleural_thickness_mm == pytest.approx(1.0)
    assert fm.pleural_irregularity_px == pytest.approx(0, abs=1e-6)
    wavy = np.zeros((200, 300), np.uint8)
    for x in range(20, 280):
        y = 40 + (6 if (x // 10) % 2 else 0)
        wavy[y:y + 3, x] = 1
    w = frame_measures(wavy, spacing_mm=0.5)
    assert w.pleural_irregularity_px == pytest.approx(3.0, abs=0.3)
    assert rule_score(w) == (2, "irregular pleura (1.5 mm)")
    thick = frame_measures(base(thickness=20), spacing_mm=0.2)
    assert rule_score(thick) == (3, "thickened pleura (4.0 mm)")


def test_consolidation_area_and_rule():
    m = base()
    m[100:150, 100:160] = 4
    fm = frame_measures(m, spacing_mm=(0.3, 0.3))
    assert fm.consolidation_px == 50 * 60
    assert fm.consolidation_cm2 == pytest.approx(3000 * 0.09 / 100)
    assert rule_score(fm) == (4, "consolidation 2.7 cm^2")
    # a scaled (network-resolution) mask reports original pixels
    assert frame_measures(m, scale=(2.0, 3.0)).consolidation_px == 3000 * 6


def test_fused_b_lines_and_a_lines():
    m = base()
    m[45:180, 60:222] = 3
    fm = frame_measures(m)
    assert fm.b_line_coverage == pytest.approx(162 / 260)
    assert rule_score(fm) == (3, "fused B-lines (62% of pleura)")
    a = base()
    a[80:83, 20:280] = 2
    a = bars(a, (100,))
    fa = frame_measures(a)
    assert fa.a_line_present
    assert rule_score(fa) == (0, "A-lines, 1 B-line")
    assert rule_score(frame_measures(np.zeros((50, 50), np.uint8))) == (0, "no B-lines")


def test_clip_measures_robust_max_and_median():
    frames = [bars(base(), (50, 110, 170, 230)) for _ in range(9)] + [base()]
    cm = clip_measures(frames)
    assert isinstance(cm, FrameMeasures) and cm.n_frames == 10
    assert cm.b_lines == 4 and cm.pleural_thickness_px == 5
    one_spurious = [base() for _ in range(19)] + [bars(base(), range(30, 270, 40), width=4)]
    assert clip_measures(one_spurious).b_lines == 0  # one odd frame of 20 does not set the clip's count
    with pytest.raises(ValueError):
        clip_measures([])


def test_peak_finder_matches_scipy_on_random_profiles():
    """measures.find_peaks replaces scipy.signal.find_peaks (0.7 s to import): same peaks, same prominences."""
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import find_peaks as scipy_find_peaks

    from lusapp.model.measures import find_peaks

    rng = np.random.default_rng(7)
    for trial in range(400):
        n = int(rng.integers(3, 300))
        raw = rng.integers(0, 6, n).astype(float) * rng.integers(0, 2, n)  # plateaus and ties on purpose
        x = uniform_filter1d(raw, 3, mode="constant") if trial % 2 else raw
        height, distance = float(rng.uniform(0, 4)), int(rng.integers(1, 12))
        ref, props = scipy_find_peaks(x, height=height, distance=distance, prominence=0.0)
        got, prom = find_peaks(x, height, distance)
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_allclose(prom, props["prominences"])


def test_smoothing_is_scipys_three_column_mean():
    from scipy.ndimage import uniform_filter1d

    from lusapp.model.measures import smooth_profile

    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 50, 301):
        x = rng.random(n) * 30
        np.testing.assert_allclose(smooth_profile(x), uniform_filter1d(x, 3, mode="constant"))


def test_b_line_thresholds_are_shared_with_the_synthetic_renderer():
    from model_training.synth import ZoneContent
    from model_training.synth import rule_score as drawn_score

    from lusapp.model.measures import MANY_B_LINES, SOME_B_LINES

    for n in range(0, 10):
        fm = frame_measures(bars(base(), range(20, 20 + 26 * n, 26), width=4))
        assert fm.b_lines == n
        assert rule_score(fm)[0] == drawn_score(ZoneContent(n_blines=n)) == (n >= SOME_B_LINES) + (n >= MANY_B_LINES)


def test_measures_import_without_scipy():
    import subprocess
    import sys

    code = "import sys; import lusapp.model.measures; assert not any(m.startswith('scipy') for m in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60).returncode == 0
