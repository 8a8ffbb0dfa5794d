"""Races run against real PostgreSQL: ``python -m tests.scale.race_scenarios <name> …``.

Run as a subprocess of the test with DATABASE_URL naming the stack's database (the in-process
test database is SQLite). Each thread has its own database connection (Django connections are
per thread), and a ``threading.Barrier`` releases them at the same instant every round. The
scenario only records what happened and prints it as one JSON line; the test asserts.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelreview.settings")
    import django

    django.setup()


def _stroke(i: int, w: int, h: int) -> dict:
    from benchmarks.wsclient import stroke

    return stroke(i, w, h)


def edits(image_id: int, users: list[int], rounds: int, retry_every: int, undo_every: int, deadline_s: float) -> dict:
    """Two reviewers append at the same instant every round. On retry rounds a second
    connection of each reviewer sends the same client_id at that same instant (a retry racing
    the original); on undo rounds reviewer 0 undoes instead of adding."""
    from django.contrib.auth.models import User
    from django.db import connection

    from reviews.models import Image
    from reviews.services import masklog

    image = Image.objects.get(pk=image_id)
    w, h = image.width, image.height
    people = [User.objects.get(pk=u) for u in users]
    barrier = threading.Barrier(4, timeout=30)
    acks: list[list] = [[], [], [], []]  # per thread: [client_id, seq, kind]
    errors: list[str] = []
    end = time.monotonic() + deadline_s

    def run(t: int):
        who = t % 2  # threads 0, 2 are reviewer 0; 1, 3 reviewer 1
        me = people[who]
        try:
            for r in range(rounds):
                if time.monotonic() > end:
                    errors.append(f"thread {t}: deadline at round {r}")
                    barrier.abort()
                    return
                retry = retry_every and r % retry_every == 0
                barrier.wait()
                if t >= 2 and not retry:
                    continue
                cid = f"u{who}-r{r}"
                if who == 0 and undo_every and r % undo_every == undo_every - 1:
                    op = masklog.undo(image_id, me, cid)
                    if op is not None:
                        acks[t].append([cid, op.seq, "undo"])
                    continue
                op = masklog.append(image_id, me, "op", _stroke(r * 2 + who, w, h), cid)
                acks[t].append([cid, op.seq, op.kind])
        except threading.BrokenBarrierError:
            errors.append(f"thread {t}: barrier broken")
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(f"thread {t}: {type(exc).__name__}: {exc}")
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=deadline_s + 30)
    took = time.monotonic() - t0

    # two "clients" catching up from zero, each on its own connection, render what they got
    import numpy as np

    from masks import log as mlog
    from masks.render import render

    seen = {}

    def client(name: str):
        try:
            frames = [masklog.operation_frame(op) for op in masklog.operations_since(image_id, 0)]
            seen[name] = frames
        finally:
            connection.close()

    cs = [threading.Thread(target=client, args=(n,)) for n in ("c1", "c2")]
    for c in cs:
        c.start()
    for c in cs:
        c.join(timeout=60)
    image.refresh_from_db()
    base = masklog.render_revision(image, 0)
    server = masklog.render_revision(image, image.head_seq)
    from masks.ops import parse_op

    digests = {}
    for name, frames in seen.items():
        entries = [mlog.LogEntry(seq=f["seq"], author=f["author"]["id"], kind=f["kind"],
                                 op=parse_op(f["op"]) if f["kind"] == "op" else None,
                                 target=f.get("target")) for f in frames]
        mask = render(base, mlog.active_ops(entries))
        digests[name] = {"equal_to_server": bool(np.array_equal(mask, server)), "sum": int(mask.sum(dtype=np.int64))}
    return {
        "acks": acks, "errors": errors, "seconds": took, "head_seq": image.head_seq,
        "clients": {n: [[f["seq"], f["client_id"], f["kind"]] for f in fr] for n, fr in seen.items()},
        "renders": digests, "server_sum": int(server.sum(dtype=np.int64)),
    }


def workflow(image_id: int, leads: list[int], rounds: int, deadline_s: float) -> dict:
    """Two leads decide at the same instant, every round: in client review one approves (on the
    client's behalf) while the other sends back; in lead review one sends to the client while
    the other sends back. Between rounds the image is brought back through normal transitions.
    After each round the state and the approvals are recorded."""
    from django.contrib.auth.models import User
    from django.core.exceptions import PermissionDenied
    from django.db import connection

    from reviews.models import Approval, Image, State
    from reviews.services import workflow as wf

    people = [User.objects.get(pk=u) for u in leads]
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[dict] = []
    errors: list[str] = []
    end = time.monotonic() + deadline_s
    plan = {0: ("approve", "send_back"), 1: ("send_to_client", "send_back")}

    def bring_to(state: str):
        me = people[0]
        image = Image.objects.get(pk=image_id)
        path = {
            State.APPROVED: ["send_back", "submit"], State.CLIENT_REVIEW: ["send_back", "submit"],
            State.CHANGES_REQUESTED: ["submit"], State.IN_RETOUCH: ["submit"], State.LEAD_REVIEW: [],
        }[image.state]
        for action in path:
            image = wf.transition(image, me, action, reason="reset between rounds")
        if state == State.CLIENT_REVIEW:
            wf.transition(image, me, "send_to_client")

    results: dict[int, object] = {}

    def run(t: int, r: int, action: str):
        try:
            image = Image.objects.get(pk=image_id)  # each lead's own (soon stale) copy
            barrier.wait()
            wf.transition(image, people[t], action, reason=f"round {r}")
            results[t] = "ok"
        except (wf.WorkflowError, PermissionDenied) as exc:
            results[t] = f"refused: {exc}"
        except Exception as exc:  # noqa: BLE001
            results[t] = f"ERROR {type(exc).__name__}: {exc}"
        finally:
            connection.close()

    for r in range(rounds):
        if time.monotonic() > end:
            errors.append(f"deadline at round {r}")
            break
        kind = r % 2
        bring_to(State.CLIENT_REVIEW if kind == 0 else State.LEAD_REVIEW)
        before = Image.objects.get(pk=image_id).state
        results.clear()
        ts = [threading.Thread(target=run, args=(t, r, plan[kind][t])) for t in range(2)]
        for th in ts:
            th.start()
        for th in ts:
            th.join(timeout=60)
        image = Image.objects.get(pk=image_id)
        live = list(Approval.objects.filter(image_id=image_id, revoked=False).values_list("seq", flat=True))
        outcomes.append({"round": r, "before": before, "actions": list(plan[kind]), "results": [results.get(0), results.get(1)],
                         "state": image.state, "live_approvals": live, "approved_at": image.approved_at is not None})
    from reviews.models import AuditEvent

    chain = list(AuditEvent.objects.filter(image_id=image_id).exclude(from_state="").order_by("id")
                 .values_list("action", "from_state", "to_state"))
    return {"outcomes": outcomes, "errors": errors, "audit": chain, "final": Image.objects.get(pk=image_id).state}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["edits", "workflow"])
    ap.add_argument("--image", type=int, required=True)
    ap.add_argument("--users", required=True, help="comma-separated user ids")
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--retry-every", type=int, default=50)
    ap.add_argument("--undo-every", type=int, default=97)
    ap.add_argument("--deadline", type=float, default=120.0, help="seconds, whole scenario")
    args = ap.parse_args(argv)
    _setup()
    users = [int(u) for u in args.users.split(",")]
    if args.scenario == "edits":
        out = edits(args.image, users, args.rounds, args.retry_every, args.undo_every, args.deadline)
    else:
        out = workflow(args.image, users, args.rounds, args.deadline)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
