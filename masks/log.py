"""The mask is a log: ordered entries; undo and redo are entries too, never deletions.

Rules (per person):
- ``undo`` by A targets A's last *active* op (an op entry of A's not currently undone).
- ``redo`` by A targets the op of A's that A undid most recently, but only while A has appended
  no new op since that undo (a new op of A's clears A's redo history, as in every editor).
- Another person's entries never change what A's undo or redo targets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from masks.errors import OpError

KINDS = ("op", "undo", "redo")


@dataclass(frozen=True)
class LogEntry:
    """One entry. ``seq`` is the server-assigned order (1, 2, …); ``author`` a user id or name;
    ``kind`` op | undo | redo; ``op`` the operation for kind op; ``target`` the seq of the op
    entry that an undo / redo refers to."""
    seq: int
    author: str | int
    kind: str
    op: object | None = None
    target: int | None = None


def _ordered(entries: Iterable[LogEntry]) -> list[LogEntry]:
    out = sorted(entries, key=lambda e: e.seq)
    for a, b in zip(out, out[1:]):
        if a.seq == b.seq:
            raise OpError(f"seq: {a.seq} appears twice in the log")
    return out


def _replay(entries: Iterable[LogEntry]):
    """(ordered entries, {op seq: active?}, {op seq: entry}) after applying undo / redo."""
    ordered = _ordered(entries)
    active: dict[int, bool] = {}
    by_seq: dict[int, LogEntry] = {}
    for e in ordered:
        if e.kind == "op":
            if e.op is None:
                raise OpError(f"op: entry {e.seq} of kind op has no operation")
            active[e.seq] = True
            by_seq[e.seq] = e
        elif e.kind in ("undo", "redo"):
            if e.target not in active:
                raise OpError(f"target: entry {e.seq} ({e.kind}) refers to {e.target!r}, "
                              "which is not an earlier op entry")
            active[e.target] = e.kind == "redo"
        else:
            raise OpError(f"kind: must be one of {', '.join(KINDS)}, got {e.kind!r}")
    return ordered, active, by_seq


def active_ops(entries: Iterable[LogEntry]) -> list:
    """The operations of the op entries in seq order, minus those currently undone."""
    _, active, by_seq = _replay(entries)
    return [by_seq[s].op for s in sorted(by_seq) if active[s]]


def undo_target(entries: Iterable[LogEntry], author) -> int | None:
    """Seq of ``author``'s last active op (what their next undo reverts), or None."""
    _, active, by_seq = _replay(entries)
    mine = [s for s, e in by_seq.items() if e.author == author and active[s]]
    return max(mine) if mine else None


def redo_target(entries: Iterable[LogEntry], author) -> int | None:
    """Seq of the op ``author`` undid last, if they have done no op since; else None."""
    ordered, active, _ = _replay(entries)
    stack: list[int] = []
    for e in ordered:
        if e.author != author:
            continue
        if e.kind == "op":
            stack.clear()
        elif e.kind == "undo":
            stack.append(e.target)
        elif e.kind == "redo" and e.target in stack:
            stack.remove(e.target)
    while stack and active[stack[-1]]:  # robust to logs built by hand
        stack.pop()
    return stack[-1] if stack else None
