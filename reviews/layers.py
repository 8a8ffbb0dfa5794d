"""The Redis channel layer: channels_redis' pub/sub layer, which also tells this process's sockets
when frames may have been missed.

Why pub/sub. channels_redis' list-based ``RedisChannelLayer`` stores every frame once per
recipient socket, and each process pops them one Redis round trip at a time. With 50 reviewers
(``make loadtest``) that queue fell seconds behind and then dropped frames at its capacity: edit to
the others median 1.7 s, p95 4.5 s, over half the cursor moves never delivered, thousands of op
frames fetched again by clients that saw a gap. Pub/sub publishes a group's frame once; Redis
pushes it once to each process, which hands it to its sockets in memory (same test: 63 ms median,
nothing dropped, a third less CPU in the daphnes).

What it gives up: pub/sub keeps nothing. A frame published while this process is not connected
to Redis (a restart, a network cut) is gone, and nothing else would tell the clients. So when the
connection comes back (redis-py re-subscribes every channel and group by itself), every socket of
this process gets a ``layer.resync`` event; the consumer closes it with 4503 and the client, as
after any dropped connection, reconnects and resumes from its last seq. The log in the database
is the truth: an acknowledged edit is never lost, only its live delivery is replaced by the resume.
"""
from __future__ import annotations

import asyncio
import logging

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

RESYNC = {"type": "layer.resync"}
# Redis could not be reached while sending a frame (group_send, group_add, new channel): the socket
# is told to try again later; what was stored in the database stays stored.
LAYER_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError)
RETRY_AFTER_ERROR = 0.5  # s between attempts to read from a Redis that went away


class _ResyncingShard(RedisSingleShardConnection):
    """The library's connection to one Redis, with a receive loop that notices lost frames."""

    async def _do_receiving(self):
        missed = False  # the connection broke since the last successful read
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    # reconnects and re-subscribes first if the connection was lost
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    if missed:
                        missed = False
                        self.channel_layer.resync_local_channels()
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any failure of Redis
                if not missed:
                    log.warning("lost the channel layer's Redis connection (%s); frames may be missed, "
                                "sockets will resume when it is back", exc)
                missed = True
                await asyncio.sleep(RETRY_AFTER_ERROR)


class _ResyncingLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._shards = [_ResyncingShard(shard.host, self) for shard in self._shards]

    def resync_local_channels(self) -> None:
        """Give every channel of this process (one per socket) a ``layer.resync`` event."""
        data = self.channel_layer.serialize(RESYNC)
        queues = list(self.channels.values())
        for queue in queues:
            queue.put_nowait(data)
        log.warning("channel layer reconnected to Redis: %d sockets asked to resume", len(queues))


class ResyncingPubSubChannelLayer(RedisPubSubChannelLayer):
    """``channels_redis.pubsub.RedisPubSubChannelLayer`` that sends ``layer.resync`` to every
    local channel after its Redis connection came back (see the module docstring)."""

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _ResyncingLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer
