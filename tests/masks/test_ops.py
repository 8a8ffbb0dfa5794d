"""parse_op: strict validation (every refusal names its field) and wire round trips."""
import math

import pytest

from masks.errors import OpError
from masks.ops import ChannelOp, CleanupOp, PathOp, RefineOp, StrokeOp, parse_op

SQUARE = "M 10 10 H 20 V 20 H 10 Z"
GOOD = {
    "path": {"type": "path", "d": SQUARE, "mode": "add", "fill_rule": "evenodd", "feather": 2},
    "stroke": {"type": "stroke", "mode": "keep", "points": [[1, 2], [3.5, 4]], "radius": 3, "hardness": 0.5},
    "refine": {"type": "refine", "shift_edge": -1.5, "contrast": 20, "feather": 1, "smooth": 10},
    "channel": {"type": "channel", "d": SQUARE, "channel": "luma", "black": 10, "white": 200, "invert": True},
    "cleanup": {"type": "cleanup", "min_speck": 30, "min_hole": 40, "region": SQUARE},
}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_round_trip(kind):
    op = parse_op(GOOD[kind])
    wire = op.to_wire()
    assert wire["type"] == kind
    assert parse_op(wire) == op
    assert parse_op(wire).to_wire() == wire


def test_parsed_types_and_defaults():
    p = parse_op({"type": "path", "d": SQUARE, "mode": "subtract", "fill_rule": "nonzero"})
    assert p == PathOp(SQUARE, "subtract", "nonzero", 0.0)
    s = parse_op(GOOD["stroke"])
    assert s == StrokeOp("keep", ((1.0, 2.0), (3.5, 4.0)), 3.0, 0.5, 1.0)
    assert s.xy.shape == (2, 2)
    assert parse_op({"type": "refine"}) == RefineOp(0.0, 0.0, 0.0, 0.0)
    assert parse_op({"type": "channel", "d": SQUARE}) == ChannelOp(SQUARE, "auto", 0.0, 255.0, False)
    assert parse_op({"type": "cleanup", "region": None}) == CleanupOp(0.0, 0.0, None)
    hash(s)  # frozen and hashable


def refused(obj, field):
    with pytest.raises(OpError) as exc:
        parse_op(obj)
    assert str(exc.value).startswith(field + ":"), str(exc.value)
    return str(exc.value)


def with_(kind, **changes):
    obj = dict(GOOD[kind])
    for k, v in changes.items():
        if v is KeyError:
            obj.pop(k)
        else:
            obj[k] = v
    return obj


def test_not_an_object():
    refused([1, 2], "operation")
    refused("path", "operation")


def test_type_missing_or_unknown():
    refused({"d": SQUARE}, "type")
    refused({"type": "blur"}, "type")
    refused({"type": 3}, "type")


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_unknown_key(kind):
    msg = refused(with_(kind, colour="red"), "colour")
    assert "unknown field" in msg


@pytest.mark.parametrize("kind,field,value", [
    ("path", "mode", "exclude"), ("path", "mode", 1), ("path", "fill_rule", "winding"),
    ("stroke", "mode", "add"), ("channel", "channel", "alpha"),
])
def test_bad_choices(kind, field, value):
    assert "must be one of" in refused(with_(kind, **{field: value}), field)


@pytest.mark.parametrize("kind,field", [
    ("path", "d"), ("path", "mode"), ("path", "fill_rule"), ("stroke", "mode"), ("stroke", "points"),
    ("stroke", "radius"), ("stroke", "hardness"), ("channel", "d"),
])
def test_required(kind, field):
    assert "required" in refused(with_(kind, **{field: KeyError}), field)


