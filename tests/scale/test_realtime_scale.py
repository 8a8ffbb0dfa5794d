"""Several daphne processes sharing one channels_redis layer and one PostgreSQL, with real
websocket clients: horizontal scale, concurrent editing, and a daphne killed mid-edit.

Every edit loop is bounded in count and time; all traffic is on 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from benchmarks.wsclient import Reviewer, stroke
from tests.scale.checks import assert_log_consistent, assert_renders_identical

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("scale")]

W, H = 320, 240


async def edit_loop(rv: Reviewer, n: int, pause: float = 0.0, seed: int = 0, deadline_s: float = 60.0) -> int:
    """``n`` edits, each awaited (acknowledged) before the next; bounded by ``deadline_s``."""
    end = time.monotonic() + deadline_s
    for i in range(n):
        if time.monotonic() > end:
            raise TimeoutError(f"{rv.name}: only {i} of {n} edits within {deadline_s} s")
        await rv.edit(stroke(seed + i, W, H))
        if pause:
            await asyncio.sleep(pause)
    return n


def two_servers(stack, **seed):
    world = stack.seed(reviewers=2, images=1, size=f"{W}x{H}", **seed)
    d1, d2 = stack.daphnes(2)
    return world, d1, d2


@pytest.mark.slow
async def test_two_daphnes_share_edits_cursors_and_converge_under_concurrent_bursts(stack, db_of, reviewers):
    """An edit through one daphne reaches a client on the other (and back); cursors cross too.
    Then both send a burst at the same instant (each under the per-socket rate limit): every
    acknowledged edit is stored once, both clients see one order and render identical masks."""
    world, d1, d2 = two_servers(stack)
    image = world["images"][0]
    s = world["sessions"]
    a = reviewers("a", s["s-lead0"], image, [d1.ws])
    b = reviewers("b", s["s-lead1"], image, [d2.ws])
    await asyncio.gather(a.connect(), b.connect())
    seq = await a.edit(stroke(1, W, H))
    await b.wait_for_seq(seq, timeout=10)
    assert b.frames[seq]["client_id"] in a.acks and b.frames[seq]["author"]["id"] == world["users"]["s-lead0"]
    seq2 = await b.edit(stroke(2, W, H))
    await a.wait_for_seq(seq2, timeout=10)
    assert a.frames[seq2]["author"]["id"] == world["users"]["s-lead1"]
    # cursors and presence cross servers too (they never touch the database)
    await a.send({"type": "cursor", "x": 12.5, "y": 30})
    end = time.monotonic() + 10
    while not any(f.get("type") == "cursor" and f.get("x") == 12.5 for f in b.other):
        assert time.monotonic() < end, "a's cursor never reached b on the other server"
        await asyncio.sleep(0.05)

    n = 60  # < the 80-message burst a socket is allowed
    await asyncio.wait_for(asyncio.gather(edit_loop(a, n, seed=0), edit_loop(b, n, seed=1000)), 90)
    assert len(a.acks) == len(b.acks) == n + 1
    head = 2 * n + 2
    await asyncio.gather(a.wait_for_seq(head), b.wait_for_seq(head))
    db = db_of(stack)
    rows = assert_log_consistent(db, image, [a, b])
    assert len(rows) == head
    assert {r[1] for r in rows} == {world["users"]["s-lead0"], world["users"]["s-lead1"]}
    assert_renders_identical(stack, db, image, [a, b], [d1, d2], s["s-lead1"])
    assert not a.errors and not b.errors, (a.errors, b.errors)


@pytest.mark.slow
async def test_daphne_killed_while_clients_edit_nothing_acknowledged_is_lost(stack, db_of, reviewers):
    """SIGKILL one of two daphnes in the middle of three clients' edit loops. Its clients
    reconnect to the other, say the last seq they have, re-send what was not acknowledged (same
    client_id) and carry on; at the end every acknowledged edit is stored exactly once."""
    world = stack.seed(reviewers=3, images=1, size=f"{W}x{H}")
    d1, d2 = stack.daphnes(2)
    image = world["images"][0]
    s = world["sessions"]
    a = reviewers("a", s["s-lead0"], image, [d1.ws, d2.ws])
    c = reviewers("c", s["s-lead2"], image, [d1.ws, d2.ws])
    b = reviewers("b", s["s-lead1"], image, [d2.ws, d1.ws])
    n = 40
    await asyncio.gather(a.connect(), b.connect(), c.connect())
    loops = asyncio.gather(edit_loop(a, n, 0.02, 0), edit_loop(b, n, 0.02, 500), edit_loop(c, n, 0.02, 900))
    end = time.monotonic() + 30
    while len(a.acks) < 12:  # kill it mid-stream, with edits in flight
        assert time.monotonic() < end
        await asyncio.sleep(0.01)
    d1.proc.kill()
    killed_at = {rv.name: len(rv.acks) for rv in (a, b, c)}
    await asyncio.wait_for(loops, 120)
    assert a.reconnects >= 1 and c.reconnects >= 1, "a and c were on the killed server"
    assert a.server == c.server == 1, "they resumed on the surviving daphne"
    assert all(len(rv.acks) == n for rv in (a, b, c))
    head = 3 * n
    await asyncio.gather(*(rv.wait_for_seq(head) for rv in (a, b, c)))
    db = db_of(stack)
    rows = assert_log_consistent(db, image, [a, b, c])
    assert len(rows) == head, f"{len(rows)} stored, {head} acknowledged (killed at {killed_at})"
    assert_renders_identical(stack, db, image, [a, b, c], [d2], s["s-lead1"])
