"""Shared by the security tests: every URL pattern of the site, filled with ids of real objects.

New endpoints are covered automatically: the tests walk the URLconf (and the websocket routes)
instead of listing URLs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

PUBLIC_PREFIXES = ("login/", "logout/", "admin/")  # open by design (the admin checks staff itself)


def routes(resolver=None, prefix=""):
    """Every concrete route of the URLconf as (route string, pattern default kwargs)."""
    resolver = resolver or get_resolver()
    for p in resolver.url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            yield from routes(p, route)
        elif isinstance(p, URLPattern):
            yield route, dict(p.default_args or {})


@dataclass
class Objects:
    image: object
    collection: object
    export: object
    swatch: object
    comment: object
    user_id: int
    level: int


_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def fill(route: str, o: Objects) -> str:
    """The route with each parameter replaced by the id of an object of the right kind."""
    head = route.split("/", 1)[0]

    def value(m):
        name = m.group(2)
        if name in ("pk", "id"):
            return str({"images": o.image.pk, "collections": o.collection.pk, "exports": o.export.pk,
                        "swatches": o.swatch.pk, "comments": o.comment.pk}.get(head, o.image.pk))
        if name == "image_id":
            return str(o.image.pk)
        if name == "user_id":
            return str(o.user_id)
        if name == "level":
            return str(o.level)
        if name in ("rev", "seq", "col", "row"):
            return "0"
        return "1"

    return "/" + _PARAM.sub(value, route)


@pytest.fixture
def objects(world):
    """One of each object kind, in the world's studio, with the files views serve."""
    import io
    import zipfile

    import numpy as np

    from masks.imageio import encode_png
    from masks.tiles import level_count
    from reviews.models import Comment, Export, Swatch
    from reviews.services import storage
    from tests.conftest import make_ingested

    image = make_ingested(world.image)
    storage.write_bytes(f"{image.folder}/qa_heatmap.png", encode_png(np.zeros((9, 12), np.uint8)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.csv", "image\n")
    export = Export.objects.create(collection=world.collection, requested_by=world.users["lead"], status=Export.Status.DONE)
    export.file.name = storage.write_bytes(f"collections/{world.collection.pk}/exports/{export.pk}.zip", buf.getvalue())
    export.save()
    swatch = Swatch.objects.create(collection=world.collection, name="rose", lab_l=60, lab_a=20, lab_b=15)
    comment = Comment.objects.create(image=image, author=world.users["lead"], x=5, y=5, body="pin")
    return Objects(image=image, collection=world.collection, export=export, swatch=swatch, comment=comment,
                   user_id=world.users["retoucher1"].pk, level=level_count(image.width, image.height) - 1)
