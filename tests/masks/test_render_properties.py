"""Property tests over random operation logs: rect == crop of full, determinism, wire identity.

The image is 300 × 270 so rectangles and paths cross the 256 px canonical tile boundary.
"""
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from masks.ops import parse_op
from masks.render import render

W, H = 300, 270
coord = st.floats(-30, 330, allow_nan=False).map(lambda v: round(v, 2))
pt = st.tuples(coord, coord)


@st.composite
def path_data(draw):
    parts = []
    for _ in range(draw(st.integers(1, 2))):
        p0 = draw(pt)
        cmds = [f"M {p0[0]} {p0[1]}"]
        for _ in range(draw(st.integers(2, 5))):
            kind = draw(st.sampled_from("LCQA"))
            a, b, c = draw(pt), draw(pt), draw(pt)
            if kind == "L":
                cmds.append(f"L {a[0]} {a[1]}")
            elif kind == "C":
                cmds.append(f"C {a[0]} {a[1]} {b[0]} {b[1]} {c[0]} {c[1]}")
            elif kind == "Q":
                cmds.append(f"Q {a[0]} {a[1]} {b[0]} {b[1]}")
            else:
                r = draw(st.floats(5, 150)).__round__(1)
                cmds.append(f"A {r} {r * 0.7:.1f} {draw(st.integers(0, 90))} {draw(st.integers(0, 1))} "
                            f"{draw(st.integers(0, 1))} {a[0]} {a[1]}")
        parts.append(" ".join(cmds) + " Z")
    return " ".join(parts)


unit = st.floats(0, 1).map(lambda v: round(v, 3))
path_op = st.builds(lambda d, m, f, fe: {"type": "path", "d": d, "mode": m, "fill_rule": f, "feather": fe},
                    path_data(), st.sampled_from(["add", "subtract", "intersect"]),
                    st.sampled_from(["evenodd", "nonzero"]), st.sampled_from([0, 0, 1.5, 4]))
stroke_op = st.builds(lambda pts, m, r, h, o: {"type": "stroke", "mode": m, "points": [list(p) for p in pts],
                                               "radius": r, "hardness": h, "opacity": o},
                      st.lists(pt, min_size=1, max_size=8), st.sampled_from(["keep", "remove"]),
                      st.floats(0.5, 40).map(lambda v: round(v, 2)), unit, unit)
refine_op = st.builds(lambda s, c, f, m: {"type": "refine", "shift_edge": s, "contrast": c, "feather": f, "smooth": m},
                      st.sampled_from([0, -2.5, 1, 3.25]), st.sampled_from([0, 30, 100]),
                      st.sampled_from([0, 1, 3]), st.sampled_from([0, 20, 60]))
channel_op = st.builds(lambda d, ch, b, w, inv: {"type": "channel", "d": d, "channel": ch, "black": b,
                                                "white": b + w, "invert": inv},
                       path_data(), st.sampled_from(["auto", "r", "g", "b", "luma"]),
                       st.integers(0, 100), st.integers(1, 155), st.booleans())
cleanup_op = st.builds(lambda s, h, reg: {"type": "cleanup", "min_speck": s, "min_hole": h, "region": reg},
                       st.sampled_from([0, 10, 300]), st.sampled_from([0, 10, 300]),
                       st.one_of(st.none(), path_data()))
any_op = st.one_of(path_op, path_op, stroke_op, stroke_op, refine_op, channel_op, cleanup_op)


@st.composite
def rects(draw):
    x = draw(st.integers(0, W - 1))
    y = draw(st.integers(0, H - 1))
    return (x, y, draw(st.integers(1, W - x)), draw(st.integers(1, H - y)))


def base_alpha(seed):
    rng = np.random.default_rng(seed)
    a = np.zeros((H, W), np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    for _ in range(3):
        cx, cy, r = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(20, 90)
        a = np.maximum(a, np.clip((r - np.hypot(xx - cx, yy - cy)) * 128 + 128, 0, 255).astype(np.uint8))
    a[rng.integers(0, H, 30), rng.integers(0, W, 30)] = 255   # specks
    a[rng.integers(0, H, 30), rng.integers(0, W, 30)] = 0     # pinholes
    return a


def photo(seed):
    rng = np.random.default_rng(seed + 1)
    return rng.integers(0, 256, (H, W, 3)).astype(np.uint8)


PROP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROP
@given(st.lists(any_op, min_size=1, max_size=5), st.lists(rects(), min_size=1, max_size=3), st.integers(0, 5))
def test_rect_render_equals_crop_of_full_render(wires, rect_list, seed):
    ops = [parse_op(w) for w in wires]
    base, image = base_alpha(seed), photo(seed)
    full = render(base, ops, image=image)
    assert full.shape == (H, W) and full.dtype == np.uint8
    for x, y, w, h in rect_list:
        part = render(base, ops, rect=(x, y, w, h), image=image)
        assert np.array_equal(part, full[y:y + h, x:x + w])


@PROP
@given(st.lists(any_op, min_size=1, max_size=4), st.integers(0, 5))
def test_rendering_is_deterministic(wires, seed):
    ops = [parse_op(w) for w in wires]
    base, image = base_alpha(seed), photo(seed)
    first = render(base, ops, image=image).tobytes()
    again = render(base.copy(), [parse_op(op.to_wire()) for op in ops], image=image.copy()).tobytes()
    assert first == again


@settings(max_examples=150, deadline=None)
@given(any_op)
def test_parse_serialise_parse_is_identity(wire):
    op = parse_op(wire)
    back = parse_op(json.loads(json.dumps(op.to_wire())))
    assert back == op
    assert back.to_wire() == op.to_wire()
