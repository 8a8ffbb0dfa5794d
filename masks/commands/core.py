"""Sub-commands ``synth``, ``render`` and ``bench`` of ``python -m masks``."""
from __future__ import annotations

import json
import pathlib

from masks.errors import MaskError


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise MaskError(f"--size: expected WIDTHxHEIGHT such as 800x600, got {text!r}") from None
    return w, h


def _rect(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise MaskError(f"--rect: expected x,y,w,h in pixels, got {text!r}") from None
    return x, y, w, h


def cmd_synth(args) -> int:
    from masks import synth  # lazy: written separately, heavy imports
    from masks.imageio import encode_png

    out = pathlib.Path(args.output)
    sample = synth.generate(args.kind, args.seed, size=_size(args.size), backdrop=args.backdrop)
    ai, defects = synth.degrade(sample.image, sample.alpha, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "image.png").write_bytes(encode_png(sample.image))
    (out / "gt.png").write_bytes(encode_png(sample.alpha))
    (out / "ai.png").write_bytes(encode_png(ai))
    (out / "defects.json").write_text(json.dumps([d.to_dict() for d in defects], indent=1))
    print(f"wrote {out}/image.png, gt.png, ai.png, defects.json ({len(defects)} defects)")
    return 0


def _read_ops(path: str) -> list:
    from masks.ops import parse_op

    try:
        data = json.loads(pathlib.Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MaskError(f"{path}: not JSON ({exc})") from None
    if isinstance(data, dict) and "ops" in data:
        data = data["ops"]
    if not isinstance(data, list):
        raise MaskError(f"{path}: must hold a JSON list of operations")
    ops = []
    for i, wire in enumerate(data):
        try:
            ops.append(parse_op(wire))
        except MaskError as exc:
            raise MaskError(f"{path}: operation {i}: {exc}") from None
    return ops


def cmd_render(args) -> int:
    from masks.imageio import encode_png, load_image, load_mask
    from masks.render import render

    base = load_mask(args.base)
    ops = _read_ops(args.ops)
    image = load_image(args.image).rgb if args.image else None
    rect = _rect(args.rect) if args.rect else None
    alpha = render(base, ops, rect=rect, image=image)
    pathlib.Path(args.output).write_bytes(encode_png(alpha))
    print(f"wrote {args.output} ({alpha.shape[1]}x{alpha.shape[0]}, {len(ops)} operations)")
    return 0


def cmd_bench(args) -> int:
    from masks import bench

    return bench.main(args.runs)


def register(subparsers) -> None:
    p = subparsers.add_parser("synth", help="procedural jewelry photo + ground truth + AI-style cutout")
    p.add_argument("--kind", required=True, choices=("ring", "chain", "earring", "pearls"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", default="800x600", help="WIDTHxHEIGHT in pixels")
    p.add_argument("--backdrop", default="white", choices=("white", "lightgrey", "black"))
    p.add_argument("-o", "--output", required=True, help="folder for image.png, gt.png, ai.png, defects.json")
    p.set_defaults(func=cmd_synth)

    p = subparsers.add_parser("render", help="render a base alpha + a list of wire operations")
    p.add_argument("base", help="base alpha: PNG with alpha, grey mask, or a file with a clipping path")
    p.add_argument("ops", help="JSON file: a list of wire operations (or {\"ops\": [...]})")
    p.add_argument("-o", "--output", required=True, help="output PNG (grey alpha)")
    p.add_argument("--rect", help="x,y,w,h: render only this rectangle")
    p.add_argument("--image", help="the photo (needed by channel operations)")
    p.set_defaults(func=cmd_render)

    p = subparsers.add_parser("bench", help="render speed on a 24 MP mask; prints one JSON object")
    p.add_argument("--runs", type=int, default=7, help="runs per figure (median reported)")
    p.set_defaults(func=cmd_bench)
