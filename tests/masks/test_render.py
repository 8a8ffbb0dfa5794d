"""render(): the geometry is exact, compositing follows the formulas, bad input is refused."""
import math

import numpy as np
import pytest

from masks import paths
from masks.errors import ImageInputError, MaskError
from masks.ops import parse_op
from masks.render import dirty_rect, render, stroke_coverage, stroke_profile


def cov(d, fill_rule="nonzero", size=(64, 64), feather=0):
    w, h = size
    return paths.coverage(d, fill_rule, (0, 0, w, h), feather)


def path(d, mode="add", fill_rule="nonzero", feather=0):
    return parse_op({"type": "path", "d": d, "mode": mode, "fill_rule": fill_rule, "feather": feather})


def stroke(points, radius, hardness=1.0, mode="keep", opacity=1.0):
    return parse_op({"type": "stroke", "mode": mode, "points": points, "radius": radius,
                     "hardness": hardness, "opacity": opacity})


def test_integer_square_is_exact():
    c = cov("M 10 12 H 30 V 20 H 10 Z")
    expect = np.zeros((64, 64), np.uint8)
    expect[12:20, 10:30] = 255
    assert np.array_equal(c, expect)


def test_half_pixel_square_edges_and_corners():
    c = cov("M 10.5 10.5 H 20.5 V 20.5 H 10.5 Z").astype(int)
    assert (c[11:20, 11:20] == 255).all()
    for edge in (c[10, 11:20], c[20, 11:20], c[11:20, 10], c[11:20, 20]):
        assert np.all(np.abs(edge - 127.5) <= 1)
    for corner in (c[10, 10], c[10, 20], c[20, 10], c[20, 20]):
        assert abs(corner - 63.75) <= 1
    assert c[9].sum() == 0 and c[21].sum() == 0 and c[:, 9].sum() == 0 and c[:, 21].sum() == 0
    assert abs(c.sum() / 255 - 100) < 0.1


def test_fractional_edge_gets_its_area():
    c = cov("M 5 5.3 H 15 V 9.8 H 5 Z").astype(int)
    assert np.all(np.abs(c[5, 5:15] - 0.7 * 255) <= 1)
    assert np.all(np.abs(c[9, 5:15] - 0.8 * 255) <= 1)


@pytest.mark.parametrize("r", [5.0, 17.3, 40.0])
def test_circle_area_within_half_percent(r):
    d = f"M {50 - r} 50 A {r} {r} 0 1 0 {50 + r} 50 A {r} {r} 0 1 0 {50 - r} 50 Z"
    total = cov(d, size=(100, 100)).sum() / 255
    assert abs(total - math.pi * r * r) <= 0.005 * math.pi * r * r


def test_even_odd_ring_and_nonzero_without_hole():
    outer = "M 10 10 H 50 V 50 H 10 Z"
    inner_same = "M 20 20 H 40 V 40 H 20 Z"          # same direction as the outer square
    inner_reversed = "M 20 20 V 40 H 40 V 20 Z"
    ring = cov(outer + inner_same, "evenodd")
    assert ring[30, 30] == 0 and ring[15, 15] == 255
    assert ring.sum() == 255 * (1600 - 400)
    filled = cov(outer + inner_same, "nonzero")
    assert filled.sum() == 255 * 1600
    assert np.array_equal(cov(outer + inner_reversed, "nonzero"), ring)
    assert np.array_equal(cov(outer + inner_reversed, "evenodd"), ring)


def test_relative_and_absolute_commands_agree():
    absolute = "M 10 10 L 40 12 C 50 20 50 30 40 40 Q 25 50 12 40 A 8 8 0 0 1 10 10 Z"
    relative = "m 10 10 l 30 2 c 10 8 10 18 0 28 q -15 10 -28 0 a 8 8 0 0 1 -2 -30 z"
    assert np.array_equal(cov(absolute), cov(relative))
    assert cov(absolute).sum() > 0
    # H/V and S/T shorthands
    hv = "M 10 10 H 30 V 30 H 10 Z"
    assert np.array_equal(cov(hv), cov("m10 10h20v20h-20z"))
    assert np.array_equal(cov("M 10 10 C 20 0 30 0 40 10 S 60 20 50 40 Z"),
                          cov("M 10 10 c 10 -10 20 -10 30 0 s 20 10 10 30 z"))
    assert np.array_equal(cov("M 10 30 Q 20 10 30 30 T 50 30 Z"), cov("M10,30q10-20,20,0t20,0z"))


