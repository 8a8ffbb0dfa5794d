"""Exports: straight-alpha PNG, JPEG/TIFF on a background with path and sRGB profile, SVG, PSD."""
import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import tifffile
from PIL import Image

from masks import clippath, export, imageio
from masks.errors import MaskError, PathDataError
from masks.trace import parse_path, rasterize


def _piece(w=120, h=90):
    """A red disc photographed on a pale blue backdrop, with a one-pixel halo of backdrop colour."""
    yy, xx = np.mgrid[:h, :w] + 0.5
    dist = np.hypot(xx - w / 2, yy - h / 2)
    alpha = (np.clip(30.5 - dist, 0, 1) * 255).round().astype(np.uint8)
    image = np.empty((h, w, 3), np.uint8)
    image[:] = (200, 220, 250)
    image[dist < 30] = (180, 20, 30)
    halo = (dist >= 29) & (dist < 31)
    image[halo] = (200, 220, 250)  # the AI kept backdrop colour on the edge
    return image, alpha


def test_defringe_takes_nearest_solid_colour():
    image, alpha = _piece()
    out = export.defringe(image, alpha)
    edge = (alpha > 0) & (alpha < 255)
    assert edge.any()
    assert np.all(out[edge] == (180, 20, 30))
    assert np.all(out[alpha == 0] == image[alpha == 0])   # invisible pixels untouched
    inner = np.zeros_like(alpha, bool)
    inner[35:55, 50:70] = True
    assert np.all(out[inner] == image[inner])             # solid interior untouched
    with pytest.raises(MaskError, match="alpha must be"):
        export.defringe(image, alpha[:10])


def test_png_straight_alpha_with_srgb_profile():
    image, alpha = _piece()
    data = export.export_png(image, alpha)
    im = Image.open(io.BytesIO(data))
    assert im.mode == "RGBA" and im.info.get("icc_profile") == export.SRGB_ICC
    rgba = np.array(im)
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    half = (alpha > 60) & (alpha < 200)
    # Straight alpha: a half-transparent edge pixel keeps the full object colour, not a darkened one.
    assert np.all(rgba[half][:, :3] == (180, 20, 30))
    np.testing.assert_array_equal(imageio.load_mask(data), alpha)


@pytest.mark.parametrize("fmt", ["jpeg", "tiff"])
def test_jpeg_tiff_on_background_with_path_and_profile(fmt):
    image, alpha = _piece()
    fn = export.export_jpeg if fmt == "jpeg" else export.export_tiff
    data = fn(image, alpha, background="#f5f0e6", clip_path="auto")
    loaded = imageio.load_image(data)
    assert loaded.icc_converted  # the sRGB profile is there (and converting it is a no-op)
    im = Image.open(io.BytesIO(data))
    assert im.info.get("icc_profile") == export.SRGB_ICC or (
        fmt == "tiff" and tifffile.TiffFile(io.BytesIO(data)).pages[0].tags[34675].value == export.SRGB_ICC)
    corner = loaded.rgb[:5, :5].reshape(-1, 3).astype(int)
    assert np.abs(corner - (245, 240, 230)).max() <= 2        # background colour
    centre = loaded.rgb[45, 60].astype(int)
    assert np.abs(centre - (180, 20, 30)).max() <= 3
    # No pale-blue halo on the new background: edge pixels lie between red and beige.
    edge = (alpha > 30) & (alpha < 225)
    assert loaded.rgb[edge][:, 2].max() <= 235
    paths = clippath.read_paths(data)
    assert len(paths) == 1 and paths[0].clipping
    m = rasterize(paths[0].d, 120, 90)
    a, b = m >= 128, alpha >= 128
    assert (a & b).sum() / (a | b).sum() > 0.98
    # Without a path, none is written.
    assert clippath.read_paths(fn(image, alpha)) == []
    with pytest.raises(MaskError, match="rrggbb"):
        fn(image, alpha, background="beige-ish")
    with pytest.raises(PathDataError):
        fn(image, alpha, clip_path="M0 0 L nan 1")


def test_svg_export_is_clean():
    data = export.export_svg("M10 10 L50 10 L50 50 Z", 64, 48)
    root = ET.fromstring(data)
    assert root.get("width") == "64" and root.get("viewBox") == "0 0 64 48"
    path = root.find("{http://www.w3.org/2000/svg}path")
    assert path.get("fill-rule") == "evenodd"
    assert len(parse_path(path.get("d"))[0].segments) == 3
    with pytest.raises(PathDataError):
        export.export_svg('M0 0"/><script>alert(1)</script><path d="', 10, 10)


def test_psd_layer_mask_path_and_profile():
    from psd_tools import PSDImage

    image, alpha = _piece()
    data = export.export_psd(image, alpha)
    psd = PSDImage.open(io.BytesIO(data))
    assert (psd.width, psd.height) == (120, 90)
    layer = list(psd)[0]
    assert layer.name == "Original" and layer.has_mask()
    np.testing.assert_array_equal(np.array(layer.topil().convert("RGB")), image)
    np.testing.assert_array_equal(np.array(layer.mask.topil()), alpha)
    res, *_ = clippath.psd_resources(data)
    ids = [b[0] for b in clippath.parse_resources(res)]
    assert 2000 in ids and 2999 in ids and 1039 in ids
    assert clippath.read_paths(data)[0].clipping
    # Without a saved path, import falls back on the layer mask.
    plain = export.export_psd(image, alpha, clip_path=None)
    assert clippath.read_paths(plain) == []
    np.testing.assert_array_equal(imageio.load_mask(plain), alpha)
