"""Procedural jewelry photographs with exact ground-truth alpha, and AI-style cutout failures.

``generate`` paints a piece of jewelry (ring, chain, earring, pearl strand) on a studio backdrop
from analytic shapes: every primitive is a signed-distance field evaluated only inside its own
bounding box (vectorised numpy), turned into 0–1 area coverage with a one-pixel ramp (soft over
several pixels for pearls), and composited with "over". The photo is composited from exactly that
coverage, so the returned alpha *is* the ground truth (to 1/255): no segmentation is involved.

Realism that the QA detectors must cope with:

* polished metal reflects the backdrop: bands of the metal take the backdrop colour (tinted by
  the metal's reflectance), with soft margins as a blurred reflection of a light tent has;
* stones are semi-transparent: their pixels mix the backdrop with the stone colour by facet;
* a soft contact shadow darkens the backdrop under the piece (shadow is *not* object: alpha 0);
* a slight backdrop gradient and sensor noise.

``degrade(image, gt_alpha, seed)`` turns the ground truth into an "AI cutout" with failures planted
at known places (negative space left filled, holes punched in reflective metal, clipped prongs and
links, halos, stair-stepped edges, soft edges cut hard) and returns them as ``Defect`` records.

Sizes are in pixels; geometry scales with ``min(width, height)`` so the same seed gives the same
picture at any size. 800 × 600 generates in a few tens of milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from masks.errors import MaskError

KINDS = ("ring", "chain", "earring", "pearls")
BACKDROPS = ("white", "lightgrey", "black")
# Nominal studio backdrop colours (sRGB 0–255); the photo varies around them by a gentle gradient.
BACKDROP_RGB = {"white": (247, 247, 245), "lightgrey": (212, 213, 215), "black": (16, 16, 18)}
DEFECT_KINDS = ("trapped_background", "hole_in_object", "clipped_detail", "halo", "jagged_edge",
                "soft_edge_loss")

MAX_PIXELS = 100_000_000

# Metal base colour (sRGB) and reflectance tint applied to what the metal mirrors.
_METALS = {
    "silver": ((196, 198, 204), (0.95, 0.95, 0.94)),
    "gold": ((212, 168, 84), (1.0, 0.84, 0.58)),
    "rose": ((204, 146, 124), (1.0, 0.80, 0.72)),
}
_STONE_TINTS = {
    "clear": None,  # colourless: facets alternate between backdrop and its opposite
    "sapphire": (28, 52, 150),
    "ruby": (160, 22, 48),
    "emerald": (18, 120, 70),
    "amethyst": (110, 50, 150),
}
_PEARLS = {
    "white": (236, 230, 218),
    "cream": (232, 214, 178),
    "pink": (236, 208, 204),
    "grey": (168, 170, 182),
    "gold": (214, 176, 112),
    "black": (62, 64, 74),
}


@dataclass(frozen=True)
class Sample:
    """A synthetic photo. ``image`` uint8 H×W×3 sRGB, ``alpha`` uint8 H×W ground truth (255 = object)."""

    image: np.ndarray
    alpha: np.ndarray
    kind: str
    backdrop: str
    backdrop_rgb: tuple[int, int, int]


@dataclass(frozen=True)
class Defect:
    """A planted failure: ``kind`` from DEFECT_KINDS, ``bbox`` (x, y, w, h) in image pixels."""

    kind: str
    bbox: tuple[int, int, int, int]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "bbox": list(self.bbox)}


# --------------------------------------------------------------------------------------------
# canvas and primitives


class _Canvas:
    """Premultiplied colour + coverage accumulated with "over", one primitive's box at a time."""

    def __init__(self, w: int, h: int):
        self.w, self.h = w, h
        self.colour = np.zeros((h, w, 3), np.float32)
        self.alpha = np.zeros((h, w), np.float32)

    def box(self, x0: float, y0: float, x1: float, y1: float):
        """Slice + pixel-centre grids for the box, clipped to the canvas; None when outside."""
        ix0, iy0 = max(int(np.floor(x0)) - 1, 0), max(int(np.floor(y0)) - 1, 0)
        ix1, iy1 = min(int(np.ceil(x1)) + 2, self.w), min(int(np.ceil(y1)) + 2, self.h)
        if ix0 >= ix1 or iy0 >= iy1:
            return None
        xs = np.arange(ix0, ix1, dtype=np.float32) + 0.5
        ys = np.arange(iy0, iy1, dtype=np.float32)[:, None] + 0.5
        return (slice(iy0, iy1), slice(ix0, ix1)), xs[None, :], ys

    def paint(self, sl, cov: np.ndarray, colour_of) -> None:
        """Composite ``colour_of(pick)`` (N×3 for the covered pixels ``pick``) with coverage ``cov``."""
        cov = np.clip(cov, 0.0, 1.0).astype(np.float32)
        pick = cov > 0
        if not pick.any():
            return
        c = cov[pick][:, None]
        sub_c, sub_a = self.colour[sl], self.alpha[sl]
        sub_c[pick] = colour_of(pick) * c + sub_c[pick] * (1.0 - c)
        sub_a[pick] = c[:, 0] + sub_a[pick] * (1.0 - c[:, 0])


