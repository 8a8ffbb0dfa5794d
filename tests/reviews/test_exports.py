"""Exports: the approved revision only (never a later edit), every format checked by content."""
import csv
import io
import zipfile

import numpy as np
import pytest
from PIL import Image as PILImage

from masks.clippath import read_paths
from masks.imageio import load_image
from masks.trace import rasterize
from reviews.models import Export, Image, State
from reviews.services import exports, masklog, workflow
from reviews.services.colour import create_swatch, measure
from tests.conftest import make_ingested, rect_op

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(world):
    """ring-1.jpg approved at revision 1, then edited again (revision 2) so the approval is stale."""
    u = world.users
    image = make_ingested(world.image)
    masklog.append(image.pk, u["retoucher1"], "op", rect_op(0, 0, 30, 30, "add"), "e1")
    workflow.transition(Image.objects.get(pk=image.pk), u["retoucher1"], "submit")
    workflow.transition(Image.objects.get(pk=image.pk), u["lead"], "send_to_client")
    workflow.transition(Image.objects.get(pk=image.pk), u["client_a"], "approve")
    masklog.append(image.pk, u["lead"], "op", rect_op(60, 40, 30, 30, "subtract"), "late")
    return Image.objects.get(pk=image.pk)


def test_export_contains_the_approved_revision(world, approved, django_capture_on_commit_callbacks):
    u = world.users
    swatch = create_swatch(world.collection, u["lead"], "18k rose gold", "#c9897a", 40)
    measure(approved, swatch, (20, 20, 60, 40), u["lead"])
    with django_capture_on_commit_callbacks(execute=True):
        export = exports.request_export(world.collection, u["lead"], "#102030")
    export.refresh_from_db()
    assert export.status == Export.Status.DONE, export.error
    assert export.image_count == 1
    at_approval = masklog.render_revision(approved, 1)
    later = masklog.render_revision(approved, 2)
    assert not np.array_equal(at_approval, later)
    with export.file.open("rb") as fh, zipfile.ZipFile(fh) as zf:
        names = set(zf.namelist())
        assert names == {"ring-1.png", "ring-1.jpg", "ring-1.tif", "ring-1.svg", "manifest.csv"}
        png = load_image(zf.read("ring-1.png"))
        assert png.alpha is not None and np.array_equal(png.alpha, at_approval)  # revision 1, not 2
        jpg_bytes, tif_bytes = zf.read("ring-1.jpg"), zf.read("ring-1.tif")
        svg = zf.read("ring-1.svg").decode()
        manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
    for data in (jpg_bytes, tif_bytes):
        paths = read_paths(data)
        assert paths and any(p.clipping for p in paths)
        clip = rasterize(next(p for p in paths if p.clipping).d, 120, 90)
        # the embedded clipping path outlines the approved mask (a few edge pixels may differ)
        assert np.mean((clip >= 128) != (at_approval >= 128)) < 0.02
    jpg = np.asarray(PILImage.open(io.BytesIO(jpg_bytes)).convert("RGB")).astype(int)
    background = at_approval == 0
    assert np.abs(jpg[background].mean(axis=0) - (16, 32, 48)).max() < 8  # chosen background
    assert "<svg" in svg and 'viewBox="0 0 120 90"' in svg.replace("'", '"') and " d=" in svg
    [row] = manifest
    assert row["image"] == "ring-1.jpg" and row["state"] == State.APPROVED
    assert (row["approved_revision"], row["head_revision"], row["approval_stale"]) == ("1", "2", "yes")
    assert row["approved_by"] == "client_a" and row["swatch"] == "18k rose gold"
    assert row["swatch_passed"] in ("pass", "fail") and float(row["delta_e2000"]) >= 0


def test_nothing_approved_is_refused(world):
    with pytest.raises(exports.ExportError, match="nothing to export"):
        exports.request_export(world.collection, world.users["lead"])
    with pytest.raises(exports.ExportError, match="background"):
        exports.request_export(world.collection, world.users["lead"], "red; drop table")
    assert not Export.objects.exists()


def test_client_downloads_their_export(world, approved, client, django_capture_on_commit_callbacks):
    client.force_login(world.users["client_a"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/collections/{world.collection.pk}/exports/", {"background": "#ffffff"},
                               HTTP_ACCEPT="application/json")
    assert response.status_code == 202
    status = client.get(f"/exports/{response.json()['id']}/").json()
    assert status["status"] == "done" and status["images"] == 1
    download = client.get(status["url"])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert "manifest.csv" in zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).namelist()
    client.force_login(world.users["client_b"])
    assert client.get(status["url"]).status_code == 403
