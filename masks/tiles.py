"""Deep-zoom tile pyramids (DZI layout, 256 px tiles, no overlap) for the viewer.

Layout: ``out_dir/name.dzi`` and ``out_dir/name_files/<level>/<col>_<row>.<fmt>``. Level
``level_count - 1`` is full resolution; each level below halves the size (rounding up) down to
1x1 pixel at level 0. The pyramid is written by libvips (pyvips ``dzsave``): each level is the
2x2 mean of the one above, rounded half up, edge pixels replicated.

A dirty rectangle only needs the tiles it touches re-encoded: ``update_tiles`` renders the
full-resolution tiles from the new pixels and rebuilds the coarser tiles above them from their
(up to four) child tiles on disk with the same 2x2 mean, so for PNG tiles the result is identical
to a fresh pyramid (JPEG tiles: equal up to the re-encoding loss of the children).

Publishing is by rename only: every pyramid is built in a hidden folder next to its destination
(the same file system; a temp folder under /tmp may be another one, where a "move" is a copy
that a viewer can catch half done) and renamed into place. ``publish_pyramids`` replaces a whole
set (original, cutout, mask) in one atomic folder swap.
"""
from __future__ import annotations

import math
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

from masks.errors import MaskError

TILE_SIZE = 256
OVERLAP = 0
JPEG_QUALITY = 85
_FORMATS = {"png": ".png", "jpeg": ".jpeg", "jpg": ".jpeg"}


def level_count(width: int, height: int) -> int:
    """Number of DZI levels for a width × height image (pixels): ceil(log2(max side)) + 1."""
    if width <= 0 or height <= 0:
        raise MaskError(f"image size must be positive, got {width}x{height}")
    return int(math.ceil(math.log2(max(width, height)))) + 1 if max(width, height) > 1 else 1


