"""Bounded fuzzing (hypothesis) of the three parsers hostile input meets first: ``parse_op`` (every
edit), the clipping-path reader on whole files (JPEG/TIFF/PSD containers, not just the resource
block), and the upload validator. Each either accepts well-formed input or refuses it with the
module's own error and a message — no other exception, no hang. Example counts are fixed, so a
CI run takes a few seconds."""
from __future__ import annotations

import functools
import io
import json
import math
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from masks.errors import MaskError, OpError

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])

# ------------------------------------------------------------------ parse_op

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=6),
                                                                  st.dictionaries(st.text(max_size=12), inner, max_size=6)),
                           max_leaves=30)
VALID = [
    {"type": "path", "d": "M10 10 L60 10 L60 50 Z", "mode": "add", "fill_rule": "evenodd", "feather": 1.5},
    {"type": "stroke", "mode": "remove", "points": [[1, 2], [3.5, 4]], "radius": 4, "hardness": 0.5, "opacity": 1},
    {"type": "refine", "shift_edge": -1, "contrast": 10, "feather": 0, "smooth": 5},
    {"type": "channel", "d": "M0 0 H20 V20 H0 Z", "channel": "luma", "black": 10, "white": 200, "invert": False},
    {"type": "cleanup", "min_speck": 20, "min_hole": 5, "region": None},
]
path_data = st.text(alphabet="MmLlHhVvCcSsQqTtAaZz0123456789.,-+eE ", max_size=60)


@st.composite
def mutated_ops(draw):
    op = json.loads(json.dumps(draw(st.sampled_from(VALID))))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(op) + ["extra", "type"]))
        op[key] = draw(st.one_of(json_values, path_data, st.sampled_from(["add", "keep", "evenodd", "auto", "path"])))
    if draw(st.booleans()) and len(op) > 1:
        op.pop(draw(st.sampled_from(sorted(op))))
    return op


def _check_op(obj):
    from masks.ops import parse_op

    try:
        op = parse_op(obj)
    except OpError as exc:
        assert str(exc), "a refusal needs a message"
        return
    wire = op.to_wire()
    text = json.dumps(wire, allow_nan=False)  # what is accepted can be stored and broadcast as JSON
    assert parse_op(json.loads(text)) == op
    for v in wire.values():
        if isinstance(v, float):
            assert math.isfinite(v)


@FUZZ
@given(st.one_of(json_values, mutated_ops()))
def test_fuzz_parse_op_accepts_or_refuses_with_operror(obj):
    _check_op(obj)


# ------------------------------------------------------------------ clipping paths in whole files


@functools.lru_cache(maxsize=1)
def _containers() -> dict[str, bytes]:
    from masks.export import export_jpeg, export_psd, export_tiff

    h, w = 40, 48
    rgb = np.full((h, w, 3), 200, np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    alpha[8:32, 10:38] = 255
    d = "M10 8 L38 8 L38 32 L10 32 Z"
    return {"jpeg": export_jpeg(rgb, alpha, clip_path=d), "tiff": export_tiff(rgb, alpha, clip_path=d),
            "psd": export_psd(rgb, alpha, clip_path=d)}


@st.composite
def mutated_files(draw):
    kind = draw(st.sampled_from(["jpeg", "tiff", "psd"]))
    data = bytearray(_containers()[kind])
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if how == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif how == "cut":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif how == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[pos:]
        if not data:
            data = bytearray(b"\0")
    return bytes(data)


def test_clip_path_containers_read_back():
    from masks.clippath import read_paths

    for kind, data in _containers().items():
        assert read_paths(data), f"the unmutated {kind} has its path"


@FUZZ
@given(st.one_of(mutated_files(), st.binary(max_size=300)))
def test_fuzz_clip_path_reader_on_whole_files(data):
    from masks.clippath import read_paths
    from masks.paths import parse as parse_path

    try:
        paths = read_paths(data)
    except MaskError as exc:
        assert str(exc)
        return
    for p in paths:
        parse_path(p.d)  # whatever is accepted is path data our renderer takes


# ------------------------------------------------------------------ the upload validator


@functools.lru_cache(maxsize=1)
def _photo() -> bytes:
    from tests.conftest import jpeg_bytes, small_photo

    return jpeg_bytes(small_photo(80, 64)[0])


@st.composite
def upload_files(draw):
    """A few (name, bytes): mutated photos, random bytes, or ZIPs of those, under hostile names."""
    def blob():
        base = bytearray(_photo())
        for _ in range(draw(st.integers(0, 4))):
            pos = draw(st.integers(0, len(base) - 1))
            if draw(st.booleans()):
                base[pos] = draw(st.integers(0, 255))
            else:
                del base[pos:]
                base = base or bytearray(b"\xff")
        return bytes(base) if draw(st.booleans()) else draw(st.binary(max_size=200))

    names = st.sampled_from(["a.jpg", "b.png", "../../etc/passwd.jpg", "c.cutout.png", "d.tif", "e.psd",
                             "<x>.jpg", "f", "g.zip", "h.JPG", "\u202ertl.jpg", "a b.webp"])
    files = []
    for _ in range(draw(st.integers(1, 3))):
        name, data = draw(names), blob()
        if draw(st.integers(0, 4)) == 0:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as zf:
                for _ in range(draw(st.integers(1, 3))):
                    zf.writestr(draw(names), blob())
            name, data = "pack.zip", buf.getvalue()
        files.append((name, data))
    return files


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:Duplicate name")  # duplicate ZIP member names are part of the fuzz
@FUZZ
@given(files=upload_files())
def test_fuzz_upload_validator_never_crashes(world, files):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import transaction

    from reviews.models import Image
    from reviews.services.ingest import accept_upload

    collection = world.collection
    with transaction.atomic():
        before = Image.objects.filter(collection=collection).count()
        result = accept_upload(collection, [SimpleUploadedFile(n, d) for n, d in files], world.users["lead"])
        for name, why in result.refused:
            assert isinstance(name, str) and isinstance(why, str) and why
        for image in result.created:
            assert "/" not in image.name and ".." not in image.name and image.width > 0 and image.height > 0
        assert Image.objects.filter(collection=collection).count() == before + len(result.created)
        transaction.set_rollback(True)  # every example starts from the same collection
