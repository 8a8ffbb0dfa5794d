"""Colour: sRGB ↔ CIELAB (D65), ΔE2000, swatch checks and batch drift.

Conventions: sRGB values are uint8 0–255 or floats 0–1; CIELAB is float with L* 0–100 and
a*, b* roughly −128…127; ΔE is CIEDE2000 (a ΔE of ~1 is a just-noticeable difference).
ICC → sRGB conversion on import lives in ``masks.imageio`` (Pillow ImageCms).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from masks.errors import MaskError

# D65 reference white (CIE 1931 2°), the white point of sRGB.
D65 = np.array([0.95047, 1.0, 1.08883])
_RGB_TO_XYZ = np.array([
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
])
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_EPS = 216 / 24389
_KAPPA = 24389 / 27


def _as_unit_rgb(rgb) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.shape[-1:] != (3,):
        raise MaskError(f"colour array must end in 3 channels (R,G,B), got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255.0
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise MaskError("colour values must be finite numbers")
    return arr


def srgb_to_linear(rgb) -> np.ndarray:
    """sRGB (uint8 or 0–1 float) → linear-light RGB 0–1."""
    c = _as_unit_rgb(rgb)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(lin) -> np.ndarray:
    """Linear-light RGB → sRGB 0–1 float (not clipped)."""
    lin = np.asarray(lin, dtype=np.float64)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.abs(lin) ** (1 / 2.4) * np.sign(lin) - 0.055)


def srgb_to_lab(rgb) -> np.ndarray:
    """sRGB of shape (..., 3), uint8 0–255 or float 0–1 → CIELAB (..., 3) float, D65."""
    xyz = srgb_to_linear(rgb) @ _RGB_TO_XYZ.T / D65
    f = np.where(xyz > _EPS, np.cbrt(xyz), (_KAPPA * xyz + 16) / 116)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def lab_to_srgb(lab) -> np.ndarray:
    """CIELAB (..., 3) → sRGB float 0–1 (..., 3), clipped to the sRGB gamut."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    fx = fy + lab[..., 1] / 500
    fz = fy - lab[..., 2] / 200
    f = np.stack([fx, fy, fz], axis=-1)
    xyz = np.where(f ** 3 > _EPS, f ** 3, (116 * f - 16) / _KAPPA) * D65
    return np.clip(linear_to_srgb(xyz @ _XYZ_TO_RGB.T), 0.0, 1.0)


_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    """'#b76e79' or '#fff' → (r, g, b) 0–255. Raises MaskError on anything else."""
    m = _HEX.match(str(value).strip())
    if not m:
        raise MaskError(f"colour must be '#rrggbb' or '#rgb', got {value!r}")
    h = m.group(1)
    if len(h) == 3:
        h = "".join(ch * 2 for ch in h)
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def hex_to_lab(value: str) -> np.ndarray:
    """'#rrggbb' sRGB → CIELAB (3,)."""
    return srgb_to_lab(np.array(hex_to_rgb(value), dtype=np.uint8))


