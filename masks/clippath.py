"""Photoshop path resources: write and read, embedded in TIFF, JPEG and PSD.

Format (Adobe Photoshop File Formats Specification, "Image resource blocks" and "Path resource
format"): a run of blocks ``"8BIM" | id u16 | Pascal name padded to even | size u32 | data padded
to even``. Saved paths have ids 2000–2997 and the path's name as the block name; block 2999
holds the name of the clipping path (Pascal string), its flatness (16.16 fixed, device pixels)
and a fill rule (u16). Path data is a series of 26-byte records, each starting with a u16
selector: 0/3 closed/open subpath length record (u16 knot count), 1/2 closed knot
linked/unlinked, 4/5 open knot linked/unlinked, 6 path fill rule, 7 clipboard, 8 initial fill.
A knot is three points (preceding control, anchor, leaving control), each as vertical then
horizontal signed 8.24 fixed point, relative to the image height and width.

Containers: TIFF tag 34377 (tifffile), JPEG APP13 segments "Photoshop 3.0\\0" (split over
several segments when over 64 KB; the reader joins them), the PSD image-resources section.
Malformed data raises ``ClipPathError`` naming what is wrong.
"""
from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass

from masks.errors import ClipPathError, ImageInputError, MaskError, PathDataError
from masks.trace import Subpath, parse_path, to_path_data

FIXED = 1 << 24
PATH_IDS = range(2000, 2998)
CLIPPING_ID = 2999
TIFF_TAG = 34377
APP13_HEADER = b"Photoshop 3.0\x00"
_SIGNATURES = (b"8BIM", b"MeSa", b"AgHg", b"PHUT", b"DCSR")
_APP13_MAX = 65535 - 2 - len(APP13_HEADER)  # payload bytes per APP13 segment
MAX_KNOTS = 1_000_000


@dataclass(frozen=True)
class SavedPath:
    """A named Photoshop path. d: SVG path data in image pixels; clipping: the clipping path."""
    id: int
    name: str
    d: str
    clipping: bool = False

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "clipping": self.clipping, "d": self.d}


# --------------------------------------------------------------------------- resource blocks

def _pascal(name: str, pad_even: bool) -> bytes:
    raw = name.encode("mac_roman", errors="replace")[:255]
    out = bytes([len(raw)]) + raw
    if pad_even and len(out) % 2:
        out += b"\x00"
    return out


def resource_block(res_id: int, data: bytes, name: str = "") -> bytes:
    """One "8BIM" image resource block."""
    out = b"8BIM" + struct.pack(">H", res_id) + _pascal(name, True) + struct.pack(">I", len(data)) + data
    return out + (b"\x00" if len(data) % 2 else b"")


def parse_resources(data: bytes) -> list[tuple[int, str, bytes]]:
    """Image resource blocks → [(id, name, data)]. Raises ClipPathError on a malformed block."""
    out = []
    pos, n = 0, len(data)
    while pos < n:
        if not data[pos:].strip(b"\x00"):
            break  # zero padding some writers leave at the end
        if n - pos < 12:
            raise ClipPathError(f"resource block at byte {pos} is truncated")
        sig = data[pos:pos + 4]
        if sig not in _SIGNATURES:
            raise ClipPathError(f"resource block at byte {pos} has signature {sig!r}, expected '8BIM'")
        (res_id,) = struct.unpack_from(">H", data, pos + 4)
        nlen = data[pos + 6]
        name_end = pos + 7 + nlen
        name_end += (1 + nlen) % 2  # padded to an even length
        if name_end + 4 > n:
            raise ClipPathError(f"resource {res_id}: name runs past the end of the data")
        name = data[pos + 7:pos + 7 + nlen].decode("mac_roman")
        (size,) = struct.unpack_from(">I", data, name_end)
        start = name_end + 4
        if start + size > n:
            raise ClipPathError(f"resource {res_id}: size {size} runs past the end of the data ({n - start} bytes left)")
        out.append((res_id, name, bytes(data[start:start + size])))
        pos = start + size + (size % 2)
    return out


# --------------------------------------------------------------------------- path records

