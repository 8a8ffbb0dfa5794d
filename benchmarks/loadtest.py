"""Load test: ``python -m benchmarks.loadtest`` (``make loadtest``).

Starts its own stack on 127.0.0.1 — a fresh PostgreSQL database, a private Redis, two daphne
processes sharing it (channels_redis) and one Celery worker — then 50 concurrent reviewers across
10 images, each with a websocket to one of the two servers, for 60 s: an edit (a brush stroke)
every ~1.5 s, cursor moves at 5/s, and page/tile/history requests over HTTP every ~2 s.

("edit to others" times the first delivery of each edit to each other reviewer; "op frame again"
counts deliveries of frames a reviewer already had, i.e. replies to the hellos that filled gaps.)
Prints throughput, median and 95th-percentile latency of each kind of traffic, the errors
(must be 0), whether every acknowledged edit is stored exactly once and every client converged,
and the resident memory of the server processes at the end. Everything is bounded: the run
length, the edits per reviewer, every wait. Options: --reviewers, --images, --duration, --size.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time

from benchmarks.harness import LOOPBACK, PgDatabase, Stack, pct
from benchmarks.wsclient import EditError, Reviewer, stroke


class Stats:
    def __init__(self):
        self.lat: dict[str, list[float]] = {}
        self.count: dict[str, int] = {}
        self.errors: list[str] = []

    def add(self, kind: str, seconds: float | None = None, n: int = 1):
        self.count[kind] = self.count.get(kind, 0) + n
        if seconds is not None:
            self.lat.setdefault(kind, []).append(seconds)

    def error(self, what: str):
        self.errors.append(what)


async def http_get(port: int, path: str, session: str, timeout: float = 30.0) -> tuple[int, int]:
    """A bare HTTP/1.1 GET on loopback (status, body bytes); asyncio, so 50 clients stay cheap."""
    async def go():
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        try:
            writer.write((f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nCookie: sessionid={session}\r\n"
                          "Connection: close\r\n\r\n").encode())
            await writer.drain()
            data = await reader.read()
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), len(body)

    return await asyncio.wait_for(go(), timeout)


async def reviewer_loop(rv: Reviewer, idx: int, ports: list[int], image: dict, stats: Stats, sent_at: dict,
                        end: float, edit_every: float, cursor_hz: float, http_every: float):
    rng = random.Random(idx)
    w, h = image["w"], image["h"]
    port = ports[idx % len(ports)]
    next_edit = time.monotonic() + rng.uniform(0, edit_every)
    next_http = time.monotonic() + rng.uniform(0, http_every)
    i = 0
    max_edits = int((end - time.monotonic()) / edit_every) + 5  # bounded in count as well as time
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_edit and i < max_edits:
            next_edit = now + edit_every * rng.uniform(0.7, 1.3)
            cid = rv.new_client_id()
            sent_at[cid] = time.perf_counter()
            t0 = time.perf_counter()
            try:
                await rv.edit(stroke(idx * 1000 + i, w, h), client_id=cid, timeout=30)
                stats.add("edit ack", time.perf_counter() - t0)
            except (EditError, asyncio.TimeoutError, ConnectionError) as exc:
                stats.error(f"edit {cid}: {type(exc).__name__}: {exc}")
            i += 1
        if now >= next_http:
            next_http = now + http_every * rng.uniform(0.7, 1.3)
            head = rv.last_seq()
            t = f"/images/{image['id']}/tiles"
            path = rng.choice([
                f"/images/{image['id']}/editor/", f"{t}/mask/{head}/{image['top']}/0_0.png",
                f"{t}/original/{image['top']}/0_0.jpeg", f"{t}/mask/{head}/{image['top'] - 2}/0_0.png",
                f"/images/{image['id']}/history.json",
            ])
            kind = "page" if path.endswith("/") else ("history" if path.endswith(".json") else "tile")
            t0 = time.perf_counter()
            try:
                status, _ = await http_get(port, path, rv.session)
                if status == 200:
                    stats.add(kind, time.perf_counter() - t0)
                else:
                    stats.error(f"GET {path} -> {status}")
            except (OSError, asyncio.TimeoutError, ValueError, IndexError) as exc:
                stats.error(f"GET {path}: {type(exc).__name__}")
        await rv.send({"type": "cursor", "x": rng.uniform(0, w), "y": rng.uniform(0, h)})
        stats.add("cursor sent")
        await asyncio.sleep(1.0 / cursor_hz)


def on_frame_factory(stats: Stats, sent_at: dict):
    first_seen: dict[str, set] = {}  # reviewer -> seqs already delivered to it

    def on_frame(rv: Reviewer, frame: dict):
        kind = frame.get("type")
        if kind == "op":
            seen = first_seen.setdefault(rv.name, set())
            if frame["seq"] in seen:  # a resend (the reply to a hello that filled a gap)
                stats.add("op frame again")
                return
            seen.add(frame["seq"])
            t = sent_at.get(frame.get("client_id"))
            if t is not None and not frame["client_id"].startswith(rv.name + "-"):
                stats.add("edit to others", time.perf_counter() - t)
        elif kind == "cursor":
            stats.add("cursor received")
        elif kind == "error":
            stats.error(f"{rv.name}: error frame {frame.get('message')}")
    return on_frame


async def run(args) -> int:
    stats, sent_at = Stats(), {}
    tpl = PgDatabase.migrated_template()
    stack = Stack(workdir=args.logs, template=tpl.name)  # --logs keeps the servers' logs there
    reviewers: list[Reviewer] = []
    try:
        w, h = (int(v) for v in args.size.split("x"))
        world = stack.seed(reviewers=args.reviewers, images=args.images, size=args.size)
        extra = {"DB_POOL_SIZE": args.db_pool_size} if args.db_pool_size is not None else {}
        servers = stack.daphnes(2, **extra)
        worker = stack.worker("worker-1")
        from masks.tiles import level_count

        top = level_count(w, h) - 1
        images = [{"id": i, "w": w, "h": h, "top": top} for i in world["images"]]
        names = sorted(world["sessions"])
        on_frame = on_frame_factory(stats, sent_at)
        for k, name in enumerate(names):
            image = images[k % len(images)]
            order = [servers[k % 2].ws, servers[(k + 1) % 2].ws]
            reviewers.append(Reviewer(name, world["sessions"][name], image["id"], order, on_frame=on_frame))
        t0 = time.perf_counter()
        await asyncio.gather(*(rv.connect(timeout=60) for rv in reviewers))
        print(f"{len(reviewers)} reviewers connected to 2 daphnes in {time.perf_counter() - t0:.1f} s; "
              f"running {args.duration:.0f} s …", flush=True)
        start = time.monotonic()
        end = start + args.duration
        ports = [s.port for s in servers]
        await asyncio.wait_for(asyncio.gather(*(
            reviewer_loop(rv, k, ports, images[k % len(images)], stats, sent_at, end, args.edit_every,
                          args.cursor_hz, args.http_every)
            for k, rv in enumerate(reviewers))), args.duration + 120)
        elapsed = time.monotonic() - start
        # convergence: every client has every op of its image; the database has each acked edit once
        import psycopg

        with psycopg.connect(stack.db.url(), autocommit=True) as conn:
            heads = dict(conn.execute("SELECT id, head_seq FROM reviews_image").fetchall())
            stored = {cid: seq for cid, seq in conn.execute("SELECT client_id, seq FROM reviews_operation")}
        await asyncio.wait_for(asyncio.gather(*(rv.wait_for_seq(heads[rv.image_id], 60) for rv in reviewers)), 120)
        lost = [cid for rv in reviewers for cid, seq in rv.acks.items() if stored.get(cid) != seq]
        by_image: dict[int, list] = {}
        for rv in reviewers:
            seen = [rv.frames[s]["client_id"] for s in range(1, heads[rv.image_id] + 1)]
            by_image.setdefault(rv.image_id, []).append(seen)
        diverged = [img for img, views in by_image.items() if any(v != views[0] for v in views)]
        cpu = {s.proc.name: s.proc.cpu_seconds() for s in servers}
        cpu[worker.name] = worker.cpu_seconds()
        import resource

        cpu["load client"] = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        mem = {s.proc.name: s.proc.rss_bytes() for s in servers}
        mem[worker.name] = worker.rss_bytes()
        mem["redis"] = stack.redis.proc.rss_bytes()
        reconnects = sum(rv.reconnects for rv in reviewers)
    finally:
        for rv in reviewers:
            await rv.close()
        stack.close()
        tpl.drop()

    print(f"\nload test: {args.reviewers} reviewers, {args.images} images ({args.size}), 2 daphne + 1 worker, "
          f"{elapsed:.1f} s")
    print(f"{'traffic':<18}{'count':>8}{'per s':>9}{'median ms':>11}{'p95 ms':>9}")
    for kind in ("edit ack", "edit to others", "op frame again", "cursor sent", "cursor received", "page", "tile", "history"):
        n = stats.count.get(kind, 0)
        lat = stats.lat.get(kind, [])
        med = f"{statistics.median(lat) * 1000:.1f}" if lat else "-"
        p95 = f"{pct(lat, 95) * 1000:.1f}" if lat else "-"
        print(f"{kind:<18}{n:>8}{n / elapsed:>9.1f}{med:>11}{p95:>9}")
    print(f"errors: {len(stats.errors)}" + (f"  e.g. {stats.errors[:3]}" if stats.errors else ""))
    print(f"acknowledged edits lost or renumbered: {len(lost)}; images where clients disagree: {len(diverged)}; "
          f"reconnects: {reconnects}")
    print("server memory (RSS, MiB): " + ", ".join(f"{k} {v / 2**20:.0f}" for k, v in mem.items()))
    print("CPU seconds used: " + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items()) + f" (of {elapsed:.0f} s wall)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"elapsed_s": elapsed, "counts": stats.count, "errors": stats.errors[:50], "lost": lost,
                       "diverged": diverged, "memory_rss_bytes": mem, "cpu_seconds": cpu,
                       "latency_ms": {k: {"median": statistics.median(v) * 1000, "p95": pct(v, 95) * 1000}
                                      for k, v in stats.lat.items() if v}}, fh, indent=1)
    return 1 if stats.errors or lost or diverged else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reviewers", type=int, default=50)
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load (at most 600)")
    ap.add_argument("--size", default="1200x900", help="WxH pixels of each image")
    ap.add_argument("--edit-every", type=float, default=1.5, help="seconds between one reviewer's edits")
    ap.add_argument("--cursor-hz", type=float, default=5.0, help="cursor moves per second per reviewer")
    ap.add_argument("--http-every", type=float, default=2.0, help="seconds between one reviewer's HTTP requests")
    ap.add_argument("--db-pool-size", type=int, help="DB_POOL_SIZE for the daphnes: PostgreSQL connections per "
                    "process (default: the settings' default; 0 = no pool, persistent connections per thread)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--logs", help="keep the stack's folder (server logs) here instead of a temporary one")
    args = ap.parse_args(argv)
    args.duration = min(max(args.duration, 1.0), 600.0)
    args.cursor_hz = min(max(args.cursor_hz, 0.5), 20.0)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
