"""SVG path data → flattened polygons → exact area-coverage rasters.

Coordinates are image pixels in a continuous plane: pixel (x, y) is the unit square
[x, x+1) × [y, y+1), as in SVG. Path data supports every SVG command (M L H V C S Q T A Z,
absolute and relative, implicit repeats, compact arc flags). Curves and arcs are flattened into
straight segments whose distance from the true curve is at most ``TOLERANCE`` (0.1 px).

Rasterising: skia-python's anti-aliased fill, which is exact area coverage (a pixel half covered
gets 50 %, ± one 8-bit step) under the even-odd or non-zero rule. OpenCV's ``LINE_AA`` is not
area coverage (an integer-aligned 10 × 10 square comes out as 128.6 px), so it is not used.
Skia's output depends on where the canvas origin lies, so coverage is always rasterised per
*canonical tile*: a ``TILE`` × ``TILE`` canvas at a multiple of ``TILE`` (plus a fixed margin for
feathering). Any rectangle is assembled from those tiles, which makes a rectangle render
bit-identical to the same crop of a full-frame render.

Why not svgpathtools' ``parse_path``: it accepts data without a leading moveto and fails with an
``AssertionError`` on valid data such as ``M1,2l3,4z m5,5h3v3z``; we parse the grammar here
and use svgpathtools only for the arc endpoint → centre conversion (with its radius scaling).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import skia
import svgpathtools

from masks.errors import PathDataError

TOLERANCE = 0.1          # px: max distance between a curve and its flattened polyline
MAX_COORD = 100_000.0    # px: |coordinate| limit (and arc radius limit)
MAX_D_BYTES = 1_000_000  # path data size limit (UTF-8 bytes)
MAX_VERTICES = 1_000_000  # flattened vertices per path (bounds render time and memory)
TILE = 256               # px: canonical raster tile (also the deep-zoom tile size)

_TOKEN = re.compile(
    r"([MmZzLlHhVvCcSsQqTtAa])|([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|([\s,]+)|(.)"
)
_ARGS = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}


@dataclass(frozen=True)
class Geometry:
    """Flattened path: closed polygons (each a float64 (n, 2) array of x, y in px) and bounds.

    ``bbox`` is (x0, y0, x1, y1) of all vertices in px, or None when there are none.
    """
    polygons: tuple
    bbox: tuple | None

    @property
    def vertex_count(self) -> int:
        return sum(len(p) for p in self.polygons)


def _tokens(d: str):
    """Yield ("cmd", letter) and ("num", text) tokens; refuse any other character."""
    for m in _TOKEN.finditer(d):
        cmd, num, _space, bad = m.groups()
        if cmd:
            yield "cmd", cmd, m.start()
        elif num:
            yield "num", num, m.start()
        elif bad:
            raise PathDataError(f"unexpected character {bad!r} at position {m.start()}")


def _balanced(pts, d1, d2, dt):
    """Move the interior vertices of a uniform-parameter flattening outwards by the second-order
    term -(dt²/12)·a⊥ (a⊥: the part of the second derivative across the curve), so each chord
    gains back the sliver (2/3 · sagitta · chord) it cuts off: the polygon's area matches the
    curve's to fourth order (a flattened circle keeps its area, not just its outline)."""
    speed2 = (d1.real ** 2 + d1.imag ** 2)
    ok = speed2 > 1e-18
    along = np.where(ok, (d2.real * d1.real + d2.imag * d1.imag) / np.where(ok, speed2, 1), 0)
    perp = d2 - along * d1
    pts[:-1] = pts[:-1] - (dt * dt / 12.0) * perp[:-1]
    return pts


def _cubic_points(p0, p1, p2, p3):
    # uniform-t flattening: deviation <= max|B''| / (8 n^2) with |B''| <= 6 max(second difference)
    dd = max(abs(p0 - 2 * p1 + p2), abs(p1 - 2 * p2 + p3))
    n = max(1, math.ceil(math.sqrt(0.75 * dd / TOLERANCE)))
    t = np.arange(1, n + 1) / n
    mt = 1 - t
    pts = (mt ** 3) * p0 + (3 * mt * mt * t) * p1 + (3 * mt * t * t) * p2 + (t ** 3) * p3
    d1 = 3 * (mt * mt * (p1 - p0) + 2 * mt * t * (p2 - p1) + t * t * (p3 - p2))
    d2 = 6 * (mt * (p2 - 2 * p1 + p0) + t * (p3 - 2 * p2 + p1))
    return _balanced(pts, d1, d2, 1.0 / n)


