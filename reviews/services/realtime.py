"""The realtime side of editing: what the websocket consumer and the tile views share.

Two halves:

* **Protocol helpers** (sync, called from the consumer through ``database_sync_to_async``):
  load an image for a person through the policy, store an edit through ``masklog`` (the one
  hot path: one short transaction there, nothing rendered here), the frames a reconnecting
  client missed, comments, presence identities, and a per-connection token-bucket rate limit.
* **Tile rendering**: the mask of a revision as deep-zoom tiles. A tile's pixels only change at
  the log entries whose dirty rectangle touches it, so a tile of revision ``r`` is stored once
  under its *effective* revision (the last entry ≤ ``r`` that touches it). After an edit only the
  tiles its dirty rectangle touches are rendered anew; every other tile keeps its cached file.

Sizes are image pixels; alpha is 0–255 (uint8); rectangles are ``(x, y, w, h)``.
"""
from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError, transaction
from PIL import Image as PILImage

from masks import log as mlog
from masks import render as mask_render
from masks import tiles as mask_tiles
from masks.errors import MaskError
from reviews import policies
from reviews.models import Comment, Image, OpKind
from reviews.services import masklog, storage

GROUP_PREFIX = "image."
MAX_COMMENT = 5000  # chars, Comment.body
# A tile whose full-resolution area is at most this many pixels is rendered from the log
# directly (render(rect=...)); a bigger (zoomed-out) one is the 2×2 downsample of its four
# children, so after an edit zoomed-out levels cost four cached tile reads, not a full render.
DIRECT_RENDER_PIXELS = 2048 * 2048


class EditRefused(ValueError):
    """An edit the log cannot take (nothing to undo, unknown image ...); the message says why."""


# The database could not be reached (refused, reset, timed out, dropped mid-query): nothing was
# stored, and the same message may succeed a moment later. Any other database error is a bug.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE_MESSAGE = ("the server cannot reach its database for a moment. Reconnecting: edits "
                                "not yet acknowledged are sent again (each is stored once)")


def group_name(image_id: int) -> str:
    return f"{GROUP_PREFIX}{int(image_id)}"


def person(user) -> dict:
    """The identity other people see: id and a display name (never the e-mail)."""
    name = (user.get_full_name() or user.get_username()) if hasattr(user, "get_full_name") else str(user)
    return {"id": user.pk, "name": name}


