"""An asyncio editor client speaking the /ws/images/<id>/ protocol (DESIGN.md, Real time), with
the page's reconnect rules, for the scale tests and the load test.

A :class:`Reviewer` keeps every op frame it has seen by ``seq`` and every acknowledgement by
``client_id``. When its socket drops it reconnects (to the next server in its list, so a dead
daphne is skipped), says ``hello`` with the last sequence number it has, and sends again every
edit that was not acknowledged, with the same ``client_id`` — the server stores each edit once.
All waits are bounded (seconds).
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

_ids = itertools.count(1)


class EditError(RuntimeError):
    """The server refused an edit with an ``error`` frame (message inside)."""


class Reviewer:
    def __init__(self, name: str, session: str, image_id: int, servers: list[str], *,
                 on_frame=None, reconnect_timeout: float = 20.0):
        self.name, self.session, self.image_id = name, session, image_id
        self.servers = list(servers)  # ws://127.0.0.1:port bases
        self.server = 0
        self.on_frame = on_frame  # callback(reviewer, frame) for measurements
        self.reconnect_timeout = reconnect_timeout
        self.frames: dict[int, dict] = {}  # seq -> op frame, from anyone
        self.acks: dict[str, int] = {}  # client_id -> seq
        self.pending: dict[str, dict] = {}  # client_id -> message sent and not yet acknowledged
        self.waiters: dict[str, asyncio.Future] = {}
        self.errors: list[dict] = []
        self.other: list[dict] = []  # presence, cursor, render_ready … (last few only)
        self.counts: dict[str, int] = {}
        self.ws = None
        self.connected = asyncio.Event()
        self.synced = asyncio.Event()
        self.welcome: dict | None = None
        self.reconnects = 0
        self.retry_errors = 0  # "try again" error frames (the server's database was unreachable)
        self.closing = False
        self._reader: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._contig = 0
        self._gap_task: asyncio.Task | None = None

    # ------------------------------------------------------------------ connection
    @property
    def url(self) -> str:
        return f"{self.servers[self.server]}/ws/images/{self.image_id}/"

    def last_seq(self) -> int:
        """The highest n such that this client has every op frame 1..n."""
        while self._contig + 1 in self.frames:
            self._contig += 1
        return self._contig

    async def _fill_gap(self) -> None:
        # as the page does: a frame overtook (or a slow socket lost) earlier ones; if the gap is
        # still there shortly after, ask the server for everything after the last contiguous seq
        await asyncio.sleep(0.3)
        self._gap_task = None
        if max(self.frames, default=0) > self.last_seq():
            await self._send({"type": "hello", "last_seq": self.last_seq()})

    async def connect(self, timeout: float | None = None) -> None:
        """Connect (trying each server in turn until ``timeout`` s), hello, resend pending."""
        async with self._lock:
            if self.ws is not None and self.connected.is_set():
                return
            deadline = time.monotonic() + (timeout or self.reconnect_timeout)
            last_exc = None
            for attempt in itertools.count():
                if time.monotonic() > deadline:
                    raise ConnectionError(f"{self.name}: no server reachable within the timeout ({last_exc})")
                origin = self.servers[self.server].replace("ws://", "http://")
                try:
                    ws = await asyncio.wait_for(connect(
                        self.url, origin=origin, additional_headers={"Cookie": f"sessionid={self.session}"},
                        open_timeout=5, close_timeout=1, max_size=8 * 1024 * 1024, ping_interval=None,
                    ), timeout=6)
                    first = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
                except (OSError, InvalidHandshake, InvalidStatus, ConnectionClosed, asyncio.TimeoutError) as exc:
                    last_exc = exc
                    self.server = (self.server + 1) % len(self.servers)
                    await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
                    continue
                if first.get("type") == "error" and first.get("retry"):
                    # the server cannot reach its database for now: try again, as the page does
                    last_exc = ConnectionError(first.get("message"))
                    await ws.close()
                    await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))
                    continue
                if first.get("type") != "welcome":
                    await ws.close()
                    raise ConnectionError(f"{self.name}: refused: {first}")
                self.welcome = first
                break
            self.ws = ws
            self.synced.clear()
            self.connected.set()
            self._reader = asyncio.create_task(self._read(ws))
            await self._send({"type": "hello", "last_seq": self.last_seq()})
            for msg in list(self.pending.values()):  # the same client_id: stored at most once
                await self._send(msg)

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self._dispatch(frame)
        except ConnectionClosed:
            pass
        finally:
            if self.ws is ws:
                self.connected.clear()
                self.ws = None
                if not self.closing:
                    self.reconnects += 1
                    asyncio.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            await self.connect()
        except ConnectionError as exc:
            for fut in self.waiters.values():
                if not fut.done():
                    fut.set_exception(exc)

    def _dispatch(self, frame: dict) -> None:
        kind = frame.get("type")
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == "op":
            self.frames[frame["seq"]] = frame
            if frame["seq"] > self.last_seq() + 1 and self._gap_task is None and not self.closing:
                self._gap_task = asyncio.create_task(self._fill_gap())
        elif kind == "ack":
            cid = frame["client_id"]
            self.acks[cid] = frame["seq"]
            self.pending.pop(cid, None)
            fut = self.waiters.pop(cid, None)
            if fut is not None and not fut.done():
                fut.set_result(frame["seq"])
        elif kind == "error":
            self.errors.append(frame)
            if frame.get("retry"):
                self.retry_errors += 1  # the server closes this socket; pending edits are re-sent
            cid = frame.get("client_id")
            fut = self.waiters.pop(cid, None) if cid else None
            if cid:
                self.pending.pop(cid, None)
            if fut is not None and not fut.done():
                fut.set_exception(EditError(frame.get("message", "")))
        elif kind == "synced":
            self.synced.set()
        else:
            self.other.append(frame)
            del self.other[:-50]
        if self.on_frame is not None:
            self.on_frame(self, frame)

    async def _send(self, msg: dict) -> bool:
        ws = self.ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(msg))
            return True
        except ConnectionClosed:
            return False

    # ------------------------------------------------------------------ messages
    def new_client_id(self) -> str:
        return f"{self.name}-{next(_ids)}-{uuid.uuid4().hex[:6]}"

    async def edit(self, op: dict | None = None, kind: str = "op", client_id: str | None = None,
                   timeout: float = 30.0) -> int:
        """Send an edit and wait for its acknowledgement (surviving reconnects); its seq."""
        cid = client_id or self.new_client_id()
        msg = {"type": kind, "client_id": cid, "base_seq": self.last_seq()}
        if op is not None:
            msg["op"] = op
        fut = asyncio.get_running_loop().create_future()
        self.waiters[cid] = fut
        self.pending[cid] = msg
        await self._send(msg)  # if the socket is down, connect() sends it again
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.waiters.pop(cid, None)

    async def send(self, msg: dict) -> bool:
        """Fire-and-forget (cursor moves): dropped when the socket is down, like the page does."""
        return await self._send(msg)

    async def wait_for_seq(self, seq: int, timeout: float = 15.0) -> None:
        """Until this client has every op frame up to ``seq``."""
        deadline = time.monotonic() + timeout
        while self.last_seq() < seq:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} has frames up to {self.last_seq()}, wanted {seq}")
            if self.connected.is_set() and self.ws is not None:
                await self._send({"type": "hello", "last_seq": self.last_seq()})  # ask for what is missing
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        self.closing = True
        ws, self.ws = self.ws, None
        if ws is not None:
            await ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 2)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - closing anyway
                pass


def stroke(i: int, width: int, height: int, mode: str | None = None, points: int = 6) -> dict:
    """A small deterministic brush stroke inside the image (a few hundred bytes of JSON)."""
    x = 10 + (i * 37) % max(1, width - 20)
    y = 10 + (i * 53) % max(1, height - 20)
    pts = [[min(width - 1, x + k * 3), min(height - 1, y + (k % 3))] for k in range(points)]
    return {"type": "stroke", "mode": mode or ("keep" if i % 2 else "remove"), "points": pts,
            "radius": 3 + i % 5, "hardness": 0.5, "opacity": 1.0}