def _quad_points(p0, p1, p2):
    dd = abs(p0 - 2 * p1 + p2)
    n = max(1, math.ceil(math.sqrt(dd / (4 * TOLERANCE))))
    t = np.arange(1, n + 1) / n
    mt = 1 - t
    pts = (mt * mt) * p0 + (2 * mt * t) * p1 + (t * t) * p2
    d1 = 2 * (mt * (p1 - p0) + t * (p2 - p1))
    d2 = np.full_like(pts, 2 * (p2 - 2 * p1 + p0))
    return _balanced(pts, d1, d2, 1.0 / n)


def _arc_points(start, rx, ry, rotation, large, sweep, end):
    if start == end:
        return np.array([end])
    if rx == 0 or ry == 0:  # SVG: a zero radius makes the arc a straight line
        return np.array([end])
    arc = svgpathtools.Arc(start, complex(abs(rx), abs(ry)), rotation, bool(large), bool(sweep), end)
    r = max(arc.radius.real, arc.radius.imag)
    if not (math.isfinite(r) and r <= 4 * MAX_COORD):
        raise PathDataError("arc radius is out of range")
    step = 2 * math.acos(max(-1.0, 1 - TOLERANCE / r)) if r > TOLERANCE else math.pi / 2
    n = max(2, math.ceil(abs(math.radians(arc.delta)) / step))
    dphi = math.radians(arc.delta) / n
    phi = math.radians(arc.theta) + dphi * np.arange(1, n + 1)
    rot = complex(math.cos(math.radians(arc.rotation)), math.sin(math.radians(arc.rotation)))
    rx_, ry_ = arc.radius.real, arc.radius.imag
    pts = arc.center + rot * (rx_ * np.cos(phi) + 1j * ry_ * np.sin(phi))
    d1 = rot * (-rx_ * np.sin(phi) + 1j * ry_ * np.cos(phi))
    d2 = arc.center - pts
    pts = _balanced(pts, d1, d2, dphi)
    pts[-1] = end  # land exactly on the endpoint the data names
    return pts


def parse(d: str) -> Geometry:
    """Parse and flatten SVG path data. Raises ``PathDataError`` saying what is wrong.

    Refuses: non-strings, more than ``MAX_D_BYTES`` bytes, data not starting with a moveto,
    wrong argument counts, NaN/infinite numbers, coordinates or arc radii beyond
    ±``MAX_COORD`` px, and more than ``MAX_VERTICES`` flattened vertices.
    """
    if not isinstance(d, str):
        raise PathDataError(f"must be a string of SVG path data, got {type(d).__name__}")
    if len(d) > MAX_D_BYTES or len(d.encode("utf-8")) > MAX_D_BYTES:
        raise PathDataError(f"is longer than {MAX_D_BYTES} bytes")
    if not d.strip():
        raise PathDataError("is empty")
    # parsed geometry is cached (an op is validated, then rendered many times); a few large
    # paths could hold a lot of memory, so they get a small cache of their own
    return _parse_small(d) if len(d) <= 100_000 else _parse_large(d)


def clear_caches() -> None:
    """Forget parsed paths and their rasterising state (benchmarks; tests)."""
    for f in (_parse_small, _parse_large, _skia_path, _tile_index, full_tiles):
        f.cache_clear()


