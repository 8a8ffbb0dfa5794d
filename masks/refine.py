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
   digital disc of radius floor(|e|); a fractional part blends with the next radius up
   (8-bit fixed-point weights).

Every step is integer arithmetic (OpenCV's bit-exact 8-bit Gaussian, LUTs, min/max), so the
result at a pixel depends only on the input within ``margin(op)`` px of it. That is what makes
the work local: it is done only where the mask is not constant 0 or 255 within that margin (the
edge band), in windows grown by the margin, and the result of any rectangle is bit-identical to
the same crop of the full frame.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from masks.ops import CleanupOp, RefineOp

BLOCK = 32  # px: granularity of the edge-band search


def _gauss(sigma: float) -> int:
    return int(math.ceil(3 * sigma)) if sigma > 0 else 0


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


def _disc(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def apply_full(alpha: np.ndarray, op: RefineOp) -> np.ndarray:
    """The refine steps on a whole array (image edges treated as the frame's edges)."""
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
            a1 = morph(a, _disc(r0 + 1)).astype(np.uint16)
            a = ((a0.astype(np.uint16) * (256 - frac) + a1 * frac + 128) >> 8).astype(np.uint8)
        else:
            a = a0
    return a if a is not alpha else alpha.copy()


def _block_edges(start: int, length: int, k: int, limit: int):
    """Block edges of a grid aligned at ``start`` with k extra blocks each side, clipped to
    [0, limit): (grid edges array, index of first valid block, starts relative to q0, q0, q1)."""
    nb = -(-length // BLOCK)
    edges = start + BLOCK * np.arange(-k, nb + k + 1)
    edges[k + nb] = start + length              # the window's own last block ends at its edge
    edges[k + nb + 1:] = start + length + BLOCK * np.arange(1, k + 1)
    lo = np.clip(edges[:-1], 0, limit)
    hi = np.clip(edges[1:], 0, limit)
    valid = lo < hi
    return lo, hi, valid


def refine_window(base: np.ndarray, op: RefineOp | None, window: tuple[int, int, int, int]) -> np.ndarray:
    """Refined alpha over ``window`` = (x, y, w, h) px of ``base`` (uint8 H×W), a new array.

    Equals ``apply_full(base, op)[y:y+h, x:x+w]`` byte for byte, computed only in the edge band.
    """
    x, y, w, h = window
    out = base[y:y + h, x:x + w].copy()
    if is_identity(op) or w <= 0 or h <= 0:
        return out
    H, W = base.shape
    R = margin(op)
    k = -(-R // BLOCK)
    ylo, yhi, yvalid = _block_edges(y, h, k, H)
    xlo, xhi, xvalid = _block_edges(x, w, k, W)
    qy0, qy1 = ylo[yvalid][0], yhi[yvalid][-1]
    qx0, qx1 = xlo[xvalid][0], xhi[xvalid][-1]
    q = base[qy0:qy1, qx0:qx1]
    ys, xs = ylo[yvalid] - qy0, xlo[xvalid] - qx0
    gmax = np.zeros((len(ylo), len(xlo)), np.uint8)
    gmin = np.full((len(ylo), len(xlo)), 255, np.uint8)   # blocks outside the image are neutral
    sel = np.ix_(yvalid, xvalid)
    gmax[sel] = np.maximum.reduceat(np.maximum.reduceat(q, ys, axis=0), xs, axis=1)
    gmin[sel] = np.minimum.reduceat(np.minimum.reduceat(q, ys, axis=0), xs, axis=1)
    if k:
        kern = np.ones((2 * k + 1, 2 * k + 1), np.uint8)
        gmax = cv2.dilate(gmax, kern, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        gmin = cv2.erode(gmin, kern, borderType=cv2.BORDER_CONSTANT, borderValue=255)
        gmax, gmin = gmax[k:len(ylo) - k, k:len(xlo) - k], gmin[k:len(ylo) - k, k:len(xlo) - k]
    # a block is left alone only when everything within R px is 0 or everything is 255
    need = ~((gmax == gmin) & ((gmin == 0) | (gmin == 255)))
    for i in np.flatnonzero(need.any(axis=1)):
        row = need[i]
        js = np.flatnonzero(np.diff(np.concatenate(([0], row.view(np.int8), [0]))))
        oy0, oy1 = y + i * BLOCK, min(y + (i + 1) * BLOCK, y + h)
        for j0, j1 in zip(js[::2], js[1::2]):
            ox0, ox1 = x + j0 * BLOCK, min(x + j1 * BLOCK, x + w)
            py0, py1 = max(0, oy0 - R), min(H, oy1 + R)
            px0, px1 = max(0, ox0 - R), min(W, ox1 + R)
            res = apply_full(base[py0:py1, px0:px1], op)
            out[oy0 - y:oy1 - y, ox0 - x:ox1 - x] = res[oy0 - py0:oy1 - py0, ox0 - px0:ox1 - px0]
    return out


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
