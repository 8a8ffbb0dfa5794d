"""``python -m masks bench``: render speed on a 6000 × 4000 (24 MP) mask, one JSON object.

Figures (each the median of ``runs`` runs in one process, in ms, and as a ratio to the memory
floor = a numpy copy of the 24 MB mask):
- full render of a 200-segment even-odd path with three holes + 50 strokes of 200 points + refine
  (and the parts of it alone, to see where the time goes), after a warm-up render, and again with
  the path caches emptied before each run;
- dirty-rectangle render of one new stroke touching 400 × 400 px (with the whole log before it);
- parsing all those operations from their wire form.
"""
from __future__ import annotations

import json
import math
import platform
import statistics
import time

import cv2
import numpy as np

from masks import paths
from masks.ops import parse_op
from masks.render import dirty_rect, render

W, H = 6000, 4000


def base_mask() -> np.ndarray:
    """An AI-style cutout: a ring-like jewel with soft (2 px) edges, negative space, some noise."""
    a = np.zeros((H, W), np.uint8)
    s = 16  # draw with 4 bits of subpixel precision and LINE_AA for a soft, realistic edge
    cv2.ellipse(a, (3000 * s, 2000 * s), (1700 * s, 1300 * s), 10, 0, 360, 255, -1, cv2.LINE_AA, 4)
    cv2.ellipse(a, (3000 * s, 2050 * s), (1000 * s, 700 * s), -5, 0, 360, 0, -1, cv2.LINE_AA, 4)
    cv2.circle(a, (1200 * s, 900 * s), 350 * s, 255, -1, cv2.LINE_AA, 4)
    rng = np.random.default_rng(1)
    for _ in range(40):  # specks and pinholes an AI leaves behind
        x, y = rng.integers(200, W - 200), rng.integers(200, H - 200)
        cv2.circle(a, (int(x), int(y)), int(rng.integers(2, 9)), int(rng.choice([0, 255])), -1, cv2.LINE_AA)
    return cv2.GaussianBlur(a, (5, 5), 1.0)


def path_wire() -> dict:
    """200 segments, even-odd: a wavy outer contour (170 segments) and three holes (10 each)."""
    ang = np.linspace(0, 2 * np.pi, 170, endpoint=False)
    r = 1500 + 250 * np.sin(ang * 9)
    outer = np.c_[3000 + r * np.cos(ang), 2000 + 0.85 * r * np.sin(ang)]
    polys = [outer]
    for cx, cy, rr in ((2400, 1700, 180), (3500, 2300, 240), (3100, 1500, 120)):
        a = np.linspace(0, 2 * np.pi, 10, endpoint=False)
        polys.append(np.c_[cx + rr * np.cos(a), cy + rr * np.sin(a)])
    return {"type": "path", "d": paths.polygons_to_d(polys), "mode": "add", "fill_rule": "evenodd"}


def stroke_wires(n: int = 50, points: int = 200) -> list[dict]:
    """Retouching strokes: random walks, radius 4–30 px, mixed hardness; points 25 % of the brush
    diameter apart (Photoshop's default spacing)."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        radius = float(rng.uniform(4, 30))
        step = radius / 2
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.15, points))
        xy = np.cumsum(np.c_[np.cos(heading), np.sin(heading)] * step, axis=0)
        xy += [rng.uniform(300, W - 300), rng.uniform(300, H - 300)] - xy.mean(axis=0)
        out.append({"type": "stroke", "mode": "keep" if i % 3 else "remove",
                    "points": np.round(xy, 2).tolist(), "radius": round(radius, 2),
                    "hardness": round(float(rng.uniform(0, 1)), 2), "opacity": 1})
    return out


REFINE = {"type": "refine", "shift_edge": -1.5, "contrast": 20, "feather": 1.5, "smooth": 20}


def new_stroke_wire() -> dict:
    """One stroke whose footprint is 400 × 400 px, on the object's edge."""
    t = np.linspace(0, 1, 60)
    xy = np.c_[1520 + 360 * t, 1980 + 360 * t + 40 * np.sin(t * 6)]
    return {"type": "stroke", "mode": "keep", "points": np.round(xy, 2).tolist(), "radius": 19, "hardness": 0.6}


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def run(runs: int = 7) -> dict:
    base = base_mask()
    wires = [REFINE, path_wire()] + stroke_wires()
    ops = [parse_op(w) for w in wires]
    new = parse_op(new_stroke_wire())
    rect = dirty_rect([new], base.shape)
    render(base, ops)                      # warm-up: compiled kernels, caches of parsed paths
    render(base, ops + [new], rect=rect)
    floor = _median_ms(lambda: base.copy(), max(runs, 21))
    full = _median_ms(lambda: render(base, ops), runs)
    # the same with nothing remembered of the path (its parse, skia path and tile classes), as the
    # first render of a log in a fresh process; the app renders a log many times (tiles, revisions)
    full_cold = _median_ms(lambda: (paths.clear_caches(), render(base, ops)), runs)
    dirty = _median_ms(lambda: render(base, ops + [new], rect=rect), runs * 3)
    paths.clear_caches()
    parse = _median_ms(lambda: ([parse_op(w) for w in wires], paths.clear_caches()), runs)
    parts = {
        "refine": _median_ms(lambda: render(base, ops[:1]), runs),
        "path": _median_ms(lambda: render(base, ops[1:2]), runs),
        "strokes": _median_ms(lambda: render(base, ops[2:]), runs),
    }
    fig = lambda ms: {"ms": round(ms, 2), "x_floor": round(ms / floor, 1)}  # noqa: E731
    return {
        "shape": [H, W],
        "runs": runs,
        "machine": f"{platform.machine()} {cv2.getNumberOfCPUs()} cpu, cv2 threads {cv2.getNumThreads()}",
        "rasteriser": "skia-python anti-aliased fill (exact area coverage), per 256 px tile; strokes: numba",
        "floor_copy_ms": round(floor, 3),
        "full_render": fig(full),
        "full_render_cold_path_caches": fig(full_cold),
        "full_render_parts": {k: fig(v) for k, v in parts.items()},
        "dirty_rect": {**fig(dirty), "rect": list(rect)},
        "parse_ops": {**fig(parse), "count": len(wires),
                      "path_d_bytes": len(wires[1]["d"]), "stroke_points": 50 * 200},
        "goals": {"full_render_x_floor_max": 40, "dirty_rect_ms_max": 10},
    }


def main(runs: int = 7) -> int:
    print(json.dumps(run(runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
