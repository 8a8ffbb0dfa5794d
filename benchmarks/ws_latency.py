"""Websocket latency with 20 people on one image: ``python -m benchmarks.ws_latency``.

A benchmark, not a test: it prints figures. One daphne process; 20 clients (one asyncio process,
the `websockets` library) with real login sessions open the same image. Then, paced so that we
measure latency and not a queue:

* **cursor** fan-out: a cursor move through the consumer (rate limit, JSON, group send; no
  database) until every other client has it — the closest thing the app has to DESIGN.md's
  "bare group broadcast";
* **edit → others**: a brush stroke (a 30-point ``stroke`` op), validated, stored and numbered,
  until *every* other client has its ``op`` frame (per edit: the slowest of the 19) and per
  receiver;
* **edit → render_ready**: until the sender has ``render_ready`` for that edit (its dirty
  rectangle's tiles rendered on the three finest levels).

Runs the embedded default (SQLite + in-memory channel layer) and, when PostgreSQL and Redis are
listening, PostgreSQL + channels_redis. Milliseconds; median and 95th percentile.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time

from benchmarks.harness import Stack, pct, port_open


class Arrivals:
    """Wakes the measuring coroutine when any client got a frame, instead of polling: a busy
    wait in the client process would take CPU from the daphne it measures (2 cores here)."""

    def __init__(self):
        self.event = asyncio.Event()

    def notify(self):
        self.event.set()

    async def until(self, predicate, deadline: float) -> bool:
        """True once ``predicate()`` holds; False at ``deadline`` (perf_counter s)."""
        while not predicate():
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self.event.clear()  # no await between the check and the clear: nothing is missed
            try:
                await asyncio.wait_for(self.event.wait(), left)
            except TimeoutError:
                return predicate()
        return True


class Client:
    def __init__(self, name, ws, arrivals: Arrivals):
        self.name, self.ws, self.arrivals = name, ws, arrivals
        self.ops: dict[str, float] = {}  # client_id -> arrival (perf_counter s)
        self.cursors: dict[float, float] = {}  # x marker -> arrival
        self.ready: dict[int, float] = {}  # seq -> arrival
        self.acks: dict[str, int] = {}
        self.synced = asyncio.Event()

    async def read(self):
        async for raw in self.ws:
            now = time.perf_counter()
            f = json.loads(raw)
            t = f.get("type")
            if t == "op":
                self.ops[f["client_id"]] = now
            elif t == "cursor":
                self.cursors[f["x"]] = now
            elif t == "render_ready":
                self.ready[f["seq"]] = now
            elif t == "ack":
                self.acks[f["client_id"]] = f["seq"]
            elif t == "synced":
                self.synced.set()
            self.arrivals.notify()


async def run_clients(ws_base: str, image_id: int, sessions: list[str], edits: int, cursors: int, gap: float):
    from websockets.asyncio.client import connect

    origin = ws_base.replace("ws://", "http://")
    clients, arrivals = [], Arrivals()
    for i, s in enumerate(sessions):
        ws = await connect(f"{ws_base}/ws/images/{image_id}/", origin=origin, ping_interval=None,
                           additional_headers={"Cookie": f"sessionid={s}"}, max_size=8 << 20)
        c = Client(f"c{i}", ws, arrivals)
        first = json.loads(await ws.recv())
        assert first["type"] == "welcome", first
        c.task = asyncio.create_task(c.read())
        await ws.send(json.dumps({"type": "hello", "last_seq": 0}))
        clients.append(c)
    await asyncio.gather(*(c.synced.wait() for c in clients))
    rng = random.Random(1)
    cursor_lat = []
    for k in range(cursors):
        sender = clients[k % len(clients)]
        x = round(10 + k * 0.1, 1)
        t0 = time.perf_counter()
        await sender.ws.send(json.dumps({"type": "cursor", "x": x, "y": 20}))
        others = [c for c in clients if c is not sender]
        await arrivals.until(lambda: all(x in c.cursors for c in others), t0 + 10)
        cursor_lat.append((max(c.cursors[x] for c in others) - t0) * 1000)
        await asyncio.sleep(gap)
    every, each, ready = [], [], []
    for k in range(edits):
        sender = clients[k % len(clients)]
        cid = f"e{k}"
        x0, y0 = rng.uniform(40, 1000), rng.uniform(40, 800)
        op = {"type": "stroke", "mode": "keep" if k % 2 else "remove", "radius": 6.0, "hardness": 0.8, "opacity": 1.0,
              "points": [[round(x0 + i * 2.5, 1), round(y0 + 8 * ((i % 6) - 3) / 3, 1)] for i in range(30)]}
        t0 = time.perf_counter()
        await sender.ws.send(json.dumps({"type": "op", "client_id": cid, "base_seq": k, "op": op}))
        others = [c for c in clients if c is not sender]
        deadline = t0 + 10
        await arrivals.until(lambda: all(cid in c.ops for c in others), deadline)
        got = [(c.ops[cid] - t0) * 1000 for c in others if cid in c.ops]
        each += got
        every.append(max(got))
        await arrivals.until(lambda: cid in sender.acks, deadline)
        seq = sender.acks.get(cid)
        await arrivals.until(lambda: seq in sender.ready, deadline)
        if seq in sender.ready:
            ready.append((sender.ready[seq] - t0) * 1000)
        await asyncio.sleep(gap)
    for c in clients:
        await c.ws.close()
        c.task.cancel()
    return cursor_lat, every, each, ready


def report(label, cursor_lat, every, each, ready, edits):
    def line(name, xs):
        return f"  {name:<38} median {statistics.median(xs):7.2f} ms   p95 {pct(xs, 95):7.2f} ms   (n={len(xs)})"

    print(f"\n{label}")
    print(line("cursor → all 19 others (no database)", cursor_lat))
    print(line("edit → all 19 others have the op", every))
    print(line("edit → one other client (each receiver)", each))
    print(line("edit → render_ready at the sender", ready))
    if len(ready) < edits:
        print(f"  ({edits - len(ready)} render_ready frames missing)")


def bench(label, redis, db, args):
    stack = Stack(redis=redis, db=db)
    try:
        if not db:
            stack.manage("migrate", "--noinput", timeout=180)
        seed = stack.seed(reviewers=args.clients, images=1, size=args.size, prefix="lat")
        server = stack.daphne("daphne-latency")
        sessions = list(seed["sessions"].values())[: args.clients]
        image_id = seed["images"][0]
        results = asyncio.run(run_clients(server.ws, image_id, sessions, args.edits, args.cursors, args.gap))
        report(label, *results, args.edits)
    finally:
        stack.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--edits", type=int, default=200)
    ap.add_argument("--cursors", type=int, default=200)
    ap.add_argument("--gap", type=float, default=0.03, help="seconds between measured messages")
    ap.add_argument("--size", default="6000x4000", help="image size (a 24 MP photo by default)")
    ap.add_argument("--only", choices=["embedded", "redis"], default=None)
    args = ap.parse_args(argv)
    print(f"{args.clients} clients on one {args.size} image, {args.edits} edits, {args.cursors} cursor moves")
    if args.only in (None, "embedded"):
        bench("embedded default: SQLite + in-memory channel layer", redis=False, db=False, args=args)
    if args.only in (None, "redis"):
        if port_open(5432) and port_open(6379):
            bench("PostgreSQL + channels_redis", redis=True, db=True, args=args)
        else:
            print("\nPostgreSQL + channels_redis: skipped (nothing listening on 5432 / 6379)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