def _parse_uncached(d: str) -> Geometry:
    toks = list(_tokens(d))
    polygons: list[np.ndarray] = []
    current: list = []          # chunks of complex points of the subpath being built
    count = 0
    pos = 0j
    start = 0j
    last_ctrl = None            # reflected control point for S / T
    last_cmd = ""
    i = 0
    n = len(toks)
    cmd = None

    def close_subpath():
        nonlocal current, count
        if current:
            pts = np.concatenate([np.atleast_1d(np.asarray(c, dtype=complex)) for c in current])
            if len(pts) >= 3:
                polygons.append(np.stack([pts.real, pts.imag], axis=1))
            current = []

    def number(kind: str) -> float:
        nonlocal i
        if i >= n or toks[i][0] != "num":
            where = toks[i][2] if i < n else len(d)
            raise PathDataError(f"command {cmd!r} expects more numbers at position {where}")
        v = float(toks[i][1])
        i += 1
        if not math.isfinite(v):
            raise PathDataError(f"number {toks[i - 1][1]!r} is not finite")
        return v

    def flag() -> bool:
        nonlocal i
        if i < n and toks[i][0] == "num":
            text = toks[i][1]
            if text[0] in "01" and len(text) > 1 and text[1:].lstrip("0123456789.eE+-") == "":
                # compact flags ("a5 5 0 01 10 10"): split off one digit
                toks[i] = ("num", text[1:], toks[i][2] + 1)
                return text[0] == "1"
            if text in ("0", "1"):
                i += 1
                return text == "1"
        raise PathDataError(f"arc flags must be 0 or 1 (command {cmd!r})")

    def first_control(explicit: bool, family: str) -> complex:
        # C / Q read their first control point; S / T reflect the previous command's last
        # control point about the current point (or use the current point after any other)
        if explicit:
            return base + complex(number("x1"), number("y1"))
        return 2 * pos - last_ctrl if last_ctrl is not None and last_cmd in family else pos

    def coord(x: float, y: float) -> complex:
        if abs(x) > MAX_COORD or abs(y) > MAX_COORD:
            raise PathDataError(f"coordinate ({x:g}, {y:g}) is beyond ±{MAX_COORD:g} px")
        return complex(x, y)

    if not toks or toks[0][0] != "cmd" or toks[0][1] not in "Mm":
        raise PathDataError("must start with a moveto command (M or m)")
    while i < n:
        kind, text, where = toks[i]
        if kind == "cmd":
            cmd = text
            i += 1
        elif cmd is None or cmd in "Zz":
            raise PathDataError(f"number {text!r} at position {where} follows no command")
        up = cmd.upper()
        rel = cmd != up
        base = pos if rel else 0j
        if up == "Z":
            if current:
                current.append(start)
            close_subpath()
            pos = start
            last_ctrl = None
            last_cmd = "Z"
            continue
        if up == "M":
            close_subpath()
            x, y = number("x"), number("y")
            pos = coord((base + complex(x, y)).real, (base + complex(x, y)).imag)
            start = pos
            current = [pos]
            cmd = "l" if rel else "L"   # implicit repeats of a moveto are linetos
            last_ctrl = None
            last_cmd = "M"
            count += 1
            continue
        if not current:                 # drawing after Z starts a new subpath at its start
            current = [pos]
            start = pos
        if up == "L":
            p = base + complex(number("x"), number("y"))
            pos = coord(p.real, p.imag)
            current.append(pos)
            last_ctrl = None
        elif up == "H":
            x = number("x") + (pos.real if rel else 0)
            pos = coord(x, pos.imag)
            current.append(pos)
            last_ctrl = None
        elif up == "V":
            y = number("y") + (pos.imag if rel else 0)
            pos = coord(pos.real, y)
            current.append(pos)
            last_ctrl = None
        elif up in "CS":
            c1 = first_control(up == "C", "CS")
            c2 = base + complex(number("x2"), number("y2"))
            p = base + complex(number("x"), number("y"))
            for c in (c1, c2, p):
                coord(c.real, c.imag)
            current.append(_cubic_points(pos, c1, c2, p))
            last_ctrl, pos = c2, p
        elif up in "QT":
            c1 = first_control(up == "Q", "QT")
            p = base + complex(number("x"), number("y"))
            for c in (c1, p):
                coord(c.real, c.imag)
            current.append(_quad_points(pos, c1, p))
            last_ctrl, pos = c1, p
        elif up == "A":
            rx, ry, rot = number("rx"), number("ry"), number("rotation")
            if abs(rx) > MAX_COORD or abs(ry) > MAX_COORD:
                raise PathDataError(f"arc radius ({rx:g}, {ry:g}) is beyond {MAX_COORD:g} px")
            large, sweep = flag(), flag()
            p = base + complex(number("x"), number("y"))
            coord(p.real, p.imag)
            pts = _arc_points(pos, rx, ry, rot, large, sweep, p)
            if np.abs(pts.real).max() > MAX_COORD or np.abs(pts.imag).max() > MAX_COORD:
                raise PathDataError(f"arc to ({p.real:g}, {p.imag:g}) reaches beyond ±{MAX_COORD:g} px")
            current.append(pts)
            last_ctrl, pos = None, p
        last_cmd = up
        count += len(current[-1]) if isinstance(current[-1], np.ndarray) else 1
        if count > MAX_VERTICES:
            raise PathDataError(f"flattens to more than {MAX_VERTICES} vertices")
    close_subpath()
    for p in polygons:
        p.setflags(write=False)
    if polygons:
        allp = np.concatenate(polygons)
        bbox = (float(allp[:, 0].min()), float(allp[:, 1].min()),
                float(allp[:, 0].max()), float(allp[:, 1].max()))
    else:
        bbox = None
    return Geometry(tuple(polygons), bbox)


_parse_small = lru_cache(maxsize=256)(_parse_uncached)
_parse_large = lru_cache(maxsize=4)(_parse_uncached)


