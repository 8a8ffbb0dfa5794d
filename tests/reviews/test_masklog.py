"""The edit log: numbering, idempotent retries, undo/redo per person, revisions, render cache."""
import numpy as np
import pytest

from masks.errors import OpError
from reviews.models import Image, Operation
from reviews.services import masklog, storage
from tests.conftest import make_ingested, rect_op

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(world):
    return make_ingested(world.image)


def test_append_numbers_entries_and_bumps_head(image, world):
    r1 = world.users["retoucher1"]
    ops = [masklog.append(image.pk, r1, "op", rect_op(10 * i, 5, 8, 8), f"c{i}") for i in range(3)]
    assert [o.seq for o in ops] == [1, 2, 3]
    image.refresh_from_db()
    assert image.head_seq == 3
    assert [e.seq for e in masklog.entries(image)] == [1, 2, 3]
    assert [o.seq for o in masklog.operations_since(image, 1)] == [2, 3]


def test_retry_with_same_client_id_stores_nothing_new(image, world):
    r1 = world.users["retoucher1"]
    first = masklog.append(image.pk, r1, "op", rect_op(1, 1, 5, 5), "same")
    again = masklog.append(image.pk, r1, "op", rect_op(1, 1, 5, 5), "same")
    assert again.pk == first.pk and Operation.objects.filter(image=image).count() == 1
    # the same client_id from another person is their own entry
    other = masklog.append(image.pk, world.users["lead"], "op", rect_op(1, 1, 5, 5), "same")
    assert other.seq == 2


@pytest.mark.parametrize("payload,client_id,match", [
    ({"type": "path", "d": "M0 0L10 0L10 10Z", "mode": "explode"}, "x", "mode"),
    ({"type": "stroke", "mode": "keep", "points": [[float("nan"), 1]], "radius": 3, "hardness": 1}, "x", "finite|points"),
    ({"type": "nope"}, "x", "type"),
    ("not an object", "x", "object"),
    (rect_op(0, 0, 2, 2), "", "client_id"),
    (rect_op(0, 0, 2, 2), "x" * 65, "client_id"),
])
def test_bad_input_is_refused_and_changes_nothing(image, world, payload, client_id, match):
    with pytest.raises(OpError, match=match):
        masklog.append(image.pk, world.users["retoucher1"], "op", payload, client_id)
    assert Image.objects.get(pk=image.pk).head_seq == 0
    assert not Operation.objects.exists()


def test_undo_redo_are_entries_per_person(image, world):
    r1, lead = world.users["retoucher1"], world.users["lead"]
    a = masklog.append(image.pk, r1, "op", rect_op(0, 0, 10, 10), "a")
    b = masklog.append(image.pk, lead, "op", rect_op(50, 50, 10, 10), "b")
    u = masklog.undo(image.pk, r1, "u1")
    assert (u.kind, u.payload, u.seq) == ("undo", {"target": a.seq}, 3)  # r1's op, not the lead's later one
    assert masklog.undo(image.pk, r1, "u2") is None  # nothing more of r1's to undo
    r = masklog.redo(image.pk, r1, "r1")
    assert (r.kind, r.payload) == ("redo", {"target": a.seq})
    assert Operation.objects.filter(image=image).count() == 4  # nothing was deleted
    # an explicit undo naming a target masks.log does not allow is refused
    with pytest.raises(OpError):
        masklog.append(image.pk, r1, "undo", {"target": b.seq}, "bad")
    assert masklog.undo(image.pk, r1, "u1").pk == u.pk  # retried undo: same entry


def test_revisions_render_deterministically_and_cache(image, world):
    r1 = world.users["retoucher1"]
    base = masklog.render_revision(image, 0)
    masklog.append(image.pk, r1, "op", rect_op(0, 0, 20, 20, "add"), "a")
    masklog.append(image.pk, r1, "op", rect_op(0, 0, 10, 10, "subtract"), "b")
    image.refresh_from_db()
    full = masklog.render_revision(image)
    assert storage.exists(masklog.render_path(image, 2))
    assert np.array_equal(full, masklog.render_revision(image, 2))  # from cache
    assert full[5, 5] == 0 and full[15, 15] == 255
    one = masklog.render_revision(image, 1)
    assert one[5, 5] == 255
    assert np.array_equal(masklog.render_revision(image, 2, rect=(0, 0, 30, 20)), full[0:20, 0:30])
    assert base.shape == full.shape
    masklog.undo(image.pk, r1, "u")
    image.refresh_from_db()
    assert np.array_equal(masklog.render_revision(image, 3), one)  # undoing b gives revision 1 back
    with pytest.raises(OpError):
        masklog.render_revision(image, 99)


def test_operation_frame(image, world):
    op = masklog.append(image.pk, world.users["retoucher1"], "op", rect_op(1, 2, 3, 4), "cid")
    frame = masklog.operation_frame(op)
    assert frame["type"] == "op" and frame["seq"] == 1 and frame["client_id"] == "cid" and frame["kind"] == "op"
    assert frame["author"] == {"id": world.users["retoucher1"].pk, "name": "Retoucher1"}
    assert frame["op"]["type"] == "path" and "created_at" in frame
    undo = masklog.operation_frame(masklog.undo(image.pk, world.users["retoucher1"], "u"))
    assert undo["target"] == 1 and "op" not in undo