def _coverage(d: np.ndarray, soft: float = 1.0) -> np.ndarray:
    """Coverage 0–1 from a signed distance in px (negative inside), ramp ``soft`` px wide."""
    return np.clip(0.5 - d / soft, 0.0, 1.0)


def _ellipse_dist(u, v, a, b):
    """Approximate signed distance (px) to the ellipse u²/a² + v²/b² = 1 (positive outside)."""
    k0 = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    k1 = np.sqrt((u / (a * a)) ** 2 + (v / (b * b)) ** 2) + 1e-6
    return k0 * (k0 - 1.0) / k1


class _Scene:
    """Painter for one photo: knows the scale, backdrop and metal so shapes stay one-liners."""

    def __init__(self, w, h, rng, backdrop_rgb, metal):
        self.c = _Canvas(w, h)
        self.s = min(w, h) / 600.0  # geometry is designed at 600 px and scales with the frame
        self.S = float(min(w, h))
        self.rng = rng
        self.bg = np.array(backdrop_rgb, np.float32)
        self.metal_rgb = np.array(_METALS[metal][0], np.float32)
        self.metal_refl = np.array(_METALS[metal][1], np.float32)
        self.dark_bg = self.bg.mean() < 100

    # shading ----------------------------------------------------------------------------
    def metal(self, t, along, refl_gain=1.0):
        """Polished metal across a wire/band: ``t`` −1…1 across, ``along`` radians along it.

        A cylinder shading with a specular highlight, plus a mirrored image of the backdrop in a
        band whose margins ramp over ~30 % of the half-width (a blurred light-tent reflection).
        """
        t = np.clip(t, -1.0, 1.0)
        n = np.sqrt(1.0 - t * t)
        base = self.metal_rgb * (0.42 + 0.58 * n)[..., None]
        spec = np.exp(-(((t + 0.45) / 0.16) ** 2))[..., None]
        base = base + (255.0 - base) * (0.85 * spec)
        band = np.clip((0.42 - np.abs(t - 0.3)) / 0.3, 0.0, 1.0)
        patch = np.clip(1.6 * np.cos(along) - 0.35, 0.0, 1.0)
        w = (0.93 * refl_gain) * band * patch
        mirrored = self.bg * self.metal_refl
        return base + (mirrored - base) * w[..., None]

    def stone_colour(self, u, v, radius, tint):
        """Semi-transparent faceted stone: backdrop seen through it, mixed per facet."""
        ang = np.arctan2(v, u)
        r = np.sqrt(u * u + v * v) / radius
        facet = np.floor((ang + np.pi) / (2 * np.pi) * 8.0)
        ring = (r > 0.55).astype(np.float32)
        val = 0.5 + 0.5 * np.cos(facet * 2.3 + ring * 1.7)
        if tint is None:  # colourless: dark facets on light backdrops, bright ones on black
            other = np.float32(235.0) if self.dark_bg else np.float32(70.0)
            tint_rgb = np.array([other, other, other * 1.02], np.float32)
        else:
            tint_rgb = np.array(tint, np.float32)
        mix = (0.45 + 0.45 * val)[..., None]  # 10–55 % of the backdrop shows through
        col = self.bg + (tint_rgb - self.bg) * mix
        sparkle = np.exp(-(((u + 0.35 * radius) ** 2 + (v + 0.3 * radius) ** 2) / (0.02 * radius * radius + 1)))
        return col + (255.0 - col) * (0.8 * sparkle)[..., None]

    # shapes -----------------------------------------------------------------------------
    # Each computes the signed distance on its box, then the colour only where it covers.
    def ellipse_band(self, cx, cy, a, b, hw, angle=0.0, refl_phase=0.0, refl_gain=1.0):
        """Metal loop: ellipse mid-line radii (a, b) px, half-width ``hw`` px, rotated ``angle``."""
        ext = max(a, b) + hw + 1
        box = self.c.box(cx - ext, cy - ext, cx + ext, cy + ext)
        if box is None:
            return
        sl, X, Y = box
        ca, sa = np.cos(angle), np.sin(angle)
        dx, dy = X - cx, Y - cy
        u, v = dx * ca + dy * sa, -dx * sa + dy * ca
        de = _ellipse_dist(u, v, a, b)
        d = np.abs(de) - hw

        def colour(pick):
            theta = np.arctan2(v[pick] / b, u[pick] / a)
            return self.metal(de[pick] / hw, theta * 2.0 + refl_phase, refl_gain)

        self.c.paint(sl, _coverage(d), colour)

    def capsule(self, p0, p1, r, refl_phase=0.0, refl_gain=0.6):
        """Metal wire from p0 to p1 (px), radius ``r`` px, round caps."""
        (x0, y0), (x1, y1) = p0, p1
        box = self.c.box(min(x0, x1) - r, min(y0, y1) - r, max(x0, x1) + r, max(y0, y1) + r)
        if box is None:
            return
        sl, X, Y = box
        ex, ey = x1 - x0, y1 - y0
        ll = ex * ex + ey * ey + 1e-9
        h = np.clip(((X - x0) * ex + (Y - y0) * ey) / ll, 0.0, 1.0)
        qx, qy = X - x0 - h * ex, Y - y0 - h * ey
        dist = np.sqrt(qx * qx + qy * qy)
        length = np.sqrt(ll)

        def colour(pick):
            side = np.sign(qx[pick] * (-ey) + qy[pick] * ex)
            return self.metal(side * dist[pick] / r, h[pick] * length / (6.0 * r) + refl_phase, refl_gain)

        self.c.paint(sl, _coverage(dist - r), colour)

    def _around(self, cx, cy, ext):
        """The canvas box within ``ext`` px of (cx, cy) px: (slices, dx, dy) with dx, dy the
        pixel centres' offsets from (cx, cy) as full arrays; None when it misses the canvas."""
        box = self.c.box(cx - ext, cy - ext, cx + ext, cy + ext)
        if box is None:
            return None
        sl, X, Y = box
        dx, dy = np.broadcast_arrays(X - cx, Y - cy)
        return sl, dx, dy

    def disc(self, cx, cy, r, refl_phase=0.0):
        """Metal disc (a bezel cup seen from the front), radius ``r`` px."""
        box = self._around(cx, cy, r)
        if box is None:
            return
        sl, dx, dy = box
        rr = np.sqrt(dx * dx + dy * dy)

        def colour(pick):
            return self.metal(2.0 * rr[pick] / r - 1.0, np.arctan2(dy[pick], dx[pick]) + refl_phase, 0.8)

        self.c.paint(sl, _coverage(rr - r), colour)

    def stone(self, cx, cy, rx, ry, tint):
        """Faceted semi-transparent stone, elliptical outline radii (rx, ry) px."""
        box = self._around(cx, cy, max(rx, ry) + 1)
        if box is None:
            return
        sl, u, v = box
        d = _ellipse_dist(u, v, rx, ry)
        r0 = min(rx, ry)

        def colour(pick):  # facets laid out on the unit circle of the outline
            return self.stone_colour(u[pick] * (r0 / rx), v[pick] * (r0 / ry), r0, tint)

        self.c.paint(sl, _coverage(d), colour)

    def pearl(self, cx, cy, r, base, soft):
        """Pearl radius ``r`` px with a lustrous edge whose alpha falls off over ``soft`` px."""
        box = self._around(cx, cy, r + soft)
        if box is None:
            return
        sl, u, v = box
        rr = np.sqrt(u * u + v * v)
        base = np.asarray(base, np.float32)

        def colour(pick):
            uu, vv = u[pick], v[pick]
            q = np.clip(rr[pick] / r, 0.0, 1.0)
            n = np.sqrt(1.0 - q * q)
            col = base * (0.5 + 0.5 * n)[:, None]
            hl = np.exp(-(((uu + 0.35 * r) ** 2 + (vv + 0.38 * r) ** 2) / (0.05 * r * r)))
            col = col + (255.0 - col) * (0.75 * hl)[:, None]
            luster = (0.3 * q ** 6)[:, None]  # the rim picks up the surroundings
            return col + (self.bg - col) * luster

        self.c.paint(sl, _coverage(rr - r, soft), colour)