def polygons_to_d(polygons) -> str:
    """Closed polygons (sequences of (x, y) px) → absolute SVG path data ``M … L … Z``."""
    parts = []
    for poly in polygons:
        pts = [(float(x), float(y)) for x, y in poly]
        if not pts:
            continue
        parts.append("M" + " L".join(f"{x:.6g} {y:.6g}" for x, y in pts) + " Z")
    return " ".join(parts)


@lru_cache(maxsize=64)
def _skia_path(d: str, fill_rule: str) -> skia.Path:
    geom = parse(d)
    path = skia.Path()
    path.setFillType(skia.PathFillType.kEvenOdd if fill_rule == "evenodd" else skia.PathFillType.kWinding)
    for poly in geom.polygons:
        path.addPoly([skia.Point(float(x), float(y)) for x, y in poly], True)
    return path


_PAINT = skia.Paint(AntiAlias=True)


def feather_kernel(feather: float) -> tuple[int, float]:
    """Gaussian used for a feather of ``feather`` px: (radius px, sigma px). sigma = feather / 2,
    radius = ceil(3 sigma), so the soft edge spans about ±feather px. (0, 0) for no feather."""
    if feather <= 0:
        return 0, 0.0
    sigma = feather / 2.0
    return int(math.ceil(3 * sigma)), sigma


def _tile(d: str, fill_rule: str, tx: int, ty: int, margin: int, sigma: float) -> np.ndarray:
    size = TILE + 2 * margin
    buf = np.zeros((size, size), np.uint8)
    info = skia.ImageInfo.Make(size, size, skia.ColorType.kAlpha_8_ColorType, skia.AlphaType.kPremul_AlphaType)
    surface = skia.Surface.MakeRasterDirect(info, buf, size)
    canvas = surface.getCanvas()
    canvas.translate(-(tx - margin), -(ty - margin))
    canvas.drawPath(_skia_path(d, fill_rule), _PAINT)
    del canvas, surface
    if margin:
        lo, hi = cv2.minMaxLoc(buf)[:2]
        if lo != hi:  # a uniform canvas stays uniform under the blur
            k = 2 * margin + 1
            buf = cv2.GaussianBlur(buf, (k, k), sigma, borderType=cv2.BORDER_REPLICATE)
        buf = buf[margin:margin + TILE, margin:margin + TILE]
    return buf


class _TileIndex:
    """Which canonical tiles of a path need rasterising. A tile whose rectangle, grown by the
    feather margin + 2 px, meets no edge's bounding box is uniform: all inside (255) or all
    outside (0), decided by the winding number at its centre under the fill rule."""

    def __init__(self, d: str, fill_rule: str, margin: int):
        geom = parse(d)
        self.evenodd = fill_rule == "evenodd"
        if geom.polygons:
            a = np.concatenate([p for p in geom.polygons])
            b = np.concatenate([np.roll(p, -1, axis=0) for p in geom.polygons])
        else:
            a = b = np.zeros((0, 2))
        keep = np.any(a != b, axis=1)
        self.a, self.b = a[keep], b[keep]
        grow = margin + 2
        lo = np.floor((np.minimum(self.a, self.b) - grow) / TILE).astype(np.int64)
        hi = np.floor((np.maximum(self.a, self.b) + grow) / TILE).astype(np.int64)
        n = (hi - lo + 1)
        counts = n[:, 0] * n[:, 1]
        idx = np.repeat(np.arange(len(counts)), counts)
        off = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        tx = lo[idx, 0] + off % n[idx, 0]
        ty = lo[idx, 1] + off // n[idx, 0]
        self.edge = set(zip(tx.tolist(), ty.tolist()))
        self.memo: dict = {}

    def uniform(self, tx: int, ty: int) -> int | None:
        """255 / 0 for a uniform tile (tile indices, not pixels), None when it must be drawn."""
        key = (tx, ty)
        if key in self.edge:
            return None
        if key not in self.memo:
            px, py = (tx + 0.5) * TILE, (ty + 0.5) * TILE
            a, b = self.a, self.b
            up = (a[:, 1] <= py) & (b[:, 1] > py)
            down = (b[:, 1] <= py) & (a[:, 1] > py)
            side = (b[:, 0] - a[:, 0]) * (py - a[:, 1]) - (px - a[:, 0]) * (b[:, 1] - a[:, 1])
            winding = int(np.count_nonzero(up & (side > 0)) - np.count_nonzero(down & (side < 0)))
            inside = (winding % 2 == 1) if self.evenodd else winding != 0
            self.memo[key] = 255 if inside else 0
        return self.memo[key]


