"""Edge refinement of an alpha mask (in the spirit of Photoshop's Select and Mask) and clean-up.

Refine, defined on the whole frame (uint8 alpha, borders replicated / ignored at the image
edge), applied in Photoshop's order:

1. smooth s (0–100): Gaussian blur with sigma_s = s / 25 px (0–4 px), then a re-sharpening
   curve a' = clip((a − 127.5)·k + 127.5) with k = max(1, sigma_s·√(2π)), which restores the
   slope of a hard edge, so jaggies and wiggles shorter than ~sigma_s are ironed out.
2. feather f (px, 0–50): Gaussian blur with sigma = f / 2 px (the soft edge spans about ±f px).
3. contrast c (0–100): a' = clip((a − 127.5)·g + 127.5) with g = 1 / (1 − c/100); 100 is a
   hard threshold at 50 %.
4. shift_edge e (px, −20…20): grey dilation (e > 0, grows the object) or erosion (e < 0) with a
   digital disc of radius r0 = floor(|e|) (OpenCV's elliptical structuring element) giving a0;
   a fractional part f = round((|e| − r0)·256) moves a0 towards a1 (radius r0 + 1) by
   (f·|a1 − a0| + 128) >> 8.

Beyond the image edge the input is extended by replicating its edge pixels. Every step is
integer arithmetic (OpenCV's bit-exact 8-bit Gaussian, LUTs, min/max), so the result at a pixel
depends only on the input within ``margin(op)`` px of it. That is what makes
the work local: it is done only where the mask is not constant 0 or 255 within that margin (the
edge band), in windows grown by the margin, and the result of any rectangle is bit-identical to
the same crop of the full frame.
"""
from __future__ import annotations

import concurrent.futures
import math
import os
from functools import lru_cache

import cv2
import numpy as np
from numba import njit

from masks.ops import CleanupOp, RefineOp

FINE = 16         # px: granularity of the search for the edge band
BLOCK = 32        # px: the edge band is refined in blocks of this size (a multiple of FINE)
ATLAS_COLS = 64   # the atlas the edge band is refined in is this many margin-grown blocks wide


def _gauss(sigma: float) -> int:
    return int(math.ceil(3 * sigma)) if sigma > 0 else 0


@lru_cache(maxsize=64)
def _sharpen_lut(gain: float) -> np.ndarray:
    v = (np.arange(256, dtype=np.float64) - 127.5) * gain + 127.5
    return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)


def _shift_parts(e: float) -> tuple[int, int]:
    """(integer radius, fractional weight in 1/256) of a shift of |e| px."""
    r0 = int(math.floor(abs(e)))
    return r0, int(round((abs(e) - r0) * 256))


def margin(op: RefineOp | None) -> int:
    """How far (px) the refined value of a pixel can depend on its neighbours."""
    if op is None:
        return 0
    r0, frac = _shift_parts(op.shift_edge)
    return _gauss(op.smooth / 25) + _gauss(op.feather / 2) + r0 + (1 if frac else 0)


def is_identity(op: RefineOp | None) -> bool:
    return op is None or (op.smooth == 0 and op.feather == 0 and op.contrast == 0 and op.shift_edge == 0)


@lru_cache(maxsize=256)
def _fraction_lut(frac: int) -> np.ndarray:
    return ((np.arange(256) * frac + 128) >> 8).astype(np.uint8)


