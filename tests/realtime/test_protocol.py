"""The websocket protocol of one image, through Channels' communicator (no browser)."""
from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser

from masks import log as mlog
from masks.ops import parse_op
from masks.render import render
from reviews.models import Comment, Image, Operation
from reviews.services import masklog
from tests.conftest import make_ingested, rect_op
from tests.realtime.conftest import open_socket, stroke

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def image(world):
    return make_ingested(world.image)  # 120x90 ring, in retouch, assigned to retoucher1


def db(fn, *args):
    return sync_to_async(fn)(*args)


def _op_rows(image_id):
    return [(o.seq, o.author_id, o.client_id) for o in Operation.objects.filter(image_id=image_id).order_by("seq")]


async def test_welcome_says_who_and_what_they_may_do(image, world):
    c = await open_socket(world.users["retoucher1"], image.pk, hello=False)
    welcome = c.frames[0]
    assert welcome["type"] == "welcome" and welcome["head_seq"] == 0
    assert welcome["me"] == {"id": world.users["retoucher1"].pk, "name": "Retoucher1"}
    assert welcome["can_edit"] is True
    await c.send({"type": "hello", "last_seq": 0})
    assert await c.of_type("synced") == {"type": "synced", "head_seq": 0, "count": 0}
    await c.close()


async def test_presence_join_and_here(image, world):
    a = await open_socket(world.users["retoucher1"], image.pk)
    b = await open_socket(world.users["lead"], image.pk, hello=False)
    joined = await a.of_type("presence")
    assert (joined["event"], joined["user"]["name"]) == ("join", "Lead")
    here = await b.of_type("presence")
    assert (here["event"], here["user"]["name"]) == ("here", "Retoucher1")
    await b.close()
    left = await a.of_type("presence")
    assert left["event"] == "leave" and left["conn"] == joined["conn"]
    await a.close()


async def test_concurrent_edits_reach_everyone_in_one_order(image, world):
    r1, lead = world.users["retoucher1"], world.users["lead"]
    a = await open_socket(r1, image.pk)
    b = await open_socket(lead, image.pk)
    sends = []
    for i in range(4):  # interleaved, nobody waits for anything
        sends.append(a.send({"type": "op", "client_id": f"a{i}", "base_seq": 0, "op": stroke(5 + 10 * i, 10)}))
        sends.append(b.send({"type": "op", "client_id": f"b{i}", "base_seq": 0, "op": stroke(5 + 10 * i, 60, "remove")}))
    await asyncio.gather(*sends)
    for c in (a, b):
        await c.until(lambda f, c=c: len(c.ops()) == 8)
    rows = await db(_op_rows, image.pk)
    assert [r[0] for r in rows] == list(range(1, 9))
    for c in (a, b):
        # a client may see two frames overtake each other on the way; ordered by seq, every
        # client holds exactly the server's log
        got = sorted((f["seq"], f["author"]["id"], f["client_id"]) for f in c.ops())
        assert got == rows
    # each person's own edits kept the order they were sent in
    for prefix, user in (("a", r1), ("b", lead)):
        mine = [cid for _, uid, cid in rows if uid == user.pk]
        assert mine == [f"{prefix}{i}" for i in range(4)]
    # and each got an ack naming the seq the server gave their op
    acks = {f["client_id"]: f["seq"] for f in a.frames if f["type"] == "ack"}
    assert acks == {cid: seq for seq, _, cid in rows if cid.startswith("a")}
    await a.close()
    await b.close()


async def test_resume_after_disconnect_gets_what_was_missed_and_keeps_pending_edits(image, world):
    r1, lead = world.users["retoucher1"], world.users["lead"]
    a = await open_socket(r1, image.pk)
    await a.send({"type": "op", "client_id": "a1", "base_seq": 0, "op": stroke(10, 10)})
    assert (await a.of_type("ack"))["seq"] == 1
    await a.close()  # the connection drops

    b = await open_socket(lead, image.pk)
    for i in (1, 2):
        await b.send({"type": "op", "client_id": f"b{i}", "base_seq": 1, "op": stroke(40, 40 + i)})
        await b.of_type("ack")

    a = await open_socket(r1, image.pk, hello=False)
    await a.send({"type": "hello", "last_seq": 1})
    synced = await a.of_type("synced")
    assert synced == {"type": "synced", "head_seq": 3, "count": 2}
    assert [(f["seq"], f["client_id"]) for f in a.ops()] == [(2, "b1"), (3, "b2")]
    # the page resends what it drew while offline, including an edit whose ack it never saw
    await a.send({"type": "op", "client_id": "a1", "base_seq": 3, "op": stroke(10, 10)})
    await a.send({"type": "op", "client_id": "a2", "base_seq": 3, "op": stroke(70, 20)})
    acks = [await a.of_type("ack"), await a.of_type("ack")]
    assert [(f["client_id"], f["seq"]) for f in acks] == [("a1", 1), ("a2", 4)]
    assert await db(Operation.objects.filter(image=image).count) == 4  # a1 stored once
    # the others get the new edit once, and no second copy of the old one
    seen = await b.until(lambda f: f["type"] == "op" and f["client_id"] == "a2")
    assert seen["seq"] == 4
    assert not [f for f in await b.quiet() if f["type"] == "op"]
    await a.close()
    await b.close()