def _fx(v: float) -> int:
    i = int(round(v * FIXED))
    if not -(1 << 31) <= i < (1 << 31):
        raise PathDataError("path point is too far outside the image to store (more than 128 image sizes)")
    return i


def _linked(pre, anchor, post) -> bool:
    ax, ay = pre[0] - anchor[0], pre[1] - anchor[1]
    bx, by = post[0] - anchor[0], post[1] - anchor[1]
    na, nb = math.hypot(ax, ay), math.hypot(bx, by)
    if na < 1e-9 or nb < 1e-9:
        return False
    return abs(ax * by - ay * bx) / (na * nb) < 1e-3 and ax * bx + ay * by < 0


def encode_path_data(d, width: int, height: int) -> bytes:
    """SVG path data (str or Subpath list, image pixels) → 26-byte path records."""
    if width <= 0 or height <= 0:
        raise MaskError(f"image size must be positive, got {width}x{height}")
    subpaths = parse_path(d) if isinstance(d, str) else d

    def knot(sel, pre, anchor, post):
        vals = []
        for p in (pre, anchor, post):
            vals += [_fx(p[1] / height), _fx(p[0] / width)]
        return struct.pack(">H6i", sel, *vals)

    recs = [struct.pack(">H24x", 6), struct.pack(">HH22x", 8, 0)]
    for sp in subpaths:
        anchors = sp.anchors()
        segs = sp.segments
        if not anchors:
            continue
        if sp.closed:
            n = len(anchors)
            segs = list(segs[:n]) + [_flat_seg(anchors[-1], anchors[0])] * max(0, n - len(segs))
            recs.append(struct.pack(">HH22x", 0, n))
            for i, a in enumerate(anchors):
                pre = segs[i - 1][1]
                post = segs[i][0]
                recs.append(knot(1 if _linked(pre, a, post) else 2, pre, a, post))
        else:
            n = len(anchors)
            recs.append(struct.pack(">HH22x", 3, n))
            for i, a in enumerate(anchors):
                pre = segs[i - 1][1] if i > 0 else a
                post = segs[i][0] if i < len(segs) else a
                recs.append(knot(4 if _linked(pre, a, post) else 5, pre, a, post))
    return b"".join(recs)


def _flat_seg(p, q):
    return (p, q, q)


def decode_path_data(data: bytes, width: int, height: int) -> list[Subpath]:
    """26-byte path records → Subpaths in image pixels (x = horizontal × width, y = vertical × height).

    An initial-fill record of 1 (start with everything selected) becomes an image-sized
    rectangle first, which the even-odd fill then cuts the subpaths out of.
    """
    if len(data) % 26:
        raise ClipPathError(f"path data is {len(data)} bytes, not a whole number of 26-byte records")
    out: list[Subpath] = []
    pending = 0  # knots still expected in the current subpath
    closed = True
    knots: list = []
    invert = False

    def finish():
        if not knots:
            return
        sp = Subpath(start=knots[0][1], closed=closed)
        count = len(knots) if closed else len(knots) - 1
        for i in range(count):
            a, b = knots[i], knots[(i + 1) % len(knots)]
            sp.segments.append((a[2], b[0], b[1]))
        out.append(sp)

    nrec = len(data) // 26
    if nrec > MAX_KNOTS:
        raise ClipPathError(f"path has {nrec} records, more than {MAX_KNOTS}")
    for r in range(nrec):
        rec = data[r * 26:(r + 1) * 26]
        (sel,) = struct.unpack_from(">H", rec)
        if sel in (0, 3):
            if pending:
                raise ClipPathError(f"record {r}: new subpath while {pending} knots of the last are missing")
            finish()
            knots = []
            (pending,) = struct.unpack_from(">H", rec, 2)
            closed = sel == 0
        elif sel in (1, 2, 4, 5):
            if pending <= 0:
                raise ClipPathError(f"record {r}: knot outside a subpath (no length record before it)")
            if (sel in (1, 2)) != closed:
                raise ClipPathError(f"record {r}: {'open' if closed else 'closed'} knot in a {'closed' if closed else 'open'} subpath")
            v = struct.unpack_from(">6i", rec, 2)
            pts = [(v[i + 1] / FIXED * width, v[i] / FIXED * height) for i in (0, 2, 4)]
            knots.append(pts)
            pending -= 1
        elif sel == 8:
            (fill,) = struct.unpack_from(">H", rec, 2)
            invert = fill == 1
        elif sel in (6, 7):
            continue
        else:
            raise ClipPathError(f"record {r}: unknown record type {sel}")
    if pending:
        raise ClipPathError(f"path data ends with {pending} knots of its last subpath missing")
    finish()
    if invert:
        w, h = float(width), float(height)
        box = Subpath(start=(0.0, 0.0), closed=True, segments=[
            _flat_seg((0.0, 0.0), (w, 0.0)), _flat_seg((w, 0.0), (w, h)),
            _flat_seg((w, h), (0.0, h)), _flat_seg((0.0, h), (0.0, 0.0))])
        out.insert(0, box)
    return out


