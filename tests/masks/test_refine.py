"""Refine: each step does what its docstring says; the edge-band computation equals the
definition (the steps on the whole frame, edges replicated) for any window."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from masks import refine
from masks.ops import parse_op
from masks.render import render


def op(**kw):
    return parse_op({"type": "refine", **kw})


def edge_image(x_edge=50, soft=False):
    a = np.zeros((40, 100), np.uint8)
    a[:, x_edge:] = 255
    if soft:
        a[:, x_edge - 1] = 128
    return a


def test_identity_changes_nothing():
    a = np.random.default_rng(0).integers(0, 256, (50, 60)).astype(np.uint8)
    assert np.array_equal(render(a, [op()]), a)


@pytest.mark.parametrize("shift,expect_col,expect", [(3, 47, 255), (3, 46, 0), (-2, 51, 0), (-2, 52, 255)])
def test_integer_shift_moves_a_straight_edge(shift, expect_col, expect):
    out = render(edge_image(), [op(shift_edge=shift)])
    assert (out[:, expect_col] == expect).all()
    assert ((out == 0) | (out == 255)).all()


def test_fractional_shift_blends_half_a_pixel():
    out = render(edge_image(), [op(shift_edge=1.5)])
    assert (out[:, 49] == 255).all() and (out[:, 48] == 128).all() and (out[:, 47] == 0).all()
    out = render(edge_image(), [op(shift_edge=-0.5)])
    assert (out[:, 50] == 127).all() and (out[:, 51] == 255).all() and (out[:, 49] == 0).all()


def test_contrast_hardens_and_100_thresholds():
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (4, 1))
    out = render(ramp, [op(contrast=50)]).astype(int)
    assert out[0, 0] == 0 and out[0, -1] == 255
    mid = (ramp.astype(int) - 127.5) * 2 + 127.5
    assert np.all(np.abs(out - np.clip(np.floor(mid + 0.5), 0, 255)) == 0)
    hard = render(ramp, [op(contrast=100)])
    assert np.array_equal(hard, np.where(ramp >= 128, 255, 0).astype(np.uint8))


def test_feather_softens_symmetrically_and_keeps_the_50_percent_line():
    out = render(edge_image(), [op(feather=6)]).astype(int)
    row = out[20]
    assert row[0] == 0 and row[-1] == 255
    assert 0 < row[47] < 128 < row[52] < 255
    assert abs(row[49] + row[50] - 255) <= 1             # symmetric about the edge at x = 50
    assert row[50 - 10] == 0 and row[50 + 9] == 255        # support: 3 sigma = 9 px


def test_smooth_irons_out_a_jag_but_keeps_a_hard_edge():
    a = edge_image()
    a[18:22, 47:50] = 255                                  # a 3 px bump on the edge
    out = render(a, [op(smooth=75)])                       # sigma 3 px
    assert out[20, 47] < 128                               # the bump is gone
    far = out[2]
    assert far[45] == 0 and far[54] == 255 and ((far > 0) & (far < 255)).sum() <= 2


def test_uniform_frames_are_left_alone():
    for v in (0, 255):
        a = np.full((70, 90), v, np.uint8)
        assert np.array_equal(render(a, [op(smooth=40, feather=3, contrast=20, shift_edge=-2.5)]), a)


def random_mask(seed, shape=(150, 170)):
    rng = np.random.default_rng(seed)
    a = np.zeros(shape, np.uint8)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    for _ in range(4):
        cx, cy, r = rng.uniform(-20, shape[1] + 20), rng.uniform(-20, shape[0] + 20), rng.uniform(5, 60)
        a = np.maximum(a, np.clip((r - np.hypot(xx - cx, yy - cy)) * 100, 0, 255).astype(np.uint8))
    noise = rng.random(shape) < 0.002
    a[noise] = rng.integers(0, 256, noise.sum())
    return a


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([0, 20, 65]), st.sampled_from([0, 0.5, 4, 11]),
       st.sampled_from([0, 35, 100]), st.sampled_from([0, -1.5, 2, -7.25, 13]), st.data())
def test_band_computation_equals_the_definition(seed, smooth, feather, contrast, shift, data):
    a = random_mask(seed)
    o = op(smooth=smooth, feather=feather, contrast=contrast, shift_edge=shift)
    ref = refine.reference(a, o)
    assert np.array_equal(refine.refine_window(a, o, (0, 0, 170, 150)), ref)
    x = data.draw(st.integers(0, 169))
    y = data.draw(st.integers(0, 149))
    w = data.draw(st.integers(1, 170 - x))
    h = data.draw(st.integers(1, 150 - y))
    assert np.array_equal(refine.refine_window(a, o, (x, y, w, h)), ref[y:y + h, x:x + w])


def test_margin_is_the_dependency_radius():
    o = op(smooth=25, feather=2, shift_edge=-1.5)       # sigma 1 → 3, sigma 1 → 3, disc 2
    assert refine.margin(o) == 3 + 3 + 2
    a = np.zeros((61, 61), np.uint8)
    a[30, 30] = 255
    out = refine.reference(a, op(feather=2, shift_edge=2))
    ys, xs = np.nonzero(out)
    assert max(abs(ys - 30).max(), abs(xs - 30).max()) <= refine.margin(op(feather=2, shift_edge=2))


def test_runs_split_long_stretches_and_cover_every_needed_block():
    need = np.zeros((3, 250), bool)
    need[0, 5:9] = True
    need[0, 20] = True
    need[1, :] = True                      # a stretch longer than one run may be
    need[2, 247:] = True
    ry, rx, rn = refine._runs(need, 95)
    assert rn.max() <= 95 and (rn > 0).all()
    got = np.zeros_like(need)
    for i, j, n in zip(ry, rx, rn):
        assert not got[i, j:j + n].any()    # runs do not overlap
        got[i, j:j + n] = True
    assert np.array_equal(got, need)
    assert len(ry) == 2 + 3 + 1
    rows, xs, nrows = refine._pack(rn * 32 + 16, 3072)
    for r in range(nrows):                  # tiles of one atlas row do not overlap, and fit
        sel = np.nonzero(rows == r)[0]
        ends = xs[sel] + rn[sel] * 32 + 16
        assert (xs[sel][1:] >= ends[:-1]).all() and ends.max() <= 3072


def test_big_frame_threaded_scan_and_long_runs_equal_the_definition():
    # over 1 Mpx, so the block scan (with the copy) and the gather / scatter run in two halves
    # on two threads; a soft horizontal edge across the whole width makes runs longer than an
    # atlas row holds, so they are split; result = the definition, for the frame and a window
    H, W = 420, 3300
    assert H * W >= refine._SPLIT_MIN_PX
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:H, 0:W]
    a = np.clip((yy - 200.3 + 6 * np.sin(xx / 40)) * 90, 0, 255).astype(np.uint8)
    a[50:120, 2900:3250] = 255
    a[300:360, 10:70] = 0
    noise = rng.random((H, W)) < 0.0005
    a[noise] = rng.integers(0, 256, noise.sum())
    for o in (op(smooth=20, feather=1.5, contrast=20, shift_edge=-1.5), op(shift_edge=3), op(contrast=40)):
        ref = refine.reference(a, o)
        assert np.array_equal(refine.refine_window(a, o, (0, 0, W, H)), ref)
        x, y, w, h = 17, 9, 3200, 400
        assert np.array_equal(refine.refine_window(a, o, (x, y, w, h)), ref[y:y + h, x:x + w])