async def test_a_channel_layer_resync_closes_sockets_to_resume_and_nothing_is_lost(image, world):
    """After Redis came back the layer sends ``layer.resync`` (reviews.layers: pub/sub kept
    nothing meanwhile); each socket is told to try again and closed with 4503, and the page's
    resume brings what it missed."""
    from channels.layers import get_channel_layer

    from reviews.services.realtime import group_name

    r1, lead = world.users["retoucher1"], world.users["lead"]
    a, b = await open_socket(r1, image.pk), await open_socket(lead, image.pk)
    await a.send({"type": "op", "client_id": "a1", "base_seq": 0, "op": stroke(10, 10)})
    assert (await a.of_type("ack"))["seq"] == 1
    await b.until(lambda f: f["type"] == "op" and f["seq"] == 1)

    await get_channel_layer().group_send(group_name(image.pk), {"type": "layer.resync"})
    for client in (a, b):
        frame = await client.of_type("error")
        assert frame["retry"] is True and "reconnecting" in frame["message"] and "client_id" not in frame
        assert (await client.comm.receive_output(5))["code"] == 4503
    # meanwhile (in a real outage: while its frame was lost) the lead's colleague edits on
    c = await open_socket(world.users["lead"], image.pk)
    await c.send({"type": "op", "client_id": "c1", "base_seq": 1, "op": stroke(30, 30)})
    await c.of_type("ack")

    a = await open_socket(r1, image.pk, hello=False)
    await a.send({"type": "hello", "last_seq": 1})
    assert (await a.of_type("synced"))["head_seq"] == 2
    assert [(f["seq"], f["client_id"]) for f in a.ops()] == [(2, "c1")]
    assert await db(Operation.objects.filter(image=image).count) == 2
    await a.close()
    await c.close()


NAN_OP = ('{"type":"op","client_id":"n1","op":{"type":"stroke","mode":"keep","points":[[1,2]],'
          '"radius":NaN,"hardness":1}}')


MALFORMED = [  # (text sent, client_id the error must name, words the message must contain)
    ("this is not json", None, "malformed JSON"),
    ("[1, 2, 3]", None, "object"),
    ('{"no": "type"}', None, "type"),
    ('{"type": "explode"}', None, "unknown message type"),
    (NAN_OP, None, "NaN"),  # not even parsed, so not answered with its client_id
    (json.dumps({"type": "op", "client_id": "r1", "op": {**stroke(5, 5), "radius": 1e9}}), "r1", "radius"),
    (json.dumps({"type": "op", "client_id": "p1", "op": {**stroke(5, 5), "points": "lots"}}), "p1", "points"),
    (json.dumps({"type": "op", "client_id": "m1", "op": {"type": "path", "d": "M0 0 L 10", "mode": "add"}}), "m1", "d"),
    (json.dumps({"type": "op", "op": stroke(5, 5)}), None, "client_id"),
    (json.dumps({"type": "op", "client_id": "x" * 65, "op": stroke(5, 5)}), None, "client_id"),
    (json.dumps({"type": "op", "client_id": "o1", "op": "rm -rf"}), "o1", "object"),
    (json.dumps({"type": "op", "client_id": "big", "op": stroke(1, 1, n=6000)}), None, "too large"),
    (json.dumps({"type": "hello", "last_seq": -3}), None, "last_seq"),
    (json.dumps({"type": "cursor", "x": "left", "y": 1}), None, "x"),
    (json.dumps({"type": "comment", "x": 5, "y": 5, "body": ""}), None, "body"),
    (json.dumps({"type": "comment", "x": 5e6, "y": 5, "body": "hi"}), None, "inside"),
]


