"""Ingest at scale: ``python -m benchmarks.ingest_scale``.

A synthetic collection of 200 photos (masks.synth jewelry, JPEG) is ingested by real Celery
worker processes (prefork, one task at a time each, late acks) over a private Redis broker into
a fresh PostgreSQL database — once with 1 worker process and once with 2 — and the throughput
in images per minute is printed, from the moment the tasks are queued until the last image is
ready. Then the per-stage cost of one ingest (decode, sRGB PNG, first pass, tiles, trace, QA),
measured in this process with the same functions on a sample of the photos, shows where the
next bottleneck is. All on 127.0.0.1, bounded by --timeout.

Options: --images (200), --size (800x600), --workers (1,2), --stage-sample (8), --timeout (s).
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time

import numpy as np

from benchmarks.harness import PgDatabase, Stack


def ingest_run(stack: Stack, n_workers: int, images: int, size: str, distinct: int, timeout: float) -> dict:
    import psycopg

    world = stack.seed(reviewers=1, images=images, size=size, ingest=True, enqueue=0, prefix=f"w{n_workers}",
                       distinct=distinct)
    ids = world["images"]
    workers = [stack.worker(f"w{n_workers}-{k}", concurrency=1) for k in range(n_workers)]
    try:
        t0 = time.monotonic()
        stack.python("-c", "import django; django.setup(); from django.db import transaction; "
                           "from reviews.services.ingest import enqueue_ingest\n"
                           f"with transaction.atomic(): enqueue_ingest({ids!r})")
        with psycopg.connect(stack.db.url(), autocommit=True) as conn:
            while True:
                rows = conn.execute("SELECT state, count(*) FROM reviews_image WHERE id = ANY(%s) GROUP BY state",
                                    (ids,)).fetchall()
                states = dict(rows)
                done = states.get("ready_for_retouch", 0) + states.get("failed", 0)
                if done == len(ids):
                    break
                if time.monotonic() - t0 > timeout:
                    raise TimeoutError(f"{done}/{len(ids)} ingested after {timeout:.0f} s ({states})")
                time.sleep(0.25)
            wall = time.monotonic() - t0
            attempts = conn.execute("SELECT sum(ingest_attempts) FROM reviews_image WHERE id = ANY(%s)", (ids,)).fetchone()[0]
        rss = sum(w.rss_bytes() for w in workers)
    finally:
        for w in workers:
            w.stop(timeout=5)
    return {"workers": n_workers, "images": len(ids), "seconds": wall, "per_minute": len(ids) / wall * 60,
            "failed": states.get("failed", 0), "attempts": attempts, "rss_mib": rss / 2**20}


def stage_costs(sample: int, size: tuple[int, int]) -> dict[str, list[float]]:
    """Seconds per stage for ``sample`` photos, the same calls run_ingest makes."""
    from PIL import Image as PILImage

    from masks import synth
    from masks.imageio import encode_png, load_image
    from masks.qa import analyse
    from masks.segment import make_segmenter
    from masks.tiles import build_pyramid
    from masks.trace import trace

    segmenter = make_segmenter()
    costs: dict[str, list[float]] = {k: [] for k in ("decode", "sRGB PNG", "first pass", "tiles", "trace", "QA")}
    warm = synth.generate("ring", 0, size=size)
    segmenter.segment(warm.image)  # first-call setup is not a per-image cost
    for i in range(sample):
        s = synth.generate(synth.KINDS[i % len(synth.KINDS)], 1000 + i, size=size,
                           backdrop=synth.BACKDROPS[i % len(synth.BACKDROPS)])
        buf = io.BytesIO()
        PILImage.fromarray(s.image).save(buf, "JPEG", quality=92)
        data = buf.getvalue()

        def timed(name, fn, *a, **k):
            t = time.perf_counter()
            out = fn(*a, **k)
            costs[name].append(time.perf_counter() - t)
            return out

        loaded = timed("decode", load_image, data)
        timed("sRGB PNG", encode_png, loaded.rgb)
        alpha = timed("first pass", segmenter.segment, loaded.rgb)
        with tempfile.TemporaryDirectory() as d:
            def tiles():
                build_pyramid(loaded.rgb, d, "original", fmt="jpeg")
                build_pyramid(np.dstack([loaded.rgb, alpha]), d, "cutout", fmt="png")
            timed("tiles", tiles)
        timed("trace", trace, alpha, tolerance=1.0)
        timed("QA", analyse, loaded.rgb, alpha)
    return costs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--size", default="800x600", help="WxH pixels of each photo")
    ap.add_argument("--workers", default="1,2", help="worker process counts to compare")
    ap.add_argument("--distinct", type=int, default=25, help="different photos in the collection (repeated)")
    ap.add_argument("--stage-sample", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per run at most")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    counts = [int(c) for c in args.workers.split(",")]

    tpl = PgDatabase.migrated_template()
    stack = Stack(template=tpl.name)
    results = []
    try:
        for n in counts:
            r = ingest_run(stack, n, args.images, args.size, args.distinct, args.timeout)
            results.append(r)
            print(f"{n} worker process(es): {r['images']} images in {r['seconds']:.1f} s = "
                  f"{r['per_minute']:.1f} images/min (failed {r['failed']}, task runs {r['attempts']}, "
                  f"worker RSS {r['rss_mib']:.0f} MiB)", flush=True)
    finally:
        stack.close()
        tpl.drop()
    if len(results) > 1:
        print(f"speed-up {results[-1]['workers']} vs {results[0]['workers']} workers: "
              f"{results[-1]['per_minute'] / results[0]['per_minute']:.2f}x")

    costs = stage_costs(args.stage_sample, (w, h))
    total = sum(statistics.mean(v) for v in costs.values())
    print(f"\nper-stage cost of one ingest ({args.size}, mean of {args.stage_sample}, this process):")
    print(f"{'stage':<12}{'mean ms':>9}{'p95 ms':>9}{'share':>8}")
    for name, v in sorted(costs.items(), key=lambda kv: -statistics.mean(kv[1])):
        p95 = sorted(v)[min(len(v) - 1, int(round(0.95 * (len(v) - 1))))]
        print(f"{name:<12}{statistics.mean(v) * 1000:>9.0f}{p95 * 1000:>9.0f}{statistics.mean(v) / total:>8.0%}")
    print(f"{'total':<12}{total * 1000:>9.0f}  -> at most {60 / total:.0f} images/min per worker process")
    return 1 if any(r["failed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