def test_arcs_give_half_discs():
    # sweep 0 from left to right goes through y > 50 (the lower half, y grows downwards)
    lower = cov("M 30 50 A 20 20 0 0 0 70 50 Z", size=(100, 100))
    upper = cov("M 30 50 A 20 20 0 0 1 70 50 Z", size=(100, 100))
    assert lower[:50].sum() == 0 and upper[50:].sum() == 0
    for half in (lower, upper):
        assert abs(half.sum() / 255 - math.pi * 200) <= 0.005 * math.pi * 200
    # compact flags and an elliptical, rotated arc: symmetric about the chord's midpoint
    ell = cov("M30 50a25 10 0 1050 0z", size=(100, 100))
    assert np.array_equal(ell, cov("M 30 50 A 25 10 0 1 0 80 50 Z", size=(100, 100)))
    assert abs(ell.sum() / 255 - math.pi * 250 / 2) <= 0.01 * math.pi * 125


def test_compositing_formulas():
    base = np.full((8, 8), 100, np.uint8)
    half = "M 2 2 H 6 V 6 H 2 Z M 0 0.5 H 8 V 1 H 0 Z"  # row 0 is half covered
    c = cov(half, size=(8, 8)).astype(int)
    a = 100
    add = render(base, [path(half, "add")]).astype(int)
    sub = render(base, [path(half, "subtract")]).astype(int)
    inter = render(base, [path(half, "intersect")]).astype(int)
    assert np.array_equal(add, a + (c * (255 - a) + 127) // 255)
    assert np.array_equal(sub, (a * (255 - c) + 127) // 255)
    assert np.array_equal(inter, (a * c + 127) // 255)
    assert add[3, 3] == 255 and sub[3, 3] == 0 and inter[3, 3] == 100 and inter[7, 7] == 0
    assert abs(add[0, 0] - (100 + 155 * 0.5)) <= 1


def test_ops_apply_in_log_order():
    base = np.zeros((20, 20), np.uint8)
    sq = "M 5 5 H 15 V 15 H 5 Z"
    assert render(base, [path(sq, "add"), stroke([[10, 10]], 2, mode="remove")])[10, 10] == 0
    assert render(base, [stroke([[10, 10]], 2, mode="remove"), path(sq, "add")])[10, 10] == 255


def test_hard_stroke_profile_and_area():
    op = stroke([[50.5, 50.5]], 20)
    c = stroke_coverage(op, (0, 0, 101, 101)).astype(int)
    assert abs(c.sum() / 255 - math.pi * 400) <= 0.005 * math.pi * 400
    assert c[50, 50] == 255 and c[50, 70] == 128 and c[50, 71] == 0  # centre 20 px away: 50 %


def test_soft_stroke_matches_documented_profile():
    op = stroke([[10.5, 30.5], [70.5, 30.5]], 12, hardness=0.25, opacity=0.8)
    c = stroke_coverage(op, (0, 0, 90, 60)).astype(int)
    ys = np.arange(60) + 0.5
    expect = np.floor(255 * stroke_profile(np.abs(ys - 30.5), 12, 0.25, 0.8) + 0.5)
    assert np.array_equal(c[:, 40], expect)
    assert c[30, 40] == round(0.8 * 255)
    assert c[30 - 13, 40] == 0 and c[30 + 13, 40] == 0
    # beyond the end point the footprint is a disc (capsule chain)
    assert c[30, 70 + 12] > 0 and c[30, 70 + 13] == 0


def test_stroke_profile_definition():
    d = np.array([0.0, 3.0, 7.0, 9.0, 10.0, 10.6])
    hard = stroke_profile(d, 10, 1.0)
    assert np.allclose(hard, [1, 1, 1, 1, 0.5, 0])
    soft = stroke_profile(d, 10, 0.0)
    # f = 1 - δ/10 for δ in [0, 10] (and 1 for δ < 0): box average over [δ - ½, δ + ½]
    assert np.allclose(soft[:2], [0.5 + 0.5 * (1 - 0.25 / 10), 1 - 3 / 10])
    mid = stroke_profile(np.array([7.5]), 10, 0.5)
    assert np.allclose(mid, 0.5)                                    # 50 % at (1 + h)·r / 2


def test_polyline_stroke_union_of_discs():
    pts = [[10, 10], [40, 10], [40, 40]]
    c = stroke_coverage(stroke(pts, 3), (0, 0, 50, 50))
    yy, xx = np.mgrid[0:50, 0:50] + 0.5
    d1 = np.hypot(np.clip(xx, 10, 40) - xx, 10 - yy)
    d2 = np.hypot(40 - xx, np.clip(yy, 10, 40) - yy)
    dist = np.minimum(d1, d2)
    expect = np.floor(255 * stroke_profile(dist, 3, 1.0) + 0.5)
    assert np.array_equal(c, expect)


def test_channel_op_levels_inside_region():
    base = np.full((10, 10), 7, np.uint8)
    image = np.zeros((10, 10, 3), np.uint8)
    image[..., 1] = np.arange(10)[None, :] * 20   # green varies, red/blue flat
    op = parse_op({"type": "channel", "d": "M 2 2 H 8 V 8 H 2 Z", "black": 20, "white": 120})
    out = render(base, [op], image=image)
    assert out[0, 0] == 7 and out[9, 9] == 7
    g = image[5, 2:8, 1].astype(float)
    assert np.array_equal(out[5, 2:8], np.clip(np.floor((g - 20) * 255 / 100 + 0.5), 0, 255))
    inv = render(base, [parse_op({**op.to_wire(), "invert": True, "channel": "g"})], image=image)
    assert np.array_equal(inv[5, 2:8].astype(int), 255 - out[5, 2:8])
    with pytest.raises(ImageInputError, match="image"):
        render(base, [op])


def test_feathered_path_is_soft_and_keeps_area():
    sq = "M 20 20 H 44 V 44 H 20 Z"
    hard, soft = cov(sq), cov(sq, feather=4)
    assert soft[32, 32] == 255 and 0 < soft[32, 20] < 255 and soft[32, 14] > 0
    assert abs(int(soft.sum()) - int(hard.sum())) <= 0.01 * hard.sum()


def test_dirty_rect_covers_every_change():
    base = np.zeros((100, 120), np.uint8)
    before = [path("M 0 0 H 60 V 60 Z")]
    new = stroke([[30, 40], [70.5, 52]], 6, hardness=0.4)
    x, y, w, h = dirty_rect([new], base.shape)
    diff = render(base, before + [new]) != render(base, before)
    ys, xs = np.nonzero(diff)
    assert x <= xs.min() and xs.max() < x + w and y <= ys.min() and ys.max() < y + h
    assert dirty_rect([path("M 5 5 H 9 V 9 Z", "intersect")], base.shape) is None
    assert dirty_rect([parse_op({"type": "refine", "feather": 1})], base.shape) is None
    assert dirty_rect([parse_op({"type": "cleanup", "min_speck": 5})], base.shape) is None
    assert dirty_rect([stroke([[500, 500]], 3)], base.shape) == (0, 0, 0, 0)
    assert dirty_rect([path("M 5 5 H 9 V 9 Z", feather=2)], base.shape) == (1, 1, 12, 12)


@pytest.mark.parametrize("rect", [(-1, 0, 5, 5), (0, 0, 11, 5), (0, 0, 5, 11), (1.5, 0, 2, 2), "abc", (1, 2, 3)])
def test_bad_rect_refused(rect):
    with pytest.raises(MaskError, match="rect"):
        render(np.zeros((10, 10), np.uint8), [], rect=rect)


def test_bad_base_and_ops_refused():
    with pytest.raises(ImageInputError, match="base_alpha"):
        render(np.zeros((10, 10), np.float32), [])
    with pytest.raises(MaskError, match="operation 0"):
        render(np.zeros((10, 10), np.uint8), [{"type": "path"}])
    with pytest.raises(MaskError, match="operation 0"):
        render(np.zeros((10, 10), np.uint8), ["not an op"])


def test_render_does_not_modify_inputs():
    base = np.random.default_rng(0).integers(0, 256, (30, 30)).astype(np.uint8)
    keep = base.copy()
    render(base, [path("M 0 0 H 10 V 10 Z"), parse_op({"type": "refine", "smooth": 20})])
    assert np.array_equal(base, keep)


def test_threaded_stroke_bands_give_the_same_bytes(monkeypatch):
    from masks import render as render_module
    base = np.zeros((700, 800), np.uint8)
    base[100:600, 100:700] = 200
    ops = [stroke([[50 + 7 * i, 350 + 300 * math.sin(i / 9)] for i in range(100)], 40, hardness=0.3),
           stroke([[700, 40], [100, 650]], 25, mode="remove", opacity=0.7)]
    assert render_module._stroke_work(ops[0]) >= render_module._PARALLEL_MIN_WORK   # threaded
    threaded = render(base, ops)
    part = render(base, ops, rect=(123, 77, 531, 444))
    monkeypatch.setattr(render_module, "_PARALLEL_MIN_WORK", 10**12)
    single = render(base, ops)
    assert np.array_equal(threaded, single)
    assert np.array_equal(part, single[77:521, 123:654])


def test_overlapped_refine_and_batched_strokes_give_the_same_bytes(monkeypatch):
    # a frame big enough that refine runs on a pool thread while the path is rasterised, and
    # crossing strokes of both modes run as one batch shared out by row: the bytes must equal
    # one op at a time on one thread, and every rectangle must equal its crop
    from masks import render as render_module
    H, W = 1000, 1100
    assert H * W >= render_module._OVERLAP_MIN_PX
    base = np.zeros((H, W), np.uint8)
    base[150:850, 200:900] = 255
    base[400:600, 450:650] = 0
    base[300:700:3, 100:1000] = 128
    ring = "M 100 100 H 1000 V 900 H 100 Z M 300.5 300.5 H 700.25 V 650.75 H 300.5 Z"
    ops = [parse_op({"type": "refine", "shift_edge": -1.5, "contrast": 20, "feather": 1.5, "smooth": 20}),
           path(ring, fill_rule="evenodd")]
    for k in range(6):
        pts = [[80 + 8.5 * i, 500 + (280 - 40 * k) * math.sin(i / (7 + k))] for i in range(110)]
        ops.append(stroke(pts, 18 + 4 * k, hardness=0.2 * k, mode="remove" if k % 2 else "keep",
                          opacity=1.0 if k % 3 else 0.6))
    ops.append(path("M 400 50 L 1050 500 L 600 980 Z", mode="subtract"))
    ops.append(stroke([[1000, 60], [120, 950]], 30, hardness=0.5))
    fast = render(base, ops)
    parts = [(rect, render(base, ops, rect=rect)) for rect in ((0, 0, W, H), (137, 211, 700, 500), (990, 0, 110, 1000))]
    monkeypatch.setattr(render_module, "_OVERLAP_MIN_PX", 10**12)
    monkeypatch.setattr(render_module, "_PARALLEL_MIN_WORK", 10**12)
    plain = render(base, ops)
    assert np.array_equal(fast, plain)
    for (x, y, w, h), got in parts:
        assert np.array_equal(got, plain[y:y + h, x:x + w])


def _kernel_arithmetic_coverage(op, window):
    """The stroke coverage of ``window`` computed for every pixel, from every segment, with
    the kernel's float32 distance arithmetic (numpy, no shortcuts)."""
    x0, y0, w, h = window
    xy = op.xy
    starts, ends = (xy[:-1], xy[1:]) if len(xy) > 1 else (xy, xy)
    xs = np.arange(w, dtype=np.float64)
    cy = (y0 + np.arange(h, dtype=np.float64) + 0.5)[:, None]
    d2 = np.full((h, w), np.inf, np.float32)
    for (ax, ay), (bx, by) in zip(starts, ends):
        ex, ey = bx - ax, by - ay
        ll = ex * ex + ey * ey
        qx, qy, inv = np.float32(ex), np.float32(ey), np.float32(1.0 / ll if ll > 0 else 0.0)
        vy = (cy - ay).astype(np.float32)
        vx = (((x0 + 0.5) - ax) + xs).astype(np.float32)[None, :]
        t = np.clip((vx * qx + vy * qy) * inv, np.float32(0), np.float32(1))
        dx, dy = vx - t * qx, vy - t * qy
        d2 = np.minimum(d2, dx * dx + dy * dy)
    f = stroke_profile(np.sqrt(d2.astype(np.float64)), op.radius, op.hardness, 1.0)
    return np.clip(np.floor(255.0 * op.opacity * f + 0.5), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", range(6))
def test_stroke_kernel_shortcuts_give_the_plain_arithmetic(seed):
    # the kernel skips the distance work inside the sure core and beyond each segment's reach;
    # the bytes must equal computing every pixel against every segment
    rng = np.random.default_rng(seed)
    radius = float(rng.choice([0.7, 3.0, 9.5, 24.0]))
    hardness = float(rng.choice([0.0, 0.5, 0.95, 1.0]))
    opacity = float(rng.choice([1.0, 0.5, 0.37]))      # 0.5: 127.5 + ½ is an integer, no core skip
    walk = np.cumsum(rng.normal(0, radius / 2, (40, 2)), axis=0) + 60
    op = stroke(np.round(walk, 2).tolist(), radius, hardness=hardness, opacity=opacity)
    window = (-5, 3, 130, 120)
    assert np.array_equal(stroke_coverage(op, window), _kernel_arithmetic_coverage(op, window))


def test_strokes_on_a_non_contiguous_array_give_the_same_bytes():
    # the kernel writes whole C rows; a strided array goes through a contiguous copy
    from masks import render as render_module
    ops = [stroke([[10 + 5 * i, 40 + 20 * math.sin(i / 5)] for i in range(60)], 12, hardness=0.4),
           stroke([[300, 10], [20, 90]], 8, mode="remove")]
    big = np.full((200, 700), 90, np.uint8)
    view = big[50:150, 100:450]
    plain = np.ascontiguousarray(view)
    win = (0, 0, 350, 100)
    for op in ops:
        render_module._stroke_apply(plain, win, op)
    render_module._stroke_run_apply(view, win, ops)
    assert not view.flags.c_contiguous
    assert np.array_equal(view, plain)
    assert (big[:50] == 90).all() and (big[:, :100] == 90).all()


@pytest.mark.parametrize("seed", range(4))
def test_stroke_compositing_gives_the_plain_arithmetic(seed):
    # composited into the mask in place (cache-line prefetch, distance spans rounded up to
    # whole vectors and clipped at the mask's edge): the bytes must equal the plain float32
    # coverage of every pixel composited with the documented formulas
    from masks.render import _div255
    rng = np.random.default_rng(100 + seed)
    radius = float(rng.choice([2.5, 9.5, 24.0]))
    hardness = float(rng.choice([0.0, 0.6, 1.0]))
    mode = "keep" if seed % 2 else "remove"
    walk = np.cumsum(rng.normal(0, radius / 2, (50, 2)), axis=0) + [rng.uniform(0, 90), rng.uniform(0, 70)]
    op = stroke(np.round(walk, 2).tolist(), radius, hardness=hardness, mode=mode, opacity=0.8)
    base = rng.integers(0, 256, (70, 90)).astype(np.uint8)
    c = _kernel_arithmetic_coverage(op, (0, 0, 90, 70)).astype(np.uint32)
    a = base.astype(np.uint32)
    expect = a + _div255(c * (255 - a)) if mode == "keep" else _div255(a * (255 - c))
    assert np.array_equal(render(base, [op]), expect.astype(np.uint8))


def test_refine_skips_only_what_the_next_path_overwrites(monkeypatch):
    # refine leaves the blocks inside a following add / subtract path's full tiles unrefined
    # (the path sets them anyway): the render must equal refining everything, for the frame
    # and for rectangles, with and without the overlap of refine and rasterising
    from masks import refine as refine_module
    from masks import render as render_module
    H, W = 1100, 1000
    rng = np.random.default_rng(3)
    base = np.zeros((H, W), np.uint8)
    base[100:1000, 80:900] = 255
    base[400:700, 300:650] = 0
    specks = rng.random((H, W)) < 0.001
    base[specks] = rng.integers(0, 256, specks.sum())
    ring = "M 50 60 H 950 V 1050 H 50 Z M 330.5 420.5 H 610.25 V 680.75 H 330.5 Z"
    refine_op = parse_op({"type": "refine", "shift_edge": -1.5, "contrast": 20, "feather": 1.5, "smooth": 20})
    rects = ((0, 0, W, H), (137, 211, 700, 500), (0, 990, 1000, 110), (500, 500, 40, 300))
    for mode, feather in (("add", 0), ("subtract", 3), ("intersect", 0)):
        ops = [refine_op, path(ring, mode=mode, fill_rule="evenodd", feather=feather),
               stroke([[60, 60], [900, 1000]], 20, hardness=0.5)]
        dead = render_module._overwritten(ops[1:], base.shape)
        assert (dead is None) == (mode == "intersect")
        if dead is not None:
            inside = refine_module._blocks_inside(dead, 0, H, 0, W, -(-H // 32), -(-W // 32))
            assert inside.sum() > 100            # the skip is taken
        got = [render(base, ops, rect=r) for r in rects]
        monkeypatch.setattr(render_module, "_overwritten", lambda ops, shape: None)
        full = render(base, ops)
        monkeypatch.undo()
        for (x, y, w, h), g in zip(rects, got):
            assert np.array_equal(g, full[y:y + h, x:x + w])


def test_full_tiles_are_the_uniform_255_tiles_of_coverage():
    d = "M 10 20 H 1250 V 1080 H 10 Z M 600 600 H 700 V 700 H 600 Z"
    for feather in (0, 4):
        full = paths.full_tiles(d, "evenodd", (1100, 1300), feather)
        seen = np.zeros_like(full)
        for (x, y, w, h), c in paths.coverage_tiles(d, "evenodd", (0, 0, 1300, 1100), feather):
            if isinstance(c, int) and c == 255:
                seen[y // 256, x // 256] = True
        assert np.array_equal(full, seen) and full.any()