def level_size(level: int, width: int, height: int) -> tuple[int, int]:
    """(w, h) in pixels of a level; the top level is full resolution."""
    top = level_count(width, height) - 1
    if not 0 <= level <= top:
        raise MaskError(f"level must be 0–{top}, got {level}")
    s = 1 << (top - level)
    return -(-width // s), -(-height // s)


def tile_grid(level: int, width: int, height: int) -> tuple[int, int]:
    """(columns, rows) of tiles at a level."""
    lw, lh = level_size(level, width, height)
    return -(-lw // TILE_SIZE), -(-lh // TILE_SIZE)


def tile_rect(level: int, col: int, row: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Full-resolution rectangle (x, y, w, h) in pixels that tile (level, col, row) shows, clipped to the image."""
    cols, rows = tile_grid(level, width, height)
    if not (0 <= col < cols and 0 <= row < rows):
        raise MaskError(f"tile {col},{row} is outside level {level} ({cols}x{rows} tiles)")
    s = TILE_SIZE << (level_count(width, height) - 1 - level)
    x, y = col * s, row * s
    return x, y, min(s, width - x), min(s, height - y)


def tiles_for_rect(rect, width: int, height: int) -> list[tuple[int, int, int]]:
    """All (level, col, row) whose tiles a full-resolution rect (x, y, w, h) touches, finest level first."""
    x, y, w, h = (int(v) for v in rect)
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, width), min(y + h, height)
    if x1 <= x0 or y1 <= y0:
        return []
    top = level_count(width, height) - 1
    out = []
    for level in range(top, -1, -1):
        s = TILE_SIZE << (top - level)
        for row in range(y0 // s, (y1 - 1) // s + 1):
            for col in range(x0 // s, (x1 - 1) // s + 1):
                out.append((level, col, row))
    return out


def _check_array(array) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise MaskError(f"tiles need a uint8 HxW, HxWx3 or HxWx4 array, got {a.dtype} {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    return np.ascontiguousarray(a)


def _fmt(fmt: str) -> str:
    if fmt not in _FORMATS:
        raise MaskError(f"tile format must be 'png' or 'jpeg', got {fmt!r}")
    return "jpeg" if fmt == "jpg" else fmt


def _vips_image(a):
    import pyvips

    bands = 1 if a.ndim == 2 else a.shape[2]
    im = pyvips.Image.new_from_memory(a.data, a.shape[1], a.shape[0], bands, "uchar")
    if bands == 1:
        im = im.copy(interpretation="b-w")
    return im


def _safe_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith(".") or len(name) > 100:
        raise MaskError(f"pyramid name must be a plain file name, got {name!r}")
    return name


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE). False where
    the system or the file system cannot, so the caller falls back to two renames."""
    import ctypes
    import errno

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _publish(new: Path, final: Path) -> None:
    """Put the finished folder or file ``new`` at ``final`` by renaming, never copying (both must
    be on one file system, else the rename fails): a reader sees the old entry or the new one.

    An existing folder is swapped out atomically where the system allows (Linux); elsewhere it is
    renamed aside first, so for an instant there is nothing at ``final``, never a half-written one.
    """
    if not os.path.lexists(final) or (not new.is_dir() and not final.is_dir()):
        os.replace(new, final)  # onto nothing, or a file onto a file: one atomic rename everywhere
        return
    if _exchange(new, final):
        _remove(new)  # ``new`` now holds the old version
        return
    aside = final.with_name(f".{final.name}.old-{secrets.token_hex(6)}")
    os.rename(final, aside)
    try:
        os.rename(new, final)
    except OSError:
        os.rename(aside, final)  # put the old one back rather than serve nothing
        raise
    _remove(aside)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _staging_dir(final: Path) -> Path:
    """A new empty folder next to ``final`` (its parent must exist), hidden by its leading dot.
    Made with os.mkdir so it gets the usual permissions (mkdtemp's are private to the owner)."""
    for _ in range(100):
        path = final.with_name(f".{final.name}.part-{secrets.token_hex(6)}")
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise MaskError(f"could not make a staging folder next to {final}")


def _dzsave(a: np.ndarray, base: Path, fmt: str) -> None:
    """libvips writes ``base.dzi`` and ``base_files/`` for a checked uint8 array."""
    suffix = ".png[compression=3]" if fmt == "png" else f".jpeg[Q={JPEG_QUALITY}]"
    im = _vips_image(a)
    if fmt == "jpeg" and im.bands == 4:
        im = im.flatten(background=[255, 255, 255])  # JPEG has no alpha
    try:
        im.dzsave(str(base), tile_size=TILE_SIZE, overlap=OVERLAP, suffix=suffix, layout="dz", depth="onepixel")
    except _vips_error() as exc:  # libvips reports a full disk or an unwritable folder this way
        raise MaskError(f"writing tiles failed: {_vips_message(exc)}") from None
    (base.parent / f"{base.name}_files" / "vips-properties.xml").unlink(missing_ok=True)


def _info(a: np.ndarray, fmt: str) -> dict:
    h, w = a.shape[:2]
    return {"width": w, "height": h, "tile_size": TILE_SIZE, "overlap": OVERLAP, "format": fmt,
            "levels": level_count(w, h)}


def build_pyramid(array, out_dir, name: str, fmt: str = "png") -> dict:
    """Write a DZI pyramid of a uint8 image or mask (HxW, HxWx3, HxWx4) as ``out_dir/name.dzi``
    and ``out_dir/name_files/``.

    Returns {"width", "height", "tile_size", "overlap", "format", "levels"}. The pyramid is built
    in a hidden folder inside ``out_dir`` (never under /tmp: a move across file systems is a
    copy) and renamed into place, tiles first and then the .dzi, so a viewer never gets a
    half-written pyramid. To replace several pyramids together use ``publish_pyramids``.
    """
    a = _check_array(array)
    fmt = _fmt(fmt)
    name = _safe_name(name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = _staging_dir(out_dir / name)
    try:
        _dzsave(a, tmp / name, fmt)
        _publish_into(tmp, out_dir, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _info(a, fmt)


def _publish_into(tmp: Path, out_dir: Path, name: str) -> None:
    """Move ``tmp/name_files`` and ``tmp/name.dzi`` (built by ``_dzsave``) into ``out_dir``."""
    _publish(tmp / f"{name}_files", out_dir / f"{name}_files")
    _publish(tmp / f"{name}.dzi", out_dir / f"{name}.dzi")


def publish_pyramids(dest_dir, layers: dict) -> dict:
    """Build several pyramids and put them at ``dest_dir`` in one step.

    layers: {name: (array, fmt)}, e.g. {"original": (rgb, "jpeg"), "cutout": (rgba, "png")}.
    Everything is written to a hidden sibling of ``dest_dir`` (same parent, same file system),
    then that folder replaces ``dest_dir`` by an atomic swap (see ``_publish``): a viewer sees
    the whole old set or the whole new set. Returns {name: build_pyramid-style info}.
    """
    dest = Path(dest_dir)
    if not layers:
        raise MaskError("publish_pyramids needs at least one layer")
    checked = {_safe_name(n): (_check_array(a), _fmt(f)) for n, (a, f) in layers.items()}
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and not dest.is_dir():
        raise MaskError(f"{dest} exists and is not a folder")
    tmp = _staging_dir(dest)
    try:
        info = {}
        for n, (a, f) in checked.items():
            _dzsave(a, tmp / n, f)
            info[n] = _info(a, f)
        _publish(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def tile_path(out_dir, name: str, level: int, col: int, row: int, fmt: str = "png") -> Path:
    """Where tile (level, col, row) lives in a pyramid."""
    return Path(out_dir) / f"{name}_files" / str(int(level)) / f"{int(col)}_{int(row)}{_FORMATS[_fmt(fmt)]}"


def shrink2(a: np.ndarray) -> np.ndarray:
    """2x2 mean rounded half up, odd edges replicated — the step between pyramid levels."""
    if a.shape[0] % 2:
        a = np.concatenate([a, a[-1:]], axis=0)
    if a.shape[1] % 2:
        a = np.concatenate([a, a[:, -1:]], axis=1)
    s = a[0::2, 0::2].astype(np.uint16) + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]
    return ((s + 2) // 4).astype(np.uint8)


def render_tile(full_res_region: np.ndarray, level: int, width: int, height: int) -> np.ndarray:
    """Downsample the full-resolution pixels of one tile's rect (see ``tile_rect``) to that tile.

    Applies ``shrink2`` once per level below the top, exactly as the pyramid was built.
    """
    a = _check_array(full_res_region)
    for _ in range(level_count(width, height) - 1 - level):
        a = shrink2(a)
    return a


def encode_tile(tile: np.ndarray, fmt: str = "png") -> bytes:
    """One tile array → PNG or JPEG bytes, encoded as the pyramid encodes them (libvips)."""
    a = _check_array(tile)
    fmt = _fmt(fmt)
    im = _vips_image(a)
    if fmt == "png":
        return im.pngsave_buffer(compression=3)
    if im.bands == 4:
        im = im.flatten(background=[255, 255, 255])
    return im.jpegsave_buffer(Q=JPEG_QUALITY)


def _vips_error():
    import pyvips

    return pyvips.Error


def _vips_message(exc) -> str:
    text = str(getattr(exc, "detail", "") or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:200]


def _read_tile(path: Path) -> np.ndarray:
    import pyvips

    try:
        im = pyvips.Image.new_from_file(str(path), access="sequential")
        data = im.write_to_memory()
    except pyvips.Error as exc:  # a missing or damaged child tile
        raise MaskError(f"tile {path.name} of the pyramid cannot be read: {_vips_message(exc)}") from None
    arr = np.ndarray(buffer=data, dtype=np.uint8, shape=(im.height, im.width, im.bands))
    return arr[:, :, 0] if im.bands == 1 else arr


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def update_tiles(source, rect, out_dir, name: str, width: int, height: int, fmt: str = "png") -> list[tuple[int, int, int]]:
    """Re-encode only the tiles a dirty full-resolution rect (x, y, w, h) touches.

    source: the new full-resolution frame (uint8 array of the image's size) or a callable
    ``source(rect) -> array`` returning the pixels of a full-resolution rect (for example
    ``lambda r: render(base, ops, rect=r)``). Top-level tiles come from ``source``; each coarser
    tile is rebuilt from its child tiles on disk. Returns the (level, col, row) rewritten.
    """
    fmt = _fmt(fmt)
    name = _safe_name(name)
    touched = tiles_for_rect(rect, width, height)
    top = level_count(width, height) - 1

    def region(r):
        x, y, w, h = r
        if callable(source):
            arr = _check_array(source((x, y, w, h)))
        else:
            full = np.asarray(source)
            if full.shape[:2] != (height, width):
                raise MaskError(f"frame is {full.shape[1]}x{full.shape[0]}, pyramid is {width}x{height}")
            arr = _check_array(full[y:y + h, x:x + w])
        if arr.shape[:2] != (h, w):
            raise MaskError(f"source returned {arr.shape[1]}x{arr.shape[0]} pixels for a {w}x{h} rect")
        return arr

    for level, col, row in touched:
        if level == top:
            tile = region(tile_rect(level, col, row, width, height))
        else:
            cols, rows = tile_grid(level + 1, width, height)
            kids = []
            for dy in (0, 1):
                r = 2 * row + dy
                if r >= rows:
                    continue
                line = [_read_tile(tile_path(out_dir, name, level + 1, 2 * col + dx, r, fmt))
                        for dx in (0, 1) if 2 * col + dx < cols]
                kids.append(np.concatenate(line, axis=1))
            tile = shrink2(np.concatenate(kids, axis=0))
        _write_atomic(tile_path(out_dir, name, level, col, row, fmt), encode_tile(tile, fmt))
    return touched
