"""The websocket of one image: ``/ws/images/<id>/`` (protocol in ../shared/DESIGN.md).

Thin on purpose: each message is size- and rate-checked, then one call into
``reviews.services.realtime`` (policy + ``masklog``: one short transaction) and a broadcast to the
image's group. Then ``render_ready`` (the edit's dirty rectangle: fetch those tiles of the new
revision); the tiles render on the first request for them, a whole-frame change also in the
Celery task. Edits that arrive on an image meanwhile are announced together next
(``PostEditRenders``); each still gets its ``render_ready``.

Client → server: op, undo, redo, hello, cursor, comment, resolve.
Server → client: welcome, ack, op, synced, render_ready, presence, cursor, comment, error.
A refused message gets ``{"type": "error", "client_id"?, "message"}`` and changes nothing.

When the database cannot be reached (at connect or for any message) the socket gets
``{"type": "error", "retry": true, "message"}`` — without a client_id, so the client keeps the edit
in its outbox — and is then closed with code 4503 (try again later, cf. HTTP 503). The client reconnects with
back-off, says hello and sends its unacknowledged edits again with the same client_id; the log
stores each once. The consumer itself never dies of it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import weakref
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied

from masks.errors import MaskError
from reviews import throttle
from reviews.layers import LAYER_UNAVAILABLE
from reviews.services import realtime

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024  # an op is a few hundred bytes; a 5 000-point stroke fits
# messages per connection (cursor moves are sent at ≤ 20/s); the HTTP edit API allows the same
RATE_PER_S, BURST = throttle.EDIT_RATE_PER_S, throttle.EDIT_BURST
LAYER_UNAVAILABLE_MESSAGE = "the server cannot reach its message bus for a moment; reconnecting"
LAYER_RESYNC_MESSAGE = "the server's message bus was interrupted; reconnecting to catch up"
TRY_AGAIN_LATER = 4503  # close code: try again later (daphne only sends 1000 or 3000–4999; cf. HTTP 503)


def _client_id_of(text: str) -> str | None:
    try:
        msg = json.loads(text)
    except ValueError:
        return None
    cid = msg.get("client_id") if isinstance(msg, dict) else None
    return cid if isinstance(cid, str) else None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


# Where the consumers' database calls run. Channels' default is one thread per process for all
# of them; with PostgreSQL an edit's transaction waits ~10 ms for its commit (and more under
# load), so 25 editors on one process queued behind each other (acks > 1 s in the load test).
# With PostgreSQL they run in a pool of DB_THREADS threads, each taking a connection from the
# process's connection pool (settings: DB_POOL_SIZE) per call: commits overlap, and the order of edits is still the log's (the image row lock in
# masklog), and each socket's own messages are still handled one after another. SQLite keeps the
# one thread (one writer anyway; the tests' in-memory shared-cache database locks whole tables).
DB_THREADS = int(os.environ.get("JR_DB_THREADS", "8"))
_db_pool = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="jr-db")


def _pooled() -> bool:
    from django.conf import settings

    return "sqlite" not in settings.DATABASES["default"]["ENGINE"]


def db(fn):
    """``fn`` as a coroutine that runs it with database access (see above for which thread)."""
    pooled = database_sync_to_async(fn, thread_sensitive=False, executor=_db_pool)
    single = database_sync_to_async(fn)

    async def call(*args):
        return await (pooled if _pooled() else single)(*args)

    return call


class PostEditRenders:
    """The ``render_ready`` frames after edits: at most one look at the log per image in flight
    in this process; the edits that arrive meanwhile wait and then go as one burst (one query,
    the union of their dirty rectangles for the latest of them; see
    ``realtime.render_after_edits``, which also says why nothing is rendered then).

    One instance per event loop (see ``post_edit_renders``): its tasks belong to that loop."""

    def __init__(self):
        self.waiting: dict[int, set[int]] = {}
        self.announce: dict[int, object] = {}
        self.running: dict[int, asyncio.Task] = {}  # strong references: the loop keeps only weak ones

    def request(self, image_id: int, seq: int, announce) -> None:
        """Render edit ``seq`` soon; ``announce(frame)`` broadcasts its ``render_ready``."""
        self.waiting.setdefault(image_id, set()).add(seq)
        self.announce[image_id] = announce
        task = self.running.get(image_id)
        if task is None or task.done():  # a finished drain has already left its loop
            self.running[image_id] = asyncio.create_task(self.drain(image_id), name=f"render-{image_id}")

    async def drain(self, image_id: int) -> None:
        while self.waiting.get(image_id):
            seqs = sorted(self.waiting.pop(image_id))
            announce = self.announce[image_id]
            try:
                ready = await db(realtime.render_after_edits)(image_id, seqs)
            except Exception:  # must not take a socket down; tiles render on request anyway
                log.exception("render_ready of image %s seqs %s failed", image_id, seqs)
                continue
            for seq, rect in ready:
                await announce({"type": "render_ready", "seq": seq, "rect": list(rect)})
        self.announce.pop(image_id, None)
        self.running.pop(image_id, None)


_post_edit_renders: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PostEditRenders]" = weakref.WeakKeyDictionary()


def post_edit_renders() -> PostEditRenders:
    """The running loop's ``PostEditRenders`` (tests run one loop per test; daphne one in all)."""
    loop = asyncio.get_running_loop()
    if loop not in _post_edit_renders:
        _post_edit_renders[loop] = PostEditRenders()
    return _post_edit_renders[loop]


class ImageConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.group = None  # set once the person may see the image; kept after disconnect so
        self.joined = False  # a render that finishes later still reaches the others
        self.conn = secrets.token_hex(6)
        self.user = self.scope.get("user")
        self.limiter = realtime.RateLimiter(RATE_PER_S, BURST)
        self.closing = False  # closed by us (database unreachable): ignore what is still in flight
        await self.accept()
        if self.scope.get("database_unavailable"):  # the session could not even be read
            return await self.database_unavailable()
        try:
            self.image_id = int(self.scope["url_route"]["kwargs"]["image_id"])
            hello = await db(self._open)()
        except (PermissionDenied, ValueError) as exc:
            await self.send_frame({"type": "error", "message": str(exc) or "not allowed"})
            await self.close(code=4403)
            return
        except realtime.DATABASE_UNAVAILABLE:
            return await self.database_unavailable()
        self.group = realtime.group_name(self.image_id)
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
            self.joined = True
            await self.send_frame(hello)
            await self.broadcast({"type": "presence", "event": "join", "conn": self.conn, "user": hello["me"]},
                                 skip=self.conn, reply_to=self.channel_name)
        except LAYER_UNAVAILABLE:
            await self.try_again_later(LAYER_UNAVAILABLE_MESSAGE)

    def _open(self) -> dict:
        image = realtime.load_image(self.user, self.image_id)
        self.size = (image.width, image.height)
        self.me = realtime.person(self.user)
        return {**realtime.welcome(self.user, image), "conn": self.conn}

    async def disconnect(self, code):
        if self.joined:
            self.joined = False
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
                await self.broadcast({"type": "presence", "event": "leave", "conn": self.conn, "user": self.me},
                                     skip=self.conn)
            except LAYER_UNAVAILABLE:  # Redis is away: the others' sockets resume and re-learn presence
                log.warning("image %s: leave of socket %s not announced (channel layer unreachable)",
                            self.image_id, self.conn)

    # ------------------------------------------------------------------ incoming
    async def receive(self, text_data=None, bytes_data=None):
        if not self.joined or self.closing:
            return  # refused at connect, or closing; the client re-sends after reconnecting
        if text_data is None:
            return await self.error("binary frames are not accepted; send JSON text")
        if len(text_data) > MAX_MESSAGE_BYTES:
            return await self.error(f"message too large ({len(text_data)} bytes, at most {MAX_MESSAGE_BYTES})")
        if not self.limiter.allow():
            # name the refused edit, so the page knows which one to send again
            return await self.error("too many messages: slow down", _client_id_of(text_data))
        try:
            msg = json.loads(text_data, parse_constant=_reject_constant)
        except ValueError as exc:
            return await self.error(f"malformed JSON: {exc}")
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            return await self.error('a message is a JSON object with a "type"')
        client_id = msg.get("client_id")
        if not isinstance(client_id, str) or not 0 < len(client_id) <= 64:
            client_id = None  # only a well-formed id is echoed back
        handler = self.HANDLERS.get(msg["type"])
        if handler is None:
            return await self.error(f"unknown message type {msg['type'][:40]!r}", client_id)
        try:
            await handler(self, msg)
        except (realtime.EditRefused, MaskError, PermissionDenied) as exc:
            await self.error(str(exc) or "not allowed", client_id)
        except realtime.DATABASE_UNAVAILABLE:
            await self.database_unavailable()
        except LAYER_UNAVAILABLE:  # stored edits stay stored; the resume delivers them
            await self.try_again_later(LAYER_UNAVAILABLE_MESSAGE)

    async def on_edit(self, msg):
        kind = msg["type"]
        frame, fresh = await db(realtime.record_edit)(
            self.user, self.image_id, kind, msg.get("op"), msg.get("client_id")
        )
        await self.send_frame({"type": "ack", "client_id": frame["client_id"], "seq": frame["seq"]})
        if fresh:
            await self.broadcast(frame)
        else:  # a retry after a dropped connection: the others already have it
            await self.send_frame(frame)
        post_edit_renders().request(self.image_id, frame["seq"], self.broadcast)

    async def on_hello(self, msg):
        frames, head = await db(realtime.missed_frames)(
            self.user, self.image_id, msg.get("last_seq", 0)
        )
        for frame in frames:
            await self.send_frame(frame)
        await self.send_frame({"type": "synced", "head_seq": head, "count": len(frames)})

    async def on_cursor(self, msg):
        frame = realtime.cursor_frame(self.user, self.conn, msg, self.size)
        await self.broadcast(frame, skip=self.conn)

    async def on_comment(self, msg):
        frame = await db(realtime.add_comment)(self.user, self.image_id, msg)
        await self.broadcast({**frame, "client_id": msg.get("client_id")})

    async def on_resolve(self, msg):
        frame = await db(realtime.resolve_comment)(self.user, self.image_id, msg)
        await self.broadcast(frame)

    HANDLERS = {
        "op": on_edit, "undo": on_edit, "redo": on_edit, "hello": on_hello, "cursor": on_cursor,
        "comment": on_comment, "resolve": on_resolve,
    }

    # ------------------------------------------------------------------ outgoing
    async def send_frame(self, frame: dict):
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def error(self, message: str, client_id: str | None = None):
        frame = {"type": "error", "message": message}
        if client_id is not None:
            frame["client_id"] = client_id
        await self.send_frame(frame)

    async def database_unavailable(self):
        await self.try_again_later(realtime.DATABASE_UNAVAILABLE_MESSAGE)

    async def try_again_later(self, message: str):
        """Tell the client, then close so that it reconnects, resumes and re-sends (module doc)."""
        if self.closing:
            return
        log.warning("image %s: %s; closing socket %s with %s",
                    getattr(self, "image_id", "?"), message, self.conn, TRY_AGAIN_LATER)
        self.closing = True
        await self.send_frame({"type": "error", "retry": True, "message": message})
        await self.close(code=TRY_AGAIN_LATER)

    async def layer_resync(self, event):
        """The channel layer was disconnected from Redis and is back: frames may be missing."""
        await self.try_again_later(LAYER_RESYNC_MESSAGE)

    async def broadcast(self, frame: dict, skip: str | None = None, reply_to: str | None = None):
        """Send ``frame`` to everyone on this image; encoded once, not once per recipient."""
        await self.channel_layer.group_send(self.group, {
            "type": "relay", "text": json.dumps(frame, separators=(",", ":")), "skip": skip,
            "reply_to": reply_to,
        })

    async def relay(self, event):
        if event.get("skip") == self.conn:
            return
        await self.send(text_data=event["text"])
        if event.get("reply_to"):  # a newcomer: tell them we are here too
            here = {"type": "presence", "event": "here", "conn": self.conn, "user": self.me}
            try:
                await self.channel_layer.send(event["reply_to"], {"type": "relay", "text": json.dumps(here)})
            except ChannelFull:  # the newcomer is backlogged; presence is best-effort, never fatal to us
                log.warning("presence reply to %s dropped: its channel is full", event["reply_to"])