# --------------------------------------------------------------------------- whole resources

def write_resources(paths: list[SavedPath], width: int, height: int, flatness: float = 0.0) -> bytes:
    """Saved paths → "8BIM" blocks (2000… in order, plus 2999 naming the clipping path)."""
    out = []
    clip = None
    for i, p in enumerate(paths):
        res_id = p.id if p.id in PATH_IDS else 2000 + i
        if res_id not in PATH_IDS:
            raise MaskError("at most 998 saved paths")
        out.append(resource_block(res_id, encode_path_data(p.d, width, height), p.name))
        if p.clipping:
            if clip is not None:
                raise MaskError("only one path can be the clipping path")
            clip = p
    if clip is not None:
        if not (0 <= flatness < 32768):
            raise MaskError(f"flatness must be 0–32767 device pixels, got {flatness}")
        data = _pascal(clip.name, False) + struct.pack(">iH", int(round(flatness * 65536)), 1)
        out.append(resource_block(CLIPPING_ID, data))
    return b"".join(out)


def paths_from_resources(data: bytes, width: int, height: int) -> list[SavedPath]:
    """"8BIM" blocks → saved paths (d in image pixels, 6 decimals), the clipping one flagged."""
    blocks = parse_resources(data)
    clip_name = None
    for res_id, _name, payload in blocks:
        if res_id == CLIPPING_ID:
            if not payload or 1 + payload[0] > len(payload):
                raise ClipPathError("clipping path resource (2999) has a broken name")
            clip_name = payload[1:1 + payload[0]].decode("mac_roman")
    out = []
    for res_id, name, payload in blocks:
        if res_id in PATH_IDS:
            try:
                subpaths = decode_path_data(payload, width, height)
            except ClipPathError as exc:
                raise ClipPathError(f"path {res_id} ({name!r}): {exc}") from None
            out.append(SavedPath(res_id, name, to_path_data(subpaths, digits=6), name == clip_name))
    if clip_name is not None and not any(p.clipping for p in out):
        raise ClipPathError(f"clipping path {clip_name!r} names no saved path in the file")
    return out


# --------------------------------------------------------------------------- containers

def _jpeg_segments(data: bytes):
    """(marker, payload) of each JPEG segment before the scan data."""
    if data[:2] != b"\xff\xd8":
        raise ImageInputError("not a JPEG file")
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ImageInputError(f"JPEG marker expected at byte {pos}")
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        if marker == 0xD9:
            return
        if pos + 2 > n:
            raise ImageInputError("JPEG file is truncated")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2 or pos + length > n:
            raise ImageInputError("JPEG file is truncated")
        yield marker, data[pos + 2:pos + length]
        pos += length
        if marker == 0xDA:
            return


def _jpeg_size(data: bytes) -> tuple[int, int]:
    for marker, payload in _jpeg_segments(data):
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and len(payload) >= 5:
            h, w = struct.unpack_from(">HH", payload, 1)
            return w, h
    raise ImageInputError("JPEG file has no frame header (truncated?)")


def jpeg_resources(data: bytes) -> bytes:
    """The Photoshop resource blocks of a JPEG: every APP13 'Photoshop 3.0' payload, joined."""
    parts = []
    for marker, payload in _jpeg_segments(data):
        if marker == 0xED and payload.startswith(APP13_HEADER):
            parts.append(payload[len(APP13_HEADER):])
    return b"".join(parts)


