"""Photoshop path resources: exact round trips, TIFF/JPEG/PSD containers, ImageMagick as the
independent reader, files from elsewhere, malformed blocks, and a fuzz test of the reader."""
import io
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage

from masks import clippath as C
from masks import export, imageio, synth
from masks.errors import ClipPathError, ImageInputError
from masks.trace import parse_path, rasterize, trace

IDENTIFY = shutil.which("identify")
needs_im = pytest.mark.skipif(IDENTIFY is None, reason="ImageMagick's identify is not installed (make system-deps)")


def _flat(d):
    """All points of path data as an (n, 2) array: starts, controls and anchors in order."""
    pts = []
    for sp in parse_path(d):
        pts.append(sp.start)
        for c1, c2, p in sp.segments:
            pts += [c1, c2, p]
    return np.array(pts)


def _iou(a, b):
    a, b = a >= 128, b >= 128
    return (a & b).sum() / (a | b).sum()


def _im_path(path):
    """The clipping path as ImageMagick reports it (first saved path, SVG) → path data."""
    out = subprocess.run([IDENTIFY, "-format", "%[8BIM:1999,2998:#1]", str(path)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    m = re.search(r'\sd="([^"]*)"', out)
    assert m, f"ImageMagick reported no path: {out[:200]!r}"
    return m.group(1)


ODD = "M10.5 20.25C30 5 60 5 80.125 20.25C90 60 40 90 10.5 20.25ZM30 30L50 30L50 50L30 50Z"


def test_round_trip_exact_to_fixed_point():
    w, h = 801, 603
    paths = [C.SavedPath(2000, "Ring – outer", ODD, True),
             C.SavedPath(2001, "Open stroke", "M5 5C10 0 20 0 25 5L40 40", False)]
    res = C.write_resources(paths, w, h)
    back = C.paths_from_resources(res, w, h)
    assert [(p.id, p.name, p.clipping) for p in back] == [(2000, "Ring – outer", True), (2001, "Open stroke", False)]
    for orig, got in zip(paths, back):
        a, b = _flat(orig.d), _flat(got.d)
        assert a.shape == b.shape
        assert np.abs(a[:, 0] - b[:, 0]).max() <= w / 2 ** 24
        assert np.abs(a[:, 1] - b[:, 1]).max() <= h / 2 ** 24
    subs = parse_path(back[1].d)
    assert not subs[0].closed and len(subs[0].segments) == 2  # the open subpath stays open
    # The record layout: whole 26-byte records, fill-rule record first.
    blocks = C.parse_resources(res)
    assert [b[0] for b in blocks] == [2000, 2001, 2999]
    assert all(len(b[2]) % 26 == 0 for b in blocks[:2])
    assert struct.unpack(">H", blocks[0][2][:2]) == (6,)
    name_len = blocks[2][2][0]
    assert blocks[2][2][1:1 + name_len].decode("mac_roman") == "Ring – outer"


def _tiff_with(res, w=120, h=90):
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((h, w, 3), np.uint8), photometric="rgb",
                     extratags=[(C.TIFF_TAG, 1, len(res), res, True)])
    return buf.getvalue()


def test_tiff_jpeg_psd_containers_and_load_mask():
    img = synth.generate("ring", 3, size=(320, 240))
    d = trace(img.alpha, tolerance=0.25)
    for data in (export.export_tiff(img.image, img.alpha, clip_path=d),
                 export.export_jpeg(img.image, img.alpha, clip_path=d),
                 export.export_psd(img.image, img.alpha, clip_path=d)):
        paths = C.read_paths(data)
        assert len(paths) == 1 and paths[0].clipping and paths[0].name == "Clipping path"
        assert np.abs(_flat(paths[0].d) - _flat(d)).max() < 320 / 2 ** 24 + 1e-6
        mask = imageio.load_mask(data)
        assert mask.shape == (240, 320) and _iou(mask, rasterize(d, 320, 240)) > 0.999
    # No path: an empty list; not a container: a clear error.
    plain = io.BytesIO()
    Image.fromarray(img.image).save(plain, "JPEG")
    assert C.read_paths(plain.getvalue()) == []
    with pytest.raises(ImageInputError, match="TIFF, JPEG or PSD"):
        C.read_paths(b"GIF89a....")


def test_large_resources_split_over_app13_segments(tmp_path):
    # A path with ~4000 knots is > 100 KB of records: more than one APP13 segment.
    t = np.linspace(0, 2 * np.pi, 4000, endpoint=False)
    r = 100 + 3 * np.sin(37 * t)
    pts = np.c_[160 + r * np.cos(t), 120 + r * np.sin(t)]
    d = "M" + "L".join(f"{x:.3f} {y:.3f}" for x, y in pts) + "Z"
    res = C.write_resources([C.SavedPath(2000, "Big", d, True)], 320, 240)
    assert len(res) > 100_000
    jpeg = io.BytesIO()
    Image.fromarray(np.zeros((240, 320, 3), np.uint8)).save(jpeg, "JPEG")
    data = C.embed_in_jpeg(jpeg.getvalue(), res)
    assert data.count(b"\xff\xed" ) >= 2 and data.count(C.APP13_HEADER) == -(-len(res) // C._APP13_MAX)
    back = C.read_paths(data)
    assert len(parse_path(back[0].d)[0].anchors()) == 4000
    if IDENTIFY:  # ImageMagick joins the segments too
        f = tmp_path / "big.jpg"
        f.write_bytes(data)
        assert _iou(rasterize(_im_path(f), 320, 240), rasterize(d, 320, 240)) > 0.999
    # Re-embedding replaces, never duplicates, the Photoshop segments.
    again = C.embed_in_jpeg(data, res)
    assert again.count(C.APP13_HEADER) == data.count(C.APP13_HEADER)
    assert Image.open(io.BytesIO(again)).size == (320, 240)


def test_reads_photoshop_style_file_with_several_paths_and_extras():
    w, h = 200, 100

    def fx(v):
        return int(round(v * 2 ** 24))

    def knot(sel, x, y):  # corner knot: controls on the anchor, as Photoshop stores them
        p = [fx(y / h), fx(x / w)]
        return struct.pack(">H6i", sel, *(p * 3))

    def length(sel, n, op=0):  # Photoshop CS+ stores the shape operation after the count
        return struct.pack(">HHH20x", sel, n, op)

    clipboard = struct.pack(">H5i4x", 7, 0, 0, fx(1), fx(1), 72 << 16)
    rect = [knot(2, 20, 10), knot(2, 80, 10), knot(2, 80, 60), knot(2, 20, 60)]
    data1 = struct.pack(">H24x", 6) + clipboard + struct.pack(">HH22x", 8, 0) + length(0, 4, 1) + b"".join(rect)
    data2 = struct.pack(">H24x", 6) + length(3, 2) + knot(5, 100, 50) + knot(5, 150, 90)
    res = (C.resource_block(1005, b"\x00\x48\x00\x00\x00\x01\x00\x01\x00\x48\x00\x00\x00\x01\x00\x01")
           + C.resource_block(2000, data1, "Work Path")
           + C.resource_block(2001, data2, "Stroke")
           + C.resource_block(2999, b"\x09Work Path" + struct.pack(">iH", 0x00010000, 0))
           + b"\x00\x00")  # trailing padding some writers add
    paths = C.read_paths(_tiff_with(res, w, h))
    assert [(p.id, p.name, p.clipping) for p in paths] == [(2000, "Work Path", True), (2001, "Stroke", False)]
    m = rasterize(paths[0].d, w, h)
    assert m.sum() / 255 == pytest.approx(60 * 50, abs=1)
    assert not parse_path(paths[1].d)[0].closed
    # Initial fill 1 ("start with all pixels") inverts the selection.
    inv = struct.pack(">H24x", 6) + struct.pack(">HH22x", 8, 1) + length(0, 4) + b"".join(rect)
    p = C.paths_from_resources(C.resource_block(2000, inv, "Inverted"), w, h)[0]
    assert rasterize(p.d, w, h).sum() / 255 == pytest.approx(w * h - 3000, abs=1)


@pytest.mark.slow
@needs_im
def test_imagemagick_reads_our_paths_on_synthetic_jewelry(tmp_path):
    for kind in synth.KINDS:
        for seed in (3, 7, 11):
            s = synth.generate(kind, seed)
            h, w = s.alpha.shape
            ours = rasterize(trace(s.alpha, tolerance=export.EXPORT_TOLERANCE), w, h)
            # Backdrop pockets enclosed by the piece, shrunk 2 px away from their rims.
            pockets, n = ndimage.label(s.alpha < 128)
            frame = np.unique(np.r_[pockets[0], pockets[-1], pockets[:, 0], pockets[:, -1]])
            negative = ndimage.binary_erosion(~np.isin(pockets, frame) & (pockets > 0), iterations=2)
            if kind in ("ring", "chain"):
                assert negative.sum() > 500, kind  # the case the check is about is really there
            for fmt, fn in (("tif", export.export_tiff), ("jpg", export.export_jpeg)):
                f = tmp_path / f"{kind}{seed}.{fmt}"
                f.write_bytes(fn(s.image, s.alpha, background="#f5f0e6", clip_path="auto"))
                theirs = rasterize(_im_path(f), w, h)
                assert _iou(theirs, ours) >= 0.999, (kind, seed, fmt)
                # Negative space (inside a ring, chain links, earring loops) stays empty in theirs.
                assert (theirs[negative] >= 128).mean() < 0.01, (kind, seed, fmt)
                # And the path, filled, gives back the exported mask (ground truth).
                assert _iou(theirs, s.alpha) >= 0.99, (kind, seed, fmt, _iou(theirs, s.alpha))


def _exported(tmp_path, name, kind, seed, fn):
    """Export a 400x300 synthetic piece with an automatic path → (file, our path rasterised)."""
    s = synth.generate(kind, seed, size=(400, 300))
    f = tmp_path / name
    f.write_bytes(fn(s.image, s.alpha, clip_path="auto"))
    return f, rasterize(C.read_paths(f.read_bytes())[0].d, 400, 300)


@needs_im
def test_imagemagick_reads_the_path_in_our_psd(tmp_path):
    f, ours = _exported(tmp_path, "a.psd", "earring", 3, export.export_psd)
    assert _iou(rasterize(_im_path(f"{f}[0]"), 400, 300), ours) >= 0.99


@needs_im
def test_we_read_imagemagicks_rewritten_files(tmp_path):
    src, want = _exported(tmp_path, "a.tif", "chain", 2, export.export_tiff)
    for out in ("b.jpg", "c.tif"):
        subprocess.run(["convert", str(src), str(tmp_path / out)], check=True, timeout=60)
        paths = C.read_paths((tmp_path / out).read_bytes())
        assert paths and paths[0].clipping
        assert _iou(rasterize(paths[0].d, 400, 300), want) > 0.999


@pytest.mark.skipif(shutil.which("vips") is None, reason="libvips-tools is not installed (make system-deps)")
def test_we_read_libvips_rewritten_files(tmp_path):
    """libvips carries the Photoshop block over as 'photoshop-data' and writes it back itself
    (its own TIFF tag and APP13 layout), a second independent writer."""
    for name, fn in (("a.tif", export.export_tiff), ("a.jpg", export.export_jpeg)):
        src, want = _exported(tmp_path, name, "chain", 2, fn)
        out = tmp_path / f"vips-{name}"
        subprocess.run(["vips", "copy", str(src), str(out)], check=True, timeout=60, capture_output=True)
        assert out.read_bytes() != src.read_bytes()
        paths = C.read_paths(out.read_bytes())
        assert [(p.id, p.name, p.clipping) for p in paths] == [(2000, export.CLIP_PATH_NAME, True)]
        assert _iou(rasterize(paths[0].d, 400, 300), want) > 0.999


def _good_block():
    return C.write_resources([C.SavedPath(2000, "P", ODD, True)], 100, 100)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:-7], "past the end"),
    (lambda b: b"XXXX" + b[4:], "signature"),
    (lambda b: b[:10], "truncated|past the end"),
    (lambda b: C.resource_block(2000, b"\x00\x01" + b"\x00" * 20, "P"), "26-byte"),
    (lambda b: C.resource_block(2000, struct.pack(">H24x", 1), "P"), "outside a subpath"),
    (lambda b: C.resource_block(2000, struct.pack(">HH22x", 0, 5) + struct.pack(">H24x", 1), "P"), "missing"),
    (lambda b: C.resource_block(2000, struct.pack(">H24x", 42), "P"), "unknown record type 42"),
    (lambda b: C.resource_block(2000, struct.pack(">HH22x", 0, 1) + struct.pack(">H24x", 4), "P"), "open knot"),
    (lambda b: C.resource_block(2999, b"\x05Other\x00\x01\x00\x00\x00\x00"), "names no saved path"),
])
def test_malformed_blocks_refused(mutate, message):
    with pytest.raises(ClipPathError, match=message):
        C.paths_from_resources(mutate(_good_block()), 100, 100)


def test_malformed_block_in_a_tiff_is_a_clip_path_error():
    data = _tiff_with(C.resource_block(2000, b"\x00" * 25, "Bad"))
    with pytest.raises(ClipPathError, match="Bad"):
        C.read_paths(data)
    with pytest.raises(ClipPathError):
        imageio.load_mask(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_reader_never_crashes(data):
    base = bytearray(_good_block())
    n = data.draw(st.integers(0, 8))
    for _ in range(n):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(len(base) - 1, 0)))
        if op == "flip" and base:
            base[pos] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del base[pos:pos + data.draw(st.integers(1, 30))]
        else:
            base[pos:pos] = data.draw(st.binary(max_size=30))
    try:
        paths = C.paths_from_resources(bytes(base), 100, 100)
    except ClipPathError:
        return
    for p in paths:  # whatever is accepted is well-formed path data
        parse_path(p.d)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(blob):
    try:
        C.paths_from_resources(b"8BIM" + blob, 50, 50)
    except ClipPathError:
        pass
