"""Frame times of the browser editor on a 24 MP photo: ``python -m benchmarks.editor_frames``.

A benchmark, not a test: it prints figures (issue 9). The app runs on a live daphne (the
embedded default: SQLite + in-memory channel layer, started through ``benchmarks.harness``);
Debian's Chromium is driven by Playwright, like the browser tests. The image is a synthetic
6000 × 4000 photo whose mask log already holds 300 operations (strokes and pen paths spread over
the piece). At 25 %, 100 %, 400 % and 800 % the page is centred on the piece and then

* a **stroke**: a 200-point keep brush stroke (radius 8 image px), pointer moves sent at most
  every 8 ms (a 125 Hz mouse; Chromium hands input to the page once per frame, so each
  Playwright move takes about one frame and the printed duration says what the pace was);
* a **pan**: a drag with the hand tool across 60 % of the stage (120 moves, same pacing).

Printed per zoom and gesture: median and 95th percentile of the ``requestAnimationFrame``
deltas during the gesture (ms), the viewer's own JavaScript draw time per frame (ms; the
raster of the canvas happens after it, inside the frame time), the websocket bytes
the page sent for the stroke (the ``op`` frame alone, and everything incl. cursor frames), and
the page's JS heap (``performance.memory.usedJSHeapSize`` with --enable-precise-memory-info,
sampled every frame, and CDP ``Performance.getMetrics`` JSHeapUsedSize). Also: the largest
canvas / bitmap the page holds, and how many decoded tiles are alive, as evidence that no
full-size bitmap of the photo or the mask exists in the page.

Goal (issue 9): p95 frame time ≤ 20 ms at every zoom, peak JS heap < 300 MB.

``--add-ops`` is the internal step that fills the log (run in the stack's environment).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time

from benchmarks.harness import pct

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--enable-precise-memory-info"]
VIEWPORT = {"width": 1280, "height": 800}
ZOOMS = (0.25, 1.0, 4.0, 8.0)
GOAL_P95_MS = 20.0
GOAL_HEAP_MB = 300.0
MOVE_INTERVAL_S = 0.008  # a 125 Hz mouse


# ------------------------------------------------------------------ the log (stack environment)


def synthetic_ops(count: int, width: int, height: int, seed: int = 9) -> list[dict]:
    """``count`` wire ops of the kind retouchers make, spread over the middle of the frame:
    mostly brush strokes (radius 3–40 px, 20–60 points), every fifth a closed pen path."""
    rng = random.Random(seed)
    ops = []
    for k in range(count):
        cx, cy = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height
        if k % 5 == 4:
            r = rng.uniform(20, 120)
            pts = [(cx + r * math.cos(a) * rng.uniform(0.8, 1.2), cy + r * math.sin(a) * rng.uniform(0.8, 1.2))
                   for a in [i * 2 * math.pi / 8 for i in range(8)]]
            d = "M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in pts) + "Z"
            ops.append({"type": "path", "d": d, "mode": rng.choice(["add", "subtract"]),
                        "fill_rule": "nonzero", "feather": 0})
            continue
        n, step, ang = rng.randint(20, 60), rng.uniform(1.5, 6), rng.uniform(0, 2 * math.pi)
        pts = []
        for _ in range(n):
            ang += rng.uniform(-0.3, 0.3)
            cx += step * math.cos(ang)
            cy += step * math.sin(ang)
            pts.append([round(min(max(cx, 0), width - 1), 1), round(min(max(cy, 0), height - 1), 1)])
        ops.append({"type": "stroke", "mode": rng.choice(["keep", "remove"]), "points": pts,
                    "radius": round(rng.uniform(3, 40), 1), "hardness": 0.8, "opacity": 1.0})
    return ops


def add_ops(image_id: int, username: str, count: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelreview.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User

    from reviews.models import Image
    from reviews.services import masklog

    image = Image.objects.get(pk=image_id)
    user = User.objects.get(username=username)
    for k, op in enumerate(synthetic_ops(count, image.width, image.height)):
        masklog.append(image_id, user, "op", op, f"bench-{k}")
    print(json.dumps({"head_seq": Image.objects.get(pk=image_id).head_seq}))


# ------------------------------------------------------------------ in the page

RECORDER = """() => {
  const f = window.__jrFrames = { deltas: [], draws: [], last: 0, peakHeap: 0, on: true };
  const v = window.jrEditor.viewer;
  let frames = v.frames;
  const tick = (t) => {
    if (!f.on) return;
    if (f.last) f.deltas.push(t - f.last);
    f.last = t;
    if (v.frames !== frames) { f.draws.push(v.lastFrameMs); frames = v.frames; }
    if (performance.memory) f.peakHeap = Math.max(f.peakHeap, performance.memory.usedJSHeapSize);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

STOP = """() => { const f = window.__jrFrames; f.on = false;
  return { deltas: f.deltas, draws: f.draws, peakHeap: f.peakHeap }; }"""

# every bitmap-like thing the page keeps: canvases in the document and in the viewer's caches,
# decoded tiles; the largest one by pixel count
BITMAPS = """() => {
  const v = window.jrEditor.viewer, sizes = [];
  for (const c of document.querySelectorAll('canvas')) sizes.push([c.width, c.height, 'pane']);
  if (v.scratch) sizes.push([v.scratch.width, v.scratch.height, 'scratch']);
  for (const c of v.composites.values()) sizes.push([c.width, c.height, 'composite']);
  for (const b of v.cache.items.values()) sizes.push([b.width, b.height, 'tile']);
  sizes.sort((a, b) => b[0] * b[1] - a[0] * a[1]);
  const px = sizes.reduce((n, s) => n + s[0] * s[1], 0);
  return { largest: sizes[0], tiles: v.cache.items.size, composites: v.composites.size,
           megapixels: px / 1e6, fetched: v.cache.stats.fetched };
}"""

# when the tile responses ended (ms after navigation start): the first one, and the last one
# the first view needed
TILE_TIMES = """() => { const t = performance.getEntriesByType('resource')
    .filter(e => e.name.includes('/tiles/')).map(e => e.responseEnd);
  return t.length ? { first: Math.min(...t), last: Math.max(...t), count: t.length } : null; }"""

WAIT_TILES = """() => { const v = window.jrEditor.viewer;
  return v.cache.queue.length === 0 && v.cache.active === 0 && v.visibleMaskUrls().every(u => v.cache.has(u)); }"""


def stage_box(page):
    return page.locator("#jr-stage").bounding_box()


def paced_moves(page, points):
    """Move the mouse through ``points`` (page CSS px), one event per MOVE_INTERVAL_S."""
    t_next = time.perf_counter()
    for x, y in points:
        page.mouse.move(x, y)
        t_next += MOVE_INTERVAL_S
        wait = t_next - time.perf_counter()
        if wait > 0:
            time.sleep(wait)


def recorded_drag(page, points) -> dict:
    """Press at the first point, move paced through the rest, release: the page's frame record
    of the gesture (see RECORDER / STOP), with "seconds" of wall time from the press."""
    page.mouse.move(*points[0])
    page.evaluate(RECORDER)
    mark = time.perf_counter()
    page.mouse.down()
    paced_moves(page, points[1:])
    page.mouse.up()
    record = page.evaluate(STOP)
    record["seconds"] = time.perf_counter() - mark
    return record


def stroke_points(box, n: int):
    """A 200-point wavy stroke across the middle of the stage (page CSS px)."""
    x0, y0 = box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.5
    span = box["width"] * 0.5
    return [(x0 + span * i / (n - 1), y0 + box["height"] * 0.12 * math.sin(i / (n - 1) * 4 * math.pi))
            for i in range(n)]


def pan_points(box, n: int):
    """A drag from right to left and a little up, across 60 % of the stage."""
    x0, y0 = box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.6
    return [(x0 - box["width"] * 0.6 * i / (n - 1), y0 - box["height"] * 0.2 * i / (n - 1)) for i in range(n)]


def heap_metric(cdp) -> int:
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return int(metrics.get("JSHeapUsedSize", 0))


def measure(app_url: str, session: str, image_id: int, width: int, height: int, points: int, pan_moves: int):
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport=VIEWPORT)
            ctx.add_cookies([{"name": "sessionid", "value": session, "url": app_url}])
            page = ctx.new_page()
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            sent = []  # (perf_counter, payload) of every websocket frame the page sends
            page.on("websocket", lambda ws: ws.on(
                "framesent", lambda payload: sent.append((time.perf_counter(), payload))))
            cdp = ctx.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.goto(f"{app_url}/images/{image_id}/editor/")
            page.wait_for_function("window.jrEditor && window.jrEditor.socket.synced", timeout=60000)
            page.wait_for_function(WAIT_TILES, timeout=120000)
            first_views = [("cold server (tiles rendered on request)", page.evaluate(TILE_TIMES))]
            # a second browser (empty HTTP cache) opening it: now the server has the tiles
            other = browser.new_context(viewport=VIEWPORT)
            other.add_cookies([{"name": "sessionid", "value": session, "url": app_url}])
            warm = other.new_page()
            warm.goto(f"{app_url}/images/{image_id}/editor/")
            warm.wait_for_function("window.jrEditor && window.jrEditor.socket.synced", timeout=60000)
            warm.wait_for_function(WAIT_TILES, timeout=120000)
            first_views.append(("warm server, empty browser cache", warm.evaluate(TILE_TIMES)))
            other.close()
            box = stage_box(page)
            for zoom in ZOOMS:
                page.evaluate("([x, y, z]) => window.jrEditor.viewer.centreOn(x, y, z)", [width / 2, height / 2, zoom])
                page.wait_for_function(WAIT_TILES, timeout=120000)
                # --- stroke
                page.focus("#jr-stage")
                page.keyboard.press("b")
                mark = time.perf_counter()
                stroke = recorded_drag(page, stroke_points(box, points))
                page.wait_for_function("window.jrEditor.pending.size === 0", timeout=120000)
                page.wait_for_function(WAIT_TILES, timeout=120000)
                during = [p for t, p in sent if t >= mark]
                op_bytes = [len(p.encode()) for p in during if '"type":"op"' in p]
                all_bytes = sum(len(p.encode()) for p in during)
                # --- pan
                page.keyboard.press("h")
                pan = recorded_drag(page, pan_points(box, pan_moves))
                page.wait_for_function(WAIT_TILES, timeout=120000)
                bitmaps = page.evaluate(BITMAPS)
                rows.append({"zoom": zoom, "pan_moves": pan_moves, "stroke": stroke, "pan": pan, "op_bytes": op_bytes,
                             "ws_bytes": all_bytes, "cdp_heap": heap_metric(cdp), "bitmaps": bitmaps})
            if errors:
                print("page errors:", errors[:5])
        finally:
            browser.close()
    return first_views, rows


def report(first_views, rows, points: int) -> bool:
    ok = True

    def ms(xs):
        return f"median {statistics.median(xs):6.2f}  p95 {pct(xs, 95):6.2f}" if xs else "  (no frames)"

    print("\nfirst view at fit zoom (ms after navigation start, tile responses):")
    for label, t in first_views:
        if t:
            print(f"  {label:<40} first tile {t['first']:7.0f} ms   all {t['count']} visible tiles {t['last']:7.0f} ms")
    peak = 0
    for r in rows:
        z = f"{r['zoom'] * 100:.0f} %"
        print(f"\nzoom {z}")
        for name in ("stroke", "pan"):
            g = r[name]
            p95 = pct(g["deltas"], 95)
            ok &= p95 <= GOAL_P95_MS
            moves = points if name == "stroke" else r["pan_moves"]
            print(f"  {name:<6} frame time ms {ms(g['deltas'])}  (n={len(g['deltas'])})   "
                  f"JS draw ms {ms(g['draws'])}   {moves} moves in {g['seconds']:.2f} s")
        op = r["op_bytes"]
        print(f"  stroke of {points} pointer moves: op frame {sum(op)} bytes ({len(op)} frame), "
              f"all frames sent during it {r['ws_bytes']} bytes (incl. cursors)")
        heap = max(r["stroke"]["peakHeap"], r["pan"]["peakHeap"], r["cdp_heap"])
        peak = max(peak, heap)
        b = r["bitmaps"]
        print(f"  JS heap peak {heap / 2**20:6.1f} MB (CDP after: {r['cdp_heap'] / 2**20:.1f} MB)   "
              f"largest bitmap {b['largest'][0]}×{b['largest'][1]} ({b['largest'][2]}), "
              f"{b['tiles']} decoded tiles + {b['composites']} composites = {b['megapixels']:.1f} MP "
              f"({b['megapixels'] * 4:.0f} MB of bitmaps outside the JS heap)")
    ok &= peak < GOAL_HEAP_MB * 2**20
    print(f"\npeak JS heap over the run: {peak / 2**20:.1f} MB")
    print(f"goal p95 ≤ {GOAL_P95_MS:.0f} ms at every zoom and heap < {GOAL_HEAP_MB:.0f} MB: {'MET' if ok else 'NOT MET'}")
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="6000x4000", help="image size WxH (24 MP by default)")
    ap.add_argument("--ops", type=int, default=300, help="operations already in the mask log")
    ap.add_argument("--points", type=int, default=200, help="pointer moves of the measured stroke")
    ap.add_argument("--pan-moves", type=int, default=120)
    ap.add_argument("--add-ops", nargs=3, metavar=("IMAGE", "USERNAME", "COUNT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.add_ops:
        add_ops(int(args.add_ops[0]), args.add_ops[1], int(args.add_ops[2]))
        return 0
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is missing (make system-deps installs it)")
        return 2
    from benchmarks.harness import Stack

    w, h = (int(v) for v in args.size.lower().split("x"))
    print(f"editor on a {w}×{h} image ({w * h / 1e6:.0f} MP), {args.ops} ops in its log; "
          f"viewport {VIEWPORT['width']}×{VIEWPORT['height']}, Chromium {CHROMIUM} (software rendering)")
    stack = Stack(redis=False, db=False)
    try:
        t = time.perf_counter()
        stack.manage("migrate", "--noinput", timeout=180)
        seed = stack.seed(reviewers=1, images=1, size=args.size, prefix="ed")
        user = next(iter(seed["users"]))
        image_id = seed["images"][0]
        stack.python("-m", "benchmarks.editor_frames", "--add-ops", str(image_id), user, str(args.ops), timeout=600)
        server = stack.daphne("daphne-editor", WHITENOISE_USE_FINDERS="1")
        print(f"set-up (migrate, seed, {args.ops} ops, daphne): {time.perf_counter() - t:.1f} s")
        first, rows = measure(server.http, seed["sessions"][user], image_id, w, h, args.points, args.pan_moves)
        ok = report(first, rows, args.points)
    finally:
        stack.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