class RateLimiter:
    """Token bucket: ``rate`` messages per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float = 40.0, burst: float = 80.0, clock=time.monotonic):
        self.rate, self.burst, self.clock = float(rate), float(burst), clock
        self.tokens, self.stamp = float(burst), clock()

    def allow(self, cost: float = 1.0) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


# ---------------------------------------------------------------- protocol helpers (sync)


def load_image(user, image_id: int, action: str = "view_image") -> Image:
    """The image if ``user`` may do ``action`` on it; PermissionDenied otherwise (also when it
    does not exist, so ids of other organisations' images cannot be probed)."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise PermissionDenied("sign in first")
    image = Image.objects.select_related("collection").filter(pk=image_id).first()
    if image is None or not policies.can(user, "view_image", image):
        raise PermissionDenied("no such image, or you may not open it")
    if action != "view_image":
        policies.require(user, action, image)
    return image


def welcome(user, image: Image) -> dict:
    return {
        "type": "welcome",
        "image": image.pk,
        "head_seq": image.head_seq,
        "me": person(user),
        "can_edit": policies.can(user, "edit_image", image),
        "can_comment": policies.can(user, "comment", image),
    }


def record_edit(user, image_id: int, kind: str, payload, client_id: str) -> tuple[dict, bool]:
    """Store one edit (``kind`` op|undo|redo) and return its broadcast frame.

    The policy check and ``masklog`` (which validates the op, then numbers it in one short
    transaction) are the whole hot path: no rendering here. Returns ``(frame, fresh)``;
    ``fresh`` is False when this was a retry of a stored edit (same client_id).
    """
    image = load_image(user, image_id, "edit_image")  # masklog checks client_id and the op
    head_before = image.head_seq
    if kind == OpKind.OP:
        if not isinstance(payload, dict):
            raise EditRefused("op must be an object")
        op = masklog.append(image.pk, user, OpKind.OP, payload, client_id)
    elif kind == OpKind.UNDO:
        op = masklog.undo(image.pk, user, client_id)
        if op is None:
            raise EditRefused("nothing of yours to undo")
    elif kind == OpKind.REDO:
        op = masklog.redo(image.pk, user, client_id)
        if op is None:
            raise EditRefused("nothing of yours to redo")
    else:  # pragma: no cover - the consumer only routes these three
        raise EditRefused(f"unknown edit kind {kind!r}")
    return masklog.operation_frame(op), op.seq > head_before


def missed_frames(user, image_id: int, last_seq) -> tuple[list[dict], int]:
    """Every op frame after ``last_seq`` in order, and the head sequence number."""
    image = load_image(user, image_id)
    if isinstance(last_seq, bool) or not isinstance(last_seq, int) or last_seq < 0:
        raise EditRefused("last_seq must be a whole number ≥ 0")
    ops = masklog.operations_since(image, last_seq)
    frames = [masklog.operation_frame(op) for op in ops]
    head = max([image.head_seq] + [f["seq"] for f in frames])
    return frames, head


def comment_frame(comment: Comment) -> dict:
    return {
        "type": "comment",
        "comment": {
            "id": comment.pk,
            "author": person(comment.author),
            "x": comment.x,
            "y": comment.y,
            "seq": comment.seq,
            "body": comment.body,  # plain text; the page inserts it with textContent
            "parent": comment.parent_id,
            "resolved": comment.resolved,
            "created_at": comment.created_at.isoformat(),
        },
    }


def _coordinate(value, limit: int, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise EditRefused(f"{name} must be a finite number")
    if not 0 <= value <= limit:
        raise EditRefused(f"{name} must lie inside the image (0–{limit} px)")
    return float(value)


def add_comment(user, image_id: int, msg: dict) -> dict:
    """Pin a comment (or a reply) on the picture. ``msg``: x, y (image px), body, parent?"""
    image = load_image(user, image_id, "comment")
    body = msg.get("body")
    if not isinstance(body, str) or not body.strip() or len(body) > MAX_COMMENT:
        raise EditRefused(f"body must be text of 1–{MAX_COMMENT} characters")
    parent_id = msg.get("parent")
    parent = None
    if parent_id is not None:
        parent = Comment.objects.filter(pk=parent_id if isinstance(parent_id, int) else -1, image=image).first()
        if parent is None:
            raise EditRefused("parent comment not found on this image")
        x, y = parent.x, parent.y
    else:
        x = _coordinate(msg.get("x"), image.width, "x")
        y = _coordinate(msg.get("y"), image.height, "y")
    comment = Comment.objects.create(
        image=image, author=user, x=x, y=y, body=body.strip(), parent=parent, seq=image.head_seq
    )
    return comment_frame(comment)


def resolve_comment(user, image_id: int, msg: dict) -> dict:
    image = load_image(user, image_id)
    comment_id, resolved = msg.get("comment_id"), msg.get("resolved", True)
    if isinstance(comment_id, bool) or not isinstance(comment_id, int) or not isinstance(resolved, bool):
        raise EditRefused("resolve needs comment_id (number) and resolved (true/false)")
    comment = Comment.objects.select_related("author", "image").filter(pk=comment_id, image=image).first()
    if comment is None:
        raise EditRefused("comment not found on this image")
    policies.require(user, "resolve_comment", comment)
    with transaction.atomic():
        Comment.objects.filter(pk=comment.pk).update(resolved=resolved)
    comment.resolved = resolved
    return comment_frame(comment)


def cursor_frame(user, conn: str, msg: dict, image_size: tuple[int, int]) -> dict:
    """A pointer position (image px) for the others; a pointer past the edge is clamped."""
    w, h = image_size
    out = []
    for name, limit in (("x", w), ("y", h)):
        value = msg.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise EditRefused(f"{name} must be a finite number")
        out.append(round(min(max(float(value), -limit), 2.0 * limit), 1))
    return {"type": "cursor", "conn": conn, "user": person(user), "x": out[0], "y": out[1]}


# ---------------------------------------------------------------- tile rendering


def tile_info(image: Image) -> dict:
    return {"width": image.width, "height": image.height, "tile_size": mask_tiles.TILE_SIZE,
            "overlap": mask_tiles.OVERLAP, "levels": mask_tiles.level_count(image.width, image.height)}


def dzi_xml(image: Image, fmt: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="{fmt}" '
        f'Overlap="{mask_tiles.OVERLAP}" TileSize="{mask_tiles.TILE_SIZE}">'
        f'<Size Width="{image.width}" Height="{image.height}"/></Image>\n'
    )


class _LogIndex:
    """Per image and process: every log entry parsed once, with its dirty rectangle.

    Entries never change once stored, so only entries newer than the last look are read. A
    handful of images are kept (least recently used first out).
    """

    def __init__(self, images: int = 32):
        self.lock = threading.Lock()
        self.images = images
        self.logs: OrderedDict[tuple, tuple[list, dict]] = OrderedDict()

    def upto(self, image: Image, seq: int) -> tuple[list, dict]:
        key = (image.pk, image.created_at)  # a recreated database may reuse an id
        with self.lock:
            entries, rects = self.logs.setdefault(key, ([], {}))
            self.logs.move_to_end(key)
            top = entries[-1].seq if entries else 0
        if seq > top:
            shape = (image.height, image.width)
            fresh, fresh_rects = [], {}
            for op in masklog.operations_since(image, top):
                entry = masklog.to_entry(op)
                fresh.append(entry)
                if entry.kind == "op":
                    fresh_rects[entry.seq] = mask_render.dirty_rect([entry.op], shape)
                else:  # undo/redo change exactly what their target op changed
                    fresh_rects[entry.seq] = fresh_rects.get(entry.target, rects.get(entry.target))
            with self.lock:
                now_top = entries[-1].seq if entries else 0  # another thread may have read too
                entries.extend(e for e in fresh if e.seq > now_top)
                rects.update(fresh_rects)
                while len(self.logs) > self.images:
                    self.logs.popitem(last=False)
        return entries, rects


_logs = _LogIndex()


@dataclass(frozen=True)
class LogView:
    """What rendering revisions ≤ ``head`` of one image needs, read from the database once;
    rendering from it touches only media storage (so it can run in any thread)."""

    image: Image
    head: int
    entries: tuple
    rects: dict

    def effective(self, seq: int, rect) -> int:
        """The last entry ≤ ``seq`` that changes pixels inside ``rect`` (0 = the base alpha)."""
        for entry in reversed(self.entries):
            if entry.seq > seq:
                continue
            r = self.rects.get(entry.seq)
            if r is None or _touches(r, rect):
                return entry.seq
        return 0

    def ops(self, seq: int) -> list:
        return mlog.active_ops([e for e in self.entries if e.seq <= seq])


def log_view(image: Image) -> LogView:
    entries, rects = _logs.upto(image, image.head_seq)
    upto = [e for e in entries if e.seq <= image.head_seq]
    return LogView(image, image.head_seq, tuple(upto), dict(rects))


def edit_rect(view: LogView, seq: int) -> tuple | None:
    """Dirty rectangle of entry ``seq`` clipped to the image, or None for the whole frame."""
    rect = view.rects.get(seq)
    return None if rect is None else _clip(rect, view.image.width, view.image.height)


def _clip(rect, w: int, h: int):
    x, y, rw, rh = (int(v) for v in rect)
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + rw), min(h, y + rh)
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def _touches(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


class _ArrayCache:
    """A tiny per-process LRU of decoded arrays (originals, preview renders); a few entries."""

    def __init__(self, size: int = 2):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, make):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


_originals = _ArrayCache(2)
_previews = _ArrayCache(2)


def _cache_name(image: Image, layer: str, seq: int, level: int, col: int, row: int, ext: str) -> str:
    return f"{image.folder}/tilecache/{layer}/{seq}/{level}/{col}_{row}.{ext}"


def _cache_get(name: str) -> bytes | None:
    try:
        return storage.read_bytes(name)
    except (FileNotFoundError, OSError):
        return None


def encode_mask_tile(alpha: np.ndarray) -> bytes:
    """White with the mask as alpha (RGBA PNG): the page composites it with destination-in."""
    white = np.full_like(alpha, 255)
    return mask_tiles.encode_tile(np.dstack([white, white, white, alpha]), "png")


def decode_mask_tile(data: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA"))[..., 3]


def _check_rev(view: LogView, seq: int) -> None:
    if seq < 0 or seq > view.head:
        raise EditRefused(f"revision {seq} does not exist (head is {view.head})")


def mask_tile(image: Image, seq: int, level: int, col: int, row: int, view: LogView | None = None,
              compose: bool = False) -> tuple[bytes, int]:
    """PNG bytes of the mask tile of revision ``seq`` and the revision it is stored under.

    A coarser tile is rendered from the log directly when it covers at most
    DIRECT_RENDER_PIXELS (first views), else — or with ``compose`` (after an edit, when its
    children are mostly cached) — as the 2×2 mean of its four children; both give the same bytes.
    MaskError for a tile outside the pyramid; EditRefused for a revision that does not exist.
    With ``view`` given nothing reads the database.
    """
    view = view or log_view(image)
    _check_rev(view, seq)
    w, h = image.width, image.height
    rect = mask_tiles.tile_rect(level, col, row, w, h)
    eff = view.effective(seq, rect)
    name = _cache_name(image, "mask", eff, level, col, row, "png")
    data = _cache_get(name)
    if data is None:
        top = mask_tiles.level_count(w, h) - 1
        if level == top or (not compose and rect[2] * rect[3] <= DIRECT_RENDER_PIXELS):
            alpha = mask_tiles.render_tile(masklog.render_ops(image, view.ops(eff), rect), level, w, h)
        else:
            alpha = _from_children(view, eff, level, col, row)
        data = encode_mask_tile(alpha)
        storage.write_bytes(name, data)
    return data, eff


def _from_children(view: LogView, seq: int, level: int, col: int, row: int) -> np.ndarray:
    """A coarse tile as the 2×2 mean of its (up to four) children, as the pyramid builds it."""
    image = view.image
    cols, rows = mask_tiles.tile_grid(level + 1, image.width, image.height)
    lines = []
    for r in (2 * row, 2 * row + 1):
        if r < rows:
            lines.append(np.concatenate(
                [decode_mask_tile(mask_tile(image, seq, level + 1, c, r, view, compose=True)[0])
                 for c in (2 * col, 2 * col + 1) if c < cols], axis=1))
    return mask_tiles.shrink2(np.concatenate(lines, axis=0))


def prerender(view: LogView, seq: int, rect, levels: int = 3) -> int:
    """Render the tiles of revision ``seq`` that ``rect`` touches on the ``levels`` finest
    levels, so the first client asking finds them ready. No database access. Returns how many."""
    image = view.image
    top = mask_tiles.level_count(image.width, image.height) - 1
    touched = [t for t in mask_tiles.tiles_for_rect(rect, image.width, image.height) if t[0] > top - levels]
    for level, col, row in touched:  # finest first: each coarser tile reuses its fresh children
        mask_tile(image, seq, level, col, row, view, compose=True)
    return len(touched)


def edit_plan(image_id: int, seq: int) -> tuple[LogView, tuple | None]:
    """After an edit was broadcast (database thread, quick): the log view and the edit's dirty
    rectangle (None: the whole frame changed). Rendering then goes elsewhere."""
    view = log_view(Image.objects.get(pk=image_id))
    return view, edit_rect(view, seq)


def _union(rects) -> tuple[int, int, int, int]:
    boxes = [r for r in rects if r[2] and r[3]]
    if not boxes:
        return (0, 0, 0, 0)
    x0, y0 = min(r[0] for r in boxes), min(r[1] for r in boxes)
    x1, y1 = max(r[0] + r[2] for r in boxes), max(r[1] + r[3] for r in boxes)
    return (x0, y0, x1 - x0, y1 - y0)


def batch_plan(image_id: int, seqs) -> tuple[LogView, int, tuple | None, dict]:
    """For a burst of edits ``seqs`` on one image (database thread, quick): the log view, the
    latest of them, the union of their dirty rectangles (None: one changed the whole frame) and
    each one's own rectangle (None likewise)."""
    view = log_view(Image.objects.get(pk=image_id))
    own = {seq: edit_rect(view, seq) for seq in seqs}
    union = None if any(r is None for r in own.values()) else _union(own.values())
    return view, max(own), union, own


def announcements(view: LogView, latest: int, union, own: dict) -> list[tuple[int, tuple]]:
    """The ``render_ready`` (seq, rect) pairs a rendered burst stands for: the latest edit with
    the union first (a client moves the tiles there to that revision), then each earlier edit
    with its own rectangle, newest first (the tiles stay at the latest revision; each edit's
    author learns its edit is in the tiles)."""
    whole = (0, 0, view.image.width, view.image.height)
    first = [(latest, whole if union is None else union)]
    return first + [(seq, whole if own[seq] is None else own[seq])
                    for seq in sorted(own, reverse=True) if seq != latest]


def render_after_edits(image_id: int, seqs) -> list[tuple[int, tuple]]:
    """After edits ``seqs`` of one image were acknowledged and broadcast: what their
    ``render_ready`` frames announce (``announcements``); a whole-frame change also goes to
    ``schedule_full_render``. Nothing is rendered here: a tile of a new revision is rendered by
    the first request for it and stored under its effective revision, so every other viewer gets
    the stored file. (Rendering each edit's rectangle on three levels at once, in the daphne, was
    most of its CPU at 50 reviewers on 10 images, for tiles mostly nobody looked at; a viewer
    asks only for the tiles it shows, at the level it shows.) Reads the log itself, so it runs in
    any thread with its own database connection."""
    view, latest, union, own = batch_plan(image_id, seqs)
    if union is None:
        schedule_full_render(image_id, latest)
    return announcements(view, latest, union, own)


def schedule_full_render(image_id: int, seq: int) -> None:
    """A whole-frame change (refine, intersect, clean-up ...): with a broker the full render goes
    to a Celery worker; in the embedded default it is left to the first request that needs it
    (tiles render on request either way, so nobody waits for it)."""
    from django.conf import settings

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        from reviews.tasks import render_full

        render_full.delay(image_id, seq)


def preview_tile(image: Image, seq: int, level: int, col: int, row: int, op) -> bytes:
    """The mask tile of revision ``seq`` with ``op`` applied on top; nothing is stored.

    Lets the refine panel and the clean-up button show their result before the op goes into
    the log (the log only takes what the person then applies)."""
    view = log_view(image)
    _check_rev(view, seq)
    w, h = image.width, image.height
    rect = mask_tiles.tile_rect(level, col, row, w, h)
    ops = view.ops(seq) + [op]
    if rect[2] * rect[3] <= DIRECT_RENDER_PIXELS:
        region = masklog.render_ops(image, ops, rect)
    else:
        full = _previews.get((image.pk, seq, repr(op)), lambda: masklog.render_ops(image, ops))
        x, y, rw, rh = rect
        region = np.ascontiguousarray(full[y : y + rh, x : x + rw])
    return encode_mask_tile(mask_tiles.render_tile(region, level, w, h))


def original_array(image: Image) -> np.ndarray:
    from masks.imageio import load_image as load_picture

    def load():
        with image.original.open("rb") as fh:
            return load_picture(fh.read()).rgb

    return _originals.get((image.pk, image.original.name), load)


def original_tile(image: Image, level: int, col: int, row: int) -> bytes:
    """JPEG tile of the original photo: from the ingest's pyramid when it has one, else
    rendered once from the photo and cached (the same for every revision)."""
    w, h = image.width, image.height
    rect = mask_tiles.tile_rect(level, col, row, w, h)
    if image.tiles_prefix:
        built = f"{image.tiles_prefix}/original_files/{level}/{col}_{row}.jpeg"
        data = _cache_get(built)
        if data is not None:
            return data
    name = _cache_name(image, "original", 0, level, col, row, "jpeg")
    data = _cache_get(name)
    if data is None:
        x, y, rw, rh = rect
        region = np.ascontiguousarray(original_array(image)[y : y + rh, x : x + rw])
        data = mask_tiles.encode_tile(mask_tiles.render_tile(region, level, w, h), "jpeg")
        storage.write_bytes(name, data)
    return data


def cutout_tile(image: Image, seq: int, level: int, col: int, row: int) -> bytes:
    """PNG RGBA tile: the original with the revision's mask as alpha (for other viewers)."""
    with PILImage.open(io.BytesIO(original_tile(image, level, col, row))) as im:
        rgb = np.asarray(im.convert("RGB"))
    alpha = decode_mask_tile(mask_tile(image, seq, level, col, row)[0])
    buf = io.BytesIO()
    PILImage.fromarray(np.dstack([rgb, alpha[: rgb.shape[0], : rgb.shape[1]]]), "RGBA").save(buf, "PNG")
    return buf.getvalue()


__all__ = [
    "EditRefused", "DATABASE_UNAVAILABLE", "DATABASE_UNAVAILABLE_MESSAGE", "MaskError", "PermissionDenied", "RateLimiter", "LogView", "group_name", "person",
    "load_image", "welcome", "record_edit", "missed_frames", "add_comment", "resolve_comment", "cursor_frame",
    "tile_info", "dzi_xml", "log_view", "edit_plan", "prerender", "batch_plan",
    "announcements", "render_after_edits", "mask_tile", "original_tile", "cutout_tile",
    "preview_tile", "schedule_full_render", "original_array",
]
