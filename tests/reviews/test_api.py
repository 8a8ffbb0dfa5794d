"""The edit log over HTTP: same rules as the websocket, and open editors hear about it."""
import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from reviews.models import Operation
from reviews.services import realtime
from tests.conftest import make_ingested, rect_op

pytestmark = pytest.mark.django_db


def post(client, image, body):
    return client.post(f"/api/images/{image.pk}/operations/", json.dumps(body), content_type="application/json")


def test_append_retry_undo_and_broadcast(world, client):
    image = make_ingested(world.image)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.group_name(image.pk), channel)
    client.force_login(world.users["retoucher1"])
    r = post(client, image, {"kind": "op", "client_id": "a1", "op": rect_op(2, 2, 10, 10)})
    assert r.status_code == 201 and r.json()["seq"] == 1
    event = async_to_sync(layer.receive)(channel)
    assert json.loads(event["text"])["seq"] == 1 and json.loads(event["text"])["type"] == "op"
    assert post(client, image, {"kind": "op", "client_id": "a1", "op": rect_op(2, 2, 10, 10)}).json()["seq"] == 1
    assert post(client, image, {"kind": "undo", "client_id": "u1"}).json()["frame"]["target"] == 1
    assert post(client, image, {"kind": "undo", "client_id": "u2"}).status_code == 400  # nothing left to undo
    for bad in ({"kind": "op", "client_id": "b", "op": {"type": "path", "d": "M0 0 L1e9 0 Z", "mode": "add"}},
                {"kind": "op", "client_id": "c", "op": "no"}, {"kind": "op", "op": rect_op(1, 1, 1, 1)}, ["x"]):
        assert post(client, image, bad).status_code == 400
    assert client.post(f"/api/images/{image.pk}/operations/", "{not json", content_type="application/json").status_code == 400
    assert Operation.objects.filter(image=image).count() == 2
    frames = client.get(f"/api/images/{image.pk}/operations/?since=0").json()
    assert frames["head_seq"] == 2 and [f["seq"] for f in frames["operations"]] == [1, 2]
    client.force_login(world.users["client_a"])
    assert post(client, image, {"kind": "op", "client_id": "z", "op": rect_op(1, 1, 1, 1)}).status_code == 403


def test_an_unreachable_channel_layer_does_not_fail_a_stored_edit(world, client, monkeypatch):
    """Redis away: the edit is stored and acknowledged (201); open editors resume from the log
    once the layer is back (reviews.layers), so only the live broadcast is skipped."""
    image = make_ingested(world.image)
    layer = get_channel_layer()

    async def unreachable(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(layer, "group_send", unreachable)
    client.force_login(world.users["retoucher1"])
    r = post(client, image, {"kind": "op", "client_id": "r1", "op": rect_op(2, 2, 10, 10)})
    assert r.status_code == 201 and r.json()["seq"] == 1
    assert list(Operation.objects.filter(image=image).values_list("client_id", flat=True)) == ["r1"]
