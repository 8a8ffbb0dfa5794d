"""Colour maths: ΔE2000 against the published data, sRGB ↔ Lab, swatch checks and drift."""
import numpy as np
import pytest

from masks import color
from masks.errors import MaskError

# Sharma, Wu & Dalal (2005), "The CIEDE2000 colour-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Table 1: L1 a1 b1 L2 a2 b2 ΔE00.
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_delta_e2000_matches_sharma_wu_dalal_table():
    data = np.array(SHARMA)
    assert data.shape == (34, 7)
    got = color.delta_e2000(data[:, 0:3], data[:, 3:6])
    # The published values are rounded to 4 decimals.
    np.testing.assert_allclose(got, data[:, 6], atol=1e-4, rtol=0)
    # Symmetric, and zero for identical colours.
    np.testing.assert_allclose(color.delta_e2000(data[:, 3:6], data[:, 0:3]), data[:, 6], atol=1e-4, rtol=0)
    assert np.all(color.delta_e2000(data[:, 0:3], data[:, 0:3]) == 0)


def test_srgb_lab_known_values_and_round_trip():
    np.testing.assert_allclose(color.srgb_to_lab(np.array([255, 255, 255], np.uint8)), [100, 0, 0], atol=1e-3)
    np.testing.assert_allclose(color.srgb_to_lab(np.array([0, 0, 0], np.uint8)), [0, 0, 0], atol=1e-9)
    # sRGB red in CIELAB D65 (widely tabulated: 53.24, 80.09, 67.20).
    np.testing.assert_allclose(color.srgb_to_lab(np.array([1.0, 0.0, 0.0])), [53.24, 80.09, 67.20], atol=0.02)
    rng = np.random.default_rng(1)
    rgb = rng.random((50, 3))
    np.testing.assert_allclose(color.lab_to_srgb(color.srgb_to_lab(rgb)), rgb, atol=1e-6)
    np.testing.assert_allclose(color.hex_to_lab("#fff"), [100, 0, 0], atol=1e-3)
    with pytest.raises(MaskError, match="rrggbb"):
        color.hex_to_lab("rose gold")


def _rose_disc(size=80, rgb=(183, 110, 121), backdrop=(250, 250, 250)):
    yy, xx = np.mgrid[:size, :size]
    inside = (xx - size / 2) ** 2 + (yy - size / 2) ** 2 < (size / 3) ** 2
    image = np.empty((size, size, 3), np.uint8)
    image[:] = backdrop
    image[inside] = rgb
    return image, (inside * 255).astype(np.uint8)


def test_swatch_check_ignores_highlights_and_edge():
    image, alpha = _rose_disc()
    image[38:42, 38:42] = 255  # a specular highlight on the metal
    # Backdrop-coloured fringe one pixel wide just inside the mask edge.
    from scipy import ndimage
    edge = (alpha > 0) & ~ndimage.binary_erosion(alpha > 0)
    image[edge] = (250, 250, 250)
    res = color.swatch_check(image, alpha, (0, 0, 80, 80), "#b76e79", tolerance=1.0)
    assert res.passed and res.delta_e < 0.5
    far = color.swatch_check(image, alpha, (0, 0, 80, 80), "#6e79b7", tolerance=1.0)
    assert not far.passed and far.delta_e > 10
    with pytest.raises(MaskError, match="outside"):
        color.swatch_check(image, alpha, (70, 70, 20, 20), "#b76e79")
    with pytest.raises(MaskError, match="no solid"):
        color.measure_region(image, alpha, (0, 0, 5, 5))


def test_batch_drift_flags_the_odd_backdrop_and_exposure():
    items = [_rose_disc(backdrop=(240, 240, 240)) for _ in range(4)]
    items.append(_rose_disc(backdrop=(240, 228, 200)))  # beige backdrop
    items.append(_rose_disc(backdrop=(190, 190, 190)))  # underexposed
    drift = color.batch_drift(items)
    assert [d.flagged for d in drift] == [False] * 4 + [True, True]
    assert drift[0].backdrop_delta_e < 1e-6 and abs(drift[0].exposure_ev) < 1e-6
    assert drift[4].backdrop_delta_e > 3
    assert drift[5].exposure_ev < -0.5
    assert color.batch_drift([]) == []