@lru_cache(maxsize=64)
def _disc(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def apply_full(alpha: np.ndarray, op: RefineOp) -> np.ndarray:
    """The refine steps on a whole array (its edges replicated; see :func:`reference`)."""
    a = alpha
    if op.smooth > 0:
        sigma = op.smooth / 25
        k = 2 * _gauss(sigma) + 1
        a = cv2.GaussianBlur(a, (k, k), sigma, borderType=cv2.BORDER_REPLICATE)
        a = cv2.LUT(a, _sharpen_lut(max(1.0, sigma * math.sqrt(2 * math.pi))))
    if op.feather > 0:
        sigma = op.feather / 2
        k = 2 * _gauss(sigma) + 1
        a = cv2.GaussianBlur(a, (k, k), sigma, borderType=cv2.BORDER_REPLICATE)
    if op.contrast > 0:
        gain = 1e6 if op.contrast >= 100 else 1 / (1 - op.contrast / 100)
        a = cv2.LUT(a, _sharpen_lut(gain))
    if op.shift_edge != 0:
        morph = cv2.dilate if op.shift_edge > 0 else cv2.erode
        r0, frac = _shift_parts(op.shift_edge)
        a0 = morph(a, _disc(r0)) if r0 else a
        if frac:
            # a0 moved towards a1 by frac/256 of |a1 − a0|: all 8-bit integer steps, no float
            a1 = morph(a, _disc(r0 + 1))
            step = cv2.LUT(cv2.absdiff(a0, a1), _fraction_lut(frac))
            a = cv2.add(a0, step) if op.shift_edge > 0 else cv2.subtract(a0, step)
        else:
            a = a0
    return a if a is not alpha else alpha.copy()


def _block_edges(start: int, length: int, k: int, limit: int, size: int):
    """Blocks of a grid aligned at ``start`` covering [start, start+length) plus k blocks each
    side, clipped to [0, limit): (lo, hi, valid) arrays, one entry per grid block."""
    nb = -(-length // size)
    edges = start + size * np.arange(-k, nb + k + 1)
    edges[k + nb] = start + length              # the window's own last block ends at its edge
    edges[k + nb + 1:] = start + length + size * np.arange(1, k + 1)
    lo = np.clip(edges[:-1], 0, limit)
    hi = np.clip(edges[1:], 0, limit)
    return lo, hi, lo < hi


_POOL = None
_SPLIT_MIN_PX = 1 << 20   # px: below this the scan and the copies stay on the calling thread


def _pool():
    """Threads for the halves of the block scan and of the copies (a pool of its own: the
    caller may itself be running on a pool thread)."""
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(max(1, min(3, (os.cpu_count() or 1) - 1)),
                                                      thread_name_prefix="masks-refine")
    return _POOL


def _halves(fn, n, parallel):
    """fn(0, n // 2) on a pool thread and fn(n // 2, n) here (or fn(0, n) here alone)."""
    if not parallel or n < 2:
        fn(0, n)
        return
    job = _pool().submit(fn, 0, n // 2)
    try:
        fn(n // 2, n)
    finally:
        job.result()


def _block_stats(base, y, h, x, w, k, size, out=None, parallel=False):
    """Per-block (min, max) over a grid of ``size`` px blocks aligned at (x, y) grown by k blocks;
    blocks outside the image are neutral (min 255, max 0). With ``out`` (h × w), the window
    (x, y, w, h) of ``base`` is copied into it too (each thread its own rows). ``parallel``:
    in two halves on two threads."""
    base = np.ascontiguousarray(base)
    H, W = base.shape
    ylo, yhi, yvalid = _block_edges(y, h, k, H, size)
    xlo, xhi, xvalid = _block_edges(x, w, k, W, size)
    qy0, qy1 = ylo[yvalid][0], yhi[yvalid][-1]
    qx0, qx1 = xlo[xvalid][0], xhi[xvalid][-1]
    gmax = np.zeros((len(ylo), len(xlo)), np.uint8)
    gmin = np.full((len(ylo), len(xlo)), 255, np.uint8)   # blocks outside the image are neutral
    vmin = np.empty((int(yvalid.sum()), int(xvalid.sum())), np.uint8)
    vmax = np.empty_like(vmin)
    by0, by1 = ylo[yvalid] - qy0, yhi[yvalid] - qy0
    bx0, bx1 = xlo[xvalid] - qx0, xhi[xvalid] - qx0

    def part(i0, i1):
        _block_minmax(base, qy0, qx0, qx1 - qx0, by0, by1, bx0, bx1, vmin, vmax, i0, i1)
        if out is not None and i1 > i0:   # the window's rows of these blocks (numpy's copy is
            r0 = max(qy0 + by0[i0], y)    # faster than a compiled byte loop, and drops the GIL)
            r1 = min(qy0 + by1[i1 - 1], y + h)
            if r1 > r0:
                out[r0 - y:r1 - y] = base[r0:r1, x:x + w]

    _halves(part, len(by0), parallel)
    sel = np.ix_(yvalid, xvalid)
    gmin[sel], gmax[sel] = vmin, vmax
    return gmin, gmax


@njit(cache=True, nogil=True)
def _copy_span(dst, src):
    # an explicit loop over two equal-length slices: numba's slice assignment goes through a
    # generic array copy that costs more than the 32–80 bytes a block row holds
    for c in range(dst.shape[0]):
        dst[c] = src[c]


@njit(cache=True, nogil=True)
def _gather(base, atlas, ry, rx, rn, ay, ax, B, R, y0, x0, n0, n1):
    """Copy runs n0..n1 − 1 into the atlas: run n is the rn[n] blocks (ry[n], rx[n] …) of the
    grid at (x0, y0), grown by R px on every side, put at (ax[n], ay[n]); outside the image
    the nearest edge pixel is used (edge replication)."""
    H, W = base.shape
    T = B + 2 * R
    for n in range(n0, n1):
        tw = rn[n] * B + 2 * R
        sy = y0 + ry[n] * B - R
        sx = x0 + rx[n] * B - R
        inside = sx >= 0 and sx + tw <= W
        for r in range(T):
            src = base[min(max(sy + r, 0), H - 1)]
            dst = atlas[ay[n] + r]
            if inside:
                _copy_span(dst[ax[n]:ax[n] + tw], src[sx:sx + tw])
            else:
                for c in range(tw):
                    dst[ax[n] + c] = src[min(max(sx + c, 0), W - 1)]


@njit(cache=True, nogil=True)
def _scatter(res, out, ry, rx, rn, ay, ax, B, R, n0, n1):
    h, w = out.shape
    for n in range(n0, n1):
        oy = ry[n] * B
        ox = rx[n] * B
        bh = min(B, h - oy)
        bw = min(rn[n] * B, w - ox)
        for r in range(bh):
            _copy_span(out[oy + r][ox:ox + bw], res[ay[n] + R + r][ax[n] + R:ax[n] + R + bw])


@njit(cache=True, nogil=True)
def _block_minmax(base, qy0, qx0, wq, ylo, yhi, xlo, xhi, gmin, gmax, i0, i1):
    """gmin/gmax[i, j] = min/max of q[ylo[i]:yhi[i], xlo[j]:xhi[j]] for block rows i0..i1 − 1,
    q = base[qy0:, qx0:qx0 + wq] (blocks in order, contiguous). ``base`` is indexed whole, row
    by row, so each row is a contiguous span (a 2-D slice of it would give rows of unknown
    stride, which do not vectorise)."""
    accmin = np.empty(wq, np.uint8)
    accmax = np.empty(wq, np.uint8)
    for i in range(i0, i1):
        accmin[:] = 255
        accmax[:] = 0
        for r in range(ylo[i], yhi[i]):
            src = base[qy0 + r][qx0:qx0 + wq]
            for c in range(wq):   # whole rows: vectorises
                v = src[c]
                accmin[c] = min(accmin[c], v)
                accmax[c] = max(accmax[c], v)
        for j in range(xlo.shape[0]):
            lo = np.uint8(255)
            hi = np.uint8(0)
            for c in range(xlo[j], xhi[j]):
                lo = min(lo, accmin[c])
                hi = max(hi, accmax[c])
            gmin[i, j] = lo
            gmax[i, j] = hi


def _runs(need: np.ndarray, max_run: int):
    """Horizontal runs of needed blocks: (block row, first block column, length) arrays, each
    run at most ``max_run`` blocks long."""
    nby, nbx = need.shape
    pad = np.zeros((nby, nbx + 2), np.int8)
    pad[:, 1:-1] = need
    d = np.diff(pad, axis=1)
    si, sj = np.nonzero(d == 1)         # row-major order: starts and ends pair up
    _, ej = np.nonzero(d == -1)
    ln = ej - sj
    pieces = -(-ln // max_run)
    idx = np.repeat(np.arange(len(ln)), pieces)
    k = np.arange(len(idx)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    rj = sj[idx] + k * max_run
    rn = np.minimum(ln[idx] - k * max_run, max_run)
    return si[idx].astype(np.int64), rj.astype(np.int64), rn.astype(np.int64)


def _pack(widths: np.ndarray, atlas_w: int):
    """Shelf packing of tiles of the given widths (all ≤ atlas_w) into rows atlas_w wide, in
    order: (row index, x) of each tile and the number of rows."""
    rows = np.empty(len(widths), np.int64)
    xs = np.empty(len(widths), np.int64)
    row, x = 0, 0
    for n, tw in enumerate(widths.tolist()):
        if x + tw > atlas_w:
            row, x = row + 1, 0
        rows[n], xs[n] = row, x
        x += tw
    return rows, xs, row + 1


def _blocks_inside(dead, y: int, h: int, x: int, w: int, nby: int, nbx: int) -> np.ndarray:
    """(nby, nbx) bool: which BLOCK px blocks of the window (x, y, w, h) lie wholly inside the
    tiles ``dead`` = (tile size, bool array over the image's tiles) marks."""
    size, mask = dead
    ys0 = y + BLOCK * np.arange(nby)
    xs0 = x + BLOCK * np.arange(nbx)
    ty0, ty1 = ys0 // size, (np.minimum(ys0 + BLOCK, y + h) - 1) // size
    tx0, tx1 = xs0 // size, (np.minimum(xs0 + BLOCK, x + w) - 1) // size
    P = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int64)
    P[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    a, b, c, d = ty0[:, None], ty1[:, None] + 1, tx0[None, :], tx1[None, :] + 1
    count = P[b, d] - P[a, d] - P[b, c] + P[a, c]
    return count == (b - a) * (d - c)


def refine_window(base: np.ndarray, op: RefineOp | None, window: tuple[int, int, int, int],
                  dead=None) -> np.ndarray:
    """Refined alpha over ``window`` = (x, y, w, h) px of ``base`` (uint8 H×W), a new array.

    Equals ``reference(base, op)[y:y+h, x:x+w]`` byte for byte. Only the edge band is computed:
    the blocks with something other than all-0 or all-255 within ``margin(op)`` px are copied,
    with that margin, into one stacked "atlas" array, refined there in one call per step, and
    their centres copied back (a tile's centre is at least the margin away from its neighbours
    in the atlas, so they cannot influence each other). Neighbouring blocks of one block row
    go in as one tile (a run), so they share their margins instead of each carrying its own.

    ``dead`` = (tile size, bool array over the image's tiles of that size): tiles whose pixels
    the caller overwrites whatever they hold (e.g. the inside of a path that adds next); blocks
    wholly inside them may be left unrefined (they then hold ``base``). None: none.
    """
    x, y, w, h = window
    if is_identity(op) or w <= 0 or h <= 0:
        return base[y:y + h, x:x + w].copy()
    H, W = base.shape
    R = margin(op)
    k = -(-R // FINE)
    big = w * h >= _SPLIT_MIN_PX
    out = np.empty((h, w), np.uint8)
    gmin, gmax = _block_stats(base, y, h, x, w, k, FINE, out, big)
    kern = np.ones((2 * k + 1, 2 * k + 1), np.uint8)
    gmax = cv2.dilate(gmax, kern, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    gmin = cv2.erode(gmin, kern, borderType=cv2.BORDER_CONSTANT, borderValue=255)
    gmax, gmin = gmax[k:gmax.shape[0] - k, k:gmax.shape[1] - k], gmin[k:gmin.shape[0] - k, k:gmin.shape[1] - k]
    # a pixel is left alone only when everything within R px of it is 0 or everything is 255
    fine = ~((gmax == gmin) & ((gmin == 0) | (gmin == 255)))
    g = BLOCK // FINE
    nby, nbx = -(-fine.shape[0] // g), -(-fine.shape[1] // g)
    padded = np.zeros((nby * g, nbx * g), bool)
    padded[:fine.shape[0], :fine.shape[1]] = fine
    need = padded.reshape(nby, g, nbx, g).any(axis=(1, 3))
    if dead is not None:
        need &= ~_blocks_inside(dead, y, h, x, w, nby, nbx)
    T = BLOCK + 2 * R
    atlas_w = ATLAS_COLS * T            # a wide atlas: OpenCV filters short rows slowly
    ry, rx, rn = _runs(need, (atlas_w - 2 * R) // BLOCK)
    if not len(ry):
        return out
    widths = rn * BLOCK + 2 * R
    rows, ax, nrows = _pack(widths, atlas_w)
    if nrows == 1:
        atlas_w = int(ax[-1] + widths[-1])
    ay = rows * T
    atlas = np.empty((nrows * T, atlas_w), np.uint8)
    # the unused ends of the atlas's rows are more than R px from every tile's centre, so they
    # cannot change a result; zeroed all the same, so that what is computed is defined
    ends = np.zeros(nrows, np.int64)
    np.maximum.at(ends, rows, ax + widths)
    for row, end in enumerate(ends.tolist()):
        atlas[row * T:(row + 1) * T, end:] = 0
    n = len(ry)
    _halves(lambda n0, n1: _gather(base, atlas, ry, rx, rn, ay, ax, BLOCK, R, y, x, n0, n1), n, big)
    res = apply_full(atlas, op)
    _halves(lambda n0, n1: _scatter(res, out, ry, rx, rn, ay, ax, BLOCK, R, n0, n1), n, big)
    return out


def reference(base: np.ndarray, op: RefineOp) -> np.ndarray:
    """The definition refine_window computes: the steps on the frame extended by ``margin`` px
    of edge replication, cropped back (slow; for tests)."""
    R = margin(op)
    if R == 0:
        return apply_full(base, op)
    big = cv2.copyMakeBorder(base, R, R, R, R, cv2.BORDER_REPLICATE)
    return apply_full(big, op)[R:-R, R:-R]


def cleanup(alpha: np.ndarray, op: CleanupOp, region: np.ndarray | None = None,
            image_edges: tuple[bool, bool, bool, bool] = (True, True, True, True)) -> np.ndarray:
    """Remove specks and fill pinholes in ``alpha`` (uint8 h×w); returns a new array.

    - A speck is an 8-connected component of pixels with alpha > 0 whose pixel count is below
      ``op.min_speck``; its pixels become 0.
    - A pinhole is a 4-connected component of pixels with alpha < 255 whose pixel count is below
      ``op.min_hole`` and which does not touch the image edge (that is open background, not a
      hole); its pixels become 255. Larger holes — real negative space — stay open.
    - With ``region`` (uint8 coverage of the region over the same pixels), only components
      whose every pixel has region coverage ≥ 128 are changed.
    ``image_edges`` says which sides (top, bottom, left, right) of the array are the image's.
    """
    out = alpha.copy()
    inside = None if region is None else region >= 128

    def small(mask: np.ndarray, connectivity: int, limit: float, skip_edges: bool) -> np.ndarray:
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=connectivity)
        keep = stats[:, cv2.CC_STAT_AREA] < limit
        keep[0] = False                              # label 0 is the complement of ``mask``
        if skip_edges:
            top, bottom, left, right = image_edges
            for flag, line in ((top, labels[0]), (bottom, labels[-1]), (left, labels[:, 0]), (right, labels[:, -1])):
                if flag:
                    keep[np.unique(line)] = False
        if inside is not None:
            keep &= np.bincount(labels[~inside], minlength=n) == 0
        return keep[labels] if keep.any() else None

    if op.min_speck > 0:
        specks = small(alpha > 0, 8, op.min_speck, False)
        if specks is not None:
            out[specks] = 0
    if op.min_hole > 0:
        holes = small(alpha < 255, 4, op.min_hole, True)
        if holes is not None:
            out[holes] = 255
    return out
