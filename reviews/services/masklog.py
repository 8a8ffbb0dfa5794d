"""The edit log of an image's mask: the one hot path for edits.

A revision is a sequence number; ``render_revision(image, seq)`` is base alpha + the active ops
of entries 1..seq, always the same pixels. Appending is ONE short transaction: lock the Image
row, take ``head_seq + 1``, insert, bump ``head_seq``. No rendering happens here.

Callers check ``reviews.policies`` ("edit_image") before appending.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from masks.errors import OpError
from reviews.models import Image, Operation, OpKind
from reviews.services import storage

MAX_CLIENT_ID = 64


def _core():
    """(masks.log, masks.ops), imported on first use so the app imports while the core lands."""
    from masks import log, ops

    return log, ops

# decoded base alphas / photos, keyed by stored file name: re-reading a 24 MP PNG per edit is slow
_CACHE: "OrderedDict[str, np.ndarray]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_ITEMS = 6


def _cached_png(name: str) -> np.ndarray:
    """Decoded PNG by stored name. Names are never rewritten with other content (ingest writes
    base_alpha-<attempt>.png), so the name (and the media root) is a sufficient key."""
    from masks.imageio import decode_png

    key = f"{getattr(storage.default_storage, 'location', '')}|{name}"
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    array = decode_png(storage.read_bytes(name))
    array.setflags(write=False)  # shared between requests: nobody may paint on it
    with _CACHE_LOCK:
        _CACHE[key] = array
        while len(_CACHE) > _CACHE_ITEMS:
            _CACHE.popitem(last=False)
    return array


def _check_client_id(client_id) -> str:
    if not isinstance(client_id, str) or not client_id or len(client_id) > MAX_CLIENT_ID:
        raise OpError(f"client_id must be a non-empty string of at most {MAX_CLIENT_ID} characters")
    return client_id


def _image_id(image) -> int:
    return image.pk if isinstance(image, Image) else int(image)


def append(image_id, user, kind: str, payload: dict, client_id: str) -> Operation:
    """Validate and store one log entry; return it (with its server-assigned ``seq``).

    kind "op": ``payload`` is a wire op (``masks.ops.parse_op`` validates it; OpError names the
    field). kind "undo"/"redo": ``payload`` is {"target": seq} and must be what masks.log allows
    for this author right now. Retrying with the same (image, author, client_id) returns the
    stored entry and stores nothing new.
    """
    image_id = _image_id(image_id)
    client_id = _check_client_id(client_id)
    _, mops = _core()
    if kind == OpKind.OP:
        if not isinstance(payload, dict):
            raise OpError("op must be a JSON object")
        wire = mops.parse_op(payload).to_wire()
    elif kind in (OpKind.UNDO, OpKind.REDO):
        if not isinstance(payload, dict) or not isinstance(payload.get("target"), int):
            raise OpError(f"{kind} needs an integer target")
        wire = {"target": payload["target"]}
    else:
        raise OpError(f"kind must be op, undo or redo, not {kind!r}")
    try:
        return _store(image_id, user, kind, wire, client_id)
    except IntegrityError:
        # a concurrent retry with the same client_id won the race: return what it stored
        existing = Operation.objects.filter(image_id=image_id, author=user, client_id=client_id).first()
        if existing is None:
            raise
        return existing


def _store(image_id: int, user, kind: str, wire: dict, client_id: str, target_fn=None) -> Operation | None:
    with transaction.atomic():
        head = Image.objects.select_for_update().values_list("head_seq", flat=True).get(pk=image_id)
        existing = Operation.objects.filter(image_id=image_id, author=user, client_id=client_id).first()
        if existing is not None:
            return existing
        if target_fn is not None:  # undo/redo: the target is decided under the lock
            target = target_fn(entries(image_id))
            if target is None:
                return None
            wire = {"target": target}
        elif kind != OpKind.OP:
            mlog, _ = _core()
            allowed = (mlog.undo_target if kind == OpKind.UNDO else mlog.redo_target)(entries(image_id), user.pk)
            if allowed != wire["target"]:
                raise OpError(f"nothing of yours to {kind} at seq {wire['target']}")
        seq = head + 1
        now = timezone.now()
        op = Operation.objects.create(
            image_id=image_id, seq=seq, author=user, client_id=client_id, kind=kind, payload=wire, created_at=now
        )
        Image.objects.filter(pk=image_id).update(head_seq=seq, updated_at=now)
        return op


def _undo_redo(image_id, user, client_id: str, kind: str) -> Operation | None:
    image_id = _image_id(image_id)
    client_id = _check_client_id(client_id)
    mlog, _ = _core()
    pick = mlog.undo_target if kind == OpKind.UNDO else mlog.redo_target
    try:
        return _store(image_id, user, kind, {}, client_id, target_fn=lambda es: pick(es, user.pk))
    except IntegrityError:
        existing = Operation.objects.filter(image_id=image_id, author=user, client_id=client_id).first()
        if existing is None:
            raise
        return existing


def undo(image_id, user, client_id: str) -> Operation | None:
    """Undo ``user``'s last active op (a new "undo" entry); None when they have nothing to undo."""
    return _undo_redo(image_id, user, client_id, OpKind.UNDO)


