"""Benchmarks of the I/O side of the core; each prints a table and returns its figures.

* ``segment_bench``: the weight-free ``BackdropSegmenter`` against a plain threshold on
  ``masks.synth`` photos: IoU (alpha ≥ 128) and mean boundary error (px, symmetric) per kind.
* ``trace_bench``: ``masks.trace`` against the ``potrace`` program on the same masks: anchors per
  1000 px of perimeter and the maximum deviation (px) of the path from the mask edge.
* ``tiles_bench``: ``masks.tiles.build_pyramid`` against ``vips dzsave`` on a 24 MP photo in the
  same run.

Run: ``python -m masks io-bench`` (all three) or ``segment-bench`` / ``trace-bench`` / ``tiles-bench``.
"""
from __future__ import annotations

import io
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from masks import synth
from masks.errors import MaskError


# --------------------------------------------------------------------------- metrics

def iou(pred, gt) -> float:
    """IoU of two uint8 masks at alpha ≥ 128."""
    a, b = np.asarray(pred) >= 128, np.asarray(gt) >= 128
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def _edge(m):
    m = m >= 128
    return m & ~ndimage.binary_erosion(m, border_value=0)


def boundary_error(pred, gt) -> float:
    """Mean symmetric distance (px) between the edges of two masks (alpha ≥ 128)."""
    ep, eg = _edge(np.asarray(pred)), _edge(np.asarray(gt))
    if not ep.any() or not eg.any():
        return float("inf") if ep.any() != eg.any() else 0.0
    dg = ndimage.distance_transform_edt(~eg)
    dp = ndimage.distance_transform_edt(~ep)
    return float((dg[ep].sum() + dp[eg].sum()) / (ep.sum() + eg.sum()))


# --------------------------------------------------------------------------- segmentation

def segment_bench(seeds=(1, 2, 3), backdrops=synth.BACKDROPS, size=(800, 600), out=print) -> dict:
    """IoU and mean boundary error per synthetic kind: BackdropSegmenter vs plain threshold."""
    from masks.segment import BackdropSegmenter, plain_threshold

    seg = BackdropSegmenter()
    # pymatting compiles its solver (numba) on first use: once, untimed, so s/image is steady state.
    seg.segment(synth.generate(synth.KINDS[-1], 0, size=(320, 240)).image)
    rows = {}
    out(f"segmentation on masks.synth {size[0]}x{size[1]}, seeds {list(seeds)}, backdrops {list(backdrops)}")
    out(f"{'kind':9} {'IoU ours':>9} {'IoU thr':>8} {'edge err ours px':>17} {'edge err thr px':>16} {'s/image':>8}")
    for kind in synth.KINDS:
        r = {"iou": [], "iou_thr": [], "be": [], "be_thr": [], "t": []}
        for backdrop in backdrops:
            for seed in seeds:
                s = synth.generate(kind, seed, size=size, backdrop=backdrop)
                t = time.perf_counter()
                a = seg.segment(s.image)
                r["t"].append(time.perf_counter() - t)
                b = plain_threshold(s.image)
                r["iou"].append(iou(a, s.alpha))
                r["iou_thr"].append(iou(b, s.alpha))
                r["be"].append(boundary_error(a, s.alpha))
                r["be_thr"].append(boundary_error(b, s.alpha))
        rows[kind] = {k: float(np.mean(v)) for k, v in r.items()}
        m = rows[kind]
        out(f"{kind:9} {m['iou']:9.4f} {m['iou_thr']:8.4f} {m['be']:17.2f} {m['be_thr']:16.2f} {m['t']:8.2f}")
    return rows


# --------------------------------------------------------------------------- tracing

def _potrace_path(mask) -> tuple[str, int]:
    """Run the potrace program on a binary mask → (path data in image pixels, anchors)."""
    from masks.trace import Subpath, parse_path, to_path_data

    h, w = mask.shape
    bits = (mask < 128).astype(np.uint8)  # PBM: 1 = black = traced; potrace traces black
    with tempfile.TemporaryDirectory() as tmp:
        pbm = Path(tmp) / "m.pbm"
        pbm.write_bytes(f"P4\n{w} {h}\n".encode() + np.packbits(1 - bits, axis=1).tobytes())
        svg = subprocess.run(["potrace", "-s", "-u", "100", "-o", "-", str(pbm)], capture_output=True,
                             check=True, timeout=120).stdout.decode()
    m = re.search(r'transform="translate\(([-\d.]+),([-\d.]+)\) scale\(([-\d.e]+),([-\d.e]+)\)"', svg)
    tx, ty, sx, sy = (float(v) for v in m.groups())
    subs = []
    anchors = 0
    for d in re.findall(r'\sd="([^"]*)"', svg):
        for sp in parse_path(d):
            def tf(p):
                return (tx + sx * p[0], ty + sy * p[1])
            nsp = Subpath(start=tf(sp.start), closed=sp.closed,
                          segments=[(tf(a), tf(b), tf(c)) for a, b, c in sp.segments])
            subs.append(nsp)
            anchors += len(nsp.anchors())
    return to_path_data(subs, digits=3), anchors


