"""Sub-commands ``qa`` and ``qa-bench`` of ``python -m masks``."""
from __future__ import annotations

import json
import pathlib
import sys

from masks.errors import MaskError


def _load(image_path: str, mask_path: str):
    from masks.imageio import load_image, load_mask

    img = load_image(image_path)
    h, w = img.rgb.shape[:2]
    alpha = load_mask(mask_path, size=(w, h))
    return img.rgb, alpha


def cmd_qa(args) -> int:
    from masks import qa
    from masks.imageio import encode_png

    image, alpha = _load(args.image, args.mask)
    report = qa.analyse(image, alpha, backdrop=args.backdrop)
    if args.heatmap:
        pathlib.Path(args.heatmap).write_bytes(encode_png(report.heatmap))
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
        return 0
    h, w = image.shape[:2]
    print(f"{args.image}: {w}x{h}, backdrop rgb{report.backdrop}, {len(report.findings)} findings")
    for f in report.findings:
        x, y, bw, bh = f.bbox
        print(f"  {f.severity:4.2f}  {f.kind:<19} at {x},{y} {bw}x{bh}  {f.message}")
    return 0


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise MaskError(f"--count: expected a whole number, got {text!r}") from None
    if not 1 <= n <= 10_000:
        raise MaskError(f"--count: must be between 1 and 10000, got {n}")
    return n


def cmd_qa_bench(args) -> int:
    from masks import qabench
    from masks.commands.core import _size

    count = _count(args.count)
    size = _size(args.size)

    def progress(i, n):
        if not args.json and (i % 20 == 0 or i == n):
            print(f"  {i}/{n} images", file=sys.stderr)

    res = qabench.run(count, args.seed, size, progress=progress)
    if args.bench_24mp:
        res["bench_24mp"] = qabench.bench_24mp()
    if args.json:
        print(json.dumps({k: v for k, v in res.items() if k != "misses"}, indent=1))
        return 0
    print(qabench.format_table(res))
    if "bench_24mp" in res:
        b = res["bench_24mp"]
        w, h = b["size"]
        for kind, k in b["per_kind"].items():
            print(f"24 MP ({w}x{h}) {kind:<8} on {k['backdrop']:<9} analyse: median "
                  f"{k['analyse_s_median']:.2f} s (runs {k['analyse_s_all']})")
        print(f"24 MP analyse, worst median: {b['analyse_s_worst_median']:.2f} s; planted "
              f"{b['planted']}, matched {b['matched']}, false {b['false']}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("qa", help="automatic QA findings for a cutout",
                              description="Find trapped background, holes, clipped detail, halos, "
                                          "jagged edges and lost soft edges in a cutout mask.")
    p.add_argument("image", help="the photo (PNG, JPEG, TIFF, ...)")
    p.add_argument("--mask", required=True, help="the cutout: PNG alpha, grey mask or clipping path")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--backdrop", help="backdrop colour as r,g,b or #rrggbb (default: estimated)")
    p.add_argument("--heatmap", help="write the heat map PNG here (its scale is in the report)")
    p.set_defaults(func=cmd_qa)

    b = subparsers.add_parser("qa-bench", help="score the QA detectors on synthetic failures",
                              description="Generate synthetic jewelry, plant failures with "
                                          "synth.degrade, run the detectors and print recall and "
                                          "false findings per kind.")
    b.add_argument("--count", default="200", help="number of images (default 200)")
    b.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    b.add_argument("--size", default="800x600", help="image size WxH (default 800x600)")
    b.add_argument("--bench-24mp", action="store_true",
                   help="also time the analysis of a 6000x4000 photo of each kind "
                        "(median of 3 runs each)")
    b.add_argument("--json", action="store_true", help="print the figures as JSON")
    b.set_defaults(func=cmd_qa_bench)
