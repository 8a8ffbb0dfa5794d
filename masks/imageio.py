"""Reading images and masks safely, and PNG encoding.

``load_image`` refuses decompression bombs (pixel count read from the header, before any
decoding), truncated files and non-images with ``ImageInputError``, and converts an embedded ICC
profile to sRGB. ``load_mask`` reads a cutout's alpha from a PNG alpha channel, a grey mask, a
PSD layer mask or the clipping path embedded in a TIFF / JPEG / PSD.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps

from masks.errors import ClipPathError, ImageInputError, MaskError

DEFAULT_MAX_PIXELS = 100_000_000
MAX_FILE_BYTES = 1 << 30  # 1 GiB: no studio photo is larger; refuse before reading it all

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class LoadedImage:
    """An image in sRGB: rgb uint8 HxWx3, alpha uint8 HxW (0–255) or None, whether an embedded
    ICC profile was converted, and the file format Pillow detected ("JPEG", "PNG", "TIFF" …)."""
    rgb: np.ndarray
    alpha: np.ndarray | None
    icc_converted: bool
    format: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def read_bytes(src) -> bytes:
    """bytes | str | Path | file-like → bytes (refusing files over 1 GiB)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src)
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not path.is_file():
            raise ImageInputError(f"no such file: {path}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImageInputError(f"{path.name} is larger than 1 GiB")
        return path.read_bytes()
    if hasattr(src, "read"):
        data = src.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ImageInputError("file is larger than 1 GiB")
        return bytes(data)
    raise ImageInputError(f"cannot read an image from {type(src).__name__}")


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open (header only) and check the size before anything is decoded."""
    if not data:
        raise ImageInputError("file is empty")
    with warnings.catch_warnings():
        # We enforce our own pixel limit below; Pillow's own bomb check must not pre-empt it.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            m = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{int(m.group(1)) / 1e6:.0f} megapixels" if m else "too many megapixels"
            raise ImageInputError(f"image is {size}, over the limit of {max_pixels / 1e6:.0f} "
                                  "(refused before decoding: possible decompression bomb)") from None
        except (Image.UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise ImageInputError("file is not an image in a format we can read (PNG, JPEG, TIFF, PSD, WebP)") from None
    w, h = im.size
    frames = getattr(im, "n_frames", 1) if im.format == "GIF" else 1
    if w <= 0 or h <= 0:
        raise ImageInputError(f"image has an empty size {w}x{h}")
    if w * h * frames > max_pixels:
        raise ImageInputError(
            f"image is {w}x{h} = {w * h / 1e6:.1f} megapixels, over the limit of {max_pixels / 1e6:.0f} "
            "(refused before decoding: possible decompression bomb)")
    return im


def _decode(im: Image.Image) -> Image.Image:
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never a grey half
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except Image.DecompressionBombError as exc:
        raise ImageInputError(f"image is too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, MemoryError) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg or isinstance(exc, EOFError) or "broken data stream" in msg:
            raise ImageInputError("image file is truncated (incomplete download or upload?)") from None
        raise ImageInputError(f"image data is corrupt: {msg}") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old
    return im


def _to_8bit(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im).astype(np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / hi * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "F":
        arr = np.asarray(im)
        return Image.fromarray(np.clip(arr * (255 if arr.max() <= 1 else 1) + 0.5, 0, 255).astype(np.uint8), "L")
    return im


def load_image(src, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file (bytes, path or file object) → LoadedImage in sRGB.

    max_pixels: width × height limit checked from the header before decoding.
    EXIF orientation is applied so pixels are the way viewers show them.
    """
    data = read_bytes(src)
    im = _open(data, max_pixels)
    fmt = im.format or "unknown"
    icc = im.info.get("icc_profile")
    im = _decode(im)
    try:
        ImageOps.exif_transpose(im, in_place=True)  # in place: no 72 MB copy at 24 MP when upright
    except Exception:  # a broken EXIF block must not make a good picture unreadable
        pass
    im = _to_8bit(im)
    alpha = None
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info) or \
            (im.mode in ("RGB", "L") and "transparency" in im.info):
        rgba = im.convert("RGBA")
        alpha = np.array(rgba.getchannel("A"))
        base = rgba.convert("RGB")
    elif im.mode in ("RGB", "CMYK", "L", "1", "P", "YCbCr", "LAB", "HSV"):
        base = im
    else:
        base = im.convert("RGB")
    converted = False
    if icc:
        try:
            src_prof = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            in_mode = base.mode if base.mode in ("RGB", "CMYK", "L") else "RGB"
            base = ImageCms.profileToProfile(base.convert(in_mode), src_prof, _SRGB,
                                             renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode="RGB")
            converted = True
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            # A broken profile: treat the pixels as sRGB, as browsers do.
            converted = False
    rgb = np.ascontiguousarray(np.asarray(base if base.mode == "RGB" else base.convert("RGB"), dtype=np.uint8))
    if alpha is not None and alpha.shape != rgb.shape[:2]:
        raise ImageInputError("image alpha channel does not match its size")
    return LoadedImage(rgb=rgb, alpha=alpha, icc_converted=converted, format=fmt)


