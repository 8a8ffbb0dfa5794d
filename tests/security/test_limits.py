"""Limits at the boundaries, through the views and the socket people actually use: upload size,
image pixels, archive expansion, operation size, request size, edit rate. Each refusal says
why, and nothing is stored. (The core checks themselves are tested in tests/masks and
tests/reviews/test_upload.py; message size and cursor rate in tests/realtime.)"""
from __future__ import annotations

import io
import json
import zipfile

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile

from reviews.models import Image, Operation
from tests.conftest import jpeg_bytes, make_ingested, small_photo


def _upload(client, collection, *files):
    return client.post(f"/collections/{collection.pk}/upload/", {"files": list(files)},
                       HTTP_ACCEPT="application/json")


@pytest.fixture
def lead(world, client):
    client.force_login(world.users["lead"])
    return client


@pytest.mark.django_db
def test_upload_limits_say_why_and_store_nothing(world, lead, settings):
    rgb, _ = small_photo(120, 90)
    photo = jpeg_bytes(rgb)
    before = Image.objects.count()
    settings.JEWELREVIEW = {**settings.JEWELREVIEW, "MAX_FILE_BYTES": len(photo) - 1}
    r = _upload(lead, world.collection, SimpleUploadedFile("big.jpg", photo))
    assert r.status_code == 400 and "limit" in r.json()["refused"][0]["reason"]

    settings.JEWELREVIEW = {**settings.JEWELREVIEW, "MAX_FILE_BYTES": 10 << 20, "MAX_PIXELS": 120 * 90 - 1}
    r = _upload(lead, world.collection, SimpleUploadedFile("many-pixels.jpg", photo))
    assert r.status_code == 400 and "pixel" in r.json()["refused"][0]["reason"].lower()

    settings.JEWELREVIEW = {**settings.JEWELREVIEW, "MAX_PIXELS": 100_000_000, "MAX_ZIP_RATIO": 50}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.png", b"\0" * (8 << 20))  # 8 MB of zeros: ~1000:1
    r = _upload(lead, world.collection, SimpleUploadedFile("bomb.zip", buf.getvalue()))
    assert r.status_code == 400 and "bomb" in json.dumps(r.json()).lower()
    assert Image.objects.count() == before


@pytest.mark.django_db
def test_request_body_size_is_bounded_for_the_edit_api(world, lead):
    image = make_ingested(world.image)
    huge = json.dumps({"kind": "op", "client_id": "h1",
                       "op": {"type": "path", "d": "M0 0 " + "L1 1 " * 700_000, "mode": "add", "fill_rule": "evenodd"}})
    assert len(huge) > 2_621_440  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    r = lead.post(f"/api/images/{image.pk}/operations/", huge, content_type="application/json")
    assert r.status_code == 400
    assert Operation.objects.filter(image=image).count() == 0


@pytest.mark.django_db
def test_operation_size_limits_name_the_field(world, lead):
    image = make_ingested(world.image)
    url = f"/api/images/{image.pk}/operations/"
    cases = [
        ({"type": "stroke", "mode": "keep", "points": [[1, 1]] * 20_001, "radius": 3, "hardness": 1}, "points"),
        ({"type": "path", "d": "M0 0 " + "L1 1 " * 220_000, "mode": "add", "fill_rule": "evenodd"}, "d"),
        ({"type": "stroke", "mode": "keep", "points": [[1e12, 1]], "radius": 3, "hardness": 1}, "points"),
        ({"type": "stroke", "mode": "keep", "points": [[1, 1]], "radius": 1e6, "hardness": 1}, "radius"),
    ]
    for i, (op, field) in enumerate(cases):
        r = lead.post(url, {"kind": "op", "client_id": f"c{i}", "op": op}, content_type="application/json")
        assert r.status_code == 400, (field, r.status_code)
        assert field in r.json()["error"], (field, r.json())
    assert Operation.objects.filter(image=image).count() == 0


@pytest.mark.django_db(transaction=True)
async def test_edits_refused_by_the_rate_limit_are_named_and_not_stored(world, settings, monkeypatch):
    """A burst of edits beyond the socket's rate: every edit is either acknowledged (and stored)
    or refused with an error that names its client_id, so the page knows which to send again."""
    from channels.layers import channel_layers

    from tests.realtime.conftest import open_socket, stroke

    from reviews import consumers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends = {}
    # a slow bucket (0.5 msg/s, burst 12) makes the outcome independent of this machine's speed
    monkeypatch.setattr(consumers, "RATE_PER_S", 0.5)
    monkeypatch.setattr(consumers, "BURST", 12.0)
    image = await sync_to_async(make_ingested)(world.image)
    a = await open_socket(world.users["retoucher1"], image.pk)  # hello took one token
    sent = [f"burst-{i}" for i in range(30)]
    for cid in sent:
        await a.send({"type": "op", "client_id": cid, "op": stroke(5 + len(cid) % 50, 5)})
    await a.quiet(1.0)
    acked = {f["client_id"] for f in a.frames if f["type"] == "ack"}
    refused = [f for f in a.frames if f["type"] == "error" and f.get("client_id", "").startswith("burst-")]
    assert all("too many" in f["message"] for f in a.frames if f["type"] == "error")
    assert 10 <= len(acked) <= 14, len(acked)
    stored = set(await sync_to_async(lambda: list(Operation.objects.filter(image=image).values_list("client_id", flat=True)))())
    assert stored == acked
    named = {f["client_id"] for f in refused}
    assert len(acked) + len(named) == len(sent), "a refused edit's error must carry its client_id"
    assert named == set(sent) - acked
    await a.close()


@pytest.mark.django_db
def test_http_edit_api_is_rate_limited_like_the_socket(world, lead, monkeypatch):
    """Beyond the burst, edits over HTTP get 429 with Retry-After and are not stored; the count
    is per person (another person still gets through) and a new window lets the person in again."""
    from django.core.cache import caches

    from reviews import throttle

    caches["default"].clear()
    monkeypatch.setattr(throttle, "EDIT_RATE_PER_S", 0.5)
    monkeypatch.setattr(throttle, "EDIT_BURST", 12.0)  # a 24 s window
    now = [1_000_008.0]  # inside one window (a multiple of 24 s starts at 1 000 008)
    monkeypatch.setattr(throttle, "_clock", lambda: now[0])
    image = make_ingested(world.image)
    url = f"/api/images/{image.pk}/operations/"

    def post(client, cid):
        op = {"type": "stroke", "mode": "keep", "points": [[5, 5], [9, 6]], "radius": 3, "hardness": 1}
        return client.post(url, {"kind": "op", "client_id": cid, "op": op}, content_type="application/json")

    answers = {f"h{i}": post(lead, f"h{i}") for i in range(20)}
    accepted = {cid for cid, r in answers.items() if r.status_code == 201}
    refused = {cid: r for cid, r in answers.items() if r.status_code != 201}
    assert len(accepted) == 12
    assert all(r.status_code == 429 and "too many" in r.json()["error"] and int(r["Retry-After"]) == 24
               for r in refused.values())
    stored = set(Operation.objects.filter(image=image).values_list("client_id", flat=True))
    assert stored == accepted

    from django.test import Client

    other = Client()
    other.force_login(world.users["retoucher1"])
    assert post(other, "other-1").status_code == 201, "the limit is per person"
    now[0] += 24.0
    assert post(lead, "h-next-window").status_code == 201