# --------------------------------------------------------------------------------------------
# the four kinds. Geometry is designed on a 600-px frame (self.s scales it).


def _ring(sc: _Scene, w, h):
    rng, s = sc.rng, sc.s
    cx = w / 2 + rng.uniform(-0.05, 0.05) * w
    a = (128 + rng.uniform(-12, 12)) * s
    b = a * rng.uniform(0.88, 0.98)
    hw = rng.uniform(15, 19) * s
    rs = rng.uniform(48, 58) * s  # stone radius
    total = 2 * b + hw + 2 * rs + 40 * s
    top = (h - total) / 2 + rng.uniform(-0.03, 0.03) * h
    cy_stone = top + rs + 8 * s
    band_top = cy_stone + rs + 28 * s
    cy = band_top + b + hw
    tint = list(_STONE_TINTS.values())[rng.integers(len(_STONE_TINTS))]
    sc.ellipse_band(cx, cy, a, b, hw, refl_phase=rng.uniform(0, 6.3))
    prong_r = rng.uniform(4.6, 5.6) * s
    n = int(rng.choice([4, 6]))
    angles = np.linspace(-1.15, 1.15, n) if n == 4 else np.linspace(-1.25, 1.25, n)
    tips = []
    for phi in angles:
        dx, dy = np.sin(phi), -np.cos(phi)
        base = (cx + 0.55 * rs * np.sin(phi), band_top + hw * 0.6)
        out = (cx + 1.12 * rs * dx, cy_stone + 1.12 * rs * dy)
        sc.capsule(base, out, prong_r, refl_phase=phi)
        tips.append((out, (cx + 0.86 * rs * dx, cy_stone + 0.86 * rs * dy)))
    # gallery rail: a thin bar between the prongs under the stone, leaving windows of backdrop
    yr = cy_stone + rs + 13 * s
    sc.capsule((cx - 0.7 * rs, yr), (cx + 0.7 * rs, yr), prong_r * 0.8)
    sc.stone(cx, cy_stone, rs, rs * rng.uniform(0.95, 1.05), tint)
    for out, tip in tips:  # claws over the stone's girdle
        sc.capsule(out, tip, prong_r * 0.9)


