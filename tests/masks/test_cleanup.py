"""cleanup: specks gone, pinholes filled, large holes and everything else unchanged, region respected."""
import numpy as np
import pytest

from masks.errors import OpError
from masks.ops import parse_op
from masks.refine import cleanup
from masks.render import dirty_rect, render


def op(**kw):
    return parse_op({"type": "cleanup", **kw})


def scene():
    a = np.zeros((60, 80), np.uint8)
    a[10:50, 10:50] = 255              # the piece
    a[20:22, 20:22] = 0                # pinhole, 4 px
    a[30:33, 30:33] = 0                # pinhole, 9 px
    a[12:27, 34:46] = 0                # negative space, 180 px
    a[5, 70] = 255                     # speck, 1 px
    a[40:43, 60:63] = 200              # soft speck, 9 px
    a[55:58, 60:72] = 255              # a real small part, 36 px
    return a


def test_specks_and_pinholes_exact():
    a = scene()
    out = render(a, [op(min_speck=10, min_hole=10)])
    expect = a.copy()
    expect[20:22, 20:22] = 255
    expect[30:33, 30:33] = 255
    expect[5, 70] = 0
    expect[40:43, 60:63] = 0
    assert np.array_equal(out, expect)


def test_large_holes_and_parts_stay():
    a = scene()
    out = render(a, [op(min_speck=36, min_hole=180)])
    assert (out[12:27, 34:46] == 0).all()          # 180 px of negative space is not < 180
    assert (out[55:58, 60:72] == 255).all()        # 36 px part is not < 36
    out = render(a, [op(min_speck=37, min_hole=181)])
    assert (out[12:27, 34:46] == 255).all() and (out[55:58, 60:72] == 0).all()


def test_zero_limits_change_nothing():
    a = scene()
    assert np.array_equal(render(a, [op()]), a)


def test_soft_edges_belong_to_their_component():
    a = np.zeros((30, 30), np.uint8)
    a[10:13, 10:13] = 255
    a[9, 10:13] = 60                   # anti-aliased fringe: same 8-connected speck
    out = render(a, [op(min_speck=20)])
    assert out.max() == 0


def test_background_touching_the_image_edge_is_not_a_hole():
    a = np.full((20, 20), 255, np.uint8)
    a[0:2, 0:2] = 0                    # a notch in the corner
    a[10, 10] = 0
    out = render(a, [op(min_hole=50)])
    assert (out[0:2, 0:2] == 0).all() and out[10, 10] == 255


def test_region_limits_the_cleanup():
    a = scene()
    left = "M 0 0 H 27 V 60 H 0 Z"     # holds the 4 px pinhole only
    out = render(a, [op(min_speck=10, min_hole=10, region=left)])
    expect = a.copy()
    expect[20:22, 20:22] = 255
    assert np.array_equal(out, expect)
    # a component partly outside the region is left alone
    half = "M 0 0 H 31 V 60 H 0 Z"     # cuts the 9 px pinhole at x = 31
    out = render(a, [op(min_hole=10, region=half)])
    assert (out[30:33, 30:33] == 0).all()


def test_cleanup_sees_earlier_edits_and_rect_render_agrees():
    a = scene()
    ops = [parse_op({"type": "stroke", "mode": "remove", "points": [[65, 56]], "radius": 1, "hardness": 1}),
           op(min_speck=40, min_hole=10),
           parse_op({"type": "stroke", "mode": "keep", "points": [[70, 10]], "radius": 2, "hardness": 1})]
    full = render(a, ops)
    assert full[56, 62] == 0                     # the part became smaller than 40 px, then a speck
    assert full[10, 70] == 255                   # edits after the clean-up stay
    assert np.array_equal(render(a, ops, rect=(55, 50, 20, 10)), full[50:60, 55:75])


def test_dirty_rect_of_cleanup():
    shape = (60, 80)
    assert dirty_rect([op(min_speck=5)], shape) is None
    assert dirty_rect([op(min_speck=5, region="M 2 3 H 10 V 12 H 2 Z")], shape) == (1, 2, 10, 11)
    assert dirty_rect([op()], shape) == (0, 0, 0, 0)


def test_function_level_edges_flag():
    a = np.full((10, 10), 255, np.uint8)
    a[0, 4] = 0                                   # touches the top edge of this array
    assert cleanup(a, op(min_hole=5))[0, 4] == 0
    assert cleanup(a, op(min_hole=5), image_edges=(False, True, True, True))[0, 4] == 255


@pytest.mark.parametrize("wire,field", [
    ({"min_speck": -1}, "min_speck"), ({"min_hole": 100_001}, "min_hole"), ({"min_hole": "5"}, "min_hole"),
    ({"min_speck": float("nan")}, "min_speck"), ({"region": 5}, "region"), ({"region": "Q 1 2"}, "region"),
    ({"size": 3}, "size"),
])
def test_bad_parameters_refused(wire, field):
    with pytest.raises(OpError) as exc:
        parse_op({"type": "cleanup", **wire})
    assert str(exc.value).startswith(field + ":")
