"""Sub-commands ``segment``, ``trace``, ``export``, ``clippath``, ``tiles``, ``color`` and the
benchmarks ``io-bench``, ``segment-bench``, ``trace-bench``, ``tiles-bench`` of ``python -m masks``.

Bad input ends in a one-line ``error: …`` and exit status 2 (see masks/cli.py), never a traceback.
"""
from __future__ import annotations

import functools
import json
import pathlib
import xml.etree.ElementTree as ET

from masks.errors import MaskError

FORMATS = ("png", "jpeg", "tiff", "svg", "psd")


def _guarded(func):
    """Turn the unexpected (a damaged file deep inside a library, a full disk) into MaskError."""
    @functools.wraps(func)
    def run(args):
        try:
            return func(args)
        except (MaskError, FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except (OSError, ValueError, EOFError, MemoryError) as exc:
            msg = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise MaskError(msg.splitlines()[0][:300]) from None
    return run


def _write(path: str, data: bytes) -> pathlib.Path:
    out = pathlib.Path(path)
    if out.parent and not out.parent.exists():
        raise MaskError(f"output folder does not exist: {out.parent}")
    tmp = out.with_name(f".{out.name}.part")
    tmp.write_bytes(data)
    tmp.replace(out)  # never leave half a file under the real name
    return out


def _rect(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise MaskError(f"--region: expected X,Y,W,H in pixels, got {text!r}") from None
    return x, y, w, h


def _read_path_file(path: str) -> str:
    """Path data from an SVG document (all <path d> joined) or a file holding bare path data."""
    raw = pathlib.Path(path).read_bytes()
    if len(raw) > 20_000_000:
        raise MaskError(f"{path}: larger than 20 MB")
    text = raw.decode("utf-8", errors="replace").strip()
    if text.startswith("<"):
        if "<!ENTITY" in text:
            raise MaskError(f"{path}: SVG with entity declarations is not accepted")
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise MaskError(f"{path}: not a valid SVG file ({exc})") from None
        ds = [el.get("d", "") for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "path"]
        if not ds:
            raise MaskError(f"{path}: the SVG has no <path d=...>")
        return " ".join(ds)
    return text


def _load_photo(path):
    """The photo in sRGB. A TIFF, JPEG or PSD must also have readable Photoshop resources: a
    damaged path block is refused with its name and fault, not silently dropped from what the
    command writes (the web ingest decides for itself)."""
    from masks.clippath import read_paths
    from masks.errors import ClipPathError
    from masks.imageio import load_image, read_bytes

    data = read_bytes(path)
    img = load_image(data)
    if img.format in ("TIFF", "JPEG", "MPO", "PSD"):
        try:
            read_paths(data)
        except ClipPathError as exc:
            raise ClipPathError(f"{pathlib.Path(path).name}: malformed Photoshop path resource: {exc}") from None
    return img


def _image_and_mask(args):
    """The photo (sRGB) and its mask, which must have the photo's size."""
    from masks.imageio import load_mask

    img = _load_photo(args.image)
    h, w = img.rgb.shape[:2]
    return img, load_mask(args.mask, size=(w, h))


# --------------------------------------------------------------------------- commands

@_guarded
def cmd_segment(args) -> int:
    from masks.imageio import encode_png
    from masks.segment import make_segmenter

    img = _load_photo(args.image)
    seg = make_segmenter(args.model, args.family)
    alpha = seg.segment(img.rgb)
    _write(args.output, encode_png(alpha))
    kind = f"ONNX model {pathlib.Path(args.model).name} ({seg.family})" if args.model else "backdrop segmenter (no weights)"
    print(f"wrote {args.output}: {alpha.shape[1]}x{alpha.shape[0]} mask, {(alpha >= 128).mean() * 100:.1f} % object, {kind}")
    return 0


@_guarded
def cmd_trace(args) -> int:
    from masks.export import export_svg
    from masks.imageio import load_mask
    from masks.trace import anchor_count, trace

    mask = load_mask(args.mask)
    d = trace(mask, tolerance=args.tolerance, inset=args.inset)
    if not d:
        raise MaskError(f"{args.mask}: the mask is empty (nothing at alpha ≥ 128 to trace)")
    _write(args.output, export_svg(d, mask.shape[1], mask.shape[0]))
    print(f"wrote {args.output}: {anchor_count(d)} anchors, tolerance {args.tolerance} px, inset {args.inset} px")
    return 0


@_guarded
def cmd_export(args) -> int:
    from masks import export
    from masks.trace import trace

    img, mask = _image_and_mask(args)
    h, w = mask.shape
    clip = None
    if args.clip_path == "auto":
        clip = "auto"
    elif args.clip_path:
        clip = _read_path_file(args.clip_path)
    fmt = args.format
    if fmt == "png":
        data = export.export_png(img.rgb, mask)
    elif fmt == "jpeg":
        data = export.export_jpeg(img.rgb, mask, background=args.background, clip_path=clip)
    elif fmt == "tiff":
        data = export.export_tiff(img.rgb, mask, background=args.background, clip_path=clip)
    elif fmt == "psd":
        data = export.export_psd(img.rgb, mask, clip_path=clip or "auto")
    else:
        d = clip if clip and clip != "auto" else trace(mask, tolerance=export.EXPORT_TOLERANCE)
        if not d:
            raise MaskError(f"{args.mask}: the mask is empty, there is no path to write")
        data = export.export_svg(d, w, h)
    _write(args.output, data)
    print(f"wrote {args.output}: {fmt}, {w}x{h}, {len(data)} bytes")
    return 0


@_guarded
def cmd_clippath_read(args) -> int:
    from masks.clippath import read_paths
    from masks.imageio import load_image, read_bytes

    data = read_bytes(args.file)
    if data[:4] not in (b"8BIM",):
        load_image(data)  # a truncated, oversized or non-image file is reported as such
    paths = read_paths(data)
    if args.json:
        print(json.dumps([p.to_dict() for p in paths]))
    elif not paths:
        print(f"{args.file}: no saved paths")
    else:
        for p in paths:
            flag = " (clipping path)" if p.clipping else ""
            print(f"{p.id} {p.name!r}{flag}: {len(p.d)} characters of path data")
    return 0


@_guarded
def cmd_tiles(args) -> int:
    import numpy as np

    from masks import tiles

    out = pathlib.Path(args.output)
    if out.exists() and not out.is_dir():
        raise MaskError(f"{out} exists and is not a folder")
    img, mask = _image_and_mask(args) if args.mask else (_load_photo(args.image), None)
    info = {"original": tiles.build_pyramid(img.rgb, out, "original", fmt=args.format)}
    if mask is not None:
        info["mask"] = tiles.build_pyramid(mask, out, "mask", fmt="png")
        info["cutout"] = tiles.build_pyramid(np.dstack([img.rgb, mask]), out, "cutout", fmt="png")
    print(json.dumps(info))
    return 0


@_guarded
def cmd_color(args) -> int:
    from masks.color import swatch_check

    img, mask = _image_and_mask(args)
    res = swatch_check(img.rgb, mask, _rect(args.region), args.swatch, tolerance=args.tolerance)
    if args.json:
        print(json.dumps(res.to_dict()))
    else:
        L, a, b = res.measured_lab
        verdict = "within" if res.passed else "outside"
        print(f"measured Lab {L:.2f} {a:.2f} {b:.2f}  ΔE2000 {res.delta_e:.2f} vs {args.swatch} "
              f"({verdict} tolerance {args.tolerance})")
    return 0


def _bench(which):
    @_guarded
    def run(args) -> int:
        from masks import iobench

        if which in ("segment", "all"):
            iobench.segment_bench()
        if which in ("trace", "all"):
            iobench.trace_bench()
        if which in ("tiles", "all"):
            iobench.tiles_bench()
        return 0
    return run


def register(sub) -> None:
    p = sub.add_parser("segment", help="automatic first-pass mask of a photo")
    p.add_argument("image")
    p.add_argument("-o", "--output", required=True, help="mask PNG to write")
    p.add_argument("--model", help="ONNX background-removal model (default: weight-free backdrop segmenter)")
    p.add_argument("--family", choices=("u2net", "u2netp", "isnet", "birefnet", "rmbg"),
                   help="model family (default: guessed from the file name)")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("trace", help="mask → smooth bezier path (SVG)")
    p.add_argument("mask")
    p.add_argument("-o", "--output", required=True, help="SVG file to write")
    p.add_argument("--tolerance", type=float, default=1.0, help="max distance from the edge, px (default 1)")
    p.add_argument("--inset", type=float, default=0.0, help="move the path inside the edge by this many px")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("export", help="export a cutout as PNG, JPEG, TIFF, SVG or PSD")
    p.add_argument("image")
    p.add_argument("--mask", required=True)
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--background", default="#ffffff", help="background colour for JPEG/TIFF (default #ffffff)")
    p.add_argument("--clip-path", help="SVG file (or bare path data) to embed, or 'auto' to trace the mask")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("clippath", help="Photoshop paths embedded in TIFF, JPEG or PSD")
    csub = p.add_subparsers(dest="clippath_command", required=True, metavar="ACTION")
    r = csub.add_parser("read", help="list the saved paths of a file")
    r.add_argument("file")
    r.add_argument("--json", action="store_true", help='print [{"id","name","clipping","d"}, ...]')
    r.set_defaults(func=cmd_clippath_read)

    p = sub.add_parser("tiles", help="deep-zoom (DZI) pyramids for the viewer")
    p.add_argument("image")
    p.add_argument("-o", "--output", required=True, help="folder to write original.dzi (+ mask, cutout)")
    p.add_argument("--mask", help="also write mask and cutout pyramids")
    p.add_argument("--format", choices=("png", "jpeg"), default="jpeg", help="tiles of the original (default jpeg)")
    p.set_defaults(func=cmd_tiles)

    p = sub.add_parser("color", help="measure a region of the cutout against a swatch (ΔE2000)")
    p.add_argument("image")
    p.add_argument("--mask", required=True)
    p.add_argument("--region", required=True, help="X,Y,W,H in pixels")
    p.add_argument("--swatch", required=True, help="reference colour '#rrggbb'")
    p.add_argument("--tolerance", type=float, default=2.0, help="ΔE2000 limit (default 2)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_color)

    for name, which, text in (("io-bench", "all", "segmentation, tracing and tile benchmarks"),
                              ("segment-bench", "segment", "segmentation IoU vs a plain threshold"),
                              ("trace-bench", "trace", "trace anchors and deviation vs potrace"),
                              ("tiles-bench", "tiles", "24 MP tile pyramid vs vips dzsave")):
        p = sub.add_parser(name, help=text)
        p.set_defaults(func=_bench(which))