def delta_e2000(lab1, lab2, kL: float = 1.0, kC: float = 1.0, kH: float = 1.0) -> np.ndarray:
    """CIEDE2000 colour difference of CIELAB arrays (..., 3) → ΔE (...,).

    Follows Sharma, Wu & Dalal (2005), including their notes on hue angles when a chroma is zero.
    """
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    C1 = np.hypot(a1, b1)
    C2 = np.hypot(a2, b2)
    Cbar7 = ((C1 + C2) / 2) ** 7
    G = 0.5 * (1 - np.sqrt(Cbar7 / (Cbar7 + 25.0 ** 7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    both = (C1p * C2p) != 0

    dLp = L2 - L1
    dCp = C2p - C1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(both, dh, 0.0)
    dHp = 2 * np.sqrt(C1p * C2p) * np.sin(np.radians(dh / 2))

    Lbarp = (L1 + L2) / 2
    Cbarp = (C1p + C2p) / 2
    hsum = h1p + h2p
    hbar = np.where(np.abs(h1p - h2p) <= 180, hsum / 2, np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2))
    hbar = np.where(both, hbar, hsum)
    T = (1 - 0.17 * np.cos(np.radians(hbar - 30)) + 0.24 * np.cos(np.radians(2 * hbar))
         + 0.32 * np.cos(np.radians(3 * hbar + 6)) - 0.20 * np.cos(np.radians(4 * hbar - 63)))
    dtheta = 30 * np.exp(-(((hbar - 275) / 25) ** 2))
    Cbarp7 = Cbarp ** 7
    RC = 2 * np.sqrt(Cbarp7 / (Cbarp7 + 25.0 ** 7))
    SL = 1 + 0.015 * (Lbarp - 50) ** 2 / np.sqrt(20 + (Lbarp - 50) ** 2)
    SC = 1 + 0.045 * Cbarp
    SH = 1 + 0.015 * Cbarp * T
    RT = -np.sin(np.radians(2 * dtheta)) * RC
    tl, tc, th = dLp / (kL * SL), dCp / (kC * SC), dHp / (kH * SH)
    return np.sqrt(tl ** 2 + tc ** 2 + th ** 2 + RT * tc * th)


def _check_image_alpha(image, alpha):
    image = np.asarray(image)
    alpha = np.asarray(alpha)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise MaskError(f"image must be uint8 HxWx3, got {image.dtype} {image.shape}")
    if alpha.shape != image.shape[:2]:
        raise MaskError(f"alpha is {alpha.shape[::-1]} pixels, image is {image.shape[1::-1]}")
    return image, alpha


def _check_rect(rect, width: int, height: int) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in rect)
    except (TypeError, ValueError):
        raise MaskError(f"region must be four integers X,Y,W,H, got {rect!r}") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise MaskError(f"region {x},{y},{w},{h} is empty or outside the {width}x{height} image")
    return x, y, w, h


def measure_region(image, alpha, rect, edge_px: int = 2, highlight_pct: float = 95.0) -> np.ndarray:
    """Mean CIELAB colour (3,) of the cutout inside ``rect`` = (x, y, w, h) in pixels.

    Weighted by alpha (0–255); pixels within ``edge_px`` of the mask edge (where backdrop mixes
    in) and specular highlights (L* above the ``highlight_pct`` percentile of the region, plus
    clipped whites) are left out. The mean is taken in linear light, then converted to Lab.
    """
    image, alpha = _check_image_alpha(image, alpha)
    x, y, w, h = _check_rect(rect, image.shape[1], image.shape[0])
    solid = alpha >= 128
    if edge_px > 0:
        solid = ndimage.binary_erosion(solid, iterations=edge_px, border_value=0)
    img = image[y:y + h, x:x + w]
    weight = (alpha[y:y + h, x:x + w].astype(np.float64) / 255.0) * solid[y:y + h, x:x + w]
    if weight.sum() <= 0:
        raise MaskError(f"region {x},{y},{w},{h} holds no solid cutout pixels to measure")
    lab = srgb_to_lab(img)
    inside = weight > 0
    limit = np.percentile(lab[..., 0][inside], highlight_pct)
    spec = (lab[..., 0] > limit) | (img.min(axis=-1) >= 250)
    if (weight * ~spec).sum() > 0:  # a region that is all highlight still gets measured
        weight = weight * ~spec
    lin = srgb_to_linear(img)
    mean_lin = (lin * weight[..., None]).sum(axis=(0, 1)) / weight.sum()
    return srgb_to_lab(np.clip(linear_to_srgb(mean_lin), 0, 1))


@dataclass(frozen=True)
class SwatchResult:
    """A cutout region measured against a reference swatch. ΔE is CIEDE2000."""
    measured_lab: tuple[float, float, float]
    delta_e: float
    passed: bool

    def to_dict(self) -> dict:
        return {"measured_lab": list(self.measured_lab), "delta_e": self.delta_e, "passed": self.passed}


def swatch_check(image, alpha, rect, swatch_lab, tolerance: float = 2.0) -> SwatchResult:
    """Measure ``rect`` of the cutout and compare with ``swatch_lab`` (Lab (3,) or '#rrggbb').

    ``passed`` is ΔE2000 ≤ ``tolerance`` (ΔE units, > 0).
    """
    if isinstance(swatch_lab, str):
        ref = hex_to_lab(swatch_lab)
    else:
        ref = np.asarray(swatch_lab, dtype=np.float64)
        if ref.shape != (3,) or not np.all(np.isfinite(ref)):
            raise MaskError("swatch must be three finite Lab numbers or '#rrggbb'")
    if not (np.isfinite(tolerance) and tolerance > 0):
        raise MaskError(f"tolerance must be a positive ΔE, got {tolerance!r}")
    measured = measure_region(image, alpha, rect)
    de = float(delta_e2000(measured, ref))
    return SwatchResult(tuple(float(v) for v in measured), de, de <= tolerance)


@dataclass(frozen=True)
class Drift:
    """How one image of a collection differs from the collection's median.

    backdrop_delta_e: ΔE2000 of its backdrop colour; exposure_ev: exposure difference in stops
    (log2 of luminance ratio of the backdrop, + = brighter); flagged when either exceeds the limit.
    """
    backdrop_delta_e: float
    exposure_ev: float
    flagged: bool

    def to_dict(self) -> dict:
        return {"backdrop_delta_e": self.backdrop_delta_e, "exposure_ev": self.exposure_ev, "flagged": self.flagged}


def _backdrop_linear(image, alpha) -> np.ndarray:
    image, alpha = _check_image_alpha(image, alpha)
    back = alpha == 0
    if back.sum() < 16:  # a full-frame cutout: fall back on the outermost pixel ring
        back = np.zeros(alpha.shape, bool)
        back[0, :] = back[-1, :] = back[:, 0] = back[:, -1] = True
    return np.median(srgb_to_linear(image[back]), axis=0)


def batch_drift(items, max_delta_e: float = 3.0, max_ev: float = 1 / 3) -> list[Drift]:
    """Backdrop colour and exposure drift across a collection of (image, alpha) pairs.

    Each image's backdrop (alpha == 0, median in linear light) is compared with the median
    backdrop of the collection. Flagged: ΔE2000 > ``max_delta_e`` or |EV| > ``max_ev`` stops.
    """
    items = list(items)
    if not items:
        return []
    backs = np.array([_backdrop_linear(img, a) for img, a in items])
    ref = np.median(backs, axis=0)
    ref_lab = srgb_to_lab(np.clip(linear_to_srgb(ref), 0, 1))
    y_ref = max(float(ref @ _RGB_TO_XYZ[1]), 1e-6)
    out = []
    for lin in backs:
        de = float(delta_e2000(srgb_to_lab(np.clip(linear_to_srgb(lin), 0, 1)), ref_lab))
        ev = float(np.log2(max(float(lin @ _RGB_TO_XYZ[1]), 1e-6) / y_ref))
        out.append(Drift(de, ev, bool(de > max_delta_e or abs(ev) > max_ev)))
    return out