def embed_in_jpeg(jpeg: bytes, resources: bytes) -> bytes:
    """Insert resource blocks as APP13 segments after the JPEG's APPn headers (replacing old ones)."""
    if jpeg[:2] != b"\xff\xd8":
        raise MaskError("not a JPEG stream")
    pos = 2
    keep = []
    n = len(jpeg)
    # Walk the APPn / COM segments at the start; drop existing Photoshop APP13s.
    while pos + 4 <= n and jpeg[pos] == 0xFF and (0xE0 <= jpeg[pos + 1] <= 0xEF or jpeg[pos + 1] == 0xFE):
        (length,) = struct.unpack_from(">H", jpeg, pos + 2)
        seg = jpeg[pos:pos + 2 + length]
        if not (jpeg[pos + 1] == 0xED and seg[4:4 + len(APP13_HEADER)] == APP13_HEADER):
            keep.append(seg)
        pos += 2 + length
    app13 = []
    for i in range(0, len(resources), _APP13_MAX):
        chunk = APP13_HEADER + resources[i:i + _APP13_MAX]
        app13.append(b"\xff\xed" + struct.pack(">H", len(chunk) + 2) + chunk)
    return b"\xff\xd8" + b"".join(keep) + b"".join(app13) + jpeg[pos:]


def _tiff(data: bytes) -> tuple[bytes, int, int]:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages[0]
            tag = page.tags.get(TIFF_TAG)
            res = b"" if tag is None else tag.value
            if isinstance(res, (tuple, list)):
                res = bytes(res)
            return bytes(res), int(page.imagewidth), int(page.imagelength)
    # tifffile raises TypeError/AttributeError on some damaged headers (found by tests/security fuzz)
    except (tifffile.TiffFileError, ValueError, struct.error, IndexError, KeyError, OSError, TypeError,
            AttributeError) as exc:
        raise ImageInputError(f"TIFF file is damaged: {exc}") from None


def psd_resources(data: bytes) -> tuple[bytes, int, int, int, int]:
    """(resources, width, height, start, end) of a PSD/PSB image-resources section."""
    if len(data) < 34 or data[:4] != b"8BPS":
        raise ImageInputError("not a PSD file")
    h, w = struct.unpack_from(">II", data, 14)
    (cm_len,) = struct.unpack_from(">I", data, 26)
    pos = 30 + cm_len
    if pos + 4 > len(data):
        raise ImageInputError("PSD file is truncated")
    (ir_len,) = struct.unpack_from(">I", data, pos)
    start, end = pos + 4, pos + 4 + ir_len
    if end > len(data):
        raise ImageInputError("PSD file is truncated")
    return data[start:end], w, h, start, end


def embed_in_psd(psd: bytes, resources: bytes) -> bytes:
    """Add resource blocks to a PSD's image-resources section (replacing path blocks already there)."""
    res, _w, _h, start, end = psd_resources(psd)
    replaced = {i for i, _n, _d in parse_resources(resources)}
    kept = b"".join(resource_block(i, d, n) for i, n, d in parse_resources(res)
                    if i not in PATH_IDS and i != CLIPPING_ID and i not in replaced)
    new = kept + resources
    return psd[:start - 4] + struct.pack(">I", len(new)) + new + psd[end:]


def read_paths(file_bytes: bytes) -> list[SavedPath]:
    """All saved paths in a TIFF, JPEG or PSD file (or raw "8BIM" resource data — then the
    coordinates are relative, image size 1x1). Raises ClipPathError on malformed resources and
    ImageInputError on a file that is none of these."""
    data = bytes(file_bytes)
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        res, w, h = _tiff(data)
    elif data[:2] == b"\xff\xd8":
        res = jpeg_resources(data)
        w, h = _jpeg_size(data) if res else (1, 1)
    elif data[:4] == b"8BPS":
        res, w, h, _s, _e = psd_resources(data)
    elif data[:4] in _SIGNATURES:
        res, w, h = data, 1, 1
    else:
        raise ImageInputError("clipping paths are read from TIFF, JPEG or PSD files; this is none of them")
    if not res:
        return []
    return paths_from_resources(res, w, h)
