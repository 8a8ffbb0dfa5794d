"""Fixtures for the websocket protocol tests: a fresh channel layer, communicators as users."""
from __future__ import annotations

import asyncio
import json

import pytest
from channels.layers import channel_layers
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from reviews.routing import websocket_urlpatterns


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test gets its own in-memory layer: no group members left over from another test."""
    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


class Client:
    """One browser tab on an image's socket, as the protocol sees it."""

    def __init__(self, comm: WebsocketCommunicator):
        self.comm = comm
        self.frames: list[dict] = []

    async def send(self, msg) -> None:
        await self.comm.send_to(text_data=msg if isinstance(msg, str) else json.dumps(msg))

    async def next(self, timeout: float = 5.0) -> dict:
        frame = json.loads(await self.comm.receive_from(timeout=timeout))
        self.frames.append(frame)
        return frame

    async def until(self, pred, timeout: float = 5.0) -> dict:
        """Read frames until one matches ``pred``; returns it (all read frames stay in .frames)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            frame = await self.next(max(0.05, end - loop.time()))
            if pred(frame):
                return frame

    async def of_type(self, kind: str, timeout: float = 5.0) -> dict:
        return await self.until(lambda f: f["type"] == kind, timeout)

    async def quiet(self, timeout: float = 0.3) -> list[dict]:
        """Everything that arrives until ``timeout`` seconds pass in silence. (receive_nothing,
        unlike a timed-out receive, leaves the application running.)"""
        got = []
        while not await self.comm.receive_nothing(timeout):
            got.append(await self.next())
        return got

    def ops(self) -> list[dict]:
        return [f for f in self.frames if f["type"] == "op"]

    async def close(self) -> None:
        await self.comm.disconnect()


async def open_socket(user, image_id: int, hello: bool = True, last_seq: int = 0) -> Client:
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/images/{image_id}/")
    comm.scope["user"] = user
    connected, _ = await comm.connect()
    assert connected
    client = Client(comm)
    first = await client.next()
    if first["type"] == "welcome" and hello:
        await client.send({"type": "hello", "last_seq": last_seq})
        await client.of_type("synced")
    return client


def stroke(x, y, mode="keep", radius=3.0, n=4):
    return {"type": "stroke", "mode": mode, "points": [[x + i * 2.0, y + i] for i in range(n)],
            "radius": radius, "hardness": 1.0, "opacity": 1.0}