def _edge_points(mask, step=0.25) -> np.ndarray:
    """Points every ``step`` px along the mask's pixel-crack boundary (the true edge of a binary mask)."""
    m = np.pad(mask >= 128, 1)
    pts = []
    t = np.arange(0, 1, step)
    # vertical cracks between (i, j-1) and (i, j)
    ys, xs = np.nonzero(m[:, 1:] != m[:, :-1])
    for s in t:
        pts.append(np.c_[xs + 1 - 1.0, ys - 1 + s])
    ys, xs = np.nonzero(m[1:, :] != m[:-1, :])
    for s in t:
        pts.append(np.c_[xs - 1 + s, ys + 1 - 1.0])
    return np.vstack(pts)


def _curve_points(d, step=0.25) -> np.ndarray:
    """Points about every ``step`` px along the path's curves."""
    from masks.trace import parse_path

    out = []
    for sp in parse_path(d):
        p0 = np.array(sp.start)
        for c1, c2, p in sp.segments:
            c1, c2, p = np.array(c1), np.array(c2), np.array(p)
            hull = np.linalg.norm(c1 - p0) + np.linalg.norm(c2 - c1) + np.linalg.norm(p - c2)
            t = np.linspace(0, 1, max(4, int(np.ceil(hull / step))), endpoint=False)[:, None]
            mt = 1 - t
            out.append(mt ** 3 * p0 + 3 * mt ** 2 * t * c1 + 3 * mt * t ** 2 * c2 + t ** 3 * p)
            p0 = p
    return np.vstack(out) if out else np.zeros((0, 2))


def deviation(d, mask, mean: bool = False):
    """Maximum distance (px) from any point of the path to the mask edge and from any edge point
    to the path (symmetric Hausdorff distance, sampled every 0.25 px); with ``mean`` also the
    mean of both directions."""
    edge = _edge_points(mask)
    curve = _curve_points(d)
    if len(edge) == 0 or len(curve) == 0:
        return (0.0, 0.0) if mean else 0.0
    d1 = cKDTree(edge).query(curve)[0]
    d2 = cKDTree(curve).query(edge)[0]
    worst = float(max(d1.max(), d2.max()))
    return (worst, float((d1.sum() + d2.sum()) / (len(d1) + len(d2)))) if mean else worst


def perimeter(mask) -> float:
    m = np.pad(mask >= 128, 1)
    return float((m[:, 1:] != m[:, :-1]).sum() + (m[1:, :] != m[:-1, :]).sum())


def trace_bench(seeds=(1, 2), size=(800, 600), tolerances=(1.0, 0.5), out=print) -> dict:
    """Anchors per 1000 px of perimeter, max deviation (px) and IoU: masks.trace vs potrace
    (defaults: -t 2 -a 1 -O 0.2) on the ground-truth masks of masks.synth."""
    from masks.trace import anchor_count, rasterize, trace

    if shutil.which("potrace") is None:
        raise MaskError("potrace is not installed (make system-deps)")
    rows = {}
    out(f"tracing ground-truth masks of masks.synth {size[0]}x{size[1]}, seeds {list(seeds)} (means)")
    out(f"{'kind':9} {'tracer':14} {'anchors/1000px':>15} {'max dev px':>11} {'mean dev px':>12} {'IoU':>7}")
    for kind in synth.KINDS:
        acc: dict[str, list] = {}
        for seed in seeds:
            m = synth.generate(kind, seed, size=size).alpha
            binm = np.where(m >= 128, 255, 0).astype(np.uint8)
            per = perimeter(binm) / 1000
            # Both tracers get the same binary mask (potrace reads only bitmaps).
            cands = [(f"ours tol {t:g}", trace(binm, tolerance=t), None) for t in tolerances]
            dp, ap = _potrace_path(binm)
            cands.append(("potrace", dp, ap))
            for name, d, anchors in cands:
                dev_max, dev_mean = deviation(d, binm, mean=True)
                acc.setdefault(name, []).append((
                    (anchors if anchors is not None else anchor_count(d)) / per, dev_max, dev_mean,
                    iou(rasterize(d, size[0], size[1]), m)))
        rows[kind] = {}
        for name, vals in acc.items():
            a, dmax, dmean, j = (float(v) for v in np.mean(vals, axis=0))
            rows[kind][name] = {"anchors_per_1000px": a, "max_dev": dmax, "mean_dev": dmean, "iou": j}
            out(f"{kind:9} {name:14} {a:15.1f} {dmax:11.2f} {dmean:12.3f} {j:7.4f}")
    return rows