@pytest.mark.parametrize("kind,field,bad", [
    ("path", "feather", -0.1), ("path", "feather", 50.5), ("stroke", "radius", 0.4),
    ("stroke", "radius", 501), ("stroke", "hardness", 1.1), ("stroke", "opacity", -1),
    ("refine", "shift_edge", 21), ("refine", "shift_edge", -20.5), ("refine", "contrast", 101),
    ("refine", "feather", 51), ("refine", "smooth", -1), ("channel", "black", 256),
    ("channel", "white", -1), ("cleanup", "min_speck", 100_001), ("cleanup", "min_hole", -1),
])
def test_out_of_range(kind, field, bad):
    assert "between" in refused(with_(kind, **{field: bad}), field)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("kind,field", [("stroke", "radius"), ("refine", "contrast"), ("path", "feather")])
def test_non_finite_numbers(kind, field, bad):
    assert "finite" in refused(with_(kind, **{field: bad}), field)


@pytest.mark.parametrize("bad", [True, "3", None, [3]])
def test_numbers_must_be_numbers(bad):
    assert "number" in refused(with_("stroke", radius=bad), "radius")


def test_invert_must_be_bool():
    refused(with_("channel", invert=1), "invert")


def test_white_above_black():
    assert "greater than black" in refused(with_("channel", black=100, white=100), "white")


@pytest.mark.parametrize("points,field,words", [
    ([], "points", "1 to 20000"),
    ([[0, 0]] * 20_001, "points", "1 to 20000"),
    ("0,0", "points", "list"),
    ([[0, 0], [1]], "points[1]", "pair"),
    ([[0, 0], [1, 2, 3]], "points[1]", "pair"),
    ([[0, 0], {"x": 1, "y": 2}], "points[1]", "pair"),
    ([[0, 0], [0, "1"]], "points[1]", "numbers"),
    ([[0, 0], [True, 1]], "points[1]", "numbers"),
    ([[0, 0], [0, 0], [math.nan, 1]], "points[2]", "finite"),
    ([[math.inf, 1]], "points[0]", "finite"),
    ([[0, 0], [100_001, 0]], "points[1]", "100000"),
    ([[0, -100_000.5]], "points[0]", "100000"),
])
def test_bad_points(points, field, words):
    assert words in refused(with_("stroke", points=points), field)


def test_twenty_thousand_points_accepted():
    op = parse_op(with_("stroke", points=[[i % 500, i // 500] for i in range(20_000)]))
    assert len(op.points) == 20_000


@pytest.mark.parametrize("d,words", [
    ("", "empty"),
    (12, "string"),
    ("L 1 1", "moveto"),
    ("M 0 0 L nan 1", "unexpected character"),
    ("M 0 0 L 1e999 0", "finite"),
    ("M 0 0 L 100001 0", "100000"),
    ("M 0 0 L 0 -100001", "100000"),
    ("M 0 0 Q 1", "expects more numbers"),
    ("M 0 0 A 200000 5 0 0 1 10 0", "radius"),
    ("M 0 0 A 5 5 0 2 1 10 0", "flags"),
    ("M 0 0 L 1 1 Z 5", "follows no command"),
    ("M 0 0 " + "L 1 1 " * 200_000, "1000000 bytes"),
])
@pytest.mark.parametrize("kind,field", [("path", "d"), ("channel", "d"), ("cleanup", "region")])
def test_bad_path_data(kind, field, d, words):
    assert words in refused(with_(kind, **{field: d}), field)


def test_arc_reaching_beyond_the_coordinate_limit_is_refused():
    # both endpoints are in range, but the large arc of radius 99 999 swings ~200 000 px away
    msg = refused(with_("path", d="M 0 0 A 99999 99999 0 1 1 1 0 Z"), "d")
    assert "reaches beyond" in msg and "100000" in msg


def test_path_flattening_to_too_many_vertices_is_refused():
    # each near-full circle of radius 49 000 px flattens to ~1 550 vertices at 0.1 px tolerance:
    # 700 of them are 1.1 M vertices from 24 kB of path data
    loops = " ".join("A 49000 49000 0 1 1 1 0 A 49000 49000 0 1 1 0 0" for _ in range(350))
    msg = refused(with_("path", d=f"M 0 0 {loops} Z"), "d")
    assert "1000000 vertices" in msg