def load_mask(src, size: tuple[int, int] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a mask → uint8 HxW alpha (0–255).

    Accepts a PNG (or other) with an alpha channel, a grey mask (white = keep), a PSD with a
    layer mask, or a TIFF / JPEG / PSD carrying a Photoshop clipping path (rasterised at the
    image size, even-odd). size=(width, height), if given, must match the mask's size.
    """
    from masks import clippath  # local: clippath imports this module's helpers

    data = read_bytes(src)
    im = _open(data, max_pixels)
    fmt = im.format
    width, height = im.size
    mask = None
    if fmt in ("TIFF", "JPEG", "MPO", "PSD"):
        try:
            paths = clippath.read_paths(data)
        except ClipPathError:
            raise
        if paths:
            chosen = next((p for p in paths if p.clipping), paths[0])
            from masks.trace import rasterize
            mask = rasterize(chosen.d, width, height)
    if mask is None and fmt == "PSD":
        mask = _psd_layer_mask(data, width, height)
    if mask is None:
        im = _to_8bit(_decode(im))
        if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
            mask = np.array(im.convert("RGBA").getchannel("A"))
            if fmt != "PSD" and mask.min() == 255 and im.mode != "PA":
                # Fully opaque alpha: the mask is in the colour (a grey mask saved with alpha).
                mask = np.array(im.convert("L"))
        else:
            mask = np.array(im.convert("L"))
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    if size is not None:
        w, h = int(size[0]), int(size[1])
        if mask.shape != (h, w):
            raise ImageInputError(f"mask is {mask.shape[1]}x{mask.shape[0]} pixels but the image is {w}x{h}")
    return mask


def _psd_layer_mask(data: bytes, width: int, height: int) -> np.ndarray | None:
    """The first layer mask in a PSD, placed on a canvas of the document's size."""
    try:
        from psd_tools import PSDImage
        psd = PSDImage.open(io.BytesIO(data))
        for layer in psd.descendants():
            if layer.mask is None or layer.mask.width == 0:
                continue
            m = layer.mask.topil()
            if m is None:
                continue
            canvas = np.full((height, width), int(layer.mask.background_color), np.uint8)
            x0, y0 = layer.mask.left, layer.mask.top
            arr = np.array(m.convert("L"))
            xs, ys = max(x0, 0), max(y0, 0)
            xe, ye = min(x0 + arr.shape[1], width), min(y0 + arr.shape[0], height)
            if xe > xs and ye > ys:
                canvas[ys:ye, xs:xe] = arr[ys - y0:ye - y0, xs - x0:xe - x0]
            return canvas
    except MaskError:
        raise
    except Exception as exc:  # psd-tools raises many kinds on damaged files
        raise ImageInputError(f"PSD layers could not be read: {exc}") from None
    return None


def encode_png(array: np.ndarray, compression: int = 3) -> bytes:
    """uint8 HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA, straight alpha) → PNG bytes."""
    a = np.asarray(array)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise MaskError(f"PNG needs uint8 HxW, HxWx3 or HxWx4, got {a.dtype} {a.shape}")
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR if a.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", a, [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:
        raise MaskError("PNG encoding failed")
    return buf.tobytes()


def decode_png(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """PNG bytes → uint8 array as stored: HxW grey, HxWx3 RGB or HxWx4 RGBA (8-bit)."""
    im = _open(bytes(data), max_pixels)
    if im.format != "PNG":
        raise ImageInputError(f"expected a PNG, got {im.format}")
    im = _to_8bit(_decode(im))
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode == "1":
        im = im.convert("L")
    elif im.mode == "LA":
        im = im.convert("RGBA")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))
