"""Back-pressure found by the load test (benchmarks.loadtest): under load a newcomer's channel can
be full (channels_redis holds 100 messages per channel). The existing member answering the
newcomer's "join" with "here" must not die of it — before the fix every such answer raised
ChannelFull inside the member's consumer and closed that member's socket (19 reconnects in a
20 s run with 50 reviewers)."""
from __future__ import annotations

import json

from channels.exceptions import ChannelFull

from reviews.consumers import ImageConsumer


class FullLayer:
    async def send(self, channel, message):
        raise ChannelFull()


async def test_presence_reply_to_a_full_channel_is_dropped_not_fatal():
    consumer = ImageConsumer()
    consumer.conn, consumer.me = "c1", {"id": 1, "name": "A"}
    consumer.channel_layer = FullLayer()
    sent = []

    async def send(text_data=None, bytes_data=None, close=False):
        sent.append(json.loads(text_data))

    consumer.send = send
    join = {"type": "presence", "event": "join", "conn": "c2", "user": {"id": 2, "name": "B"}}
    await consumer.relay({"type": "relay", "text": json.dumps(join), "skip": "c2", "reply_to": "newcomer!abc"})
    assert sent == [join]  # the member still got the join, and is still alive to get the next frame
    await consumer.relay({"type": "relay", "text": json.dumps({"type": "cursor"}), "skip": None, "reply_to": None})
    assert len(sent) == 2