@lru_cache(maxsize=32)
def _tile_index(d: str, fill_rule: str, margin: int) -> _TileIndex:
    return _TileIndex(d, fill_rule, margin)


def coverage_tiles(d: str, fill_rule: str, window: tuple[int, int, int, int], feather: float = 0.0):
    """Yield ((x, y, w, h) part of ``window``, coverage) for every canonical tile the window
    meets inside the path's reach: coverage is a uint8 array of the part's shape, or the int 0
    or 255 when the whole part has that coverage."""
    x, y, w, h = window
    geom = parse(d)
    if geom.bbox is None or w <= 0 or h <= 0:
        return
    margin, sigma = feather_kernel(feather)
    bx0, by0, bx1, by1 = geom.bbox
    # tiles that can hold nonzero coverage: the path's bounds grown by the feather kernel
    gx0 = max(x, math.floor(bx0) - margin - 1)
    gy0 = max(y, math.floor(by0) - margin - 1)
    gx1 = min(x + w, math.ceil(bx1) + margin + 1)
    gy1 = min(y + h, math.ceil(by1) + margin + 1)
    if gx0 >= gx1 or gy0 >= gy1:
        return
    index = _tile_index(d, fill_rule, margin)
    for ty in range((gy0 // TILE) * TILE, gy1, TILE):
        for tx in range((gx0 // TILE) * TILE, gx1, TILE):
            sx0, sy0 = max(tx, gx0), max(ty, gy0)
            sx1, sy1 = min(tx + TILE, gx1), min(ty + TILE, gy1)
            part = (sx0, sy0, sx1 - sx0, sy1 - sy0)
            value = index.uniform(tx // TILE, ty // TILE)
            if value is not None:
                yield part, value
            else:
                tile = _tile(d, fill_rule, tx, ty, margin, sigma)
                yield part, tile[sy0 - ty:sy1 - ty, sx0 - tx:sx1 - tx]


@lru_cache(maxsize=32)
def full_tiles(d: str, fill_rule: str, shape: tuple[int, int], feather: float = 0.0) -> np.ndarray:
    """Bool array (read-only) over the canonical tiles of an image of ``shape`` (H, W): True
    where the whole tile has coverage 255 (what :func:`coverage_tiles` yields as the int 255)."""
    H, W = shape[0], shape[1]
    out = np.zeros((-(-H // TILE), -(-W // TILE)), bool)
    geom = parse(d)
    if geom.bbox is None:
        out.setflags(write=False)
        return out
    margin = feather_kernel(feather)[0]
    bx0, by0, bx1, by1 = geom.bbox
    # a tile with coverage 255 lies inside the path's bounds
    tx0, ty0 = max(0, math.floor(bx0) // TILE), max(0, math.floor(by0) // TILE)
    tx1, ty1 = min(out.shape[1], math.ceil(bx1) // TILE + 1), min(out.shape[0], math.ceil(by1) // TILE + 1)
    index = _tile_index(d, fill_rule, margin)
    for ty in range(ty0, ty1):
        for tx in range(tx0, tx1):
            out[ty, tx] = index.uniform(tx, ty) == 255
    out.setflags(write=False)
    return out


def coverage(d: str, fill_rule: str, window: tuple[int, int, int, int], feather: float = 0.0) -> np.ndarray:
    """Coverage (uint8, 255 = fully inside) of the path over ``window`` = (x, y, w, h) px.

    Exact area coverage under ``fill_rule`` ("evenodd" | "nonzero"); with ``feather`` > 0 px
    the coverage is blurred by the Gaussian of :func:`feather_kernel`. Assembled from canonical
    tiles, so any window equals the same crop of any larger window, byte for byte.
    """
    x, y, w, h = window
    out = np.zeros((max(h, 0), max(w, 0)), np.uint8)
    for (px, py, pw, ph), cov in coverage_tiles(d, fill_rule, window, feather):
        out[py - y:py - y + ph, px - x:px - x + pw] = cov
    return out


def pixel_bounds(d: str, feather: float = 0.0) -> tuple[int, int, int, int] | None:
    """Integer pixel bounds (x0, y0, x1, y1), exclusive end, of everything the path can cover
    (with ``feather`` px of blur), or None for a path with no area."""
    geom = parse(d)
    if geom.bbox is None:
        return None
    margin = feather_kernel(feather)[0]
    bx0, by0, bx1, by1 = geom.bbox
    return (math.floor(bx0) - margin - 1, math.floor(by0) - margin - 1,
            math.ceil(bx1) + margin + 1, math.ceil(by1) + margin + 1)
