"""Upload → ingest (Celery worker) → assign → edit (concurrent, broadcast over Redis) → approve →
export, against real PostgreSQL, Redis, RabbitMQ and worker processes; exported files checked."""
from __future__ import annotations

import asyncio
import csv
import http.cookiejar
import io
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile

import numpy as np
import psycopg
import pytest

from tests.asyncrun import run_async

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Browser:
    """A signed-in person: cookies, CSRF, no redirects followed."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)

    def request(self, method, path, data=None, headers=None, timeout=30):
        headers = dict(headers or {})
        if method != "GET" and self.cookie("csrftoken"):
            headers["X-CSRFToken"] = self.cookie("csrftoken")
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()

    def login(self, username, password):
        status, _, body = self.request("GET", "/login/")
        assert status == 200
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
        form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
        status, headers, _ = self.request("POST", "/login/", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 302 and "/login/" not in headers["Location"], "log-in failed"
        return self

    def form(self, path, fields: dict):
        return self.request("POST", path, urllib.parse.urlencode(fields).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})

    def json(self, method, path, body=None):
        status, _, data = self.request(method, path, None if body is None else json.dumps(body).encode(),
                                       {"Content-Type": "application/json", "Accept": "application/json"})
        return status, (json.loads(data) if data and data[:1] in b"{[" else data)

    def upload(self, path, files):
        boundary = uuid.uuid4().hex
        parts = []
        for name, data in files:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                         f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request("POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}",
                                                 "Accept": "application/json"}, timeout=120)



def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def photos():
    from masks import synth
    from masks.imageio import encode_png
    from tests.conftest import jpeg_bytes

    ring = synth.generate("ring", 5, size=(320, 240), backdrop="white")
    ai, _ = synth.degrade(ring.image, ring.alpha, 5)
    chain = synth.generate("chain", 6, size=(320, 240), backdrop="lightgrey")
    jpg = jpeg_bytes(chain.image)
    return [("ring-a.jpg", jpeg_bytes(ring.image)), ("ring-a.cutout.png", encode_png(ai)),
            ("chain-b.jpg", jpg), ("broken.jpg", jpg[: len(jpg) // 2])]


def test_upload_ingest_assign_edit_approve_export(live):
    from benchmarks.wsclient import Reviewer
    from masks.clippath import read_paths
    from masks.imageio import decode_png, load_image
    from masks.trace import rasterize

    stack, server = live
    world = json.loads(stack.python("-m", "tests.integration.world").strip().splitlines()[-1])
    cid, users, pw = world["collection"], world["users"], world["password"]
    lead = Browser(server.http).login("lead", pw)
    retoucher = Browser(server.http).login("retoucher", pw)
    client = Browser(server.http).login("client", pw)

    # upload: two photos (one with its AI cutout), one truncated file that is refused
    status, _, body = lead.upload(f"/collections/{cid}/upload/", photos())
    result = json.loads(body)
    assert status == 200, result
    assert sorted(i["name"] for i in result["created"]) == ["chain-b.jpg", "ring-a.jpg"]
    assert [r["file"] for r in result["refused"]] == ["broken.jpg"] and "trunc" in result["refused"][0]["reason"].lower()
    ids = {i["name"]: i["id"] for i in result["created"]}

    # ingest runs in the worker process; progress is visible until both are ready
    def ingested():
        _, progress = lead.json("GET", f"/collections/{cid}/progress.json")
        return progress if progress["ingested"] == 2 else None
    progress = wait(ingested, 180, "ingest in the Celery worker")
    states = {i["name"]: (i["state"], i["error"]) for i in progress["images"]}
    assert states == {"ring-a.jpg": ("ready_for_retouch", ""), "chain-b.jpg": ("ready_for_retouch", "")}
    image = ids["ring-a.jpg"]
    assert lead.request("GET", f"/images/{image}/tiles/original.dzi")[0] == 200
    assert client.request("GET", f"/images/{image}/")[0] in (403, 404)  # not sent to the client yet

    # assign, then edits from two people at once, seen live by an editor over channels_redis
    assert lead.form(f"/images/{image}/assign/", {"assignee": users["retoucher"]})[0] == 200
    watcher = Reviewer("lead", lead.cookie("sessionid"), image, [server.ws])

    async def watch_and_edit():
        await watcher.connect(timeout=20)
        errors, seqs = [], []

        def edit(who, i):
            x, y = 10 + (i % 6) * 40, 10 + (i // 6) * 60
            op = {"type": "path", "d": f"M{x} {y}H{x + 30}V{y + 30}H{x}Z", "mode": "add", "fill_rule": "nonzero"}
            s, data = who.json("POST", f"/api/images/{image}/operations/", {"kind": "op", "client_id": f"c{i}", "op": op})
            (seqs if s == 201 else errors).append(data["seq"] if s == 201 else data)

        threads = [threading.Thread(target=edit, args=(retoucher if i % 3 else lead, i)) for i in range(12)]
        await asyncio.to_thread(lambda: [t.start() for t in threads] and [t.join() for t in threads])
        await watcher.wait_for_seq(12, timeout=20)
        await watcher.close()
        return errors, seqs

    errors, seqs = run_async(watch_and_edit)
    assert not errors and sorted(seqs) == list(range(1, 13))  # numbered once each, no gaps, no clashes
    assert sorted(watcher.frames) == list(range(1, 13))
    s, again = retoucher.json("POST", f"/api/images/{image}/operations/",
                              {"kind": "op", "client_id": "c1", "op": {"type": "path", "d": "M0 0H5V5H0Z", "mode": "add", "fill_rule": "nonzero"}})
    assert s == 201 and again["seq"] in seqs  # a retry is stored once

    # workflow: submit → send to client → approve (revision 12)
    for who, step in ((retoucher, "submit"), (lead, "send_to_client"), (client, "approve")):
        status, data = who.json("POST", f"/images/{image}/{step}/", {})
        assert status == 200, (step, data)
    assert data["state"] == "approved"
    approved_mask = decode_png(client.request("GET", f"/images/{image}/revisions/12/mask.png")[2])
    # an edit after approval: the approval goes stale, the export still has revision 12
    s, late = lead.json("POST", f"/api/images/{image}/operations/",
                        {"kind": "op", "client_id": "late", "op": {"type": "path", "d": "M200 150H300V230H200Z", "mode": "subtract", "fill_rule": "nonzero"}})
    assert s == 201 and late["seq"] == 13
    assert b"stale" in lead.request("GET", f"/images/{image}/")[2]

    status, _, body = lead.form(f"/collections/{cid}/exports/", {"background": "#203040"})
    export = json.loads(body)
    assert status == 202

    def built():
        _, st = lead.json("GET", f"/exports/{export['id']}/")
        return st if st["status"] != "pending" else None
    st = wait(built, 120, "the export in the Celery worker")
    assert st["status"] == "done", st
    status, headers, archive = lead.request("GET", st["url"])
    assert status == 200 and headers["Content-Type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(archive))
    assert set(zf.namelist()) == {"ring-a.png", "ring-a.jpg", "ring-a.tif", "ring-a.svg", "manifest.csv"}
    png = load_image(zf.read("ring-a.png"))
    assert np.array_equal(png.alpha, approved_mask)
    head_mask = decode_png(lead.request("GET", f"/images/{image}/revisions/13/mask.png")[2])
    assert not np.array_equal(png.alpha, head_mask)
    for name in ("ring-a.jpg", "ring-a.tif"):
        paths = [p for p in read_paths(zf.read(name)) if p.clipping]
        assert paths, f"{name} has no clipping path"
        clip = rasterize(paths[0].d, 320, 240)
        assert np.mean((clip >= 128) != (approved_mask >= 128)) < 0.02
    assert "<svg" in zf.read("ring-a.svg").decode()
    [row] = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
    assert (row["approved_revision"], row["head_revision"], row["approval_stale"], row["approved_by"]) == ("12", "13", "yes", "client")

    # the audit trail, straight from PostgreSQL
    with psycopg.connect(stack.db.url(), autocommit=True) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM reviews_auditevent WHERE image_id = %s ORDER BY id", (image,))]
        assert actions == ["ingested", "assign", "submit", "send_to_client", "approve"]
        assert conn.execute("SELECT count(*) FROM reviews_auditevent WHERE action = 'exported'").fetchone()[0] == 1
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute("DELETE FROM reviews_auditevent")
        seq_rows = conn.execute("SELECT seq FROM reviews_operation WHERE image_id = %s ORDER BY seq", (image,)).fetchall()
        assert [r[0] for r in seq_rows] == list(range(1, 14))