async def test_malformed_messages_get_an_error_frame_and_change_nothing(image, world):
    a = await open_socket(world.users["retoucher1"], image.pk)
    for text, client_id, needle in MALFORMED:
        await a.send(text)
        err = await a.of_type("error")
        assert needle.lower() in err["message"].lower(), (text[:80], err)
        assert err.get("client_id") == client_id, text[:80]
        assert await db(Operation.objects.filter(image=image).count) == 0
        assert await db(Comment.objects.count) == 0
        assert (await db(lambda: Image.objects.get(pk=image.pk))).head_seq == 0
    # the socket stays usable after refusals
    await a.send({"type": "op", "client_id": "ok", "op": stroke(5, 5)})
    assert (await a.of_type("ack"))["seq"] == 1
    await a.close()


async def test_binary_frames_are_refused(image, world):
    a = await open_socket(world.users["retoucher1"], image.pk)
    await a.comm.send_to(bytes_data=b"\x00\x01")
    assert "binary" in (await a.of_type("error"))["message"]
    await a.close()


async def test_unauthorised_connections_get_an_error_and_are_closed(image, world):
    for who in (
        "client_b",  # another organisation's client
        "client_a",  # own organisation, but not sent to the client yet
        "other_lead",  # another studio
        "anonymous",
        "retoucher2",  # not assigned to them
    ):
        user = AnonymousUser() if who == "anonymous" else world.users[who]
        c = await open_socket(user, image.pk, hello=False)
        assert c.frames[0]["type"] == "error", who
        out = await c.comm.receive_output(timeout=2)
        assert out == {"type": "websocket.close", "code": 4403}, who


async def test_viewer_who_may_not_edit_is_refused_and_nothing_changes(world):
    image = await db(make_ingested, world.other_org_image)  # client review, sent to client_b
    c = await open_socket(world.users["client_b"], image.pk)
    assert c.frames[0]["can_edit"] is False
    await c.send({"type": "op", "client_id": "x1", "op": stroke(5, 5)})
    err = await c.of_type("error")
    assert err["client_id"] == "x1" and "not allowed" in err["message"]
    await c.send({"type": "undo", "client_id": "x2"})
    assert (await c.of_type("error"))["client_id"] == "x2"
    assert await db(Operation.objects.filter(image=image).count) == 0
    await c.close()


async def test_message_rate_is_limited_per_connection(image, world):
    a = await open_socket(world.users["retoucher1"], image.pk)
    b = await open_socket(world.users["lead"], image.pk)
    for i in range(200):
        await a.send({"type": "cursor", "x": i % 100, "y": 5})
    frames = await a.quiet()
    errors = [f for f in frames if f["type"] == "error"]
    assert errors and all("too many" in f["message"] for f in errors)
    cursors = [f for f in await b.quiet() if f["type"] == "cursor"]
    assert 0 < len(cursors) < 200
    assert cursors[0]["user"]["name"] == "Retoucher1"
    await a.close()
    await b.close()


async def test_render_ready_follows_each_edit_with_its_dirty_rect(image, world):
    a = await open_socket(world.users["retoucher1"], image.pk)
    await a.send({"type": "op", "client_id": "s1", "op": stroke(30, 30, radius=4)})
    ready = await a.of_type("render_ready")
    assert ready["seq"] == 1
    x, y, w, h = ready["rect"]
    # the stroke runs 30..36 x 30..33 with radius 4: the rect covers it and not much more
    assert x <= 26 and y <= 26 and x + w >= 40 and y + h >= 37 and w * h < 30 * 30
    # a whole-frame op (refine) announces the whole image
    await a.send({"type": "op", "client_id": "f1", "op": {"type": "refine", "feather": 2}})
    ready = await a.until(lambda f: f["type"] == "render_ready" and f["seq"] == 2)
    assert ready["rect"] == [0, 0, 120, 90]
    await a.close()


async def test_a_burst_of_edits_still_gives_every_edit_its_render_ready(image, world):
    a = await open_socket(world.users["retoucher1"], image.pk)
    b = await open_socket(world.users["lead"], image.pk)
    spots = [(10 + 20 * i, 15 + 12 * i) for i in range(5)]
    for i, (x, y) in enumerate(spots):  # sent back to back: later ones arrive while one is in flight
        await a.send({"type": "op", "client_id": f"burst{i}", "op": stroke(x, y, radius=3)})
    ready = {}
    while len(ready) < len(spots):
        frame = await b.of_type("render_ready")
        ready.setdefault(frame["seq"], frame["rect"])
    assert sorted(ready) == [1, 2, 3, 4, 5]
    for seq, (x, y) in zip(range(1, 6), spots):
        rx, ry, rw, rh = ready[seq]
        # each edit's rectangle covers its own stroke (x..x+6, y..y+3, radius 3)
        assert rx <= x - 3 and ry <= y - 3 and rx + rw >= x + 9 and ry + rh >= y + 6, (seq, ready[seq])
    await a.close()
    await b.close()


