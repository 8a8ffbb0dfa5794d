"""SVG path data parsing and flattening."""
import math

import numpy as np
import pytest

from masks import paths
from masks.errors import PathDataError


def test_implicit_repeats_and_subpaths():
    g = paths.parse("M 0 0 10 0 10 10 Z m 20 0 l 5 0 0 5 z")
    assert len(g.polygons) == 2
    assert g.polygons[0][:, 0].tolist() == [0, 10, 10, 0]
    assert g.polygons[1].tolist() == [[20, 0], [25, 0], [25, 5], [20, 0]]


def test_relative_moveto_after_close_and_drawing_after_close():
    # svgpathtools' parse_path fails with AssertionError on this valid data
    g = paths.parse("M1,2l3,4z m5,5h3v3z")
    assert g.polygons[1][0].tolist() == [6, 7]
    g = paths.parse("M 0 0 H 4 V 4 Z L 0 9 L 9 9 Z")   # after Z, drawing restarts at the start
    assert g.polygons[1][0].tolist() == [0, 0]


def test_numbers_without_separators_and_exponents():
    a = paths.parse("M.5.5L1e1-2.5e0l-1-1z")
    assert a.polygons[0].tolist() == [[0.5, 0.5], [10, -2.5], [9, -3.5], [0.5, 0.5]]


def test_compact_arc_flags():
    assert np.array_equal(paths.parse("M0 0a5 5 0 1010 0z").polygons[0],
                          paths.parse("M 0 0 a 5 5 0 1 0 10 0 z").polygons[0])


def bezier(p, t):
    p0, p1, p2, p3 = p
    mt = 1 - t
    return mt ** 3 * p0 + 3 * mt * mt * t * p1 + 3 * mt * t * t * p2 + t ** 3 * p3


def test_flattening_stays_within_tolerance():
    p = [0 + 0j, 120 + 300j, 380 - 200j, 500 + 100j]
    g = paths.parse("M 0 0 C 120 300 380 -200 500 100")
    poly = g.polygons[0][:, 0] + 1j * g.polygons[0][:, 1]
    dense = bezier(p, np.linspace(0, 1, 20001))
    # every point of the true curve lies within the tolerance of the polyline
    segs = np.stack([poly[:-1], poly[1:]], axis=1)
    worst = 0.0
    for q in dense[::20]:
        a, b = segs[:, 0], segs[:, 1]
        t = np.clip(((q - a) * np.conj(b - a)).real / np.maximum(abs(b - a) ** 2, 1e-12), 0, 1)
        worst = max(worst, abs(a + t * (b - a) - q).min())
    assert worst <= paths.TOLERANCE
    assert len(poly) < 200


def test_arc_endpoint_and_radius_scaling():
    # a radius too small for the chord is scaled up (SVG rule): a half circle of radius 10
    g = paths.parse("M 0 0 A 1 1 0 0 1 20 0")
    pts = g.polygons[0] if g.polygons else None
    assert pts is not None and pts[-1].tolist() == [20, 0]
    r = np.hypot(pts[1:-1, 0] - 10, pts[1:-1, 1])
    assert np.all(np.abs(r - 10) < paths.TOLERANCE)


def test_polygons_to_d_round_trip():
    polys = [[(1.5, 2), (10, 2), (10, 8.25)], [(20, 20), (30, 20), (25, 30)]]
    g = paths.parse(paths.polygons_to_d(polys))
    for got, want in zip(g.polygons, polys):
        assert np.allclose(got[:-1], want)


def test_bounds():
    assert paths.parse("M 1.5 2 L 10 -3 L 4 9 Z").bbox == (1.5, -3, 10, 9)
    assert paths.pixel_bounds("M 1.5 2 L 10 -3 L 4 9 Z") == (0, -4, 11, 10)
    assert paths.parse("M 5 5").bbox is None and paths.pixel_bounds("M 5 5") is None


def test_vertex_limit():
    # each of these cubics swings out 75 000 px: 1500 vertices each, 1.05 million in all
    d = "M 0 0 " + "C 0 100000 0 -100000 0 0 " * 700
    with pytest.raises(PathDataError, match="vertices"):
        paths.parse(d)


def test_coverage_window_equals_crop_across_tiles():
    d = "M 3 250 C 100 100 400 600 520 260 L 300 20 Z"
    full = paths.coverage(d, "nonzero", (0, 0, 600, 600), feather=3)
    for win in [(250, 250, 20, 20), (0, 255, 600, 3), (511, 0, 2, 600)]:
        x, y, w, h = win
        assert np.array_equal(paths.coverage(d, "nonzero", win, feather=3), full[y:y + h, x:x + w])
    assert math.isclose(full.sum() / 255, paths.coverage(d, "nonzero", (0, 0, 600, 600)).sum() / 255, rel_tol=0.01)
