"""Tracing masks into few-anchor closed beziers, and reading path data back."""
import math

import cv2
import numpy as np
import pytest

from masks import trace as T
from masks.errors import MaskError, PathDataError


def _biou(a, b):
    a, b = a >= 128, b >= 128
    return (a & b).sum() / (a | b).sum()


def _shapes():
    m = np.zeros((300, 400), np.uint8)
    cv2.circle(m, (120, 150), 80, 255, -1)
    cv2.circle(m, (120, 150), 40, 0, -1)           # a hole (ring)
    cv2.rectangle(m, (250, 50), (350, 250), 255, -1)
    cv2.ellipse(m, (300, 150), (30, 60), 20, 0, 360, 0, -1)  # negative space in the plate
    return m


def test_trace_closed_cubics_with_holes_matches_mask():
    m = _shapes()
    d = T.trace(m)
    subs = T.parse_path(d)
    assert len(subs) == 4 and all(sp.closed for sp in subs)
    assert set(c for c in d if c.isalpha()) <= {"M", "C", "Z"}
    assert _biou(m, T.rasterize(d, 400, 300)) > 0.985
    assert _biou(m, T.rasterize(T.trace(m, tolerance=0.5), 400, 300)) > 0.994
    # Few anchors: a disc of radius 80 (perimeter ~500 px) needs a handful, not hundreds.
    assert T.anchor_count(d) < 40


def test_disc_edge_is_unbiased():
    m = np.zeros((200, 200), np.uint8)
    cv2.circle(m, (100, 100), 60, 255, -1)
    r = T.rasterize(T.trace(m, tolerance=0.5), 200, 200)
    assert abs(r.sum() / 255 - (m > 0).sum()) / (m > 0).sum() < 0.005
    # A soft (anti-aliased) edge: the path follows the 50 % level to sub-pixel accuracy.
    yy, xx = np.mgrid[:200, :200] + 0.5
    soft = np.clip((60.3 - np.hypot(xx - 100, yy - 100)) + 0.5, 0, 1)
    d = T.trace((soft * 255).round().astype(np.uint8), tolerance=0.25)
    pts = np.array([p for sp in T.parse_path(d) for p in sp.anchors()])
    radii = np.hypot(pts[:, 0] - 100, pts[:, 1] - 100)
    assert np.abs(radii - 60.3).max() < 0.1


def test_tolerance_trades_anchors_for_accuracy():
    m = _shapes()
    fine, coarse = T.trace(m, tolerance=0.3), T.trace(m, tolerance=2.0)
    assert T.anchor_count(fine) > T.anchor_count(coarse)
    assert _biou(m, T.rasterize(fine, 400, 300)) >= _biou(m, T.rasterize(coarse, 400, 300))


def test_inset_keeps_path_inside_the_edge():
    m = _shapes()
    r = T.rasterize(T.trace(m, inset=1.5), 400, 300)
    assert ((r > 0) & (m == 0)).sum() == 0          # nothing outside the mask
    lost = ((m > 0).sum() - (r >= 128).sum())
    perimeter = cv2.countNonZero(cv2.Canny(m, 100, 200))
    assert 1.0 < lost / perimeter < 2.0             # about 1.5 px all round


def test_empty_full_and_bad_masks():
    assert T.trace(np.zeros((10, 10), np.uint8)) == ""
    specks = np.zeros((20, 20), np.uint8)
    specks[5:8, 5:8] = 255   # a 3x3 bead is kept ...
    specks[15, 15] = 255     # ... a lone pixel (under min_area) is not
    subs = T.parse_path(T.trace(specks))
    assert len(subs) == 1 and 5 < T.rasterize(subs, 20, 20).sum() / 255 < 10
    full = T.trace(np.full((10, 20), 255, np.uint8))
    r = T.rasterize(full, 20, 10)
    assert r[1:-1, 1:-1].min() >= 250 and r.sum() / 255 > 0.97 * 200  # the frame edge is an edge too
    with pytest.raises(MaskError, match="uint8"):
        T.trace(np.zeros((4, 4), np.float32))
    with pytest.raises(MaskError, match="tolerance"):
        T.trace(np.zeros((4, 4), np.uint8), tolerance=float("nan"))
    with pytest.raises(MaskError, match="inset"):
        T.trace(np.zeros((4, 4), np.uint8), inset=-1)


def test_parse_path_commands():
    subs = T.parse_path("M10,10 h20 v20 H10 z m5 5 l2 0 0 2z")
    assert len(subs) == 2 and subs[1].start == (15, 15)
    r = T.rasterize("M10,10 h20 v20 H10 z", 40, 40)
    assert r.sum() / 255 == pytest.approx(400, abs=1)
    # Arc: a full circle from two half arcs has area pi r^2.
    r = T.rasterize("M20 50 A30 30 0 0 1 80 50 A30 30 0 0 1 20 50 Z", 100, 100)
    assert r.sum() / 255 == pytest.approx(math.pi * 900, rel=2e-3)
    # Q/T and S.
    assert len(T.parse_path("M0 0 Q10 10 20 0 T40 0 S50 10 60 0")[0].segments) == 3
    # Open subpaths are kept open.
    assert not T.parse_path("M0 0 L10 0 L10 10")[0].closed


@pytest.mark.parametrize("bad", ["M 0 0 L NaN 5", "L 10 10", "M 0 0 L 1", "M0 0 L inf 0", "M0 0 <script>", "M0 0 Z 5"])
def test_bad_path_data(bad):
    with pytest.raises(PathDataError):
        T.parse_path(bad)


def test_too_many_segments_refused():
    with pytest.raises(PathDataError, match="more than"):
        T.parse_path("M0 0" + " L1 1" * 101, max_segments=100)
