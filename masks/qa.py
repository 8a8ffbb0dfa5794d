"""Automatic QA of a cutout: find what the AI most likely got wrong, from the photo and the mask.

Every detector works from three things only: the photo, the mask under review and an estimate of
the backdrop (a colour, refined into a smooth local backdrop map that follows the contact shadow
and the sweep's gradient). Nothing here knows how the mask was made.

The evidence is the colour distance ``D`` (Euclidean sRGB, 0–441) between each pixel and the
local backdrop, read against the mask:

* ``trapped_background`` — a broad region kept by the mask whose pixels are backdrop (D below the
  noise threshold) and which is walled in by the object: negative space left filled.
* ``hole_in_object`` — a hole in the mask, enclosed by the object, whose pixels are not backdrop
  (metal, a stone, or polished metal that only mirrors the backdrop's colour).
* ``clipped_detail`` — pixels clearly unlike the backdrop, outside the mask, more than the
  anti-aliasing pixel away from it: a prong, link or wire that was cut away.
* ``halo`` — a band along the mask edge, more than a pixel wide, kept but backdrop-coloured.
* ``jagged_edge`` — along a stretch of edge the mask both keeps backdrop and cuts object in an
  alternating, stair-stepped pattern.
* ``soft_edge_loss`` — along a soft edge (pearls, stones) a band of faint object pixels the mask
  drops entirely, the edge cut hard.

Large images are analysed at a working resolution of about one megapixel (defects studios care
about span tens of full-resolution pixels at 24 MP); findings are reported in full-resolution
pixels. Thresholds that are lengths scale with the image (``u`` = short side / 600).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from masks.errors import MaskError

KINDS = ("trapped_background", "hole_in_object", "clipped_detail", "halo", "jagged_edge",
         "soft_edge_loss")
WORK_PIXELS = 1_000_000  # analysis resolution cap (pixels)


@dataclass(frozen=True)
class Finding:
    """One suspect region. ``bbox`` (x, y, w, h) and ``area_px`` in full-resolution pixels,
    ``severity`` 0–1 (higher = more certain and larger), ``message`` for the retoucher."""

    kind: str
    bbox: tuple[int, int, int, int]
    severity: float
    area_px: int
    message: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "bbox": [int(v) for v in self.bbox],
                "severity": round(float(self.severity), 3), "area_px": int(self.area_px),
                "message": self.message}


@dataclass
class QAReport:
    """Findings sorted by severity (highest first) and a heat map for the viewer.

    ``heatmap`` uint8 (h', w'), 0–255 = how suspect; ``heatmap_scale`` = h'/H (multiply image
    coordinates by it to index the heat map). ``backdrop`` is the (r, g, b) used.
    """

    findings: list[Finding]
    heatmap: np.ndarray
    heatmap_scale: float
    backdrop: tuple[int, int, int] = (0, 0, 0)
    stats: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"findings": [f.to_dict() for f in self.findings],
                "heatmap_scale": self.heatmap_scale,
                "heatmap_size": [int(self.heatmap.shape[1]), int(self.heatmap.shape[0])],
                "backdrop": list(self.backdrop)}


# --------------------------------------------------------------------------------------------
# input checks and backdrop


def _check_image(image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise MaskError(f"image: expected uint8 H×W×3 RGB, got {image.dtype} {image.shape}")
    if image.shape[0] < 16 or image.shape[1] < 16:
        raise MaskError(f"image: at least 16×16 px needed, got {image.shape[1]}×{image.shape[0]}")
    return image[..., :3]


def _check_alpha(alpha, shape) -> np.ndarray:
    alpha = np.asarray(alpha)
    if alpha.ndim == 3 and alpha.shape[2] in (1, 4):
        alpha = alpha[..., -1]
    if alpha.dtype != np.uint8 or alpha.shape != tuple(shape):
        raise MaskError(f"mask: expected uint8 {shape[1]}×{shape[0]} alpha matching the image, "
                        f"got {alpha.dtype} {alpha.shape[1::-1] if alpha.ndim >= 2 else alpha.shape}")
    return alpha


def estimate_backdrop(image: np.ndarray, alpha: np.ndarray | None = None) -> tuple[int, int, int]:
    """The backdrop colour (r, g, b), 0–255: the median of the pixels the mask leaves out
    (alpha 0), or without a mask of a frame 2 % of the short side wide around the border."""
    image = _check_image(image)
    h, w = image.shape[:2]
    if alpha is not None:
        alpha = _check_alpha(alpha, (h, w))
        step = max(1, int(np.sqrt(h * w / 400_000)))
        a = alpha[::step, ::step]
        px = image[::step, ::step][a == 0]
        if len(px) >= 64:
            return tuple(int(v) for v in np.median(px, axis=0))
    b = max(1, int(0.02 * min(h, w)))
    frame = np.concatenate([image[:b].reshape(-1, 3), image[-b:].reshape(-1, 3),
                            image[:, :b].reshape(-1, 3), image[:, -b:].reshape(-1, 3)])
    return tuple(int(v) for v in np.median(frame[:: max(1, len(frame) // 100_000)], axis=0))


def _parse_backdrop(backdrop):
    if isinstance(backdrop, str):
        s = backdrop.strip().lstrip("#")
        if len(s) == 6:
            try:
                return tuple(int(s[i:i + 2], 16) for i in (0, 2, 4))
            except ValueError:
                pass
        parts = backdrop.split(",")
        if len(parts) == 3:
            try:
                backdrop = tuple(int(p) for p in parts)
            except ValueError:
                pass
    try:
        rgb = tuple(int(v) for v in backdrop)
    except (TypeError, ValueError):
        raise MaskError(f"backdrop: expected (r, g, b), 'r,g,b' or '#rrggbb', got {backdrop!r}") from None
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise MaskError(f"backdrop: expected three values 0–255, got {backdrop!r}")
    return rgb


# --------------------------------------------------------------------------------------------
# analysis context


def _disk(r: float) -> np.ndarray:
    k = max(1, int(round(r)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))


def _dilate(mask, r):
    return cv2.dilate(mask.astype(np.uint8), _disk(r)).astype(bool)


def _erode(mask, r):
    return cv2.erode(mask.astype(np.uint8), _disk(r)).astype(bool)


class _Ctx:
    """Everything the detectors share, at working resolution."""

    def __init__(self, image, alpha, backdrop):
        H, W = alpha.shape
        self.full = (H, W)
        f = min(1.0, np.sqrt(WORK_PIXELS / float(H * W)))
        if f < 1.0:
            size = (max(16, int(round(W * f))), max(16, int(round(H * f))))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        self.h, self.w = alpha.shape
        self.fx, self.fy = self.w / W, self.h / H
        self.u = min(self.h, self.w) / 600.0
        self.img = image.astype(np.float32)
        self.m = alpha.astype(np.float32) / 255.0
        self.M = alpha >= 128
        self.bg = np.asarray(backdrop, np.float32)
        n, lab, stats, _ = cv2.connectedComponentsWithStats((~self.M).astype(np.uint8), connectivity=4)
        border = set(np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])).tolist())
        # label 0 is the kept region; the left-out components touching the frame are "outside"
        self.outer = np.isin(lab, sorted(border - {0})) & ~self.M
        self._backdrop_map()
        M8 = self.M.astype(np.uint8)
        self.dist_in = cv2.distanceTransform(M8, cv2.DIST_L2, 3)
        self.dist_out = cv2.distanceTransform(1 - M8, cv2.DIST_L2, 3)
        # local object contrast: the strongest deviation from backdrop within ±2 px
        self.cloc = cv2.dilate(np.where(self.M, self.D, 0).astype(np.float32), np.ones((5, 5), np.uint8))
        self.taken = np.zeros(self.M.shape, bool)  # pixels already explained by a finding

    def _backdrop_map(self):
        """Local backdrop colour: normalised convolution of the left-out pixels at half scale,
        blended with the global estimate where no backdrop is near. Pixels near sharp edges
        away from the mask (a cut-off prong, a missed link) are not backdrop and are left out of
        the average; smooth darkening (the contact shadow, the sweep's gradient) is followed."""
        h, w = self.h, self.w
        q = 2 if min(h, w) >= 200 else 1
        sw, sh = max(4, w // q), max(4, h // q)
        sigma = max(1.5, 5.0 * self.u / q)
        lum = self.img.mean(-1)
        gx = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3)
        grad = np.sqrt(gx * gx + gy * gy) / 8.0  # levels per pixel
        self.grad = grad
        # only the backdrop outside the piece: a hole's own pixels must not vouch for themselves
        left_out = (self.m < 0.02) & self.outer
        dist_out = cv2.distanceTransform(left_out.astype(np.uint8), cv2.DIST_L2, 3)
        sharp_far = (grad > 12.0) & (dist_out > 2.5)
        weight = (dist_out > 1.5) & ~_dilate(sharp_far, max(2.0, 8.0 * self.u))
        wt = cv2.resize(weight.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
        img_s = cv2.resize(self.img, (sw, sh), interpolation=cv2.INTER_AREA)
        eps = 1e-3
        num = cv2.GaussianBlur(img_s * wt[..., None], (0, 0), sigma)
        den = cv2.GaussianBlur(wt, (0, 0), sigma)[..., None]
        # far from any backdrop pixel the average fades into the global estimate
        far = cv2.GaussianBlur(wt, (0, 0), 4 * sigma)[..., None]
        local = num / np.maximum(den, eps)
        mix = np.clip(den / 0.05, 0.0, 1.0) * np.clip(far / 0.02, 0.0, 1.0)
        b = self.bg + (local - self.bg) * mix
        self.bmap = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
        diff = self.img - self.bmap
        self.D = np.sqrt((diff * diff).sum(-1))
        # negative space seen through the piece may be judged against the plain backdrop colour
        # too: the local map there is extrapolated from outside (e.g. from the shadow below)
        diff = self.img - self._backdrop_plane(weight)
        self.D_enclosed = np.minimum(self.D, np.sqrt((diff * diff).sum(-1)))
        bgpix = self.D[weight]
        med = float(np.median(bgpix[:: max(1, len(bgpix) // 200_000)])) if len(bgpix) else 2.0
        self.noise = med  # median colour distance of the backdrop from its own estimate
        self.tau = float(np.clip(4.5 * med, 10.0, 40.0))  # "looks like backdrop" (sensor noise)
        obj = self.D[self.M]
        self.contrast = float(np.percentile(obj, 75)) if len(obj) else 100.0

    def _backdrop_plane(self, weight):
        """The sweep as a plane per channel (a + b·x + c·y), fitted to backdrop pixels robustly
        (a second fit drops what the first could not explain, such as the shadow)."""
        ys, xs = np.nonzero(weight)
        if len(xs) < 50:
            return self.bg
        step = max(1, len(xs) // 20_000)
        ys, xs = ys[::step], xs[::step]
        A = np.stack([np.ones(len(xs), np.float32), xs / self.w, ys / self.h], 1).astype(np.float32)
        vals = self.img[ys, xs]
        keep = np.ones(len(xs), bool)
        for _ in range(2):
            coef, *_ = np.linalg.lstsq(A[keep], vals[keep], rcond=None)
            res = np.sqrt(((A @ coef - vals) ** 2).sum(-1))
            keep = res < max(6.0, 3.0 * float(np.median(res)))
        gx = (np.arange(self.w, dtype=np.float32) / self.w)[None, :, None]
        gy = (np.arange(self.h, dtype=np.float32) / self.h)[:, None, None]
        return coef[0] + gx * coef[1] + gy * coef[2]

    # helpers ----------------------------------------------------------------------------
    def bbox_full(self, mask):
        ys, xs = np.nonzero(mask)
        x0, x1 = xs.min() / self.fx, (xs.max() + 1) / self.fx
        y0, y1 = ys.min() / self.fy, (ys.max() + 1) / self.fy
        X0, Y0 = int(np.floor(x0)), int(np.floor(y0))
        return (X0, Y0, int(np.ceil(x1)) - X0, int(np.ceil(y1)) - Y0)

    def area_full(self, n):
        return int(round(n / (self.fx * self.fy)))


def _components(mask, min_area=1, connectivity=8):
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=connectivity)
    out = []
    for i in range(1, n):
        if stats[i, 4] >= min_area:
            x, y, w, h, _ = stats[i]
            out.append((lab, i, (x, y, w, h)))
    return out


def _roi(bbox, pad, shape):
    x, y, w, h = bbox
    return (slice(max(0, y - pad), min(shape[0], y + h + pad)), slice(max(0, x - pad), min(shape[1], x + w + pad)))


def _sev(area, ref, strength=1.0):
    return float(np.clip((0.35 + 0.65 * (1.0 - np.exp(-area / ref))) * strength, 0.05, 1.0))


# --------------------------------------------------------------------------------------------
# detectors: each returns a list of (kind, region mask in working px, severity, message)


def _trapped_background(c: _Ctx):
    u2 = c.u * c.u
    cand = c.M & (c.D_enclosed < c.tau)
    cand = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_OPEN, _disk(1)).astype(bool)
    out = []
    for lab, i, bb in _components(cand, min_area=max(12, 50 * u2)):
        sl = _roi(bb, 4, cand.shape)
        comp = lab[sl] == i
        thick = cv2.distanceTransform(comp.astype(np.uint8), cv2.DIST_L2, 3).max()
        if thick < max(2.0, 2.5 * c.u):  # a band along the edge is a halo, not negative space
            continue
        ring = _dilate(comp, 2) & ~comp
        open_frac = (~c.M[sl])[ring].mean()
        if open_frac > 0.3:  # touches the cut-out background: not walled in
            continue
        walls = c.D[sl][ring & c.M[sl]]
        if len(walls) == 0 or np.median(walls) < 2 * c.tau:
            continue
        # backdrop seen through negative space is the backdrop at its noise level; a surface
        # that only resembles it (silver on grey) sits systematically off it
        med = float(np.median(c.D_enclosed[sl][comp]))
        if med > 2.0 * c.noise + 2.0:
            continue
        area = int(comp.sum())
        region = np.zeros(c.M.shape, bool)
        region[sl] = comp
        out.append(("trapped_background", region, _sev(area, 300 * u2),
                    f"negative space of about {c.area_full(area)} px is kept but looks like the "
                    f"backdrop (colour distance {med:.0f}); cut it out"))
    return out


def _largest_flat_patch(c: _Ctx, sl, core, flat_q) -> int:
    """Area (working px) of the largest compact patch of ``core`` that is the backdrop at its
    noise level (``D_enclosed <= flat_q``, opened by 3×3 so that scattered near-backdrop pixels
    of a reflection do not count): a window of negative space inside the hole."""
    flat = (core & (c.D_enclosed[sl] <= flat_q)).astype(np.uint8)
    flat = cv2.morphologyEx(flat, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(flat, connectivity=4)
    return int(stats[1:, 4].max()) if n > 1 else 0


def _holes(c: _Ctx):
    """Enclosed holes in the mask whose pixels are not plain backdrop: hole_in_object.

    Negative space shows the backdrop at its noise level. A hole whose pixels sit off it —
    metal, a stone, or polished metal and highlights that only come close to the backdrop's
    colour, with the structure of a reflection — was punched into the object. Holes that are
    part object and part a compact window of plain backdrop (a cut-away prong that merged with a
    gallery window) are left to the clipped-detail detector; a reflection's near-backdrop pixels
    are scattered, a window's are one patch.
    """
    u2 = c.u * c.u
    out = []
    hole_mask = ~c.M & ~c.outer
    obj_thr = max(2.5 * c.tau, 0.2 * c.contrast)
    flat_med, flat_q = 2.0 * c.noise + 2.0, 3.0 * c.noise + 3.0
    for lab, i, bb in _components(hole_mask, min_area=max(6, 8 * u2), connectivity=4):
        sl = _roi(bb, 3, hole_mask.shape)
        comp = lab[sl] == i
        # judge the fully left-out pixels: anti-aliased ones carry some object colour by right
        core = comp & (c.m[sl] <= 0.03)
        if core.sum() < max(4, 4 * u2):
            continue
        d = c.D_enclosed[sl][core]
        med, q75 = float(np.median(d)), float(np.percentile(d, 75))
        if med <= flat_med and q75 <= flat_q:
            continue  # the backdrop itself: negative space, rightly cut out
        obj_frac = float((d > obj_thr).mean())
        if obj_frac >= 0.2 and _largest_flat_patch(c, sl, core, flat_q) >= max(20, 20 * u2):
            continue  # backdrop and object side by side: a part cut away next to negative space
        area = int(comp.sum())
        region = np.zeros(c.M.shape, bool)
        region[sl] = comp
        if med > obj_thr:
            why = f"the photo there is not backdrop (colour distance {med:.0f})"
        else:
            why = (f"the photo there only resembles the backdrop (colour distance {med:.0f}, "
                   f"not flat like seen-through backdrop): reflective metal or a highlight?")
        strength = min(1.0, 0.45 + med / (2 * c.contrast + 1) + 0.1 * (med > obj_thr))
        out.append(("hole_in_object", region, _sev(area, 80 * u2, strength),
                    f"hole of about {c.area_full(area)} px inside the object; {why}; fill it"))
    return out


def _clipped_detail(c: _Ctx):
    u2 = c.u * c.u
    obj_thr = max(2.5 * c.tau, 0.2 * c.contrast)
    miss = ~c.M & (c.D > obj_thr) & ~c.taken
    core = miss & (c.dist_out >= 2.0)  # past the anti-aliased edge pixel
    out = []
    for lab, i, bb in _components(core, min_area=max(8, 30 * u2)):
        sl = _roi(bb, 3, core.shape)
        comp = lab[sl] == i
        region_l = _dilate(comp, 2) & miss[sl]
        # a cut-off structure has edges: its outline stands out sharply against the backdrop
        n = int(region_l.sum())
        region = np.zeros(c.M.shape, bool)
        region[sl] = region_l
        strength = min(1.0, 0.5 + float(np.median(c.D[sl][comp])) / (2 * c.contrast + 1))
        out.append(("clipped_detail", region, _sev(n, 120 * u2, strength),
                    f"about {c.area_full(n)} px that stand out from the backdrop were cut away "
                    f"(a prong, link or wire?); restore them"))
    return out


def _edge_runs(c: _Ctx, mask, close_r):
    """Group pixels along the edge into runs (closing joins a broken band)."""
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, _disk(close_r)).astype(bool)


def _edge_errors(c: _Ctx, relative=False):
    """Judged against the mask's own alpha: pixels kept (almost) fully that are backdrop, and
    pixels dropped (almost) entirely that are clearly object, near the mask edge. Anti-aliased
    pixels of a right mask are neither, because there alpha and colour agree."""
    reach = max(3.0, 8.0 * c.u)
    if relative:  # soft edges: compare with the local object contrast, not only the backdrop
        kept_bg = (c.m >= 0.9) & (c.D < np.maximum(c.tau, 0.4 * c.cloc))
        cut_obj = (c.m <= 0.03) & (c.D > np.maximum(2.5 * c.tau, 0.3 * c.cloc))
    else:
        kept_bg = (c.m >= 0.9) & (c.D < c.tau)
        cut_obj = (c.m <= 0.03) & (c.D > 2.5 * c.tau)
    kept_bg &= (c.dist_in <= reach) & ~c.taken
    cut_obj &= (c.dist_out <= reach) & ~c.taken
    return kept_bg, cut_obj


def _jagged_edge(c: _Ctx):
    u2 = c.u * c.u
    kept_bg, cut_obj = _edge_errors(c, relative=True)
    # how much of each lies within a window ~25 px along the edge: a staircase has both
    win = int(max(9, 24 * c.u)) | 1
    K = cv2.boxFilter(kept_bg.astype(np.float32), -1, (win, win), normalize=False)
    C = cv2.boxFilter(cut_obj.astype(np.float32), -1, (win, win), normalize=False)
    edge = c.M & (c.dist_in <= 1.0)
    # a stair-stepped mask is hard-edged: hardly any partial alpha along it (a right mask of a
    # smooth edge is anti-aliased, so nearly every edge pixel is partial)
    near = (c.dist_in <= 1.5) | (c.dist_out <= 1.5)
    partial = near & (c.m > 0.03) & (c.m < 0.97)
    P = cv2.boxFilter(partial.astype(np.float32), -1, (win, win), normalize=False)
    E = cv2.boxFilter(edge.astype(np.float32), -1, (win, win), normalize=False)
    out = []
    jag_zone = (K >= 8 * u2) & (C >= 8 * u2) & (K + C >= 30 * u2) & (P < 0.35 * E)
    for lab, i, bb in _components(jag_zone, min_area=1):
        sl = _roi(bb, win // 2 + 1, jag_zone.shape)
        zone = _dilate(lab[sl] == i, win // 2)
        kp, ct = kept_bg[sl] & zone, cut_obj[sl] & zone
        teeth = len(_components(kp | ct, min_area=max(2, 3 * u2)))
        total = int(kp.sum() + ct.sum())
        if teeth < 3 or total < 40 * u2:
            continue
        # steps are a few pixels deep; object missing far beyond the edge is a clipped part
        if ct.any() and (c.dist_out[sl][ct] > 5.0 * c.u).mean() > 0.25:
            continue
        length = max(1, int((edge[sl] & zone).sum()))
        region = np.zeros(c.M.shape, bool)
        region[sl] = kp | ct
        out.append(("jagged_edge", region, _sev(total, 150 * u2),
                    f"stair-stepped edge over about {int(length / c.fx)} px: the mask keeps "
                    f"backdrop and cuts object in turn; smooth it"))
    return out


def _halo(c: _Ctx):
    u2 = c.u * c.u
    kept_bg, cut_obj = _edge_errors(c)
    edge = c.M & (c.dist_in <= 1.0)
    out = []
    # a fringe starts at the mask edge: keep only what is connected to the outermost kept pixels
    # (a highlight line inside a wire that happens to match the backdrop is not a fringe)
    seeds = kept_bg & (c.dist_in <= 1.0)
    n, lab0, _, _ = cv2.connectedComponentsWithStats(kept_bg.astype(np.uint8), connectivity=8)
    keep_ids = np.unique(lab0[seeds])
    kept_bg = np.isin(lab0, keep_ids[keep_ids > 0])
    groups = _edge_runs(c, kept_bg, max(2.0, 3.0 * c.u))
    for lab, i, bb in _components(groups, min_area=max(10, 30 * u2)):
        sl = _roi(bb, 2, groups.shape)
        g = lab[sl] == i
        kp = kept_bg[sl] & g
        n_k = int(kp.sum())
        n_c = int((cut_obj[sl] & _dilate(g, 2)).sum())
        length = max(1, int((edge[sl] & _dilate(g, 1)).sum()))
        if n_k >= 30 * u2 and n_k / length >= 1.0 and n_c < 0.2 * n_k and length >= 10 * c.u:
            region = np.zeros(c.M.shape, bool)
            region[sl] = kp
            out.append(("halo", region, _sev(n_k, 150 * u2, min(1.0, 0.4 + 0.3 * n_k / length)),
                        f"fringe of backdrop colour {n_k / length / c.fx:.1f} px wide along about "
                        f"{int(length / c.fx)} px of edge; shift the edge in or defringe"))
    return out


def _soft_edge_loss(c: _Ctx):
    u2 = c.u * c.u
    faint = (c.m < 0.03) & (c.D > max(1.5 * c.tau, 0.0)) & (c.D > 0.12 * c.cloc) \
        & (c.D < 0.7 * np.maximum(c.cloc, 1)) & (c.dist_out <= max(2.0, 4.0 * c.u)) & ~c.taken
    # the mask edge is hard there: few partial alpha values next to it
    partial = (c.m > 0.03) & (c.m < 0.97)
    groups = _edge_runs(c, faint, max(2.0, 3.0 * c.u))
    edge = ~c.M & (c.dist_out <= 1.0)
    # the photo's own transition across the edge: pixels between backdrop and the object's
    # colour nearby. A soft edge spreads it over several pixels; a metal edge cut by a binary
    # mask (which drops its faint anti-aliased pixel) has it one pixel wide
    ref = cv2.dilate(np.where(c.M, c.D, 0).astype(np.float32), np.ones((9, 9), np.uint8))
    transition = (c.D > 0.15 * ref) & (c.D < 0.85 * ref) & (np.minimum(c.dist_in, c.dist_out) <= 4)
    out = []
    for lab, i, bb in _components(groups, min_area=max(10, 40 * u2)):
        sl = _roi(bb, 2, groups.shape)
        g = lab[sl] == i
        fn = faint[sl] & g
        n = int(fn.sum())
        length = max(1, int((edge[sl] & _dilate(g, 1)).sum()))
        part = int((partial[sl] & _dilate(g, 2)).sum())
        if n < 30 * u2 or n / length < 0.9 or part > 0.5 * length:
            continue
        if (transition[sl] & _dilate(g, 3)).sum() < 1.8 * length:
            continue  # transition about one pixel wide: a hard edge, nothing soft was lost
        region = np.zeros(c.M.shape, bool)
        region[sl] = fn
        out.append(("soft_edge_loss", region, _sev(n, 150 * u2, 0.7),
                    f"soft edge cut hard along about {int(length / c.fx)} px: "
                    f"{n / length / c.fx:.1f} px of its faint outer pixels dropped; feather or "
                    f"restore them"))
    return out


# --------------------------------------------------------------------------------------------


def analyse(image: np.ndarray, alpha: np.ndarray, backdrop=None) -> QAReport:
    """Run every detector on ``image`` (uint8 H×W×3 sRGB) and ``alpha`` (uint8 H×W, the mask
    under review). ``backdrop`` (r, g, b) 0–255 or None to estimate it from the pixels the mask
    leaves out. Returns a QAReport; findings in full-resolution pixels."""
    image = _check_image(image)
    alpha = _check_alpha(alpha, image.shape[:2])
    bg = _parse_backdrop(backdrop) if backdrop is not None else estimate_backdrop(image, alpha)
    c = _Ctx(image, alpha, bg)
    raw = []
    # order matters: a region explained by one detector is not offered to the next
    for det in (_trapped_background, _holes, _jagged_edge, _clipped_detail, _halo, _soft_edge_loss):
        found = det(c)
        for _, region, _, _ in found:
            c.taken |= _dilate(region, 1)
        raw.extend(found)
    findings = []
    heat = np.zeros(c.M.shape, np.float32)
    for kind, region, sev, msg in raw:
        findings.append(Finding(kind, c.bbox_full(region), round(sev, 3), c.area_full(int(region.sum())), msg))
        heat[region] = np.maximum(heat[region], sev)
    heat = cv2.GaussianBlur(heat, (0, 0), max(1.0, 3.0 * c.u))
    peak = heat.max()
    if peak > 0:
        heat *= min(1.0, max(s for _, _, s, _ in raw)) / peak
    heatmap = np.clip(heat * 255 + 0.5, 0, 255).astype(np.uint8)
    findings.sort(key=lambda f: -f.severity)
    return QAReport(findings, heatmap, float(c.h / c.full[0]), tuple(int(v) for v in bg),
                    {"tau": c.tau, "contrast": c.contrast, "work_size": [c.w, c.h]})
