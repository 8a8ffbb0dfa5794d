"""Redis restarted and PostgreSQL unreachable for a moment, under two daphnes with live editors.

The Redis is this test's own (a spare loopback port, no persistence: a restart loses every group
membership and queued message). PostgreSQL sits behind a TCP proxy the test cuts and restores.
(Redis carries the channel layer: pub/sub, which keeps nothing, so after a restart each server
asks its sockets to resume; see reviews/layers.py.) What must hold: the failure is clean (an error, a closed socket, a 5xx — never a hang or a wrong
answer), the app recovers by itself, and no acknowledged edit is lost.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from benchmarks.harness import http
from benchmarks.wsclient import stroke
from reviews.layers import RETRY_AFTER_ERROR
from tests.scale.checks import assert_log_consistent, assert_renders_identical

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("scale")]

W, H = 320, 240


async def wait_for(pred, timeout: float, what: str):
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, f"{what} not within {timeout} s"
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_redis_restart_app_recovers_by_itself(stack, db_of, reviewers):
    world = stack.seed(reviewers=2, images=1, size=f"{W}x{H}")
    d1, d2 = stack.daphnes(2)
    image, s = world["images"][0], world["sessions"]
    a = reviewers("a", s["s-lead0"], image, [d1.ws])
    b = reviewers("b", s["s-lead1"], image, [d2.ws])
    await asyncio.gather(a.connect(), b.connect())
    before = [await a.edit(stroke(i, W, H)) for i in range(5)]
    await b.wait_for_seq(before[-1])

    stack.redis.stop()  # every group membership and queued frame is gone with it
    during = asyncio.create_task(a.edit(stroke(99, W, H), timeout=40))  # sent while Redis is down
    await asyncio.sleep(1.5)
    assert not during.done() or during.exception() is None, "an edit failed for good while Redis was down"
    stack.redis.start()

    seq = await asyncio.wait_for(during, 40)  # re-sent on reconnect, stored once
    after = [await a.edit(stroke(200 + i, W, H)) for i in range(3)]
    await wait_for(lambda: after[-1] in b.frames, 20, "the edits made after the restart, on the other server")
    # pub/sub kept nothing while Redis was away, so each server asked its sockets to resume
    await wait_for(lambda: a.reconnects >= 1 and b.reconnects >= 1, 20, "both sockets resuming")
    await asyncio.sleep(2 * RETRY_AFTER_ERROR + 0.5)  # a server still reconnecting to Redis has done so
    await wait_for(lambda: a.connected.is_set() and b.connected.is_set(), 20, "both sockets open again")
    # the proof of recovery: a live broadcast from d1 reaches b on d2 again, no resume needed
    renewed = (a.reconnects, b.reconnects)
    live = await a.edit(stroke(300, W, H))
    # (the sender gets its own op frame through the broadcast too, a moment after the ack)
    await wait_for(lambda: live in b.frames and a.last_seq() >= live, 10,
                   "a live broadcast across servers, and back to its sender, after the restart")
    assert (a.reconnects, b.reconnects) == renewed, "the live path is back: no further resume"
    after.append(live)
    db = db_of(stack)
    await b.wait_for_seq(after[-1])
    rows = assert_log_consistent(db, image, [a, b])
    assert [r[0] for r in rows] == list(range(1, after[-1] + 1)) and seq in a.acks.values()
    assert_renders_identical(stack, db, image, [a, b], [d1, d2], s["s-lead0"])


@pytest.mark.slow
async def test_postgres_unreachable_fails_cleanly_then_succeeds(stack, db_of, reviewers):
    proxy = stack.proxy(5432)
    world = stack.seed(reviewers=2, images=1, size=f"{W}x{H}")
    d1, d2 = stack.daphnes(2, db_port=proxy.port)
    image, s = world["images"][0], world["sessions"]
    history = f"{d1.http}/images/{image}/history.json"
    a = reviewers("a", s["s-lead0"], image, [d1.ws, d2.ws], reconnect_timeout=40)
    b = reviewers("b", s["s-lead1"], image, [d2.ws, d1.ws], reconnect_timeout=40)
    await asyncio.gather(a.connect(), b.connect())
    for i in range(5):
        await a.edit(stroke(i, W, H))
    assert http("GET", history, s["s-lead0"])[0] == 200

    proxy.cut()
    t0 = time.monotonic()
    status, _, body = await asyncio.to_thread(http, "GET", history, s["s-lead0"], None, None, 20)
    took = time.monotonic() - t0
    assert status >= 500 and took < 10, (status, took)  # an error page, quickly — not a hang
    assert b"Traceback" not in body and b"psycopg" not in body.lower(), "internals leaked into the error page"
    login = await asyncio.to_thread(http, "GET", f"{d2.http}/login/", None)
    assert login[0] >= 500 or login[0] == 200  # a page without the database may still render
    during = asyncio.create_task(a.edit(stroke(50, W, H), timeout=60))
    # the socket says so (a "try again" error frame, then a clean close) instead of the consumer
    # dying, once the connection pool gives up waiting for a connection (DB_POOL_TIMEOUT, 5 s)
    await wait_for(lambda: a.retry_errors >= 1, 15, "a 'try again' error frame")
    assert not during.done(), "an edit was acknowledged while the database was unreachable"
    assert proxy.refused > 0, "nothing even tried the database"

    proxy.restore()
    seq = await asyncio.wait_for(during, 60)  # retried with the same client_id after the outage
    after = [await b.edit(stroke(300 + i, W, H)) for i in range(3)]
    assert seq < after[0]
    status, _, _ = http("GET", history, s["s-lead0"])
    assert status == 200
    db = db_of(stack)
    await asyncio.gather(a.wait_for_seq(after[-1]), b.wait_for_seq(after[-1]))
    rows = assert_log_consistent(db, image, [a, b])
    assert len(rows) == 5 + 1 + 3
    for server in (d1, d2):
        assert "Exception inside application" not in server.proc.tail(500_000), server.proc.tail()
    assert_renders_identical(stack, db, image, [a, b], [d1, d2], s["s-lead1"])
