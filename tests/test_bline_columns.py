"""B-line columns in the scan geometry (lusapp.model.bline_columns) on hand-drawn convex-probe frames: known
radial B-lines under a fan give the right count and narrow radial masks; a hazy field without columns gives
none; a white-lung field stays one broad region."""

import numpy as np
import pytest

from lusapp.core.labels import B_LINE, PLEURAL_LINE
from lusapp.model import bline_columns as bc
from lusapp.model.measures import frame_measures

SIZE = 128
APEX = (SIZE / 2, -50.0)  # (x, y) of the probe's apex, above the image
HALF_ANGLE = 17.0  # degrees either side of vertical
PLEURA_R = (92.0, 96.0)  # radii of the pleural line's band
BAND = 9.0  # the network's broad B-line band covers these angles either side of vertical
LINES = (-6.0, 0.0, 6.0)  # angles of the drawn B-lines


def _polar():
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    dx, dy = xs - APEX[0], ys - APEX[1]
    return np.hypot(dx, dy), np.degrees(np.arctan2(dx, dy))


def fan_frame(b_angles=(), haze: float = 0.0, white: bool = False, shadows=(), seed: int = 0):
    """(uint8 frame, label map with the network's broad B-line band over the angles -BAND..BAND)."""
    rng = np.random.default_rng(seed)
    r, ang = _polar()
    inside = (np.abs(ang) <= HALF_ANGLE) & (r >= 55)
    img = np.zeros((SIZE, SIZE))
    img[inside] = 55 + rng.normal(0, 8, inside.sum())  # chest wall and lung speckle
    pleura = inside & (r >= PLEURA_R[0]) & (r <= PLEURA_R[1])
    img[pleura] = 210
    lung = inside & (r > PLEURA_R[1])
    depth = (r - PLEURA_R[1]) / (r.max() - PLEURA_R[1])
    if haze:  # a hazy field: brighter just under the pleura, fading with depth, no columns
        img[lung] += haze * np.exp(-3 * depth[lung])
    if white:
        img[lung] = 150 + rng.normal(0, 8, lung.sum())
    for a in b_angles:  # a B-line: a narrow radial band from the pleura to the bottom, not fading
        img[lung & (np.abs(ang - a) <= 0.8)] = 150 + rng.normal(0, 6, (lung & (np.abs(ang - a) <= 0.8)).sum())
    for a, b in shadows:  # rib shadows: dark from the rib (above the pleura) to the bottom
        img[inside & (r >= 75) & (ang >= a) & (ang <= b)] = 8
    labels = np.zeros((SIZE, SIZE), np.uint8)
    labels[pleura] = PLEURAL_LINE
    labels[lung & (np.abs(ang) <= BAND)] = B_LINE
    return np.clip(img, 0, 255).astype(np.uint8), labels


def b_angles_of(mask):
    """Angles (degrees) of the B-line pixels in the row 10 pixels above the bottom."""
    r, ang = _polar()
    row = SIZE - 10
    return ang[row][mask[row] == B_LINE]


def test_three_radial_b_lines_are_counted_and_drawn_narrow():
    frame, labels = fan_frame(b_angles=LINES)
    out, n = bc.refine(frame, labels)
    assert n == 3
    seen = b_angles_of(out)
    for a in LINES:  # each line drawn where it is, a few degrees wide at most
        near = seen[np.abs(seen - a) <= 2]
        assert near.size > 0, f"no B-line drawn near {a} degrees"
        assert near.max() - near.min() <= 2.5
    assert np.all(np.min(np.abs(seen[:, None] - np.array(LINES)[None, :]), axis=1) <= 2)
    assert (out == B_LINE).sum() < 0.4 * (labels == B_LINE).sum()  # narrow columns, not the broad band
    assert (out == PLEURAL_LINE).sum() == (labels == PLEURAL_LINE).sum()  # other classes untouched
    assert frame_measures(out).b_lines == 3  # the mask measures count the same lines


def test_b_lines_outside_the_networks_region_need_no_prior():
    frame, labels = fan_frame(b_angles=(-14, 14))  # outside the network's band (-BAND..BAND)
    assert bc.refine(frame, labels)[1] == 0
    assert bc.refine(frame, labels, use_prior=False)[1] == 2


def test_a_hazy_field_without_columns_has_no_b_lines():
    frame, labels = fan_frame(haze=45.0)
    out, n = bc.refine(frame, labels)
    assert n == 0
    assert not (out == B_LINE).any()


def test_the_lung_between_two_rib_shadows_is_no_b_line():
    frame, labels = fan_frame(shadows=((-9, -2), (2, 9)), seed=3)  # a 4-degree intercostal window
    assert bc.refine(frame, labels)[1] == 0


def test_a_white_lung_stays_one_broad_region():
    frame, labels = fan_frame(white=True)
    out, n = bc.refine(frame, labels)
    assert n == 1
    assert (out == B_LINE).sum() >= 0.95 * (labels == B_LINE).sum()  # the network's broad band, kept
    out_told, n_told = bc.refine(frame, labels, confluent=False)  # told it is not confluent: no columns in it
    assert n_told == 0 and not (out_told == B_LINE).any()


def test_a_clip_shares_one_fan_geometry():
    clip = [fan_frame(b_angles=LINES, seed=s) for s in range(3)]
    maps, counts = bc.refine_clip(np.stack([c[0] for c in clip]), np.stack([c[1] for c in clip]))
    assert maps.shape == (3, SIZE, SIZE) and counts == [3, 3, 3]


def test_the_fan_is_found_and_a_linear_image_keeps_its_columns():
    frame, _ = fan_frame()
    g = bc.fan_geometry(frame)
    assert g.col[SIZE - 1, SIZE // 2] >= 0 and g.col[SIZE - 1, 0] == -1  # outside the fan at the bottom corner
    flat = np.full((SIZE, SIZE), 80, np.uint8)
    g = bc.fan_geometry(flat)
    assert g.col[SIZE - 1, 0] == 0 and g.col[SIZE - 1, SIZE - 1] == bc.COLS - 1


def test_mismatched_inputs_are_refused():
    frame, labels = fan_frame()
    with pytest.raises(ValueError, match="same 2-D shape"):
        bc.refine(frame, labels[:64])
    with pytest.raises(ValueError, match="fan geometry"):
        bc.refine(frame[:64, :64], labels[:64, :64], bc.fan_geometry(frame))
