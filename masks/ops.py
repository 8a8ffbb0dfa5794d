"""Edit operations on a mask: frozen dataclasses built only through :func:`parse_op`.

Like Wagtail's image operations, an operation is validated when it is built from its wire form
(a JSON object) and only then applied; bad input raises :class:`~masks.errors.OpError` whose
message names the field and the rule it broke, and nothing is built.

Coordinates are image pixels in a continuous plane (pixel (x, y) is [x, x+1) × [y, y+1)).
Wire forms (``op.to_wire()`` gives the same shape back, with every field present):

- path:    {"type": "path", "d": SVG path data, "mode": "add"|"subtract"|"intersect",
            "fill_rule": "evenodd"|"nonzero", "feather": px 0–50 (default 0)}
- stroke:  {"type": "stroke", "mode": "keep"|"remove", "points": [[x, y], …] (1–20 000),
            "radius": px 0.5–500, "hardness": 0–1, "opacity": 0–1 (default 1)}
- refine:  {"type": "refine", "shift_edge": px −20…20, "contrast": 0–100, "feather": px 0–50,
            "smooth": 0–100} (each default 0)
- channel: {"type": "channel", "d": SVG path data of the region, "channel":
            "auto"|"r"|"g"|"b"|"luma" (default "auto"), "black": 0–255 (default 0),
            "white": 0–255 (default 255, > black), "invert": bool (default false)}
- cleanup: {"type": "cleanup", "min_speck": px² 0–100 000, "min_hole": px² 0–100 000,
            "region": SVG path data or null (default null = everywhere)}

Limits on every path data field: at most 1 MB, coordinates within ±100 000 px, finite numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Union

import numpy as np

from masks import paths
from masks.errors import MaskError, OpError

MAX_POINTS = 20_000
MAX_COORD = paths.MAX_COORD
_MISSING = object()


@dataclass(frozen=True)
class PathOp:
    """Fill an SVG path: ``mode`` add | subtract | intersect, ``fill_rule`` evenodd | nonzero,
    ``feather`` px of Gaussian softening of its edge (sigma = feather / 2), 0–50."""
    d: str
    mode: str
    fill_rule: str
    feather: float = 0.0
    type = "path"

    def to_wire(self) -> dict:
        return {"type": "path", "d": self.d, "mode": self.mode, "fill_rule": self.fill_rule,
                "feather": self.feather}


@dataclass(frozen=True)
class StrokeOp:
    """A brush stroke: ``mode`` keep (paints object) | remove (paints background) along
    ``points`` (px) with ``radius`` px (0.5–500), ``hardness`` 0–1 and ``opacity`` 0–1.
    The footprint and falloff are defined in :func:`masks.render.stroke_profile`."""
    mode: str
    points: tuple
    radius: float
    hardness: float
    opacity: float = 1.0
    type = "stroke"

    @cached_property
    def xy(self) -> np.ndarray:
        """The points as a read-only float64 (n, 2) array."""
        arr = np.array(self.points, dtype=np.float64).reshape(-1, 2)
        arr.setflags(write=False)
        return arr

    def to_wire(self) -> dict:
        return {"type": "stroke", "mode": self.mode, "points": [list(p) for p in self.points],
                "radius": self.radius, "hardness": self.hardness, "opacity": self.opacity}


@dataclass(frozen=True)
class RefineOp:
    """Edge refinement of the base alpha (the latest one in a log wins). ``shift_edge`` px
    −20…20 (positive grows the object), ``contrast`` 0–100, ``feather`` px 0–50, ``smooth``
    0–100. Exact definitions in :mod:`masks.refine`."""
    shift_edge: float = 0.0
    contrast: float = 0.0
    feather: float = 0.0
    smooth: float = 0.0
    type = "refine"

    def to_wire(self) -> dict:
        return {"type": "refine", "shift_edge": self.shift_edge, "contrast": self.contrast,
                "feather": self.feather, "smooth": self.smooth}


@dataclass(frozen=True)
class ChannelOp:
    """Inside the region ``d`` (even-odd), alpha comes from the photo's channel (``auto`` =
    the one of r, g, b with the largest standard deviation inside the region), stretched by
    levels between ``black`` and ``white`` (0–255) and optionally inverted."""
    d: str
    channel: str = "auto"
    black: float = 0.0
    white: float = 255.0
    invert: bool = False
    type = "channel"

    def to_wire(self) -> dict:
        return {"type": "channel", "d": self.d, "channel": self.channel, "black": self.black,
                "white": self.white, "invert": self.invert}


@dataclass(frozen=True)
class CleanupOp:
    """Remove isolated specks smaller than ``min_speck`` px² and fill pinholes smaller than
    ``min_hole`` px² (0–100 000 each), inside ``region`` (SVG path data, even-odd) or
    everywhere when it is None. Exact definitions in :func:`masks.refine.cleanup`."""
    min_speck: float = 0.0
    min_hole: float = 0.0
    region: str | None = None
    type = "cleanup"

    def to_wire(self) -> dict:
        return {"type": "cleanup", "min_speck": self.min_speck, "min_hole": self.min_hole,
                "region": self.region}


Op = Union[PathOp, StrokeOp, RefineOp, ChannelOp, CleanupOp]
OP_TYPES = (PathOp, StrokeOp, RefineOp, ChannelOp, CleanupOp)


def _is_number(v: Any) -> bool:
    return type(v) in (int, float)  # bool is an int subclass and is refused on purpose


def _number(obj: dict, key: str, lo: float, hi: float, default: Any = _MISSING) -> float:
    if key not in obj:
        if default is _MISSING:
            raise OpError(f"{key}: is required")
        return default
    v = obj[key]
    if not _is_number(v):
        raise OpError(f"{key}: must be a number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v):
        raise OpError(f"{key}: must be a finite number, got {v}")
    if not lo <= v <= hi:
        raise OpError(f"{key}: must be between {lo:g} and {hi:g}, got {v:g}")
    return v


def _choice(obj: dict, key: str, choices: tuple, default: Any = _MISSING) -> str:
    if key not in obj:
        if default is _MISSING:
            raise OpError(f"{key}: is required (one of {', '.join(choices)})")
        return default
    v = obj[key]
    if not isinstance(v, str) or v not in choices:
        raise OpError(f"{key}: must be one of {', '.join(choices)}, got {v!r}")
    return v


def _bool(obj: dict, key: str, default: bool) -> bool:
    v = obj.get(key, default)
    if type(v) is not bool:
        raise OpError(f"{key}: must be true or false, got {v!r}")
    return v


def _path_data(obj: dict, key: str, optional: bool = False) -> str | None:
    if key not in obj or (optional and obj[key] is None):
        if optional:
            return None
        raise OpError(f"{key}: is required (SVG path data)")
    v = obj[key]
    try:
        paths.parse(v)
    except MaskError as exc:
        raise OpError(f"{key}: {exc}") from None
    return v


def _points(obj: dict) -> tuple:
    if "points" not in obj:
        raise OpError("points: is required (a list of [x, y] pairs)")
    pts = obj["points"]
    if not isinstance(pts, (list, tuple)):
        raise OpError(f"points: must be a list of [x, y] pairs, got {type(pts).__name__}")
    if not 1 <= len(pts) <= MAX_POINTS:
        raise OpError(f"points: must hold 1 to {MAX_POINTS} points, got {len(pts)}")
    # fast path over the whole list first; find the culprit only when something is wrong
    ok = all(type(p) in (list, tuple) and len(p) == 2 and _is_number(p[0]) and _is_number(p[1])
             for p in pts)
    if not ok:
        for i, p in enumerate(pts):
            if type(p) not in (list, tuple) or len(p) != 2:
                raise OpError(f"points[{i}]: must be an [x, y] pair, got {p!r:.40}")
            if not (_is_number(p[0]) and _is_number(p[1])):
                raise OpError(f"points[{i}]: coordinates must be numbers, got {p!r:.40}")
    arr = np.array(pts, dtype=np.float64)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise OpError(f"points[{i}]: coordinates must be finite, got {pts[i]!r}")
    far = (np.abs(arr) > MAX_COORD).any(axis=1)
    if far.any():
        i = int(np.argmax(far))
        raise OpError(f"points[{i}]: coordinates must lie within ±{MAX_COORD:g} px, got {pts[i]!r}")
    return tuple(map(tuple, arr.tolist()))


_KEYS = {
    "path": {"type", "d", "mode", "fill_rule", "feather"},
    "stroke": {"type", "mode", "points", "radius", "hardness", "opacity"},
    "refine": {"type", "shift_edge", "contrast", "feather", "smooth"},
    "channel": {"type", "d", "channel", "black", "white", "invert"},
    "cleanup": {"type", "min_speck", "min_hole", "region"},
}


def parse_op(obj: dict) -> Op:
    """Build an operation from its wire form; raise ``OpError`` naming the field on bad input."""
    if not isinstance(obj, dict):
        raise OpError(f"operation: must be a JSON object, got {type(obj).__name__}")
    kind = obj.get("type", _MISSING)
    if kind is _MISSING:
        raise OpError(f"type: is required (one of {', '.join(_KEYS)})")
    if not isinstance(kind, str) or kind not in _KEYS:
        raise OpError(f"type: must be one of {', '.join(_KEYS)}, got {kind!r:.40}")
    unknown = [k for k in obj if k not in _KEYS[kind]]
    if unknown:
        k = unknown[0]
        raise OpError(f"{str(k)[:40]}: unknown field for a {kind} operation "
                      f"(allowed: {', '.join(sorted(_KEYS[kind] - {'type'}))})")
    if kind == "path":
        mode = _choice(obj, "mode", ("add", "subtract", "intersect"))
        fill_rule = _choice(obj, "fill_rule", ("evenodd", "nonzero"))
        feather = _number(obj, "feather", 0, 50, 0.0)
        return PathOp(_path_data(obj, "d"), mode, fill_rule, feather)
    if kind == "stroke":
        mode = _choice(obj, "mode", ("keep", "remove"))
        radius = _number(obj, "radius", 0.5, 500)
        hardness = _number(obj, "hardness", 0, 1)
        opacity = _number(obj, "opacity", 0, 1, 1.0)
        return StrokeOp(mode, _points(obj), radius, hardness, opacity)
    if kind == "refine":
        return RefineOp(_number(obj, "shift_edge", -20, 20, 0.0), _number(obj, "contrast", 0, 100, 0.0),
                        _number(obj, "feather", 0, 50, 0.0), _number(obj, "smooth", 0, 100, 0.0))
    if kind == "channel":
        channel = _choice(obj, "channel", ("auto", "r", "g", "b", "luma"), "auto")
        black = _number(obj, "black", 0, 255, 0.0)
        white = _number(obj, "white", 0, 255, 255.0)
        if white <= black:
            raise OpError(f"white: must be greater than black ({black:g}), got {white:g}")
        invert = _bool(obj, "invert", False)
        return ChannelOp(_path_data(obj, "d"), channel, black, white, invert)
    min_speck = _number(obj, "min_speck", 0, 100_000, 0.0)
    min_hole = _number(obj, "min_hole", 0, 100_000, 0.0)
    return CleanupOp(min_speck, min_hole, _path_data(obj, "region", optional=True))
