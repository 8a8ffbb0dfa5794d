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

import concurrent.futures
import functools
import itertools
import math
import os

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from masks import paths, refine
from masks.errors import ImageInputError, MaskError
from masks.ops import OP_TYPES, ChannelOp, CleanupOp, PathOp, RefineOp, StrokeOp, parse_op

Rect = tuple[int, int, int, int]


# ---------------------------------------------------------------- strokes

@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint that arr[idx] (1-D) will be read and written soon (LLVM's prefetch: no effect on
    any value, so none on the bytes; it only lets the cache line arrive while other work runs)."""
    if not isinstance(arr, types.Array) or arr.ndim != 1 or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [i8p, ir.Constant(i32, 1), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


@njit(cache=True, nogil=True)
def _profile_integral(t, inner, radius, half_inv_wd):
    # P(t) = ∫ f from 0 to t, f = 1 up to ``inner``, falling linearly to 0 at ``radius``:
    # P = min(t, inner) + (u − inner) − (u − inner)² / (2 wd), u = clamp(t, inner, radius).
    # Branch-free (so it vectorises); half_inv_wd = 1 / (2 wd), 0 for a hard brush.
    u = min(max(t, inner), radius) - inner
    return min(t, inner) + u - u * u * half_inv_wd


@njit(cache=True, nogil=True)
def _div255_px(v):
    # round(v / 255) for 0 <= v <= 255·255, exactly, without a division
    t = v + 128
    return (t + (t >> 8)) >> 8


@njit(cache=True, nogil=True)
def _composite_px(a, c, mode):
    # mode 0: add / keep, 1: subtract / remove, 2: intersect; 8-bit, rounded to nearest
    if mode == 0:
        return a + _div255_px(c * (255 - a))
    if mode == 1:
        return _div255_px(a * (255 - c))
    return _div255_px(a * c)


@njit(cache=True, nogil=True)
def _composite_kernel(a, c, mode):
    h, w = a.shape
    for y in range(h):
        for x in range(w):
            cv = np.int32(c[y, x])
            av = np.int32(a[y, x])
            if cv == 0:
                if mode == 2:
                    a[y, x] = 0
            elif cv == 255:
                if mode == 0:
                    a[y, x] = 255
                elif mode == 1:
                    a[y, x] = 0
            else:
                a[y, x] = _composite_px(av, cv, mode)


@njit(cache=True, nogil=True, inline="always")
def _segment_row(row, xs, base_x, c, qx, qy, inv, vy):
    # min squared distance from the pixel centres of one row span to one segment. ``row`` and
    # ``xs`` (the span's x indices as float64) are slices, so the loop index is known to be
    # non-negative: with a signed index numba adds a wraparound select that stops LLVM from
    # vectorising. Branch-free float32; the offset from the segment start is taken in float64
    # from absolute coordinates, so a pixel gets the same bits in any window
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for i in range(row.shape[0]):
        vx = np.float32(base_x + xs[i])
        t = min(max((vx * qx + c) * inv, zero), one)
        dx = vx - t * qx
        dy = vy - t * qy
        row[i] = min(row[i], dx * dx + dy * dy)


@njit(cache=True, nogil=True)
def _coverage_px(d2, inner, radius, hiw, scale):
    # squared distance → profile → 8-bit coverage (a pixel out of reach gets 0)
    dist = math.sqrt(np.float64(d2))
    f = _profile_integral(dist + 0.5, inner, radius, hiw) - _profile_integral(dist - 0.5, inner, radius, hiw)
    return np.int32(min(max(math.floor(scale * f + 0.5), 0.0), 255.0))


@njit(cache=True, nogil=True)
def _finish_row(row, inner, radius, hiw, scale, out, mode, store):
    # squared distances of one row span → coverage, stored (``store``) or composited into
    # ``out`` (a slice of the same span). One branch-free loop per case, so each vectorises
    if store:
        for i in range(row.shape[0]):
            out[i] = np.uint8(_coverage_px(row[i], inner, radius, hiw, scale))
    elif mode == 0:
        for i in range(row.shape[0]):
            v = _coverage_px(row[i], inner, radius, hiw, scale)
            out[i] = np.uint8(_composite_px(np.int32(out[i]), v, 0))
    else:
        for i in range(row.shape[0]):
            v = _coverage_px(row[i], inner, radius, hiw, scale)
            out[i] = np.uint8(_composite_px(np.int32(out[i]), v, 1))


@njit(cache=True, nogil=True)
def _fill_row(out, v, mode, store):
    # a run of pixels that all get coverage ``v``: stored or composited
    if store:
        for i in range(out.shape[0]):
            out[i] = np.uint8(v)
    else:
        for i in range(out.shape[0]):
            out[i] = np.uint8(_composite_px(np.int32(out[i]), v, mode))


@njit(cache=True, nogil=True, inline="always")
def _push_span(lo, hi, m, a, b):
    """Add the range [a, b) to lo[:m], hi[:m]; returns the new m. A range that overlaps or
    touches the last one is folded into it (the ranges of consecutive segments share the end
    point between them), so the list stays short and in order for _merge_spans."""
    if m > 0 and a <= hi[m - 1] and b >= lo[m - 1]:
        lo[m - 1] = min(lo[m - 1], a)
        hi[m - 1] = max(hi[m - 1], b)
        return m
    lo[m] = a
    hi[m] = b
    return m + 1


@njit(cache=True, nogil=True, inline="always")
def _merge_spans(lo, hi, m, out_lo, out_hi):
    """Sort the half-open ranges lo[:m], hi[:m] (in place) and merge overlapping or touching
    ones into out_lo / out_hi; returns how many. Insertion sort: the lists are short and mostly
    in order already (a stroke that loops back crosses a row in places far apart)."""
    for q in range(1, m):
        a = lo[q]
        b = hi[q]
        p = q - 1
        while p >= 0 and lo[p] > a:
            lo[p + 1] = lo[p]
            hi[p + 1] = hi[p]
            p -= 1
        lo[p + 1] = a
        hi[p + 1] = b
    nm = 0
    for q in range(m):
        if nm > 0 and lo[q] <= out_hi[nm - 1]:
            if hi[q] > out_hi[nm - 1]:
                out_hi[nm - 1] = hi[q]
        else:
            out_lo[nm] = lo[q]
            out_hi[nm] = hi[q]
            nm += 1
    return nm


@njit(cache=True, nogil=True, inline="always")
def _first_of(r, first_row, row_step):
    # the first row >= r of the rows first_row, first_row + row_step, … (0 <= first_row < row_step)
    return r + (first_row - r) % row_step


@njit(cache=True, nogil=True)
def _stroke_kernel(a, oy, ox, h, w, x0, y0, xy, radius, hardness, opacity, mode, cov, first_row, row_step):
    """Stroke coverage over the window (x0, y0, w, h) px, which is a[oy:oy + h, ox:ox + w]:
    composited into ``a`` in place (mode 0 keep / 1 remove) or, with ``cov`` of the window's
    shape, written there instead. ``a`` is passed whole (C-contiguous), not as a 2-D view of
    the window: a row of a view has an unknown stride, and the row loops over it would not
    vectorise.
    Only rows first_row, first_row + row_step, … of the window are done (threads share rows
    out this way: every thread gets an even share of the work, wherever the stroke goes).

    Row by row: the segments whose capsule reaches the row, each over the x-range its discs
    can reach; min squared distance per pixel centre, then the profile.

    Core skip: a pixel whose centre is within ``hardness·radius − ½`` of the centre line gets
    F = 1 (to within 1e-12), so one coverage value ``vcore``. On each row the pixels within
    that distance (less a safety margin far above float32 rounding) of a point of the stroke
    form a few intervals; they get ``vcore`` without any distance being computed. Only strokes
    whose ``vcore`` cannot depend on those last bits of F (255·opacity + ½ not within 1e-9 of
    an integer) take this path, so the bytes are the same as computing every pixel."""
    reach = radius + 0.5              # F(δ) > 0 only for δ < radius + ½
    reach2 = reach * reach
    inner = hardness * radius
    scale = 255.0 * opacity
    hiw = 0.5 / (radius - inner) if radius > inner else 0.0
    vlo = min(max(math.floor(scale * (1.0 - 1e-9) + 0.5), 0.0), 255.0)
    vhi = min(max(math.floor(scale * (1.0 + 1e-9) + 0.5), 0.0), 255.0)
    vcore = np.int32(vlo)
    use_core = vlo == vhi and inner - 0.5 > 0.0
    n = xy.shape[0]
    nseg = n - 1 if n > 1 else 1
    ax = np.empty(nseg)
    ay = np.empty(nseg)
    ex = np.empty(nseg)
    ey = np.empty(nseg)
    il2 = np.empty(nseg)
    core = np.empty(nseg)              # radius of the sure-core disc at each segment's ends
    ylo = np.empty(nseg, np.int64)
    yhi = np.empty(nseg, np.int64)
    counts = np.zeros(h + 1, np.int64)
    for s in range(nseg):
        ax[s] = xy[s, 0]
        ay[s] = xy[s, 1]
        bx = xy[s + 1, 0] if n > 1 else ax[s]
        by = xy[s + 1, 1] if n > 1 else ay[s]
        ex[s] = bx - ax[s]
        ey[s] = by - ay[s]
        ll = ex[s] * ex[s] + ey[s] * ey[s]
        il2[s] = 1.0 / ll if ll > 0.0 else 0.0   # a repeated point is a disc: t stays 0
        # float32 distances to this segment are off by at most ~1e-6·(reach + length) px
        core[s] = inner - 0.5 - (1e-3 + 1e-5 * (reach + math.sqrt(ll))) if use_core else 0.0
        lo = min(max(y0, int(math.floor(min(ay[s], by) - reach)) - 1), y0 + h)
        hi = max(min(y0 + h, int(math.ceil(max(ay[s], by) + reach)) + 1), lo)
        ylo[s] = lo
        yhi[s] = hi
        for r in range(_first_of(lo - y0, first_row, row_step), hi - y0, row_step):   # this thread's rows
            counts[r + 1] += 1
    for r in range(h):
        counts[r + 1] += counts[r]
    fill = counts[:h].copy()
    segs = np.empty(counts[h], np.int64)
    for s in range(nseg):
        for r in range(_first_of(ylo[s] - y0, first_row, row_step), yhi[s] - y0, row_step):
            segs[fill[r]] = s
            fill[r] += 1
    row = np.empty(w, np.float32)
    xs = np.arange(w).astype(np.float64)
    xlo = np.empty(nseg, np.int64)
    xhi = np.empty(nseg, np.int64)
    ilo = np.empty(nseg + 1, np.int64)
    ihi = np.empty(nseg + 1, np.int64)
    mlo = np.empty(nseg + 1, np.int64)
    mhi = np.empty(nseg + 1, np.int64)
    clo = np.empty(nseg + 1, np.int64)      # sure-core ranges (merged in place)
    chi = np.empty(nseg + 1, np.int64)
    store = cov.shape[0] == h
    for r in range(first_row, h, row_step):
        k0 = counts[r]
        k1 = counts[r + 1]
        if k0 == k1:
            continue
        cy = (y0 + r) + 0.5
        m = 0
        nc = 0
        for k in range(k0, k1):
            s = segs[k]
            sy0 = min(ay[s], ay[s] + ey[s])
            sy1 = max(ay[s], ay[s] + ey[s])
            dy = sy0 - cy if cy < sy0 else (cy - sy1 if cy > sy1 else 0.0)
            rem = reach2 - dy * dy
            if rem <= 0.0:
                xlo[s] = 0
                xhi[s] = 0
                continue
            hw = math.sqrt(rem)
            sx0 = min(ax[s], ax[s] + ex[s])
            sx1 = max(ax[s], ax[s] + ex[s])
            lo = min(max(0, int(math.floor(sx0 - hw - 0.5)) - x0), w)
            hi = max(min(w, int(math.ceil(sx1 + hw - 0.5)) + 1 - x0), lo)
            xlo[s] = lo
            xhi[s] = hi
            if hi > lo:
                m = _push_span(ilo, ihi, m, lo, hi)
            # sure-core discs at the segment's start (and at the stroke's last point): the
            # next segment starts where this one ends, and reaches this row if its disc does
            for e in range(2 if s == nseg - 1 else 1):
                rc = core[s]
                px = ax[s] + ex[s] * e
                dyc = cy - (ay[s] + ey[s] * e)
                remc = rc * rc - dyc * dyc
                if rc > 0.0 and remc > 0.0:
                    hwc = math.sqrt(remc)
                    clo_ = max(0, int(math.ceil(px - hwc - 0.5)) - x0)
                    chi_ = min(w, int(math.floor(px + hwc - 0.5)) + 1 - x0)
                    if chi_ > clo_:
                        nc = _push_span(clo, chi, nc, clo_, chi_)
        if m == 0:
            continue
        nm = _merge_spans(ilo, ihi, m, mlo, mhi)
        if not store:
            # this row of the mask is read and written once its distances are done: ask for
            # its cache lines now, so that they arrive while the distances are computed (rows
            # are a page or more apart, which the hardware's own prefetch does not follow)
            arow = a[oy + r]
            for q in range(nm):
                for X in range(ox + mlo[q], ox + mhi[q], 64):
                    _prefetch(arow, X)
                _prefetch(arow, ox + mhi[q] - 1)
        nc = _merge_spans(clo, chi, nc, clo, chi) if nc > 0 else 0
        for q in range(nm):
            row[mlo[q]:mhi[q]] = np.inf
        for k in range(k0, k1):
            s = segs[k]
            lo = xlo[s]
            hi = xhi[s]
            if hi <= lo:
                continue
            vy = cy - ay[s]
            qx = np.float32(ex[s])
            qy = np.float32(ey[s])
            inv = np.float32(il2[s])
            vy32 = np.float32(vy)
            c = vy32 * qy
            bx = (x0 + 0.5) - ax[s]
            # the gaps between the cores only, each rounded up to whole 8-px vectors (the
            # scalar tail loop costs more than the extra pixels): a pixel outside this
            # segment's span is more than ``reach`` from it, so its distance cannot lower
            # the minimum of a pixel with coverage > 0; pixels outside every span and core
            # pixels are never read from ``row``
            p = lo
            for q in range(nc):
                if chi[q] <= p:
                    continue
                if clo[q] >= hi:
                    break
                if clo[q] > p:
                    e = min(w, p + ((clo[q] - p + 7) & -8))
                    _segment_row(row[p:e], xs[p:e], bx, c, qx, qy, inv, vy32)
                p = chi[q]
                if p >= hi:
                    break
            if p < hi:
                e = min(w, p + ((hi - p + 7) & -8))
                _segment_row(row[p:e], xs[p:e], bx, c, qx, qy, inv, vy32)
        out = cov[r] if store else a[oy + r][ox:ox + w]
        for q in range(nm):
            lo = mlo[q]
            hi = mhi[q]
            p = lo
            for j in range(nc):
                if chi[j] <= p:
                    continue
                if clo[j] >= hi:
                    break
                if clo[j] > p:
                    _finish_row(row[p:clo[j]], inner, radius, hiw, scale, out[p:clo[j]], mode, store)
                p = max(p, clo[j])
                e = min(chi[j], hi)
                _fill_row(out[p:e], vcore, mode, store)
                p = e
                if p >= hi:
                    break
            if p < hi:
                _finish_row(row[p:hi], inner, radius, hiw, scale, out[p:hi], mode, store)


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
    hiw = 0.5 / (radius - inner) if radius > inner else 0.0

    def integral(t):  # the same arithmetic as the compiled kernel, so the same bits
        u = np.minimum(np.maximum(t, inner), radius) - inner
        return np.minimum(t, inner) + u - u * u * hiw

    return opacity * (integral(d + 0.5) - integral(d - 0.5))


def stroke_bounds(op: StrokeOp) -> tuple[int, int, int, int]:
    """Integer pixel bounds (x0, y0, x1, y1), end exclusive, of what a stroke can touch."""
    xy = op.xy
    reach = op.radius + 1
    return (math.floor(xy[:, 0].min() - reach), math.floor(xy[:, 1].min() - reach),
            math.ceil(xy[:, 0].max() + reach), math.ceil(xy[:, 1].max() + reach))


_NO_COV = np.zeros((0, 0), np.uint8)
_MODES = {"add": 0, "keep": 0, "subtract": 1, "remove": 1, "intersect": 2}


def stroke_coverage(op: StrokeOp, window: Rect) -> np.ndarray:
    """Coverage (uint8, 255 = full, already times opacity) of a stroke over ``window``."""
    x, y, w, h = window
    cov = np.zeros((h, w), np.uint8)
    _stroke_kernel(cov, 0, 0, h, w, x, y, op.xy, float(op.radius), float(op.hardness), float(op.opacity), 0, cov, 0, 1)
    return cov


_POOL = None
_PARALLEL_MIN_WORK = 200_000   # px (see _stroke_work): below this a second thread costs more than it saves


def _pool():
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)),
                                                      thread_name_prefix="masks-stroke")
    return _POOL


def _stroke_work(op: StrokeOp) -> float:
    """Estimated kernel work (px evaluated): each segment covers about (x-extent + brush
    diameter) px on each of its (y-extent + brush diameter) rows."""
    xy = op.xy
    ext = np.abs(np.diff(xy, axis=0)) if len(xy) > 1 else np.zeros((1, 2))
    span = 2 * op.radius + 1
    return float(((ext[:, 0] + span) * (ext[:, 1] + span)).sum())


def _on_c_rows(apply):
    """``apply(a, win, ops)`` on a C-contiguous copy of ``a`` when ``a`` is a strided view, then
    written back: the stroke kernel indexes whole C rows of ``a`` (the renderer's arrays are)."""
    @functools.wraps(apply)
    def on_c_rows(a: np.ndarray, win: Rect, ops) -> None:
        if a.flags.c_contiguous:
            return apply(a, win, ops)
        tmp = np.ascontiguousarray(a)
        apply(tmp, win, ops)
        a[...] = tmp
    return on_c_rows


def _kernel_args(win: Rect, op: StrokeOp):
    """``_stroke_kernel``'s arguments (all but the rows to do) for ``op`` on the array whose
    window is ``win``, or None when the stroke changes nothing there."""
    part = _intersect(win, stroke_bounds(op))
    if part is None or op.opacity <= 0:
        return None
    x, y, w, h = part
    return (y - win[1], x - win[0], h, w, x, y, op.xy, float(op.radius), float(op.hardness),
            float(op.opacity), _MODES[op.mode], _NO_COV)


@_on_c_rows
def _stroke_apply(a: np.ndarray, win: Rect, op: StrokeOp) -> None:
    args = _kernel_args(win, op)
    if args is None:
        return
    n = _pool()._max_workers if args[2] >= 64 and _stroke_work(op) >= _PARALLEL_MIN_WORK else 1
    if n <= 1:
        _stroke_kernel(a, *args, 0, 1)
        return
    # rows are independent (each pixel's value comes from absolute coordinates), so threads
    # can share them out, thread t taking rows t, t + n, t + 2n, …: the same bytes (the kernel
    # releases the GIL), and an even share of the work however the stroke wanders
    jobs = [_pool().submit(_stroke_kernel, a, *args, t, n) for t in range(1, n)]
    _stroke_kernel(a, *args, 0, n)
    for job in jobs:
        job.result()


@_on_c_rows
def _stroke_run_apply(a: np.ndarray, win: Rect, ops: list) -> None:
    """Apply consecutive strokes ``ops`` in log order, the rows shared out among the pool's
    threads by absolute image row (thread t takes rows Y with Y mod n = t, in every stroke).
    A pixel's row belongs to one thread for the whole run, so each pixel still gets the
    strokes in log order and the same bytes as one stroke at a time, without a barrier
    between strokes (and the per-stroke imbalance between threads averages out)."""
    n = _pool()._max_workers
    if n <= 1 or sum(_stroke_work(op) for op in ops) < _PARALLEL_MIN_WORK * 2:
        for op in ops:
            _stroke_apply(a, win, op)
        return
    jobs = [args for op in ops if (args := _kernel_args(win, op)) is not None]

    def share(t):
        for args in jobs:   # args[5]: the stroke's first image row
            _stroke_kernel(a, *args, (t - args[5]) % n, n)

    futures = [_pool().submit(share, t) for t in range(1, n)]
    try:
        share(0)
    finally:
        for f in futures:
            f.result()


# ---------------------------------------------------------------- compositing (in place)

def _div255(v: np.ndarray) -> np.ndarray:
    t = v.astype(np.uint32) + 128    # round(v / 255), exact for 0 <= v <= 255·255
    return ((t + (t >> 8)) >> 8).astype(np.uint8)


def _composite(a: np.ndarray, c: np.ndarray, mode: str) -> None:
    """a ← a composited with coverage c (both uint8, same shape), in place."""
    _composite_kernel(a, c, _MODES[mode])


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
        _stroke_apply(a, win, op)
    elif isinstance(op, PathOp):
        _path_apply(a, win, op)
    elif isinstance(op, ChannelOp):
        _apply_channel(a, win, op, image)


def _path_apply(a: np.ndarray, win: Rect, op: PathOp, tiles=None) -> None:
    """Composite a path over ``win``; ``tiles``, when given, is the op's coverage_tiles
    sequence (possibly rasterised ahead of time, see _prefetch_path_tiles)."""
    mode = _MODES[op.mode]
    if mode == 2:  # intersect: everything the path does not reach becomes 0
        keep = np.zeros_like(a)
        part = _intersect(win, paths.pixel_bounds(op.d, op.feather))
        if part is not None:
            _sub(keep, win, part)[...] = _sub(a, win, part)
        a[...] = keep
    if tiles is None:
        tiles = paths.coverage_tiles(op.d, op.fill_rule, win, op.feather)
    for part, cov in tiles:
        view = _sub(a, win, part)
        if isinstance(cov, int):   # a uniform tile: no per-pixel work
            if cov == 255 and mode != 2:
                view[...] = 255 if mode == 0 else 0
            elif cov == 0 and mode == 2:
                view[...] = 0
        else:
            _composite_kernel(view, cov, mode)


def _union(a: Rect, b: Rect) -> Rect:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


_OVERLAP_MIN_PX = 1 << 20   # px: below this window size refine is too quick to overlap anything


def _prefetch_path_tiles(ops, win: Rect, busy) -> dict:
    """Rasterise path coverage tiles (which do not depend on alpha) while ``busy`` (a future)
    runs: {op index: iterator over that op's coverage_tiles}, the tiles drawn so far first,
    then the rest drawn lazily. Stops drawing as soon as ``busy`` is done, so the memory held
    is bounded by what fits in that time. skia holds the GIL, so this runs on the calling
    thread while the work in ``busy`` (OpenCV, nogil numba) runs on another."""
    out = {}
    for i, op in enumerate(ops):
        if not isinstance(op, PathOp):
            continue
        if busy.done():
            break
        gen = paths.coverage_tiles(op.d, op.fill_rule, win, op.feather)
        drawn = []
        for item in gen:
            drawn.append(item)
            if busy.done():
                break
        out[i] = itertools.chain(drawn, gen)
    return out


def _overwritten(ops, shape):
    """(tile size, bool array over the image's tiles) of the tiles whose every pixel the first
    of ``ops`` sets to a constant whatever it held (the inside of a path that adds or
    subtracts), or None: refine need not be computed there."""
    op = ops[0] if ops else None
    if not isinstance(op, PathOp) or op.mode not in ("add", "subtract"):
        return None
    return paths.TILE, paths.full_tiles(op.d, op.fill_rule, shape, op.feather)


def _refine_and_prefetch(base, refine_op, ops, win: Rect):
    """(refined window, prefetched path tiles): refine on a pool thread while this thread
    rasterises paths, when the window is big enough for that to pay off. Refine skips the
    blocks the first op overwrites anyway (see _overwritten)."""
    x, y, w, h = win
    if refine.is_identity(refine_op):
        return refine.refine_window(base, refine_op, win), {}
    dead = _overwritten(ops, base.shape)
    if w * h < _OVERLAP_MIN_PX or not any(isinstance(op, PathOp) for op in ops):
        return refine.refine_window(base, refine_op, win, dead), {}
    job = _pool().submit(refine.refine_window, base, refine_op, win, dead)
    try:
        tiles = _prefetch_path_tiles(ops, win, job)
    finally:
        a = job.result()
    return a, tiles


def _render_window(base, refine_op, ops, win: Rect, image) -> np.ndarray:
    H, W = base.shape
    last = max((i for i, op in enumerate(ops) if isinstance(op, CleanupOp)), default=None)
    tiles = {}
    if last is None:
        a, tiles = _refine_and_prefetch(base, refine_op, ops, win)
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
    i = 0
    while i < len(rest):
        op = rest[i]
        if isinstance(op, StrokeOp):
            j = i
            while j < len(rest) and isinstance(rest[j], StrokeOp):
                j += 1
            _stroke_run_apply(a, win, rest[i:j])
            i = j
            continue
        if i in tiles:
            _path_apply(a, win, op, tiles[i])
        else:
            _apply(a, win, op, image)
        i += 1
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
