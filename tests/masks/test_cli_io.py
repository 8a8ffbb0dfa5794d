"""The I/O commands of ``python -m masks``: they work, and bad input is one clear line, exit 2."""
import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from masks import cli, clippath, synth
from masks.imageio import encode_png

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    s = synth.generate("ring", 5, size=(320, 240))
    (d / "photo.png").write_bytes(encode_png(s.image))
    (d / "gt.png").write_bytes(encode_png(s.alpha))
    (d / "empty.png").write_bytes(encode_png(np.zeros((240, 320), np.uint8)))
    (d / "small.png").write_bytes(encode_png(np.zeros((10, 10), np.uint8)))
    jpg = io.BytesIO()
    Image.fromarray(s.image).save(jpg, "JPEG", quality=90)
    (d / "photo.jpg").write_bytes(jpg.getvalue())
    (d / "truncated.jpg").write_bytes(jpg.getvalue()[: len(jpg.getvalue()) // 2])
    (d / "notimage.png").write_text("just some text, not a picture\n")

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    (d / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0))
                                 + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))
    bad = clippath.resource_block(2000, b"\x00\x00" * 13 + b"\x00", "Broken")
    buf = io.BytesIO()
    tifffile.imwrite(buf, s.image, photometric="rgb", extratags=[(34377, 1, len(bad), bad, True)])
    (d / "badpath.tif").write_bytes(buf.getvalue())
    (d / "nan.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 L NaN 4 Z"/></svg>')
    (d / "square.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><path d="M100 60 H220 V180 H100 Z"/></svg>')
    return d, s


def run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def assert_clean_error(rc, err, *words):
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_segment(files, capsys, tmp_path):
    d, s = files
    rc, out, _ = run(capsys, "segment", d / "photo.png", "-o", tmp_path / "m.png")
    assert rc == 0 and "backdrop segmenter" in out
    m = np.array(Image.open(tmp_path / "m.png"))
    assert m.shape == (240, 320) and ((m >= 128) & (s.alpha >= 128)).sum() / ((m >= 128) | (s.alpha >= 128)).sum() > 0.85


@pytest.mark.parametrize("name, words", [("truncated.jpg", ["truncated"]), ("notimage.png", ["not an image"]),
                                         ("bomb.png", ["megapixels", "decompression bomb"]),
                                         ("missing.png", ["missing.png"])])
def test_bad_images_every_command(files, capsys, tmp_path, name, words):
    d, _ = files
    src = d / name
    for argv in (["segment", src, "-o", tmp_path / "m.png"],
                 ["trace", src, "-o", tmp_path / "p.svg"],
                 ["export", src, "--mask", d / "gt.png", "--format", "png", "-o", tmp_path / "x.png"],
                 ["export", d / "photo.png", "--mask", src, "--format", "jpeg", "-o", tmp_path / "x.jpg"],
                 ["clippath", "read", src, "--json"],
                 ["tiles", src, "-o", tmp_path / "t"],
                 ["color", src, "--mask", d / "gt.png", "--region", "0,0,10,10", "--swatch", "#b76e79"]):
        rc, _, err = run(capsys, *argv)
        assert_clean_error(rc, err, *([] if argv[0] == "clippath" and name != "missing.png" else words))
    assert not (tmp_path / "m.png").exists() and not (tmp_path / "x.png").exists()


def _every_command(src, d, tmp_path):
    """Each I/O command, given ``src`` where it reads a picture (photo or mask)."""
    return (["segment", src, "-o", tmp_path / "m.png"],
            ["trace", src, "-o", tmp_path / "p.svg"],
            ["export", src, "--mask", d / "gt.png", "--format", "tiff", "-o", tmp_path / "x.tif"],
            ["export", d / "photo.png", "--mask", src, "--format", "png", "-o", tmp_path / "x.png"],
            ["clippath", "read", src, "--json"],
            ["tiles", src, "-o", tmp_path / "t"],
            ["tiles", d / "photo.png", "--mask", src, "-o", tmp_path / "t"],
            ["color", src, "--mask", d / "gt.png", "--region", "0,0,10,10", "--swatch", "#b76e79"],
            ["color", d / "photo.png", "--mask", src, "--region", "0,0,10,10", "--swatch", "#b76e79"])


def test_malformed_resource_block_every_command(files, capsys, tmp_path):
    """A TIFF whose Photoshop path block is broken (25 bytes, not whole 26-byte records): every
    command names the path and the fault and writes nothing, whether the file is photo or mask."""
    d, _ = files
    for argv in _every_command(d / "badpath.tif", d, tmp_path):
        rc, _, err = run(capsys, *argv)
        assert_clean_error(rc, err, "Broken", "26-byte")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_nan_everywhere_a_number_or_path_goes(files, capsys, tmp_path):
    """NaN in path data (an SVG for --clip-path, bare path data) and in numeric options."""
    d, _ = files
    bare = tmp_path / "bare.txt"
    bare.write_text("M0 0L10 nan L5 5Z")
    photo, gt = d / "photo.png", d / "gt.png"
    cases = [(["export", photo, "--mask", gt, "--format", fmt, "--clip-path", clip, "-o", tmp_path / f"o.{fmt}"],
              ["path data"]) for fmt in ("jpeg", "tiff", "psd", "svg") for clip in (d / "nan.svg", bare)]
    cases += [
        (["trace", gt, "-o", tmp_path / "p.svg", "--tolerance", "nan"], ["tolerance"]),
        (["trace", gt, "-o", tmp_path / "p.svg", "--inset", "NaN"], ["inset"]),
        (["trace", gt, "-o", tmp_path / "p.svg", "--tolerance", "inf"], ["tolerance"]),
        (["color", photo, "--mask", gt, "--region", "nan,0,10,10", "--swatch", "#b76e79"], ["X,Y,W,H"]),
        (["color", photo, "--mask", gt, "--region", "0,0,320,240", "--swatch", "#b76e79", "--tolerance", "nan"],
         ["tolerance"]),
        (["export", photo, "--mask", gt, "--format", "jpeg", "--background", "#nannan", "-o", tmp_path / "b.jpg"],
         ["rrggbb"]),
    ]
    for argv, words in cases:
        rc, _, err = run(capsys, *argv)
        assert_clean_error(rc, err, *words)
    assert [p.name for p in tmp_path.iterdir()] == ["bare.txt"]


def test_segment_with_missing_or_broken_model(files, capsys, tmp_path):
    d, _ = files
    rc, _, err = run(capsys, "segment", d / "photo.png", "-o", tmp_path / "m.png", "--model", tmp_path / "none.onnx")
    assert_clean_error(rc, err, "model not found")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00" * 64)
    rc, _, err = run(capsys, "segment", d / "photo.png", "-o", tmp_path / "m.png", "--model", junk)
    assert_clean_error(rc, err, "ONNX")


def test_segment_with_an_onnx_model(files, capsys, tmp_path):
    """--model runs the ONNX adapter (a one-layer model built here) and writes a full-size mask."""
    from tests.masks.test_segment import _model

    d, _ = files
    model = _model(tmp_path / "u2netp.onnx")
    rc, out, err = run(capsys, "segment", d / "photo.jpg", "-o", tmp_path / "m.png", "--model", model)
    assert rc == 0, err
    assert "ONNX model u2netp.onnx (u2netp)" in out
    assert np.array(Image.open(tmp_path / "m.png")).shape == (240, 320)
    rc, _, err = run(capsys, "segment", d / "photo.jpg", "-o", tmp_path / "n.png", "--family", "isnet")
    assert_clean_error(rc, err, "model file")
    from tests.masks.test_segment import _other_model
    rc, _, err = run(capsys, "segment", d / "photo.jpg", "-o", tmp_path / "n.png",
                     "--model", _other_model(tmp_path / "grey.onnx", channels=1))
    assert_clean_error(rc, err, "grey.onnx failed on this image")
    assert not (tmp_path / "n.png").exists()


def test_trace(files, capsys, tmp_path):
    d, _ = files
    rc, out, _ = run(capsys, "trace", d / "gt.png", "-o", tmp_path / "p.svg", "--tolerance", "0.5", "--inset", "1")
    assert rc == 0 and "anchors" in out
    assert "<path" in (tmp_path / "p.svg").read_text()
    rc, _, err = run(capsys, "trace", d / "empty.png", "-o", tmp_path / "q.svg")
    assert_clean_error(rc, err, "empty")
    rc, _, err = run(capsys, "trace", d / "gt.png", "-o", tmp_path / "q.svg", "--tolerance", "nan")
    assert_clean_error(rc, err, "tolerance")
    rc, _, err = run(capsys, "trace", d / "gt.png", "-o", tmp_path / "nofolder" / "q.svg")
    assert_clean_error(rc, err, "folder")


@pytest.mark.parametrize("fmt", ["png", "jpeg", "tiff", "svg", "psd"])
def test_export_formats(files, capsys, tmp_path, fmt):
    d, _ = files
    out = tmp_path / f"out.{fmt}"
    rc, _, err = run(capsys, "export", d / "photo.png", "--mask", d / "gt.png", "--format", fmt,
                     "--background", "#f0f0f0", "--clip-path", "auto", "-o", out)
    assert rc == 0, err
    data = out.read_bytes()
    if fmt in ("jpeg", "tiff", "psd"):
        paths = clippath.read_paths(data)
        assert len(paths) == 1 and paths[0].clipping
    elif fmt == "png":
        assert Image.open(out).mode == "RGBA"
    else:
        assert data.startswith(b"<?xml") and b"evenodd" in data


def test_export_with_given_path_and_bad_paths(files, capsys, tmp_path):
    d, _ = files
    rc, _, _ = run(capsys, "export", d / "photo.png", "--mask", d / "gt.png", "--format", "tiff",
                   "--clip-path", d / "square.svg", "-o", tmp_path / "a.tif")
    assert rc == 0
    rc, out, _ = run(capsys, "clippath", "read", tmp_path / "a.tif", "--json")
    listed = json.loads(out)
    assert listed[0]["id"] == 2000 and listed[0]["clipping"] is True and set(listed[0]) == {"id", "name", "clipping", "d"}
    assert "M100 60" in listed[0]["d"]
    rc, _, err = run(capsys, "export", d / "photo.png", "--mask", d / "gt.png", "--format", "jpeg",
                     "--clip-path", d / "nan.svg", "-o", tmp_path / "b.jpg")
    assert_clean_error(rc, err, "path data")
    assert not (tmp_path / "b.jpg").exists()
    rc, _, err = run(capsys, "export", d / "photo.png", "--mask", d / "small.png", "--format", "png", "-o", tmp_path / "c.png")
    assert_clean_error(rc, err, "10x10")
    rc, _, err = run(capsys, "export", d / "photo.png", "--mask", d / "gt.png", "--format", "jpeg",
                     "--background", "chartreuse-ish", "-o", tmp_path / "c.jpg")
    assert_clean_error(rc, err, "rrggbb")


def test_clippath_read(files, capsys, tmp_path):
    d, _ = files
    rc, _, err = run(capsys, "clippath", "read", d / "badpath.tif", "--json")
    assert_clean_error(rc, err, "Broken", "26-byte")
    rc, out, _ = run(capsys, "clippath", "read", d / "photo.jpg", "--json")
    assert rc == 0 and json.loads(out) == []
    rc, _, err = run(capsys, "clippath", "read", d / "notimage.png", "--json")
    assert_clean_error(rc, err, "not an image")
    rc, _, err = run(capsys, "clippath", "read", d / "photo.png", "--json")
    assert_clean_error(rc, err, "TIFF, JPEG or PSD")


def test_tiles(files, capsys, tmp_path):
    d, _ = files
    rc, out, _ = run(capsys, "tiles", d / "photo.png", "-o", tmp_path / "t", "--mask", d / "gt.png")
    assert rc == 0
    info = json.loads(out)
    assert set(info) == {"original", "mask", "cutout"} and info["original"]["levels"] == 10
    assert (tmp_path / "t" / "original_files" / "9" / "1_0.jpeg").exists()
    assert (tmp_path / "t" / "cutout_files" / "9" / "0_0.png").exists()


def test_color(files, capsys):
    d, s = files
    rc, out, _ = run(capsys, "color", d / "photo.png", "--mask", d / "gt.png", "--region", "0,0,320,240",
                     "--swatch", "#b76e79", "--json")
    assert rc == 0
    res = json.loads(out)
    assert len(res["measured_lab"]) == 3 and res["delta_e"] > 0 and isinstance(res["passed"], bool)
    rc, out, _ = run(capsys, "color", d / "photo.png", "--mask", d / "gt.png", "--region", "0,0,320,240", "--swatch", "#b76e79")
    assert rc == 0 and "ΔE2000" in out and "measured Lab" in out
    for region, word in (("0,0,999,10", "outside"), ("a,b,c,d", "X,Y,W,H"), ("0,0,5,5", "no solid")):
        rc, _, err = run(capsys, "color", d / "photo.png", "--mask", d / "gt.png", "--region", region, "--swatch", "#b76e79")
        assert_clean_error(rc, err, word)
    rc, _, err = run(capsys, "color", d / "photo.png", "--mask", d / "gt.png", "--region", "0,0,320,240", "--swatch", "rose")
    assert_clean_error(rc, err, "rrggbb")


def test_real_process_prints_no_traceback(files, tmp_path):
    d, _ = files
    proc = subprocess.run([sys.executable, "-m", "masks", "clippath", "read", str(d / "badpath.tif"), "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