def _chain(sc: _Scene, w, h):
    rng, s = sc.rng, sc.s
    L = rng.uniform(62, 74) * s  # link length
    hw = rng.uniform(5.0, 6.0) * s  # wire half-width
    x0, x1 = 0.1 * w, 0.9 * w
    y0 = h * rng.uniform(0.28, 0.38)
    droop = h * rng.uniform(0.2, 0.32)
    tilt = rng.uniform(-0.06, 0.06) * h
    xs = np.linspace(x0, x1, 400)
    q = (xs - x0) / (x1 - x0)
    ys = y0 + tilt * q + droop * 4 * q * (1 - q)
    seg = np.hypot(np.diff(xs), np.diff(ys))
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    step = 0.62 * L
    positions = np.arange(L / 2, arc[-1] - L / 2, step)
    links = []
    for i, p in enumerate(positions):
        k = int(np.searchsorted(arc, p))
        k = min(max(k, 1), len(xs) - 1)
        ang = float(np.arctan2(ys[k] - ys[k - 1], xs[k] - xs[k - 1]))
        links.append((i, float(np.interp(p, arc, xs)), float(np.interp(p, arc, ys)), ang))
    ra, rb = L / 2 - hw, 0.36 * L - hw
    for i, x, y, ang in links:  # face-on links first: their holes are the negative space
        if i % 2 == 0:
            sc.ellipse_band(x, y, ra, rb, hw, angle=ang, refl_phase=i * 1.3, refl_gain=0.7)
    for i, x, y, ang in links:  # edge-on links pass through them
        if i % 2 == 1:
            dx, dy = np.cos(ang) * (L / 2 - hw), np.sin(ang) * (L / 2 - hw)
            sc.capsule((x - dx, y - dy), (x + dx, y + dy), hw * 1.05, refl_phase=i * 0.7)


def _earring(sc: _Scene, w, h):
    rng, s = sc.rng, sc.s
    cx = w / 2 + rng.uniform(-0.04, 0.04) * w
    y = h / 2 - 250 * s + rng.uniform(-10, 10) * s
    tint = list(_STONE_TINTS.values())[rng.integers(len(_STONE_TINTS))]
    tint2 = list(_STONE_TINTS.values())[rng.integers(len(_STONE_TINTS))]
    # tier 0: the ear loop
    loop_b = 24 * s
    sc.ellipse_band(cx, y + loop_b, 20 * s, loop_b, 3.6 * s, refl_gain=0.5)
    y += 2 * loop_b + 3 * s
    # tier 1: bezel-set stone
    r1 = rng.uniform(28, 34) * s
    sc.disc(cx, y + r1, r1)
    sc.stone(cx, y + r1, r1 * 0.74, r1 * 0.74, tint)
    y += 2 * r1
    # jump ring
    jr = 10 * s
    sc.ellipse_band(cx, y + jr, jr, jr, 3.0 * s, refl_gain=0.5)
    y += 2 * jr - 2 * s
    # tier 2: hoop with the drop hanging inside it
    ha, hb = rng.uniform(78, 92) * s, rng.uniform(68, 80) * s
    hhw = rng.uniform(9, 11) * s
    hy = y + hb + hhw
    sc.ellipse_band(cx, hy, ha, hb, hhw, refl_phase=rng.uniform(0, 6.3))
    for th in np.linspace(0.35, np.pi - 0.35, 5):  # studded stones along the lower hoop
        sc.stone(cx + ha * np.cos(th), hy + hb * np.sin(th), hhw * 0.8, hhw * 0.8, tint2)
    # tier 3: a teardrop on a wire inside the hoop
    dr = rng.uniform(20, 26) * s
    dy = hy + 0.15 * hb
    sc.capsule((cx, hy - hb + hhw * 0.5), (cx, dy - 1.45 * dr), 2.6 * s)
    sc.disc(cx, dy, dr * 1.15)
    sc.stone(cx, dy, dr * 0.85, dr * 0.95, tint)
    # fringe: three wires with beads below the hoop
    for k, th in enumerate((np.pi / 2 - 0.5, np.pi / 2, np.pi / 2 + 0.5)):
        px, py = cx + ha * np.cos(th), hy + hb * np.sin(th) + hhw * 0.7
        ln = (48 + 14 * (k == 1)) * s
        sc.capsule((px, py), (px, py + ln), 2.8 * s)
        sc.disc(px, py + ln + 7 * s, 8 * s)


