"""Mask ↔ smooth closed bezier paths (SVG path data, even-odd), in image pixels.

``trace(alpha)`` gives the path a retoucher starts from: few anchors, every subpath a closed
chain of cubic beziers, holes as separate subpaths (even-odd fill). Coordinates are continuous
image pixels: pixel (row i, column j) covers x in [j, j+1], y in [i, i+1].

``parse_path`` / ``rasterize`` read SVG path data back (M L H V C S Q T A Z, absolute and
relative) into cubic subpaths and an anti-aliased area-coverage mask (skia).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from masks.errors import MaskError, PathDataError

MAX_SEGMENTS = 500_000  # refuse path data beyond this many segments ("millions of points")
MAX_CHARS = 20_000_000
RASTER_SUPERSAMPLE = 8  # rasterize draws this many times larger per axis, then averages
RASTER_STRIP_PIXELS = 1 << 24  # supersampled pixels drawn at a time (16 MiB of alpha)
BINARY_SMOOTH = 1.0  # px: sigma along the contour that irons out the staircase of a binary mask


# --------------------------------------------------------------------------- path data parsing

@dataclass
class Subpath:
    """One subpath: start point and cubic segments ((c1x,c1y),(c2x,c2y),(x,y)); closed or open."""
    start: tuple[float, float]
    segments: list = field(default_factory=list)
    closed: bool = False

    def anchors(self) -> list[tuple[float, float]]:
        pts = [self.start] + [seg[2] for seg in self.segments]
        if self.closed and len(pts) > 1 and _close(pts[-1], pts[0]):
            pts.pop()  # the closing segment ends where it began
        return pts


def _close(p, q, eps=1e-9):
    return abs(p[0] - q[0]) <= eps and abs(p[1] - q[1]) <= eps


_TOKEN = re.compile(r"\s*(?:([MmLlHhVvCcSsQqTtAaZz])|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))\s*,?")
_ARGS = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}


def _tokens(d: str):
    pos, n = 0, len(d)
    while pos < n:
        m = _TOKEN.match(d, pos)
        if not m or m.end() == pos:
            rest = d[pos:].strip()
            if not rest:
                return
            raise PathDataError(f"path data: unexpected {rest[:12]!r} at character {pos}")
        pos = m.end()
        if m.group(1):
            yield m.group(1)
        else:
            yield float(m.group(2))


def _line(p, q):
    return ((p[0] + (q[0] - p[0]) / 3, p[1] + (q[1] - p[1]) / 3),
            (p[0] + 2 * (q[0] - p[0]) / 3, p[1] + 2 * (q[1] - p[1]) / 3), q)


def _arc(p, rx, ry, phi_deg, large, sweep, q):
    """SVG elliptical arc → cubic segments (≤ 90° each), per the SVG implementation notes."""
    if _close(p, q):
        return []
    rx, ry = abs(rx), abs(ry)
    if rx == 0 or ry == 0:
        return [_line(p, q)]
    phi = math.radians(phi_deg % 360)
    cp, sp = math.cos(phi), math.sin(phi)
    dx, dy = (p[0] - q[0]) / 2, (p[1] - q[1]) / 2
    x1, y1 = cp * dx + sp * dy, -sp * dx + cp * dy
    lam = (x1 / rx) ** 2 + (y1 / ry) ** 2
    if lam > 1:
        rx, ry = rx * math.sqrt(lam), ry * math.sqrt(lam)
    num = rx * rx * ry * ry - rx * rx * y1 * y1 - ry * ry * x1 * x1
    den = rx * rx * y1 * y1 + ry * ry * x1 * x1
    k = math.sqrt(max(num, 0) / den) if den else 0.0
    if bool(large) == bool(sweep):
        k = -k
    cxp, cyp = k * rx * y1 / ry, -k * ry * x1 / rx
    cx = cp * cxp - sp * cyp + (p[0] + q[0]) / 2
    cy = sp * cxp + cp * cyp + (p[1] + q[1]) / 2

    def ang(ux, uy, vx, vy):
        return math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)

    t0 = ang(1, 0, (x1 - cxp) / rx, (y1 - cyp) / ry)
    dt = ang((x1 - cxp) / rx, (y1 - cyp) / ry, (-x1 - cxp) / rx, (-y1 - cyp) / ry)
    if not sweep and dt > 0:
        dt -= 2 * math.pi
    elif sweep and dt < 0:
        dt += 2 * math.pi
    n = max(1, math.ceil(abs(dt) / (math.pi / 2) - 1e-9))
    step = dt / n
    kk = 4 / 3 * math.tan(step / 4)

    def pt(t):
        x, y = rx * math.cos(t), ry * math.sin(t)
        return (cp * x - sp * y + cx, sp * x + cp * y + cy)

    def der(t):
        x, y = -rx * math.sin(t), ry * math.cos(t)
        return (cp * x - sp * y, sp * x + cp * y)

    segs = []
    for i in range(n):
        a, b = t0 + i * step, t0 + (i + 1) * step
        pa, pb, da, db = pt(a), pt(b), der(a), der(b)
        end = q if i == n - 1 else pb
        segs.append(((pa[0] + kk * da[0], pa[1] + kk * da[1]), (pb[0] - kk * db[0], pb[1] - kk * db[1]), end))
    return segs


def parse_path(d: str, max_segments: int = MAX_SEGMENTS) -> list[Subpath]:
    """SVG path data → subpaths of cubic segments. Raises PathDataError naming the problem."""
    if not isinstance(d, str):
        raise PathDataError("path data must be a string")
    if len(d) > MAX_CHARS:
        raise PathDataError(f"path data is longer than {MAX_CHARS} characters")
    subpaths: list[Subpath] = []
    cur = (0.0, 0.0)
    start = cur
    sub: Subpath | None = None
    cmd = None
    last_ctrl = None  # reflected control point for S/T: (kind, point)
    count = 0
    toks = list(_tokens(d))
    i = 0
    while i < len(toks):
        tok = toks[i]
        if isinstance(tok, str):
            cmd = tok
            i += 1
            if cmd in "Zz":
                if sub is not None:
                    if not _close(cur, sub.start):
                        sub.segments.append(_line(cur, sub.start))
                    sub.closed = True
                    cur = sub.start
                    sub = None
                last_ctrl = None
                continue
        elif cmd is None:
            raise PathDataError("path data must start with a command such as 'M'")
        if not subpaths and cmd not in "Mm" and not (cmd in "Zz" and sub is None):
            raise PathDataError("path data must start with a moveto ('M')")
        elif cmd in "Zz":
            raise PathDataError("path data: number after 'Z'")
        n = _ARGS[cmd.upper()]
        args = toks[i:i + n]
        if len(args) < n or any(isinstance(a, str) for a in args):
            raise PathDataError(f"path data: '{cmd}' needs {n} numbers")
        if not all(math.isfinite(a) for a in args):
            raise PathDataError("path data: coordinates must be finite numbers")
        i += n
        rel = cmd.islower()
        ox, oy = cur if rel else (0.0, 0.0)
        up = cmd.upper()
        if up == "M":
            cur = (args[0] + ox, args[1] + oy)
            start = cur
            sub = Subpath(start=cur)
            subpaths.append(sub)
            cmd = "l" if rel else "L"  # further pairs are implicit line-tos
            last_ctrl = None
            continue
        if sub is None:  # drawing after Z continues from the subpath's start
            sub = Subpath(start=cur)
            subpaths.append(sub)
        if up == "L":
            q = (args[0] + ox, args[1] + oy)
            seg = _line(cur, q)
        elif up == "H":
            seg = _line(cur, (args[0] + ox, cur[1]))
        elif up == "V":
            seg = _line(cur, (cur[0], args[0] + oy))
        elif up == "C":
            seg = ((args[0] + ox, args[1] + oy), (args[2] + ox, args[3] + oy), (args[4] + ox, args[5] + oy))
        elif up == "S":
            c1 = (2 * cur[0] - last_ctrl[1][0], 2 * cur[1] - last_ctrl[1][1]) if last_ctrl and last_ctrl[0] == "C" else cur
            seg = (c1, (args[0] + ox, args[1] + oy), (args[2] + ox, args[3] + oy))
        elif up in "QT":
            if up == "Q":
                qc = (args[0] + ox, args[1] + oy)
                q = (args[2] + ox, args[3] + oy)
            else:
                qc = (2 * cur[0] - last_ctrl[1][0], 2 * cur[1] - last_ctrl[1][1]) if last_ctrl and last_ctrl[0] == "Q" else cur
                q = (args[0] + ox, args[1] + oy)
            seg = ((cur[0] + 2 / 3 * (qc[0] - cur[0]), cur[1] + 2 / 3 * (qc[1] - cur[1])),
                   (q[0] + 2 / 3 * (qc[0] - q[0]), q[1] + 2 / 3 * (qc[1] - q[1])), q)
            sub.segments.append(seg)
            cur = q
            last_ctrl = ("Q", qc)
            count += 1
            continue
        else:  # A
            q = (args[5] + ox, args[6] + oy)
            segs = _arc(cur, args[0], args[1], args[2], args[3], args[4], q)
            sub.segments.extend(segs)
            count += len(segs)
            cur = q
            last_ctrl = None
            continue
        sub.segments.append(seg)
        count += 1
        if count > max_segments:
            raise PathDataError(f"path data has more than {max_segments} segments")
        cur = seg[2]
        last_ctrl = ("C", seg[1]) if up in "CS" else None
    if count > max_segments:
        raise PathDataError(f"path data has more than {max_segments} segments")
    return subpaths


def to_path_data(subpaths, digits: int = 3) -> str:
    """Subpaths → compact SVG path data with absolute M / C / Z."""
    def f(v):
        s = f"{round(v, digits):.{digits}f}".rstrip("0").rstrip(".")
        return "0" if s in ("-0", "") else s

    out = []
    for sp in subpaths:
        out.append(f"M{f(sp.start[0])} {f(sp.start[1])}")
        for c1, c2, p in sp.segments:
            out.append(f"C{f(c1[0])} {f(c1[1])} {f(c2[0])} {f(c2[1])} {f(p[0])} {f(p[1])}")
        if sp.closed:
            out.append("Z")
    return "".join(out)


# --------------------------------------------------------------------------- rasterising

def rasterize(d, width: int, height: int, fill_rule: str = "evenodd", antialias: bool = True) -> np.ndarray:
    """Fill path data (str or list of Subpath) → uint8 (height, width) alpha, exact area coverage.

    Open subpaths are filled as if closed (as SVG does).
    """
    import skia  # local: skia is only needed to rasterise

    if fill_rule not in ("evenodd", "nonzero"):
        raise PathDataError(f"fill rule must be 'evenodd' or 'nonzero', got {fill_rule!r}")
    if not (0 < int(width) <= 65535 and 0 < int(height) <= 65535):
        raise PathDataError(f"raster size {width}x{height} is out of range")
    subpaths = parse_path(d) if isinstance(d, str) else d
    path = skia.Path()
    for sp in subpaths:
        path.moveTo(*sp.start)
        for c1, c2, p in sp.segments:
            path.cubicTo(c1[0], c1[1], c2[0], c2[1], p[0], p[1])
        path.close()
    path.setFillType(skia.PathFillType.kEvenOdd if fill_rule == "evenodd" else skia.PathFillType.kWinding)
    w, h = int(width), int(height)
    paint = skia.Paint(AntiAlias=antialias, Color=skia.ColorBLACK)
    out = np.zeros((h, w), np.uint8)
    if not antialias:
        skia.Canvas(out, colorType=skia.kAlpha_8_ColorType).drawPath(path, paint)
        return out
    # skia's anti-aliasing samples 4 scanlines per pixel, so an edge anywhere in y ∈ [0.375,
    # 0.625) of a pixel gives it coverage 128: thresholding at 128 would then move edges by up to
    # 1/8 px. Drawn RASTER_SUPERSAMPLE times larger and box-averaged, coverage is area to 1/64 px.
    k = RASTER_SUPERSAMPLE
    # Only the pixels under the path's bounds are drawn.
    bounds = path.computeTightBounds()
    x0, x1 = max(0, math.floor(bounds.left())), min(w, math.ceil(bounds.right()))
    y0, y1 = max(0, math.floor(bounds.top())), min(h, math.ceil(bounds.bottom()))
    if x0 >= x1 or y0 >= y1:
        return out
    bw = x1 - x0
    rows = max(1, min(y1 - y0, RASTER_STRIP_PIXELS // (bw * k * k)))
    for top in range(y0, y1, rows):
        n = min(rows, y1 - top)
        big = np.zeros((n * k, bw * k), np.uint8)
        canvas = skia.Canvas(big, colorType=skia.kAlpha_8_ColorType)
        canvas.scale(k, k)
        canvas.translate(-x0, -top)
        canvas.drawPath(path, paint)
        # INTER_AREA at an integer factor is the box average, rounded.
        out[top:top + n, x0:x1] = cv2.resize(big, (bw, n), interpolation=cv2.INTER_AREA)
    return out


# --------------------------------------------------------------------------- tracing

def _check_alpha(alpha) -> np.ndarray:
    a = np.asarray(alpha)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.ndim != 2 or a.dtype != np.uint8:
        raise MaskError(f"mask must be a uint8 HxW array (0–255), got {a.dtype} {a.shape}")
    if a.size == 0:
        raise MaskError("mask is empty (0 pixels)")
    return a


def _unit(v):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def _bez(ctrl, t):
    t = t[:, None]
    mt = 1 - t
    return mt ** 3 * ctrl[0] + 3 * mt ** 2 * t * ctrl[1] + 3 * mt * t ** 2 * ctrl[2] + t ** 3 * ctrl[3]


def _generate(pts, u, t1, t2):
    """Least-squares cubic through pts with fixed end tangents (Schneider 1990)."""
    p0, p3 = pts[0], pts[-1]
    mt = 1 - u
    b0, b1, b2, b3 = mt ** 3, 3 * mt ** 2 * u, 3 * mt * u ** 2, u ** 3
    a1 = t1[None, :] * b1[:, None]
    a2 = t2[None, :] * b2[:, None]
    c00 = np.sum(a1 * a1)
    c01 = np.sum(a1 * a2)
    c11 = np.sum(a2 * a2)
    tmp = pts - (p0[None] * (b0 + b1)[:, None] + p3[None] * (b2 + b3)[:, None])
    x0 = np.sum(a1 * tmp)
    x1 = np.sum(a2 * tmp)
    det = c00 * c11 - c01 * c01
    seg = np.linalg.norm(p3 - p0)
    if abs(det) > 1e-12:
        al = (x0 * c11 - x1 * c01) / det
        ar = (c00 * x1 - c01 * x0) / det
    else:
        al = ar = 0.0
    eps = 1e-6 * seg
    if al < eps or ar < eps or al > 3 * seg + 1 or ar > 3 * seg + 1:
        al = ar = seg / 3
    return np.array([p0, p0 + t1 * al, p3 + t2 * ar, p3])


def _reparam(pts, u, ctrl):
    """One Newton–Raphson step moving each u to the nearest point on the curve."""
    t = u[:, None]
    mt = 1 - t
    q = _bez(ctrl, u)
    d1 = 3 * (mt ** 2 * (ctrl[1] - ctrl[0]) + 2 * mt * t * (ctrl[2] - ctrl[1]) + t ** 2 * (ctrl[3] - ctrl[2]))
    d2 = 6 * (mt * (ctrl[2] - 2 * ctrl[1] + ctrl[0]) + t * (ctrl[3] - 2 * ctrl[2] + ctrl[1]))
    diff = q - pts
    num = np.sum(diff * d1, axis=1)
    den = np.sum(d1 * d1 + diff * d2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        nu = np.where(np.abs(den) > 1e-12, u - num / den, u)
    nu = np.clip(nu, 0, 1)
    nu[0], nu[-1] = 0.0, 1.0
    return np.maximum.accumulate(nu)


def _fit(pts, t1, t2, tol2, out):
    """Fit cubic(s) to pts (N,2) from tangent t1 (leaving) to t2 (pointing back); append to out."""
    stack = [(pts, t1, t2)]
    results = []
    while stack:
        pts, t1, t2 = stack.pop()
        n = len(pts)
        if n <= 2:
            d = np.linalg.norm(pts[-1] - pts[0]) / 3
            results.append(np.array([pts[0], pts[0] + t1 * d, pts[-1] + t2 * d, pts[-1]]))
            continue
        chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        u = chord / max(chord[-1], 1e-12)
        ctrl = _generate(pts, u, t1, t2)
        for it in range(5):
            err = np.sum((_bez(ctrl, u) - pts) ** 2, axis=1)
            worst = int(np.argmax(err))
            if err[worst] <= tol2:
                break
            if it == 4 or err[worst] > 16 * tol2:
                break
            u = _reparam(pts, u, ctrl)
            ctrl = _generate(pts, u, t1, t2)
        else:
            worst = int(np.argmax(err))
        if err[worst] <= tol2:
            results.append(ctrl)
            continue
        split = min(max(worst, 1), n - 2)
        tc = _unit(pts[split - 1] - pts[split + 1])
        # LIFO: push the right half first so segments come out in order.
        stack.append((pts[split:], -tc, t2))
        stack.append((pts[:split + 1], t1, tc))
    out.extend(results)


def _corners(pts, k=4, angle_deg=50.0):
    """Indices of sharp corners on a closed polyline (turning angle over ±k points)."""
    n = len(pts)
    if n < 4 * k:
        return []
    a = _unit(pts - np.roll(pts, k, axis=0))
    b = _unit(np.roll(pts, -k, axis=0) - pts)
    cos = np.clip(np.sum(a * b, axis=1), -1, 1)
    turn = np.degrees(np.arccos(cos))
    cand = turn > angle_deg
    # local maxima over ±k
    mx = ndimage.maximum_filter1d(turn, size=2 * k + 1, mode="wrap")
    idx = np.flatnonzero(cand & (turn >= mx))
    keep = []
    for i in idx:  # one corner per plateau
        if not keep or i - keep[-1] > k:
            keep.append(int(i))
    if len(keep) > 1 and keep[0] + n - keep[-1] <= k:
        keep.pop()
    return keep


def _fit_closed(pts, tolerance):
    """Closed polyline (N,2), no repeat of the first point → Subpath of cubics."""
    tol2 = tolerance * tolerance
    n = len(pts)
    corners = _corners(pts)
    segs: list = []
    if not corners:
        # Start at the point of highest curvature, with a smooth joint there.
        s = 0
        ring = np.roll(pts, -s, axis=0)
        closed = np.vstack([ring, ring[:1]])
        t = _unit(ring[1] - ring[-1])
        _fit(closed, t, -t, tol2, segs)
    else:
        k = 3
        for ci, c in enumerate(corners):
            nxt = corners[(ci + 1) % len(corners)]
            idx = np.arange(c, nxt + (n if nxt <= c else 0) + 1) % n
            run = pts[idx]
            m = len(run)
            j = min(k, m - 1)
            t1 = _unit(run[j] - run[0])
            t2 = _unit(run[m - 1 - j] - run[-1])
            _fit(run, t1, t2, tol2, segs)
    start = tuple(float(v) for v in segs[0][0])
    sp = Subpath(start=start, closed=True)
    for c in segs:
        sp.segments.append((tuple(map(float, c[1])), tuple(map(float, c[2])), tuple(map(float, c[3]))))
    # Make the last segment end exactly at the start (closes without a tiny extra line).
    c1, c2, _ = sp.segments[-1]
    sp.segments[-1] = (c1, c2, start)
    return sp


def _sample(alpha_f, pts):
    """Bilinear alpha at continuous coordinates (x, y) (pixel centres at +0.5)."""
    return ndimage.map_coordinates(alpha_f, [pts[..., 1] - 0.5, pts[..., 0] - 0.5], order=1, mode="constant", cval=0.0)


def _refine(alpha_f, pts, inset, smooth):
    """Move contour points onto the alpha = 0.5 crossing along the normal, then inset."""
    sm = ndimage.gaussian_filter1d(pts, 1.0, axis=0, mode="wrap")
    tang = _unit(np.roll(sm, -2, axis=0) - np.roll(sm, 2, axis=0))
    normal = np.stack([tang[:, 1], -tang[:, 0]], axis=1)
    # Orient normals outward (towards lower alpha).
    probe = _sample(alpha_f, sm + normal) - _sample(alpha_f, sm - normal)
    if np.sum(probe) > 0:
        normal = -normal
    ts = np.linspace(-1.5, 1.5, 25)
    line = sm[:, None, :] + ts[None, :, None] * normal[:, None, :]
    vals = _sample(alpha_f, line) - 0.5
    inside = vals >= 0
    cross = inside[:, :-1] & ~inside[:, 1:]
    # Nearest inside→outside crossing to t = 0.
    centre = np.abs(ts[:-1] + (ts[1] - ts[0]) / 2)
    score = np.where(cross, centre[None, :], np.inf)
    j = np.argmin(score, axis=1)
    ok = np.isfinite(score[np.arange(len(j)), j])
    v0 = vals[np.arange(len(j)), j]
    v1 = vals[np.arange(len(j)), j + 1]
    frac = np.where(np.abs(v0 - v1) > 1e-12, v0 / np.maximum(v0 - v1, 1e-12), 0.5)
    t = np.where(ok, ts[j] + frac * (ts[1] - ts[0]), 0.0)
    new = sm + t[:, None] * normal
    # A little smoothing along the contour removes the staircase of binary masks.
    if smooth:
        # Less on short contours: smoothing pulls a small bead inwards by about sigma² / 2r.
        sharp = new.copy()
        new = ndimage.gaussian_filter1d(new, min(smooth, len(new) / 40), axis=0, mode="wrap")
        # ... and none at sharp corners (a prong tip, the frame's corner), which it would round.
        for c in _corners(pts):
            idx = np.arange(c - 1, c + 2) % len(new)
            new[idx] = sharp[idx]
    if inset:
        new = new - inset * normal
    return new


def _outward_normals(alpha_f, pts):
    """Unit normals (N,2) of a closed polyline, pointing towards lower alpha (out of the piece)."""
    sm = ndimage.gaussian_filter1d(pts, 1.0, axis=0, mode="wrap")
    tang = _unit(np.roll(sm, -1, axis=0) - np.roll(sm, 1, axis=0))
    normal = np.stack([tang[:, 1], -tang[:, 0]], axis=1)
    if np.sum(_sample(alpha_f, sm + normal) - _sample(alpha_f, sm - normal)) > 0:
        normal = -normal
    return normal


def _curvature(pts, normals, span=3):
    """Signed curvature (1/px) of a closed polyline, > 0 where it bends away from ``normals``
    (convex for outward normals), from the sagitta of the chord over ±``span`` points, smoothed."""
    if len(pts) < 2 * span + 3:
        return np.zeros(len(pts))
    a, b = np.roll(pts, span, axis=0), np.roll(pts, -span, axis=0)
    half = 0.5 * np.linalg.norm(b - a, axis=1)
    sag = np.sum((pts - 0.5 * (a + b)) * normals, axis=1)  # > 0: the point bulges outwards
    k = 2 * sag / np.maximum(half * half + sag * sag, 1e-9)
    return ndimage.gaussian_filter1d(k, 2.0, mode="wrap")


RAMP_REACH = 1.6  # px: partly covered pixels this close to a contour vote on where its edge is
RAMP_PRIOR = 0.03  # px²: weight of the 1 px ramp prior in each point's ramp fit
RAMP_WINDOW = 1  # contour points either side whose pixels join a point's fit (wider blurs link ends)


def _snap_to_ramp(alpha_f, rings, passes=3):
    """Move contour points onto the edge that the partly covered pixels imply.

    Interpolating alpha between pixel centres misplaces the 50 % level by up to ~0.09 px where one
    neighbour is fully covered (its alpha is clipped at 1), and the error alternates along the edge:
    noise that costs anchors and pixels. Instead, per contour point, the pixels with 0 < alpha < 1
    nearest to it and to its RAMP_WINDOW neighbours get a weighted straight-line fit of alpha
    against their height along the point's normal (curvature-corrected); the point moves to where
    that line crosses 0.5. The fitted slope is the local ramp width (1 px for an anti-aliased
    edge, wider for a soft pearl), leaning on 1 px where the pixels cannot tell. Three passes
    bring a disc's points to ~0.001 px. ``rings``: closed polylines (N,2) in the padded pixel
    coordinates of ``alpha_f`` (0–1); returns the moved polylines.
    """
    from scipy.spatial import cKDTree

    ys, xs = np.nonzero((alpha_f > 1 / 255 - 1e-6) & (alpha_f < 1 - 1 / 255 + 1e-6))
    if len(ys) == 0:
        return rings
    centres = np.c_[xs + 0.5, ys + 0.5]
    values = alpha_f[ys, xs].astype(np.float64)
    # Pixels nearest the 50 % level say the most; the tails of a real coverage ramp bend.
    weight = np.minimum(values, 1 - values) + 0.02
    rings = [r.copy() for r in rings]
    for _ in range(passes):
        allpts = np.vstack(rings)
        owner = np.repeat(np.arange(len(rings)), [len(r) for r in rings])
        first = np.concatenate([[0], np.cumsum([len(r) for r in rings])])
        dist, nearest = cKDTree(allpts).query(centres, distance_upper_bound=RAMP_REACH)
        hit = np.isfinite(dist)
        k, c, v, wt = nearest[hit], centres[hit], values[hit], weight[hit]
        normals = np.vstack([_outward_normals(alpha_f, r) for r in rings])
        ring_of = owner[k]
        local = k - first[ring_of]
        length = np.diff(first)[ring_of]
        # A pixel t px along the tangent of a point lies curvature * t² / 2 further in than its
        # height over the tangent line says.
        curv = np.concatenate([_curvature(r, normals[first[i]:first[i + 1]]) for i, r in enumerate(rings)])
        tangents = np.stack([-normals[:, 1], normals[:, 0]], axis=1)
        # Per point, a weighted straight-line fit of alpha against height along its normal over
        # the pixels of the point and RAMP_WINDOW points either side: where it crosses 0.5 is
        # the edge, and its slope is the local ramp (not 1 px everywhere: a soft pearl, or an
        # approximate distance field, widens it).
        sums = np.zeros((5, len(allpts)))
        for offset in range(-RAMP_WINDOW, RAMP_WINDOW + 1):
            j = first[ring_of] + (local + offset) % length
            wj = wt * (1.0 - abs(offset) / (RAMP_WINDOW + 1))
            rel = c - allpts[j]
            t = np.sum(rel * tangents[j], axis=1)
            hgt = np.sum(rel * normals[j], axis=1) + 0.5 * curv[j] * t * t
            for row, val in enumerate((wj, wj * hgt, wj * hgt * hgt, wj * v, wj * hgt * v)):
                sums[row] += np.bincount(j, val, len(allpts))
        s0, sh, shh, sv, shv = sums
        ok = s0 > 1e-9
        s0 = np.maximum(s0, 1e-9)
        hbar, vbar = sh / s0, sv / s0
        var = shh / s0 - hbar * hbar
        cov = shv / s0 - hbar * vbar
        # Where the pixels barely spread across the ramp (one row of partial pixels along an
        # almost straight edge) the slope is not identifiable: lean on a 1 px ramp.
        slope = (cov - RAMP_PRIOR) / (np.maximum(var, 0.0) + RAMP_PRIOR)
        slope = np.clip(slope, -2.0, -0.05)  # alpha falls outwards; at most 1/2 px, at least 20 px
        s_sum = np.where(ok, hbar + (0.5 - vbar) / slope, 0.0)
        s_cnt = ok.astype(np.float64)
        shift = np.where(s_cnt > 1e-9, s_sum / np.maximum(s_cnt, 1e-9), 0.0)
        moved = allpts + np.clip(shift, -0.5, 0.5)[:, None] * normals
        rings = [moved[first[i]:first[i + 1]] for i in range(len(rings))]
    return rings


def trace(alpha, tolerance: float = 1.0, inset: float = 0.0, min_area: float = 4.0) -> str:
    """Mask (uint8 HxW, 0–255; edge at alpha 128) → SVG path data of closed cubic beziers.

    tolerance: maximum distance in pixels (> 0) of the curve from the traced edge; larger gives
    fewer anchors. inset: pixels (0–10) to move the path inside the edge so no backdrop bleeds in.
    Regions or holes smaller than ``min_area`` square pixels are dropped. Outer contours and holes
    are separate subpaths; fill with the even-odd rule. An empty mask gives "".
    """
    a = _check_alpha(alpha)
    if not (math.isfinite(tolerance) and 0.05 <= tolerance <= 100):
        raise MaskError(f"tolerance must be 0.05–100 pixels, got {tolerance!r}")
    if not (math.isfinite(inset) and 0 <= inset <= 10):
        raise MaskError(f"inset must be 0–10 pixels, got {inset!r}")
    return to_path_data(trace_subpaths(a, tolerance, inset, min_area))


def trace_subpaths(alpha, tolerance=1.0, inset=0.0, min_area=4.0) -> list[Subpath]:
    """As ``trace`` but returns the Subpath list (outer contours first, each followed by its holes)."""
    a = _check_alpha(alpha)
    binary = (a >= 128).astype(np.uint8)
    if not binary.any():
        return []
    # Pad so contours never touch the frame (the frame edge is an edge too).
    padded = np.pad(binary, 1)
    contours, hier = cv2.findContours(padded, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    alpha_f = np.pad(a.astype(np.float32) / 255.0, 1)
    # An anti-aliased mask pins the edge to sub-pixel accuracy; a binary one is a staircase
    # whose steps are smoothed away.
    edge_len = sum(len(c) for c in contours)
    smooth = 0.0 if np.count_nonzero((a > 0) & (a < 255)) > 0.5 * edge_len else BINARY_SMOOTH
    rings = []
    for c in contours:
        # Contours run through boundary pixel centres, so their area is less than the region's:
        # a region of n boundary pixels covers at most about area + n / 2 + 1 pixels.
        if abs(cv2.contourArea(c)) + len(c) / 2 + 1 < min_area:
            continue
        pts = c[:, 0, :].astype(np.float64) + 0.5  # pixel centres in continuous coordinates
        if len(pts) < 8:  # tiny blob: densify so the refinement has something to work with
            ring = np.vstack([pts, pts[:1]])
            fine = [ring[i] + (ring[i + 1] - ring[i]) * s for i in range(len(pts)) for s in (0, 0.25, 0.5, 0.75)]
            pts = np.array(fine)
        rings.append((pts, _refine(alpha_f, pts, 0.0, smooth)))
    if not smooth and rings:
        # Anti-aliased edge: every partly covered pixel says how far it is from the edge.
        snapped = _snap_to_ramp(alpha_f, [r for _, r in rings])
        rings = [(pts, new) for (pts, _), new in zip(rings, snapped)]
    out = []
    for pts, ref in rings:
        if inset:
            ref = ref - inset * _outward_normals(alpha_f, ref)
        ref = ref - 1.0  # undo the padding
        if abs(_poly_area(ref)) < min_area:
            continue
        out.append(_fit_closed(ref, tolerance))
    return out


def _poly_area(p):
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def anchor_count(d: str) -> int:
    """Number of anchors (on-curve points) of path data."""
    return sum(len(sp.anchors()) for sp in parse_path(d))
