"""reviews.layers on a private Redis: frames reach every process once, and after a Redis restart
(pub/sub keeps nothing) every local channel is told to resume, then live delivery works again."""
from __future__ import annotations

import asyncio

import pytest

from benchmarks.harness import RedisServer
from reviews.layers import LAYER_UNAVAILABLE, RESYNC, ResyncingPubSubChannelLayer
from tests.scale.conftest import _require_stack

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("scale")]


@pytest.fixture
def redis_server(tmp_path):
    _require_stack()
    server = RedisServer(tmp_path)
    yield server
    server.stop()


async def _next(layer, channel, timeout: float = 10.0) -> dict:
    return await asyncio.wait_for(layer.receive(channel), timeout)


async def test_group_frames_cross_processes_and_resume_after_a_redis_restart(redis_server):
    hosts = [f"{redis_server.url}/0"]
    here, there = ResyncingPubSubChannelLayer(hosts=hosts), ResyncingPubSubChannelLayer(hosts=hosts)  # two daphnes
    a, b = await here.new_channel(), await there.new_channel()
    await here.group_add("image-1", a)
    await there.group_add("image-1", b)
    try:
        await here.group_send("image-1", {"type": "relay", "text": "one"})
        assert (await _next(here, a))["text"] == "one" and (await _next(there, b))["text"] == "one"

        redis_server.stop()
        with pytest.raises(LAYER_UNAVAILABLE):  # the consumer turns this into "try again later"
            await here.group_send("image-1", {"type": "relay", "text": "lost"})
        await asyncio.sleep(0.3)  # both receive loops notice the dead connection
        redis_server.start()

        # whatever was published meanwhile is gone, so each side is told to resume
        assert await _next(here, a) == RESYNC
        assert await _next(there, b) == RESYNC
        await here.group_send("image-1", {"type": "relay", "text": "two"})  # and the live path is back
        assert (await _next(there, b))["text"] == "two" and (await _next(here, a))["text"] == "two"
    finally:
        await here.flush()
        await there.flush()