def _pearls(sc: _Scene, w, h):
    rng, s = sc.rng, sc.s
    # pearls a studio would not shoot on this backdrop (too little contrast) are left out
    names = [n for n in _PEARLS
             if min(np.abs(np.asarray(_PEARLS[n], np.float32) * k - sc.bg).sum()
                    for k in np.linspace(0.5, 1.0, 11)) > 60]
    base = _PEARLS[names[rng.integers(len(names))]]
    r = rng.uniform(18, 22) * s
    soft = 3.2 * s  # lustrous edge: alpha falls off over this many pixels
    cx, cy = w / 2 + rng.uniform(-0.03, 0.03) * w, h / 2 + rng.uniform(-0.03, 0.03) * h
    ea = min(w / 2 - cx + w / 2, w) * 0.5 - r - 20 * s
    ea = min(ea, 0.36 * w)
    eb = 0.5 * h - r - 25 * s
    # thread, then the pearls along the loop; the clasp at the bottom
    sc.ellipse_band(cx, cy, ea, eb, 0.9 * s, refl_gain=0.0)
    perim = np.pi * (3 * (ea + eb) - np.sqrt((3 * ea + eb) * (ea + 3 * eb)))
    n = int(perim // (2.15 * r))
    t0 = np.pi / 2
    for k in range(1, n):  # leave slot 0 for the clasp
        th = t0 + 2 * np.pi * k / n
        sc.pearl(cx + ea * np.cos(th), cy + eb * np.sin(th), r * rng.uniform(0.94, 1.04), base, soft)
    sc.ellipse_band(cx, cy + eb, 14 * s, 9 * s, 4.0 * s, refl_gain=0.6)


_PAINTERS = {"ring": _ring, "chain": _chain, "earring": _earring, "pearls": _pearls}


def _seed_for(kind, seed, backdrop):
    return [int(seed) & 0xFFFFFFFF, KINDS.index(kind), BACKDROPS.index(backdrop)]


def _check_size(size):
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise MaskError(f"size: expected (width, height) in pixels, got {size!r}") from None
    if w < 64 or h < 64:
        raise MaskError(f"size: width and height must be at least 64 px, got {w}x{h}")
    if w * h > MAX_PIXELS:
        raise MaskError(f"size: {w}x{h} is over the {MAX_PIXELS:,}-pixel limit")
    return w, h


def _paint(kind: str, seed: int, size, backdrop: str):
    """The photo's layers: (premultiplied object colour, object coverage 0–1, backdrop, rng)."""
    if kind not in KINDS:
        raise MaskError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if backdrop not in BACKDROPS:
        raise MaskError(f"backdrop: expected one of {', '.join(BACKDROPS)}, got {backdrop!r}")
    w, h = _check_size(size)
    rng = np.random.default_rng(_seed_for(kind, seed, backdrop))
    metal = list(_METALS)[rng.integers(len(_METALS))]
    sc = _Scene(w, h, rng, BACKDROP_RGB[backdrop], metal)
    _PAINTERS[kind](sc, w, h)
    return sc.c.colour, sc.c.alpha, _backdrop(sc.c.alpha, sc, rng), rng


def generate(kind: str, seed: int, size=(800, 600), backdrop: str = "white") -> Sample:
    """Paint one jewelry photo. ``size`` is (width, height) px; same arguments → same bytes.

    The photo is ``colour + backdrop · (1 − alpha)`` plus noise, with exactly the returned alpha
    (rounded to 8 bits); the contact shadow lives in the backdrop, so its alpha is 0.
    """
    colour, alpha, backdrop_img, rng = _paint(kind, seed, size, backdrop)
    h, w = alpha.shape
    img = colour + backdrop_img * (1.0 - alpha)[..., None]
    # sensor noise, mostly luminance (one normal per pixel keeps generation fast)
    img += rng.standard_normal((h, w, 1), dtype=np.float32) * 1.2 + 0.5
    img = np.clip(img, 0, 255, out=img).astype(np.uint8)
    gt = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    bg_rgb = BACKDROP_RGB[backdrop]
    return Sample(img, gt, kind, backdrop, tuple(int(c) for c in bg_rgb))


def _backdrop(alpha, sc: _Scene, rng):
    """Backdrop with a gentle vertical gradient and a soft contact shadow under the piece.

    The shadow falls on the sweep below the piece (below its lowest point in each column), so
    it does not darken the negative space seen through rings and links.
    """
    h, w = alpha.shape
    f = max(1, int(round(min(w, h) / 300)))  # the shadow is smooth: compute it small
    small = cv2.resize(alpha, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape
    shift = max(1, int(round(6 * sc.s / f)))
    shadow = np.zeros_like(small)
    shadow[shift:] = small[:-shift]
    sigma = 9.0 * sc.s / f
    shadow = cv2.GaussianBlur(shadow, (0, 0), sigma)
    rows = np.arange(sh, dtype=np.float32)[:, None]
    has = small > 0.02
    lowest = np.where(has.any(0), sh - 1 - np.argmax(has[::-1], axis=0), sh + 1).astype(np.float32)
    below = np.clip(rows - lowest[None, :], 0.0, 1.0)
    below = cv2.GaussianBlur(below, (0, 0), max(0.5, 2.0 * sc.s / f))
    shadow = cv2.resize(shadow * below, (w, h), interpolation=cv2.INTER_LINEAR)
    grad = (np.arange(h, dtype=np.float32)[:, None] / h - 0.5) * rng.uniform(-0.03, 0.03)
    strength = 0.45 * rng.uniform(0.6, 1.0)
    shade = (1.0 + grad) * (1.0 - strength * np.clip(shadow, 0.0, 1.0))
    return sc.bg[None, None, :] * shade[..., None]


# --------------------------------------------------------------------------------------------
# degrade: plant AI-cutout failures


def _disk(r: float) -> np.ndarray:
    k = max(1, int(round(r)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))


def _bbox(mask: np.ndarray):
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    x0, y0 = int(xs.min()), int(ys.min())
    return (x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1)


def _box_mask(shape, bbox, pad):
    m = np.zeros(shape, bool)
    x, y, bw, bh = bbox
    m[max(0, y - pad):y + bh + pad, max(0, x - pad):x + bw + pad] = True
    return m


def estimate_backdrop_simple(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Median colour (float RGB) of the pixels with alpha 0 — what degrade plants against."""
    bg = image[alpha == 0]
    if len(bg) == 0:
        return image.reshape(-1, 3).mean(0).astype(np.float32)
    step = max(1, len(bg) // 200_000)
    return np.median(bg[::step], axis=0).astype(np.float32)


class _Planter:
    def __init__(self, image, gt, rng):
        self.img = image
        self.gt = gt
        self.ai = gt.copy()
        self.before = gt.copy()
        self.rng = rng
        self.h, self.w = gt.shape
        self.s = min(self.h, self.w) / 600.0
        self.fg = gt >= 128
        self.used = np.zeros(gt.shape, bool)  # keep planted defects apart so each is judged alone
        bg = estimate_backdrop_simple(image, gt)
        self.dist = np.sqrt(((image.astype(np.float32) - bg) ** 2).sum(-1))
        self.defects: list[Defect] = []

    def free(self, mask):
        return mask & ~self.used

    def commit(self, kind):
        """Record what the last planter changed (every pixel that differs) as one defect."""
        bbox = _bbox(self.ai != self.before)
        self.before = self.ai.copy()
        if bbox is None:
            return False
        self.defects.append(Defect(kind, bbox))
        pad = int(30 * self.s) + 4
        self.used |= _box_mask(self.used.shape, bbox, pad)
        return True

    def pick_point(self, mask):
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            return None
        i = self.rng.integers(len(xs))
        return int(xs[i]), int(ys[i])

    def window(self, x, y, half):
        m = np.zeros((self.h, self.w), bool)
        m[max(0, y - half):y + half, max(0, x - half):x + half] = True
        return m

    # each planter returns True if it planted something -----------------------------------
    def trapped_background(self):
        """Fill one enclosed negative space (ring hole, link eye, gallery window)."""
        n, lab, stats, _ = cv2.connectedComponentsWithStats((~self.fg).astype(np.uint8), connectivity=4)
        a_min = 120 * self.s * self.s
        cands = []
        for i in range(1, n):
            x, y, bw, bh, area = stats[i]
            if x == 0 or y == 0 or x + bw == self.w or y + bh == self.h or area < a_min:
                continue
            if area > 0.12 * self.h * self.w:
                continue
            cands.append(i)
        self.rng.shuffle(cands)
        for i in cands:
            hole = lab == i
            if (hole & self.used).any():
                continue
            region = cv2.dilate(hole.astype(np.uint8), _disk(1)).astype(bool)
            self.ai[region] = 255
            return self.commit("trapped_background")
        return False

    def hole_in_object(self):
        """Punch a hole where broad metal reflects the backdrop (or, failing that, anywhere inside)."""
        inner = cv2.distanceTransform((self.gt >= 250).astype(np.uint8), cv2.DIST_L2, 5)
        broad = inner >= 4 * self.s
        # where the reflection is close to the backdrop colour, as an AI keyed on colour sees it
        refl = broad & (self.dist < 0.25 * np.percentile(self.dist[self.fg], 80) + 8)
        refl = cv2.morphologyEx(refl.astype(np.uint8), cv2.MORPH_OPEN, _disk(1.5 * self.s)).astype(bool)
        refl = self.free(refl)
        n, lab, stats, _ = cv2.connectedComponentsWithStats(refl.astype(np.uint8))
        a_min = 30 * self.s * self.s
        big = [i for i in range(1, n) if stats[i, 4] >= a_min]
        if big:
            i = big[self.rng.integers(len(big))]
            hole = lab == i
            x, y, bw, bh, _ = stats[i]
            cap = int(40 * self.s)
            if bw > 2 * cap or bh > 2 * cap:  # keep it a hole, not a missing half-band
                px, py = self.pick_point(hole)
                hole &= self.window(px, py, cap)
        else:
            pt = self.pick_point(self.free(inner >= 7 * self.s))
            if pt is None:
                return False
            r = self.rng.uniform(4, 6) * self.s
            hole = np.zeros_like(self.fg)
            cv2.ellipse(hole.view(np.uint8), pt, (int(r * 1.4) + 1, int(r) + 1), float(self.rng.uniform(0, 180)), 0, 360, 1, -1)
            hole &= inner >= 2
        if hole.sum() < max(40 * self.s * self.s, 20):
            return False
        soft = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), 0.6)
        self.ai = np.minimum(self.ai, (255 * (1 - soft) + 0.5).astype(np.uint8))
        return self.commit("hole_in_object")

    def clipped_detail(self):
        """Cut away part of a thin structure (prong, link, wire) that stands against the backdrop."""
        fg8 = self.fg.astype(np.uint8)
        thick = cv2.morphologyEx(fg8, cv2.MORPH_OPEN, _disk(10 * self.s)).astype(bool)
        notthin = cv2.morphologyEx(fg8, cv2.MORPH_OPEN, _disk(1.6 * self.s)).astype(bool)
        thin = notthin & ~cv2.dilate(thick.astype(np.uint8), _disk(2)).astype(bool)
        near_bg = cv2.dilate((self.gt == 0).astype(np.uint8), _disk(3 * self.s)).astype(bool)
        seeds = self.free(thin & near_bg)
        for _ in range(6):
            pt = self.pick_point(seeds)
            if pt is None:
                return False
            half = int(self.rng.uniform(12, 20) * self.s)
            cut = thin & self.window(pt[0], pt[1], half)
            cut = cv2.dilate(cut.astype(np.uint8), _disk(1)).astype(bool) & ~thick
            cut &= self.gt > 0
            if cut.sum() >= 80 * self.s * self.s and not (cut & self.used).any():
                self.ai[cut] = 0
                return self.commit("clipped_detail")
            seeds &= ~self.window(pt[0], pt[1], half)
        return False

    def _edge_window(self, half, support=None):
        """A random point on the gt edge (of ``support`` when given), ``half`` px inside the frame."""
        edge = self.fg & ~cv2.erode(self.fg.astype(np.uint8), _disk(1)).astype(bool)
        if support is not None:
            edge &= support
        free = self.free(edge)
        m = int(half) + 2  # keep the window inside the frame so the whole defect is visible
        free[:m] = False
        free[-m:] = False
        free[:, :m] = False
        free[:, -m:] = False
        return self.pick_point(free)

    def halo(self):
        """Grow the alpha outward by 2–4 px along a stretch of edge: kept backdrop fringe."""
        for _ in range(4):
            half = int(self.rng.uniform(35, 55) * self.s)
            pt = self._edge_window(half)
            if pt is None:
                return False
            grow = self.rng.uniform(2.2, 4.0) * self.s
            win = self.window(pt[0], pt[1], half)
            # grown from where the piece ends (soft edges included), into plain backdrop
            dil = cv2.dilate((self.gt >= 13).astype(np.uint8), _disk(grow)).astype(np.float32)
            soft = cv2.GaussianBlur(dil, (0, 0), 0.8)
            ext = (255 * soft + 0.5).astype(np.uint8)
            new = np.where(win, np.maximum(self.ai, ext), self.ai)
            changed = (new.astype(np.int16) - self.ai) > 100
            if changed.sum() >= 60 * self.s * self.s and not (win & self.used).any():
                self.ai = new
                return self.commit("halo")
        return False

    def jagged_edge(self):
        """Replace a stretch of edge by a stair-stepped, binary version (a coarse mask upscaled).

        Only the edge of broad parts is stepped (within one step of the true edge), so thin wires
        and gaps keep their topology: the failure is the staircase, not a filled gap.
        """
        step = max(3, int(round(self.rng.uniform(4.5, 7.0) * self.s)))
        fg8 = self.fg.astype(np.uint8)
        broad = cv2.morphologyEx(fg8, cv2.MORPH_OPEN, _disk(2.5 * step))
        bgbroad = cv2.morphologyEx(1 - fg8, cv2.MORPH_OPEN, _disk(1.5 * step))
        support = cv2.dilate(broad, _disk(2)).astype(bool) & cv2.dilate(bgbroad, _disk(2)).astype(bool)
        dist_in = cv2.distanceTransform(fg8, cv2.DIST_L2, 3)
        dist_out = cv2.distanceTransform(1 - fg8, cv2.DIST_L2, 3)
        band = np.maximum(dist_in, dist_out) <= step
        for _ in range(6):
            half = int(self.rng.uniform(30, 45) * self.s)
            pt = self._edge_window(half, support)
            if pt is None:
                return False
            x0, y0 = pt[0] - half, pt[1] - half
            sub = self.gt[y0:y0 + 2 * half, x0:x0 + 2 * half]
            hh, ww = sub.shape
            small = cv2.resize(sub, (max(1, ww // step), max(1, hh // step)), interpolation=cv2.INTER_AREA)
            blocky = cv2.resize(((small >= 128) * 255).astype(np.uint8), (ww, hh), interpolation=cv2.INTER_NEAREST)
            sub_band = band[y0:y0 + hh, x0:x0 + ww] & support[y0:y0 + hh, x0:x0 + ww]
            blocky = np.where(sub_band, blocky, sub)
            win = np.zeros_like(self.fg)
            win[y0:y0 + hh, x0:x0 + ww] = True
            if (win & self.used).any():
                continue
            diff = blocky.astype(np.int16) - sub
            grown, cut = (diff > 128).sum(), (diff < -128).sum()
            if grown + cut < 70 * self.s * self.s or min(grown, cut) < 15 * self.s * self.s:
                continue  # a staircase both keeps backdrop and cuts object
            self.ai[y0:y0 + hh, x0:x0 + ww] = blocky
            return self.commit("jagged_edge")
        return False

    def soft_edge_loss(self):
        """Cut a soft (pearl) edge hard: the outer, partly transparent pixels are dropped."""
        partial = ((self.gt > 10) & (self.gt < 245)).astype(np.float32)
        width = cv2.blur(partial, (7, 7))  # anti-aliased edges: ~1/7, soft edges: ≥ 3/7
        soft = self.free((width > 0.38) & (partial > 0))
        for _ in range(4):
            half = int(self.rng.uniform(30, 45) * self.s)
            pt = self.pick_point(soft)
            if pt is None:
                return False
            win = self.window(pt[0], pt[1], half)
            if (win & self.used).any():
                soft &= ~win
                continue
            hard = np.where(self.gt >= 166, 255, 0).astype(np.uint8)
            changed = win & (np.abs(hard.astype(np.int16) - self.gt) > 40) & (width > 0.3)
            if changed.sum() < 40 * self.s * self.s:
                soft &= ~win
                continue
            self.ai[win] = hard[win]
            return self.commit("soft_edge_loss")
        return False


def degrade(image: np.ndarray, gt_alpha: np.ndarray, seed: int):
    """Make an "AI cutout" from the ground truth with planted failures.

    ``image`` uint8 H×W×3, ``gt_alpha`` uint8 H×W. Returns (ai_alpha uint8 H×W, [Defect]). Each
    defect's bbox (x, y, w, h, px) bounds the pixels that were changed; defects are kept at least
    ~30 px (scaled) apart. Which failures are planted depends on the seed and on what the piece
    offers (a hole needs negative space, soft-edge loss needs pearls); at least two are planted
    whenever the piece allows it. Deterministic in (image, gt_alpha, seed).
    """
    image = np.asarray(image)
    gt_alpha = np.asarray(gt_alpha)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise MaskError(f"image: expected uint8 H×W×3, got {image.dtype} {image.shape}")
    if gt_alpha.shape != image.shape[:2] or gt_alpha.dtype != np.uint8:
        raise MaskError(f"gt_alpha: expected uint8 {image.shape[:2]}, got {gt_alpha.dtype} {gt_alpha.shape}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xDE9])
    p = _Planter(image, gt_alpha, rng)
    order = list(DEFECT_KINDS)
    rng.shuffle(order)
    chance = {"trapped_background": 0.6, "hole_in_object": 0.6, "clipped_detail": 0.6,
              "halo": 0.55, "jagged_edge": 0.55, "soft_edge_loss": 0.8}
    skipped = []
    for kind in order:
        if rng.random() < chance[kind]:
            getattr(p, kind)()
        else:
            skipped.append(kind)
    for kind in skipped:  # make sure there is something to find
        if len(p.defects) >= 2:
            break
        getattr(p, kind)()
    return p.ai, p.defects