def _replay(frames, base):
    entries = []
    for f in sorted(frames, key=lambda f: f["seq"]):
        op = parse_op(f["op"]) if f["kind"] == "op" else None
        entries.append(mlog.LogEntry(seq=f["seq"], author=f["author"]["id"], kind=f["kind"], op=op, target=f.get("target")))
    return render(base, mlog.active_ops(entries))


async def test_undo_is_per_person_and_both_end_on_the_same_render(image, world):
    r1, lead = world.users["retoucher1"], world.users["lead"]
    a = await open_socket(r1, image.pk)
    b = await open_socket(lead, image.pk)
    edits = [(a, "a1", rect_op(0, 0, 40, 40, "subtract")), (b, "b1", rect_op(60, 10, 30, 30, "add")),
             (a, "a2", rect_op(10, 50, 30, 30, "add")), (b, "b2", rect_op(80, 50, 30, 30, "subtract"))]
    for c, cid, op in edits:
        await c.send({"type": "op", "client_id": cid, "op": op})
        await c.of_type("ack")
    # both undo at once: each reverts their own last op, not the other's later one
    await asyncio.gather(a.send({"type": "undo", "client_id": "au1"}), b.send({"type": "undo", "client_id": "bu1"}))
    undo_a = await a.until(lambda f: f["type"] == "op" and f["client_id"] == "au1")
    undo_b = await b.until(lambda f: f["type"] == "op" and f["client_id"] == "bu1")
    assert (undo_a["kind"], undo_a["target"]) == ("undo", 3)
    assert (undo_b["kind"], undo_b["target"]) == ("undo", 4)
    await a.send({"type": "undo", "client_id": "au2"})
    assert (await a.until(lambda f: f["type"] == "op" and f["client_id"] == "au2"))["target"] == 1
    await a.send({"type": "undo", "client_id": "au3"})  # nothing of theirs is left
    assert "nothing" in (await a.of_type("error"))["message"]
    await a.send({"type": "redo", "client_id": "ar1"})
    assert (await a.until(lambda f: f["type"] == "op" and f["client_id"] == "ar1"))["target"] == 1
    for c in (a, b):
        await c.until(lambda f, c=c: len(c.ops()) == 8)
    head = await db(lambda: Image.objects.get(pk=image.pk))
    server = await db(masklog.render_revision, head, head.head_seq)
    base = await db(masklog.render_revision, head, 0)
    mine, theirs = _replay(a.ops(), base), _replay(b.ops(), base)
    assert np.array_equal(mine, theirs) and np.array_equal(mine, server)
    # what remains: a1 (redone) and b1; a2 and b2 are undone
    expect = render(base, [parse_op(rect_op(0, 0, 40, 40, "subtract")), parse_op(rect_op(60, 10, 30, 30, "add"))])
    assert np.array_equal(server, expect)
    await a.close()
    await b.close()


async def test_comments_are_pinned_broadcast_and_resolvable(image, world):
    a = await open_socket(world.users["retoucher1"], image.pk)
    b = await open_socket(world.users["lead"], image.pk)
    body = "<img src=x onerror=alert(1)> halo on the left prong"
    await b.send({"type": "comment", "x": 12.5, "y": 40, "body": body})
    got = (await a.of_type("comment"))["comment"]
    assert (got["x"], got["y"], got["body"], got["author"]["name"]) == (12.5, 40.0, body, "Lead")
    await a.send({"type": "comment", "parent": got["id"], "body": "fixed"})
    reply = (await b.until(lambda f: f["type"] == "comment" and f["comment"]["parent"]))["comment"]
    assert reply["parent"] == got["id"] and (reply["x"], reply["y"]) == (12.5, 40.0)
    # the retoucher may not resolve the lead's comment; the lead may
    await a.send({"type": "resolve", "comment_id": got["id"], "resolved": True})
    assert "not allowed" in (await a.of_type("error"))["message"]
    await b.send({"type": "resolve", "comment_id": got["id"], "resolved": True})
    assert (await a.until(lambda f: f["type"] == "comment" and f["comment"]["resolved"]))["comment"]["id"] == got["id"]
    assert await db(lambda: Comment.objects.get(pk=got["id"]).resolved)
    await a.close()
    await b.close()
