"""Safe image and mask loading: formats, ICC → sRGB, bombs, truncation, non-images."""
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masks import imageio
from masks.errors import ImageInputError, MaskError

A98 = Path("/usr/share/color/icc/ghostscript/a98.icc")


def _png(arr, mode=None, **kw):
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG", **kw)
    return buf.getvalue()


def _jpeg(arr, **kw):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def _bomb_png(width, height):
    """A valid, tiny PNG whose header claims width x height pixels."""
    raw = b"".join(b"\x00" + b"\x00" * width for _ in range(1))  # one row only: the rest is missing
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_png_rgba_and_paths(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[5:15, 5:25, 3] = 255
    rgba[10, 10, 3] = 77
    data = _png(rgba)
    img = imageio.load_image(data)
    assert img.format == "PNG" and not img.icc_converted
    assert img.rgb.shape == (20, 30, 3) and img.rgb.dtype == np.uint8
    np.testing.assert_array_equal(img.alpha, rgba[..., 3])
    p = tmp_path / "x.png"
    p.write_bytes(data)
    np.testing.assert_array_equal(imageio.load_image(str(p)).alpha, rgba[..., 3])
    np.testing.assert_array_equal(imageio.load_image(p).rgb, rgba[..., :3])
    # A JPEG: no alpha.
    j = imageio.load_image(_jpeg(rgba[..., :3]))
    assert j.alpha is None and j.format == "JPEG"


def test_png_encode_decode_round_trip():
    rng = np.random.default_rng(0)
    for shape in [(7, 9), (7, 9, 3), (7, 9, 4)]:
        a = (rng.random(shape) * 255).astype(np.uint8)
        np.testing.assert_array_equal(imageio.decode_png(imageio.encode_png(a)), a)
    with pytest.raises(MaskError):
        imageio.encode_png(np.zeros((4, 4), np.float32))
    with pytest.raises(ImageInputError, match="expected a PNG"):
        imageio.decode_png(_jpeg(np.zeros((4, 4, 3), np.uint8)))


def test_decompression_bomb_refused_from_header():
    bomb = _bomb_png(50_000, 50_000)  # 2.5 gigapixels in a ~100-byte file
    assert len(bomb) < 500
    with pytest.raises(ImageInputError, match="megapixels"):
        imageio.load_image(bomb)
    with pytest.raises(ImageInputError, match="megapixels"):
        imageio.load_mask(bomb)
    # The limit is a parameter.
    small = _png(np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(ImageInputError, match="limit"):
        imageio.load_image(small, max_pixels=5000)
    assert imageio.load_image(small, max_pixels=10_000).rgb.shape == (100, 100, 3)


@pytest.mark.parametrize("maker", [_png, _jpeg])
def test_truncated_files_refused(maker):
    rng = np.random.default_rng(3)
    data = maker((rng.random((200, 200, 3)) * 255).astype(np.uint8))
    with pytest.raises(ImageInputError, match="truncated|corrupt"):
        imageio.load_image(data[: len(data) // 2])


@pytest.mark.parametrize("data", [b"", b"hello, not a picture", b"%PDF-1.4\n" + b"x" * 100, b"\x89PNG\r\n\x1a\n"])
def test_non_images_refused(data):
    with pytest.raises(ImageInputError):
        imageio.load_image(data)


def test_missing_file():
    with pytest.raises(ImageInputError, match="no such file"):
        imageio.load_image("/nonexistent/file.png")


@pytest.mark.skipif(not A98.exists(), reason="Adobe RGB profile from Ghostscript not installed")
def test_embedded_icc_profile_converted_to_srgb():
    arr = np.zeros((4, 8, 3), np.uint8)
    arr[:, :4] = (90, 180, 90)    # a mid green in Adobe RGB: more saturated than in sRGB
    arr[:, 4:] = (128, 128, 128)  # neutral stays neutral
    data = _jpeg(arr, icc_profile=A98.read_bytes())
    img = imageio.load_image(data)
    assert img.icc_converted
    green = img.rgb[0, 0].astype(int)
    grey = img.rgb[0, 6].astype(int)
    assert green[1] > 180 and green[0] < 80  # wider-gamut green maps to a stronger sRGB green
    assert abs(grey[0] - grey[1]) <= 3 and abs(grey[1] - grey[2]) <= 3 and abs(grey[0] - 128) <= 4
    # Without the profile the same bytes are taken as sRGB.
    assert not imageio.load_image(_jpeg(arr)).icc_converted


def test_broken_icc_profile_falls_back_to_srgb():
    arr = np.full((4, 4, 3), 100, np.uint8)
    img = imageio.load_image(_jpeg(arr, icc_profile=b"not a profile" * 10))
    assert not img.icc_converted and abs(int(img.rgb[0, 0, 0]) - 100) <= 2


def test_load_mask_sources():
    grey = np.zeros((10, 12), np.uint8)
    grey[2:8, 3:9] = 255
    np.testing.assert_array_equal(imageio.load_mask(_png(grey)), grey)
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 3] = grey
    np.testing.assert_array_equal(imageio.load_mask(_png(rgba)), grey)
    # A grey mask stored as opaque RGB(A).
    opaque = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    np.testing.assert_array_equal(imageio.load_mask(_png(opaque)), grey)
    np.testing.assert_array_equal(imageio.load_mask(_png(grey), size=(12, 10)), grey)
    with pytest.raises(ImageInputError, match="12x10 pixels but the image is 10x10"):
        imageio.load_mask(_png(grey), size=(10, 10))


def test_sixteen_bit_grey_is_scaled():
    a16 = np.full((4, 4), 65535, np.uint16)
    a16[0, 0] = 0
    buf = io.BytesIO()
    Image.fromarray(a16).save(buf, "PNG")
    m = imageio.load_mask(buf.getvalue())
    assert m.dtype == np.uint8 and m[1, 1] == 255 and m[0, 0] == 0


def test_exif_orientation_applied_and_upright_photo_unchanged():
    """Pixels come out the way viewers show them: orientation 6 means 'rotate 90° clockwise'."""
    arr = np.zeros((40, 60, 3), np.uint8)
    arr[:, :30] = (250, 20, 20)   # left half red
    arr[:, 30:] = (20, 20, 250)   # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = imageio.load_image(_jpeg(arr, exif=exif.tobytes()))
    assert turned.rgb.shape == (60, 40, 3)
    # Rotated clockwise: the left (red) half is now on top.
    assert turned.rgb[5, 20, 0] > 200 and turned.rgb[55, 20, 2] > 200
    upright = imageio.load_image(_jpeg(arr))
    assert upright.rgb.shape == (40, 60, 3) and upright.rgb.flags.c_contiguous
    assert upright.rgb[20, 5, 0] > 200 and upright.rgb[20, 55, 2] > 200
