"""Render a mask from its base alpha and its operation log: full frame or a dirty rectangle.

Order: base alpha → the latest refine operation (see :mod:`masks.refine`) → every other
operation in log order. Compositing with coverage c in 0–1 (8-bit integers, rounded to nearest):

- path add / stroke keep:        a' = a + c·(1 − a)
- path subtract / stroke remove: a' = a·(1 − c)
- path intersect:                a' = a·c          (so everything outside the path becomes 0)
- channel:                       a' = a·(1 − r) + v·r  (r region coverage, v levelled channel)
- cleanup:                       see :func:`masks.refine.cleanup`

``render(..., rect=(x, y, w, h))`` is bit-identical to the same crop of the full render, and
the same input always gives the same bytes: paths are rasterised per canonical tile
(:mod:`masks.paths`), strokes per pixel from absolute coordinates, refine with integer
arithmetic inside a margin, clean-up on the whole area it depends on.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from masks import paths, refine
from masks.errors import ImageInputError, MaskError
from masks.ops import OP_TYPES, ChannelOp, CleanupOp, PathOp, RefineOp, StrokeOp, parse_op

Rect = tuple[int, int, int, int]


# ---------------------------------------------------------------- strokes

@njit(cache=True, nogil=True)
def _profile_integral(t, inner, radius):
    # P(t) = ∫ f from 0 to t, f = 1 up to ``inner``, falling linearly to 0 at ``radius``
    if t <= inner:
        return t
    wd = radius - inner
    if t >= radius:
        return inner + 0.5 * wd
    u = radius - t
    return inner + (wd * wd - u * u) / (2.0 * wd)


@njit(cache=True, nogil=True)
def _stroke_coverage(xy, radius, hardness, opacity, x0, y0, w, h):
    d2 = np.full((h, w), np.inf)
    reach = radius + 0.5
    n = xy.shape[0]
    nseg = n - 1 if n > 1 else 1
    for s in range(nseg):
        ax = xy[s, 0]
        ay = xy[s, 1]
        bx = xy[s + 1, 0] if n > 1 else ax
        by = xy[s + 1, 1] if n > 1 else ay
        ex = bx - ax
        ey = by - ay
        l2 = ex * ex + ey * ey
        X0 = max(x0, int(math.floor(min(ax, bx) - reach)) - 1)
        X1 = min(x0 + w, int(math.ceil(max(ax, bx) + reach)) + 1)
        Y0 = max(y0, int(math.floor(min(ay, by) - reach)) - 1)
        Y1 = min(y0 + h, int(math.ceil(max(ay, by) + reach)) + 1)
        for Y in range(Y0, Y1):
            vy = (Y + 0.5) - ay
            row = d2[Y - y0]
            for X in range(X0, X1):
                vx = (X + 0.5) - ax
                t = 0.0
                if l2 > 0.0:
                    t = (vx * ex + vy * ey) / l2
                    if t < 0.0:
                        t = 0.0
                    elif t > 1.0:
                        t = 1.0
                dx = vx - t * ex
                dy = vy - t * ey
                dd = dx * dx + dy * dy
                if dd < row[X - x0]:
                    row[X - x0] = dd
    out = np.zeros((h, w), np.uint8)
    reach2 = reach * reach
    inner = hardness * radius
    scale = 255.0 * opacity
    for Y in range(h):
        for X in range(w):
            dd = d2[Y, X]
            if dd < reach2:
                dist = math.sqrt(dd)
                f = _profile_integral(dist + 0.5, inner, radius) - _profile_integral(dist - 0.5, inner, radius)
                v = math.floor(scale * f + 0.5)
                out[Y, X] = 255 if v > 255 else (0 if v < 0 else v)
    return out


def stroke_profile(distance, radius: float, hardness: float, opacity: float = 1.0):
    """Coverage (0–1) of a pixel whose centre lies ``distance`` px from the stroke's centre line.

    The centre line is the polyline through the points (one point: a single disc); ``distance``
    is the Euclidean distance from the pixel centre (x + ½, y + ½) to its nearest point, so the
    footprint is the union of discs along the segments (a capsule chain). The falloff
    f(δ) is 1 up to the core radius ``hardness · radius``, then falls linearly to 0 at
    ``radius``. Coverage is f box-filtered over one pixel along the distance,
    F(δ) = ∫ f(t) dt over [δ − ½, δ + ½], times ``opacity``. So:

    - hardness 1: F = clamp(radius − δ + ½, 0, 1), a hard anti-aliased edge whose 50 % contour
      is the circle of ``radius`` (total coverage of a dot ≈ π·radius²);
    - hardness h < 1: fully on inside (h·radius − ½), zero beyond (radius + ½), 50 % at
      (1 + h)·radius / 2.

    A browser cursor reproduces the footprint by drawing the circle of ``radius`` (outer edge)
    and, for soft brushes, the core circle of ``hardness · radius``.
    """
    d = np.asarray(distance, dtype=np.float64)
    inner = hardness * radius
    wd = radius - inner

    def integral(t):
        if wd <= 0:
            return np.minimum(t, radius)
        u = radius - t
        mid = inner + (wd * wd - u * u) / (2 * wd)
        return np.where(t <= inner, t, np.where(t >= radius, inner + wd / 2, mid))

    return opacity * (integral(d + 0.5) - integral(d - 0.5))


def stroke_bounds(op: StrokeOp) -> tuple[int, int, int, int]:
    """Integer pixel bounds (x0, y0, x1, y1), end exclusive, of what a stroke can touch."""
    xy = op.xy
    reach = op.radius + 1
    return (math.floor(xy[:, 0].min() - reach), math.floor(xy[:, 1].min() - reach),
            math.ceil(xy[:, 0].max() + reach), math.ceil(xy[:, 1].max() + reach))


def stroke_coverage(op: StrokeOp, window: Rect) -> np.ndarray:
    """Coverage (uint8, 255 = full, already times opacity) of a stroke over ``window``."""
    x, y, w, h = window
    return _stroke_coverage(op.xy, float(op.radius), float(op.hardness), float(op.opacity), x, y, w, h)


# ---------------------------------------------------------------- compositing (in place)

def _div255(v: np.ndarray) -> np.ndarray:
    return ((v + 127) // 255).astype(np.uint8)


def _composite(a: np.ndarray, c: np.ndarray, mode: str) -> None:
    a16 = a.astype(np.uint16)
    c16 = c.astype(np.uint16)
    if mode in ("add", "keep"):
        a[...] = a16 + _div255(c16 * (255 - a16))
    elif mode in ("subtract", "remove"):
        a[...] = _div255(a16 * (255 - c16))
    else:  # intersect
        a[...] = _div255(a16 * c16)


def _intersect(win: Rect, bounds) -> Rect | None:
    """The part of ``win`` (x, y, w, h) inside ``bounds`` (x0, y0, x1, y1), or None."""
    if bounds is None:
        return None
    x, y, w, h = win
    x0, y0 = max(x, bounds[0]), max(y, bounds[1])
    x1, y1 = min(x + w, bounds[2]), min(y + h, bounds[3])
    if x0 >= x1 or y0 >= y1:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def _sub(a: np.ndarray, win: Rect, part: Rect) -> np.ndarray:
    return a[part[1] - win[1]:part[1] - win[1] + part[3], part[0] - win[0]:part[0] - win[0] + part[2]]


# ---------------------------------------------------------------- channel

_LUMA = np.array([2126, 7152, 722], dtype=np.int64)


def _channel_values(image: np.ndarray, channel: str) -> np.ndarray:
    if channel == "luma":  # BT.709 weights on the sRGB values, integer rounding
        return ((image.astype(np.int64) @ _LUMA + 5000) // 10000).astype(np.uint8)
    return image[..., "rgb".index(channel)]


def _auto_channel(op: ChannelOp, image: np.ndarray) -> str:
    """The one of r, g, b with the largest standard deviation inside the whole region."""
    H, W = image.shape[:2]
    part = _intersect((0, 0, W, H), paths.pixel_bounds(op.d))
    if part is None:
        return "r"
    inside = paths.coverage(op.d, "evenodd", part) >= 128
    if not inside.any():
        return "r"
    px = image[part[1]:part[1] + part[3], part[0]:part[0] + part[2]][inside].astype(np.float64)
    return "rgb"[int(np.argmax(px.std(axis=0)))]


def _apply_channel(a: np.ndarray, win: Rect, op: ChannelOp, image: np.ndarray) -> None:
    part = _intersect(win, paths.pixel_bounds(op.d))
    if part is None:
        return
    cov = paths.coverage(op.d, "evenodd", part).astype(np.uint16)
    channel = _auto_channel(op, image) if op.channel == "auto" else op.channel
    src = _sub(image, (0, 0, image.shape[1], image.shape[0]), part)
    lut = np.clip(np.floor((np.arange(256) - op.black) * 255 / (op.white - op.black) + 0.5), 0, 255)
    if op.invert:
        lut = 255 - lut
    v = lut.astype(np.uint16)[_channel_values(src, channel)]
    view = _sub(a, win, part)
    view[...] = _div255(view.astype(np.uint16) * (255 - cov) + v * cov)


# ---------------------------------------------------------------- the renderer

def _bounds(op, shape) -> tuple | None | str:
    """Pixel bounds (x0, y0, x1, y1) an op can change; "all" for the whole frame; None: nothing."""
    if isinstance(op, PathOp):
        return "all" if op.mode == "intersect" else paths.pixel_bounds(op.d, op.feather)
    if isinstance(op, StrokeOp):
        return stroke_bounds(op) if op.opacity > 0 else None
    if isinstance(op, ChannelOp):
        return paths.pixel_bounds(op.d)
    if isinstance(op, CleanupOp):
        if op.min_speck <= 0 and op.min_hole <= 0:
            return None
        return "all" if op.region is None else paths.pixel_bounds(op.region)
    return "all"  # refine


def _apply(a: np.ndarray, win: Rect, op, image) -> None:
    if isinstance(op, StrokeOp):
        part = _intersect(win, stroke_bounds(op))
        if part is not None and op.opacity > 0:
            _composite(_sub(a, win, part), stroke_coverage(op, part), op.mode)
    elif isinstance(op, PathOp):
        part = _intersect(win, paths.pixel_bounds(op.d, op.feather))
        if op.mode == "intersect":
            keep = np.zeros_like(a)
            if part is not None:
                view = _sub(a, win, part)
                _composite(view, paths.coverage(op.d, op.fill_rule, part, op.feather), "intersect")
                _sub(keep, win, part)[...] = view
            a[...] = keep
        elif part is not None:
            _composite(_sub(a, win, part), paths.coverage(op.d, op.fill_rule, part, op.feather), op.mode)
    elif isinstance(op, ChannelOp):
        _apply_channel(a, win, op, image)


def _union(a: Rect, b: Rect) -> Rect:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def _render_window(base, refine_op, ops, win: Rect, image) -> np.ndarray:
    H, W = base.shape
    last = max((i for i, op in enumerate(ops) if isinstance(op, CleanupOp)), default=None)
    if last is None:
        a = refine.refine_window(base, refine_op, win)
        rest = ops
    else:
        op = ops[last]
        if op.region is None:
            cwin = (0, 0, W, H)
        else:
            b = paths.pixel_bounds(op.region)
            cwin = _intersect((0, 0, W, H), b) if b else None
        need = win if cwin is None else _union(win, cwin)
        big = _render_window(base, refine_op, ops[:last], need, image)
        if cwin is not None:
            view = _sub(big, need, cwin)
            region = None if op.region is None else paths.coverage(op.region, "evenodd", cwin)
            edges = (cwin[1] == 0, cwin[1] + cwin[3] == H, cwin[0] == 0, cwin[0] + cwin[2] == W)
            view[...] = refine.cleanup(view, op, region, edges)
        a = _sub(big, need, win).copy() if need != win else big
        rest = ops[last + 1:]
    for op in rest:
        _apply(a, win, op, image)
    return a


def _as_ops(ops) -> list:
    out = []
    for i, op in enumerate(ops):
        if isinstance(op, dict):
            try:
                op = parse_op(op)
            except MaskError as exc:
                raise type(exc)(f"operation {i}: {exc}") from None
        elif not isinstance(op, OP_TYPES):
            raise MaskError(f"operation {i}: must be an operation, got {type(op).__name__}")
        out.append(op)
    return out


def _check_rect(rect, W: int, H: int) -> Rect:
    if rect is None:
        return (0, 0, W, H)
    try:
        x, y, w, h = (int(v) for v in rect)
    except (TypeError, ValueError):
        raise MaskError(f"rect: must be (x, y, w, h) integers, got {rect!r}") from None
    if any(int(v) != v for v in rect):
        raise MaskError(f"rect: must be whole pixels, got {rect!r}")
    if w < 0 or h < 0 or x < 0 or y < 0 or x + w > W or y + h > H:
        raise MaskError(f"rect: {rect!r} is not inside the {W}×{H} image")
    return (x, y, w, h)


def render(base_alpha: np.ndarray, ops, rect=None, image: np.ndarray | None = None) -> np.ndarray:
    """The mask (uint8 H×W, or h×w for ``rect`` = (x, y, w, h) px) of ``base_alpha`` + ``ops``.

    ``ops`` is the active operation list in log order (Op instances or wire dicts); ``image``
    (uint8 H×W×3 sRGB) is needed only by channel operations.
    """
    if not isinstance(base_alpha, np.ndarray) or base_alpha.dtype != np.uint8 or base_alpha.ndim != 2:
        raise ImageInputError("base_alpha: must be a uint8 array of shape (H, W)")
    H, W = base_alpha.shape
    ops = _as_ops(ops)
    if any(isinstance(op, ChannelOp) for op in ops):
        if image is None:
            raise ImageInputError("image: channel operations need the photo")
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.shape != (H, W, 3):
            raise ImageInputError(f"image: must be a uint8 array of shape ({H}, {W}, 3)")
    win = _check_rect(rect, W, H)
    refine_op = next((op for op in reversed(ops) if isinstance(op, RefineOp)), None)
    others = [op for op in ops if not isinstance(op, RefineOp)]
    return _render_window(base_alpha, refine_op, others, win, image)


def dirty_rect(ops, shape) -> Rect | None:
    """The rectangle (x, y, w, h) px that applying (or undoing) ``ops`` can change in a mask of
    ``shape`` (H, W, …); None when it may change the whole frame (refine, intersect, clean-up
    without region); (0, 0, 0, 0) when it changes nothing inside the image."""
    H, W = shape[0], shape[1]
    box = None
    for op in _as_ops(ops):
        b = _bounds(op, shape)
        if b == "all":
            return None
        if b is None:
            continue
        part = _intersect((0, 0, W, H), b)
        if part is not None:
            box = part if box is None else _union(box, part)
    return box if box is not None else (0, 0, 0, 0)