def redo(image_id, user, client_id: str) -> Operation | None:
    """Redo ``user``'s last undone op; None when there is nothing to redo."""
    return _undo_redo(image_id, user, client_id, OpKind.REDO)


def to_entry(op: Operation):
    """The ``masks.log.LogEntry`` of a stored entry."""
    mlog, mops = _core()
    if op.kind == OpKind.OP:
        return mlog.LogEntry(seq=op.seq, author=op.author_id, kind="op", op=mops.parse_op(op.payload), target=None)
    return mlog.LogEntry(seq=op.seq, author=op.author_id, kind=op.kind, op=None, target=op.payload["target"])


def entries(image, upto: int | None = None) -> list:
    """The log as ``masks.log.LogEntry`` objects in seq order, optionally only seq <= ``upto``."""
    qs = Operation.objects.filter(image_id=_image_id(image)).order_by("seq")
    if upto is not None:
        qs = qs.filter(seq__lte=upto)
    return [to_entry(op) for op in qs]


def operations_since(image, seq: int) -> QuerySet:
    """Entries with seq > ``seq``, in order (what a reconnecting client missed)."""
    return Operation.objects.filter(image_id=_image_id(image), seq__gt=seq).select_related("author").order_by("seq")


def render_path(image: Image, seq: int) -> str:
    return f"{image.folder}/renders/{seq:08d}.png"


def _photo_if_needed(image: Image, ops: list):
    # only channel and refine ops look at the photo; loading it for pure path/brush work is waste
    _, mops = _core()
    if not any(isinstance(op, (mops.ChannelOp, mops.RefineOp)) for op in ops):
        return None
    name = f"{image.folder}/srgb.png"
    return _cached_png(name) if storage.exists(name) else None


def render_revision(image: Image, seq: int | None = None, rect=None) -> np.ndarray:
    """The mask (uint8, 0-255 alpha) at revision ``seq`` (default: head), full frame or
    ``rect=(x, y, w, h)`` in pixels. Full renders are cached in media per revision."""
    from masks.imageio import decode_png, encode_png
    from masks.render import render

    if seq is None:
        seq = image.head_seq
    if seq < 0 or seq > image.head_seq:
        raise OpError(f"revision {seq} does not exist (head is {image.head_seq})")
    if not image.base_alpha:
        raise OpError("this image has no mask yet (ingest has not finished)")
    base = _cached_png(image.base_alpha.name)
    cache_name = render_path(image, seq)
    if rect is None and storage.exists(cache_name):
        return decode_png(storage.read_bytes(cache_name))
    ops = _core()[0].active_ops(entries(image, upto=seq))
    photo = _photo_if_needed(image, ops)
    if rect is not None:
        return render(base, ops, rect=tuple(int(v) for v in rect), image=photo)
    alpha = render(base, ops, image=photo)
    storage.write_bytes(cache_name, encode_png(alpha))
    return alpha


def render_ops(image: Image, ops: list, rect=None) -> np.ndarray:
    """Base alpha + ``ops`` (active ops in log order), full frame or ``rect``, without touching
    the database. [added by browser-realtime: the tile renderer reads the log once in the
    database thread, then renders many tiles off it in another thread]"""
    from masks.render import render

    if not image.base_alpha:
        raise OpError("this image has no mask yet (ingest has not finished)")
    base = _cached_png(image.base_alpha.name)
    photo = _photo_if_needed(image, ops)
    return render(base, ops, rect=None if rect is None else tuple(int(v) for v in rect), image=photo)


def operation_frame(op: Operation) -> dict:
    """The wire frame broadcast to every client for a stored entry."""
    author = op.author
    frame = {
        "type": "op",
        "seq": op.seq,
        "author": {"id": author.pk, "name": author.get_full_name() or author.get_username()},
        "client_id": op.client_id,
        "kind": op.kind,
        "created_at": op.created_at.isoformat(),
    }
    if op.kind == OpKind.OP:
        frame["op"] = op.payload
    else:
        frame["target"] = op.payload["target"]
    return frame
