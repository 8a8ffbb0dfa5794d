"""Automatic first pass: image → alpha (uint8 HxW, 0–255, 255 = object).

Two segmenters behind one interface (``.segment(image)``), chosen by ``make_segmenter``:

* ``OnnxSegmenter`` runs a background-removal model with onnxruntime. Each model family has its
  own input size, normalisation and output handling (``FAMILIES``); the output is resized back to
  the photo's full size. The model file is a local path; nothing is downloaded.
* ``BackdropSegmenter`` needs no weights and is made for studio shots: it models the backdrop from
  the image border (a smooth colour field, robust to the piece touching the border), separates
  by colour distance in CIELAB, cleans up specks and reflections, and computes soft alpha on the
  uncertain band only (where a stone or a pearl's lustre meets the backdrop): closed-form matting
  (pymatting) on small crops of the band, a colour-line projection elsewhere.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from masks.errors import ImageInputError, MaskError


def _check_image(image) -> np.ndarray:
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (3, 4):
        raise MaskError(f"image must be uint8 HxWx3 (sRGB), got {a.dtype} {a.shape}")
    if a.shape[0] < 8 or a.shape[1] < 8:
        raise MaskError(f"image is too small to segment ({a.shape[1]}x{a.shape[0]} pixels)")
    return np.ascontiguousarray(a[..., :3])


class Segmenter:
    """Interface: ``segment(image uint8 HxWx3) -> alpha uint8 HxW``."""

    def segment(self, image) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


# --------------------------------------------------------------------------- ONNX adapter

@dataclass(frozen=True)
class Family:
    """How a model family wants its input and gives its output.

    size: square input side in px (used when the model's input shape is dynamic);
    mean/std: per-channel normalisation of RGB scaled to 0–1 (``scale_by_max``: divided by the
    image's maximum instead of 255, as U²-Net's reference code does); output: "sigmoid" for
    logits, "minmax" to stretch the raw map to 0–1.
    """
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output: str
    scale_by_max: bool = False


_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
FAMILIES = {
    "u2net": Family(320, *_IMAGENET, "minmax", scale_by_max=True),
    "u2netp": Family(320, *_IMAGENET, "minmax", scale_by_max=True),
    "isnet": Family(1024, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), "minmax"),
    "birefnet": Family(1024, *_IMAGENET, "sigmoid"),
    "rmbg": Family(1024, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), "minmax"),
}


def guess_family(model_path) -> str:
    """Family from the model's file name (u2netp before u2net; RMBG-1.4 → rmbg; else u2net)."""
    name = Path(model_path).name.lower()
    for key in ("u2netp", "u2net", "isnet", "birefnet", "rmbg"):
        if key in name or (key == "rmbg" and "bria" in name):
            return key
    return "u2net"


class OnnxSegmenter(Segmenter):
    """A background-removal model on onnxruntime (CPU unless other providers are given)."""

    def __init__(self, model_path, family: str | None = None, providers=None):
        import onnxruntime as ort

        path = Path(model_path)
        if not path.is_file():
            raise MaskError(f"segmentation model not found: {path}")
        family = family or guess_family(path)
        if family not in FAMILIES:
            raise MaskError(f"unknown model family {family!r}; use one of {', '.join(FAMILIES)}")
        self.family = family
        self.spec = FAMILIES[family]
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise MaskError(f"{path.name} is not a loadable ONNX model: {str(exc).splitlines()[0][:200]}") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.model_name = path.name
        if inp.type != "tensor(float)":
            raise MaskError(f"{path.name}: input is {inp.type}; background-removal models take float32 (tensor(float))")
        shape = list(inp.shape)
        if len(shape) != 4:
            raise MaskError(f"{path.name}: expected an NCHW image input, got shape {shape}")
        h, w = shape[2], shape[3]
        # Fixed input sizes in the model win over the family's default.
        self.size = (int(w) if isinstance(w, int) and w > 0 else self.spec.size,
                     int(h) if isinstance(h, int) and h > 0 else self.spec.size)

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """uint8 HxWx3 → float32 1x3xhxw normalised for this family."""
        w, h = self.size
        x = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if image.shape[1] > w else cv2.INTER_LINEAR)
        x = x.astype(np.float32)
        x /= max(float(x.max()), 1e-6) if self.spec.scale_by_max else 255.0
        x = (x - np.array(self.spec.mean, np.float32)) / np.array(self.spec.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def postprocess(self, out: np.ndarray, width: int, height: int) -> np.ndarray:
        """Model output (…, h, w) → uint8 alpha at full size."""
        pred = np.asarray(out, dtype=np.float32)
        while pred.ndim > 2:
            pred = pred[0]
        if pred.ndim != 2:
            raise MaskError(f"model output has shape {np.shape(out)}, expected a 2-D map")
        if self.spec.output == "sigmoid":
            pred = 1.0 / (1.0 + np.exp(-np.clip(pred, -60, 60)))
        else:
            lo, hi = float(pred.min()), float(pred.max())
            pred = (pred - lo) / (hi - lo) if hi > lo else np.zeros_like(pred)
        pred = cv2.resize(pred, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.clip(pred * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def segment(self, image) -> np.ndarray:
        img = _check_image(image)
        try:
            outs = self.session.run(None, {self.input_name: self.preprocess(img)})
        except Exception as exc:  # onnxruntime's own exception types (InvalidArgument, Fail, …)
            msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise MaskError(f"{self.model_name} failed on this image (is it a {self.family} "
                            f"background-removal model?): {msg}") from None
        return self.postprocess(outs[0], img.shape[1], img.shape[0])


# --------------------------------------------------------------------------- weight-free default

def _lab(rgb_u8: np.ndarray) -> np.ndarray:
    """uint8 sRGB → float32 CIELAB (D65; L 0–100) via OpenCV, fast enough for 24 MP."""
    return cv2.cvtColor(rgb_u8.astype(np.float32) * (1 / 255.0), cv2.COLOR_RGB2Lab)


def _poly_terms(x, y):
    return [np.ones_like(x), x, y, x * x, x * y, y * y]


def fit_backdrop(lab: np.ndarray, band: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Smooth backdrop model from the border band: a quadratic in (x, y) per Lab channel, refit
    without outliers (the piece touching the border). Returns (coefficients (6, 3), mean border
    colour Lab (3,), noise: robust spread of the border's colour distance in ΔE)."""
    h, w = lab.shape[:2]
    mask = np.zeros((h, w), bool)
    mask[:band] = mask[-band:] = True
    mask[:, :band] = mask[:, -band:] = True
    ys, xs = np.nonzero(mask)
    step = max(1, len(xs) // 40_000)
    ys, xs = ys[::step], xs[::step]
    vals = lab[ys, xs].astype(np.float64)
    X = np.stack(_poly_terms(xs / w - 0.5, ys / h - 0.5), axis=1)
    keep = np.ones(len(xs), bool)
    coef = np.zeros((6, 3))
    med = np.median(vals, axis=0)
    keep = np.linalg.norm(vals - med, axis=1) < 12  # first pass: near the border's median colour
    if keep.sum() < 20:
        keep[:] = True
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(X[keep], vals[keep], rcond=None)
        res = np.linalg.norm(vals - X @ coef, axis=1)
        mad = np.median(res[keep]) + 1e-3
        new = res < max(6 * mad, 2.0)
        if new.sum() < 20 or np.array_equal(new, keep):
            break
        keep = new
    res = np.linalg.norm(vals - X @ coef, axis=1)[keep]
    noise = float(1.4826 * np.median(res)) if len(res) else 1.0
    return coef, vals[keep].mean(axis=0), noise


def _backdrop_field(coef, h, w, step: int = 8) -> np.ndarray:
    """The backdrop model (float32 HxWx3, Lab) on a grid every ``step`` px, resized up: it is a
    quadratic, so bilinear interpolation of the grid is exact to far below the noise."""
    gh, gw = -(-h // step) + 1, -(-w // step) + 1
    ys = (np.arange(gh, dtype=np.float32) * step / h - 0.5)[:, None]
    xs = (np.arange(gw, dtype=np.float32) * step / w - 0.5)[None, :]
    x, y = np.broadcast_arrays(xs, ys)
    terms = _poly_terms(x, y)
    small = np.stack([sum(t * np.float32(coef[i, c]) for i, t in enumerate(terms)) for c in range(3)], axis=-1)
    # Grid point k sits at pixel k*step; resize so that pixel centres line up.
    big = cv2.resize(small, (gw * step, gh * step), interpolation=cv2.INTER_LINEAR)
    off = step // 2
    return np.ascontiguousarray(big[off:off + h, off:off + w])


def plain_threshold(image) -> np.ndarray:
    """The baseline the default must beat: Otsu threshold on the grey-level distance from the
    border's median grey. uint8 alpha 0/255."""
    img = _check_image(image)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.int16)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    diff = np.abs(grey - int(np.median(border))).astype(np.uint8)
    _t, out = cv2.threshold(diff, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return out


class BackdropSegmenter(Segmenter):
    """Weight-free segmenter for studio shots on a plain backdrop.

    lightness_weight: weight of ΔL* against Δa*, Δb* in the colour distance;
    low/high: colour distance (ΔE units) below which a pixel is surely backdrop / above which it
    is surely object, each at least ``noise_k`` times the backdrop's noise (hysteresis between);
    shadow_chroma (ΔE), shadow_gradient (L* per px), shadow_blur (px), shadow_open (fraction of
    the short side): a cast shadow is darker than the backdrop with the same chroma, smooth, and
    wide; such pixels joined to the backdrop count as backdrop;
    band_px: half-width (px) of the uncertain band around the object's edge that gets soft alpha
    (3 measured best on masks.synth: narrower bands pin partly transparent rims, a pearl's
    lustre, to alpha 1 too early and push the edge outwards);
    min_speck / max_fill: specks smaller than this fraction of the image are dropped; enclosed
    backdrop-coloured pockets smaller than ``max_fill`` × object area (reflections in polished
    metal) are filled, larger ones stay holes (negative space);
    matting: "auto"/"cf" (closed-form matting on band pieces up to ``max_matting_px`` pixels,
    blended with the projection) or "projection" only.
    """

    def __init__(self, lightness_weight: float = 1.0, low: float = 3.0, high: float = 10.0,
                 noise_k: float = 4.0, band_px: int = 3, min_speck: float = 2e-5,
                 max_fill: float = 0.002, matting: str = "auto", max_matting_px: int = 250_000,
                 shadow_chroma: float = 2.5, shadow_gradient: float = 2.0, shadow_blur: float = 1.0,
                 shadow_open: float = 0.003):
        if not (0 < low < high):
            raise MaskError("need 0 < low < high colour distances")
        if matting not in ("auto", "cf", "projection"):
            raise MaskError("matting must be 'auto', 'cf' or 'projection'")
        self.lightness_weight = lightness_weight
        self.low, self.high, self.noise_k = low, high, noise_k
        self.band_px = band_px
        self.min_speck, self.max_fill = min_speck, max_fill
        self.matting = matting
        self.shadow_chroma, self.shadow_gradient, self.shadow_blur = shadow_chroma, shadow_gradient, shadow_blur
        self.shadow_open = shadow_open
        self.shadow_scale_pow = 1.0
        self.reflection_dl = 1.5  # L*: a pocket this much darker than the backdrop is a reflection
        self.cf_weight = 0.75  # share of closed-form matting in the band (the rest: projection)
        self.max_matting_px = max_matting_px

    def distance(self, image):
        """(colour distance from the backdrop model (float32 HxW, ΔE-like), backdrop sRGB field
        (float32 HxWx3, 0–255), noise ΔE, shadow-like pixels (bool HxW), ΔL* against the
        backdrop (float32 HxW, signed))."""
        img = _check_image(image)
        h, w = img.shape[:2]
        lab = _lab(img)
        band = max(2, int(round(0.015 * min(h, w))))
        coef, _mean, noise = fit_backdrop(lab, band)
        field = _backdrop_field(coef, h, w)
        diff = lab - field
        dL = diff[..., 0] * self.lightness_weight
        dist = np.sqrt(dL * dL + diff[..., 1] * diff[..., 1] + diff[..., 2] * diff[..., 2])
        bg_rgb = cv2.cvtColor(field, cv2.COLOR_Lab2RGB) * 255.0
        return dist, bg_rgb, noise, self._shadow_like(lab, diff), diff[..., 0]

    def _shadow_like(self, lab, diff) -> np.ndarray:
        """Pixels that look like the backdrop in shadow: darker, same chroma, and smooth (a cast
        shadow has no sharp edge; the piece's outline does)."""
        dL = diff[..., 0]
        dab = np.hypot(diff[..., 1], diff[..., 2])
        L = cv2.GaussianBlur(lab[..., 0], (0, 0), self.shadow_blur)
        gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3) / 8
        gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3) / 8
        grad = np.hypot(gx, gy)
        # A shadow's softness scales with the picture; at small sizes it is steeper per pixel.
        limit = self.shadow_gradient * float(np.clip(600.0 / min(lab.shape[:2]), 1.0, 4.0)) ** self.shadow_scale_pow
        like = (dL < 0) & (dab < self.shadow_chroma + 0.08 * np.abs(dL)) & (grad < limit)
        # A cast shadow is a wide smooth area; reflections of the backdrop in polished metal are
        # narrow bands. Opening keeps the first and drops the second (and narrow leaks).
        r = max(2, int(round(self.shadow_open * min(lab.shape[:2]))))
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        return cv2.morphologyEx(like.astype(np.uint8), cv2.MORPH_OPEN, k).astype(bool)

    def segment(self, image) -> np.ndarray:
        img = _check_image(image)
        h, w = img.shape[:2]
        dist, bg_rgb, noise, shadow, dL = self.distance(img)
        lo = max(self.low, self.noise_k * noise)
        hi = max(self.high, 2.5 * lo)
        # A cast shadow joined to the backdrop through smooth, neutral darkening is backdrop.
        calm = (dist <= lo) | shadow
        lab_c, nc = ndimage.label(calm)
        bg_ids = np.zeros(nc + 1, bool)
        bg_ids[np.unique(lab_c[dist <= lo])] = True
        bg_ids[0] = False
        backdrop = bg_ids[lab_c]
        sure_fg = (dist > hi) & ~backdrop
        maybe = (dist > lo) & ~backdrop
        # Object = the uncertain pixels connected to sure object (hysteresis), minus specks.
        lab_, n = ndimage.label(maybe)
        if n == 0:
            return np.zeros((h, w), np.uint8)
        hit = np.zeros(n + 1, bool)
        hit[np.unique(lab_[sure_fg])] = True
        hit[0] = False
        sizes = np.bincount(lab_.ravel(), minlength=n + 1)
        hit &= sizes >= max(4, self.min_speck * h * w)
        obj = hit[lab_]
        if not obj.any():
            return np.zeros((h, w), np.uint8)
        obj = self._fill_reflections(obj, dL, noise)
        return self._soft_edges(img, obj, sure_fg & obj, dist, bg_rgb, lo, hi)

    def _fill_reflections(self, obj: np.ndarray, dL: np.ndarray, noise: float) -> np.ndarray:
        """Fill enclosed pockets that are reflections, not negative space: small ones, and those
        darker than the backdrop (polished metal mirrors the backdrop at less than 100 %, while
        the backdrop seen through a ring or a link is the backdrop itself)."""
        holes = ~obj
        lab_, n = ndimage.label(holes)
        if n <= 1:
            return obj
        border = np.unique(np.concatenate([lab_[0], lab_[-1], lab_[:, 0], lab_[:, -1]]))
        sizes = np.bincount(lab_.ravel(), minlength=n + 1)
        fill = sizes <= self.max_fill * obj.sum() + 4
        mean_dl = np.bincount(lab_.ravel(), weights=dL.ravel(), minlength=n + 1) / np.maximum(sizes, 1)
        fill |= mean_dl < -max(self.reflection_dl, 3 * noise)
        fill[border] = False
        fill[0] = False
        return obj | fill[lab_]

    def _soft_edges(self, img, obj, core, dist, bg_rgb, lo, hi) -> np.ndarray:
        """Hard alpha inside, 0 outside, soft alpha in the band around the edge."""
        r = self.band_px
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        o8 = obj.astype(np.uint8)
        inner = cv2.erode(o8, k, borderType=cv2.BORDER_REPLICATE).astype(bool)
        outer = cv2.dilate(o8, k).astype(bool)
        band = outer & ~inner
        alpha = np.where(inner, 1.0, 0.0).astype(np.float32)
        # Pixels of uncertain colour inside the object (a semi-transparent stone, pearl lustre)
        # are in the band as well.
        band |= obj & ~core & (dist < hi)
        if not band.any():
            return (alpha * 255).astype(np.uint8)
        proj = self._projection_alpha(img, inner | (core & ~band), band, bg_rgb)
        alpha[band] = proj[band]
        if self.matting in ("auto", "cf"):
            alpha = self._cf_matting(img, alpha, band, obj)
        return np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)

    @staticmethod
    def _projection_alpha(img, fg_known, band, bg_rgb) -> np.ndarray:
        """α = (C − B)·(F − B) / |F − B|² with B the backdrop model and F the colour of the
        nearest sure-object pixel: the compositing equation solved on the colour line."""
        h, w = band.shape
        out = np.zeros((h, w), np.float32)
        if not fg_known.any():
            fg_known = ~band
        ys, xs = np.nonzero(band)
        y0, y1 = max(ys.min() - 8, 0), min(ys.max() + 9, h)
        x0, x1 = max(xs.min() - 8, 0), min(xs.max() + 9, w)
        known = fg_known[y0:y1, x0:x1]
        if not known.any():
            known = fg_known
            y0, y1, x0, x1 = 0, h, 0, w
        _, (iy, ix) = ndimage.distance_transform_edt(~known, return_indices=True)
        b = band[y0:y1, x0:x1]
        C = img[y0:y1, x0:x1][b].astype(np.float32)
        F = img[y0:y1, x0:x1][iy[b], ix[b]].astype(np.float32)
        B = bg_rgb[y0:y1, x0:x1][b]
        fb = F - B
        den = np.einsum("ij,ij->i", fb, fb)
        a = np.einsum("ij,ij->i", C - B, fb) / np.maximum(den, 1e-3)
        # Where object and backdrop colours are nearly equal the line says nothing: keep hard.
        a = np.where(den < 25.0, (np.linalg.norm(C - B, axis=1) > 10).astype(np.float32), a)
        sub = out[y0:y1, x0:x1]
        sub[b] = np.clip(a, 0, 1)
        return out

    def _cf_matting(self, img, alpha, band, obj) -> np.ndarray:
        """Closed-form matting (pymatting) of each small connected piece of the band."""
        if self.matting == "projection":
            return alpha
        try:
            from pymatting import estimate_alpha_cf
        except ImportError:  # pragma: no cover - pymatting is a dependency
            return alpha
        grown = cv2.dilate(band.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        lab_, n = ndimage.label(grown)
        boxes = ndimage.find_objects(lab_)
        done = 0
        for i, sl in enumerate(boxes, start=1):
            if sl is None:
                continue
            area = (sl[0].stop - sl[0].start) * (sl[1].stop - sl[1].start)
            if area > self.max_matting_px or done + area > 4 * self.max_matting_px:
                continue  # too big for the sparse solve: the projection stays
            piece = lab_[sl] == i
            b = band[sl] & piece
            if b.sum() < 8:
                continue
            trimap = np.where(b, 0.5, alpha[sl]).astype(np.float64)
            try:
                est = estimate_alpha_cf(img[sl].astype(np.float64) / 255.0, trimap)
            except Exception:  # a singular system on a degenerate crop: keep the projection
                continue
            # Blend: matting follows shading along the rim, the projection the colour line
            # (3:1 measured best on masks.synth, see segment-bench).
            sub = alpha[sl]
            sub[b] = np.clip(self.cf_weight * est[b] + (1 - self.cf_weight) * sub[b], 0, 1)
            done += area
        return alpha


def make_segmenter(model_path=None, family: str | None = None) -> Segmenter:
    """The segmenter the settings ask for: an ONNX model if a path is given, else the
    weight-free ``BackdropSegmenter``."""
    if model_path:
        return OnnxSegmenter(model_path, family)
    if family:
        raise MaskError("a model family needs a model file (--model FILE.onnx)")
    return BackdropSegmenter()


def segment(image, model_path=None, family: str | None = None) -> np.ndarray:
    """Convenience: ``make_segmenter(model_path, family).segment(image)``."""
    return make_segmenter(model_path, family).segment(image)