# --------------------------------------------------------------------------- tiles

def tiles_bench(size=(6000, 4000), repeats=5, out=print) -> dict:
    """DZI pyramid of a 24 MP photo: our build_pyramid (pyvips) vs the ``vips dzsave`` CLI."""
    from PIL import Image

    from masks import imageio, tiles

    if shutil.which("vips") is None:
        raise MaskError("the vips program is not installed (make system-deps)")
    w, h = size
    s = synth.generate("ring", 1, size=(w, h))
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "photo.jpg"
        Image.fromarray(s.image).save(src, quality=92)
        times = {"ours_array": [], "ours_file": [], "vips_cli": [], "ours_png_mask": [], "vips_cli_png_mask": []}
        mask_png = tmp / "mask.png"
        mask_png.write_bytes(imageio.encode_png(s.alpha))
        for i in range(repeats):
            t = time.perf_counter()
            tiles.build_pyramid(s.image, tmp / f"a{i}", "o", fmt="jpeg")
            times["ours_array"].append(time.perf_counter() - t)
            t = time.perf_counter()
            img = imageio.load_image(src)
            tiles.build_pyramid(img.rgb, tmp / f"b{i}", "o", fmt="jpeg")
            times["ours_file"].append(time.perf_counter() - t)
            (tmp / f"c{i}").mkdir()
            t = time.perf_counter()
            subprocess.run(["vips", "dzsave", str(src), str(tmp / f"c{i}" / "o"), "--tile-size", "256",
                            "--overlap", "0", "--suffix", f".jpeg[Q={tiles.JPEG_QUALITY}]"], check=True,
                           capture_output=True, timeout=300)
            times["vips_cli"].append(time.perf_counter() - t)
            t = time.perf_counter()
            tiles.build_pyramid(s.alpha, tmp / f"d{i}", "m", fmt="png")
            times["ours_png_mask"].append(time.perf_counter() - t)
            (tmp / f"e{i}").mkdir()
            t = time.perf_counter()
            subprocess.run(["vips", "dzsave", str(mask_png), str(tmp / f"e{i}" / "m"), "--tile-size", "256",
                            "--overlap", "0", "--suffix", ".png"], check=True, capture_output=True, timeout=300)
            times["vips_cli_png_mask"].append(time.perf_counter() - t)
        n_tiles = sum(1 for _ in (tmp / "a0" / "o_files").rglob("*.jpeg"))
        res = {k: statistics.median(v) for k, v in times.items()}
        # Ratios of runs made back to back, then the median: steadier than a ratio of medians
        # on a machine that other work shares.
        for key, (a, b) in {"ratio_file": ("ours_file", "vips_cli"), "ratio_array": ("ours_array", "vips_cli"),
                            "ratio_png_mask": ("ours_png_mask", "vips_cli_png_mask")}.items():
            res[key] = statistics.median(x / y for x, y in zip(times[a], times[b]))
        res["tiles"] = n_tiles
    out(f"DZI pyramid of a {w}x{h} ({w * h / 1e6:.0f} MP) photo, {n_tiles} JPEG tiles, median of {repeats}")
    out(f"  vips dzsave CLI, JPEG file -> tiles    {res['vips_cli']:.3f} s")
    out(f"  ours, JPEG file -> load_image -> tiles {res['ours_file']:.3f} s   ours/vips {res['ratio_file']:.2f}")
    out(f"  ours, decoded array -> tiles           {res['ours_array']:.3f} s   ours/vips {res['ratio_array']:.2f}")
    out(f"  mask PNG tiles: ours from array {res['ours_png_mask']:.3f} s, vips CLI from PNG "
        f"{res['vips_cli_png_mask']:.3f} s   ours/vips {res['ratio_png_mask']:.2f}")
    return res


def run_all(out=print) -> dict:
    return {"segment": segment_bench(out=out), "trace": trace_bench(out=out), "tiles": tiles_bench(out=out)}
