"""Exports of approved images: one ZIP per request with, per image, the PNG with alpha, the
JPEG and TIFF on the chosen background with the embedded clipping path, the SVG path, and a
``manifest.csv`` (states, approvers, revisions, ΔE results).

Only the approved revision is exported (``Approval.seq``), never a later edit: an approval that
went stale still exports what was approved, and the manifest says it is stale.
"""
from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import zipfile

from django.db import transaction
from django.utils import timezone

from reviews.models import Collection, Export, Image, State
from reviews.services import storage, workflow

HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
MANIFEST_FIELDS = [
    "image", "state", "approved_revision", "head_revision", "approval_stale", "approved_by", "approved_at",
    "width", "height", "swatch", "delta_e2000", "swatch_passed", "files",
]


class ExportError(Exception):
    """An export that cannot be made; the message says why."""


def exportable_images(collection: Collection):
    return collection.images.filter(state=State.APPROVED, approvals__revoked=False).distinct().order_by("name")


def request_export(collection: Collection, user, background: str | None = None) -> Export:
    """Create an Export row and queue its task (after commit). Policy "export" is checked by the caller."""
    background = (background or collection.export_background or "#ffffff").strip()
    if not HEX.match(background):
        raise ExportError("background must be a colour like #ffffff")
    if not exportable_images(collection).exists():
        raise ExportError("nothing to export yet: no image of this collection is approved")
    with transaction.atomic():
        export = Export.objects.create(collection=collection, requested_by=user, background=background.lower())
        workflow.audit("export_requested", studio_id=collection.studio_id, actor=user, collection_id=collection.pk,
                       export=export.pk, background=export.background)
        from reviews import tasks
        from reviews.services.background import dispatch_on_commit

        dispatch_on_commit(tasks.build_export, (export.pk,))
    return export


def _stem(name: str) -> str:
    return os.path.splitext(name)[0]


def image_files(image: Image, seq: int, background: str) -> dict[str, bytes]:
    """The exported files of one image at revision ``seq``: {file name: bytes}."""
    from masks import export as mexport
    from masks.imageio import decode_png
    from masks.trace import trace

    from reviews.services.masklog import render_revision

    alpha = render_revision(image, seq)
    rgb = decode_png(storage.read_bytes(f"{image.folder}/srgb.png"))
    d = trace(alpha, tolerance=1.0)
    stem = _stem(image.name)
    return {
        f"{stem}.png": mexport.export_png(rgb, alpha),
        f"{stem}.jpg": mexport.export_jpeg(rgb, alpha, background=background, clip_path=d),
        f"{stem}.tif": mexport.export_tiff(rgb, alpha, background=background, clip_path=d),
        f"{stem}.svg": mexport.export_svg(d, image.width, image.height),
    }


def manifest_rows(images_with_approvals) -> list[dict]:
    rows = []
    for image, approval, names in images_with_approvals:
        checks = list(image.colour_checks.select_related("swatch").order_by("swatch__name"))
        base = {
            "image": image.name,
            "state": image.state,
            "approved_revision": approval.seq,
            "head_revision": image.head_seq,
            "approval_stale": "yes" if approval.stale else "no",
            "approved_by": approval.user.get_username(),
            "approved_at": approval.created_at.isoformat(),
            "width": image.width,
            "height": image.height,
            "files": " ".join(names),
        }
        if not checks:
            rows.append({**base, "swatch": "", "delta_e2000": "", "swatch_passed": ""})
        for check in checks:
            rows.append({
                **base,
                "swatch": check.swatch.name,
                "delta_e2000": "" if check.delta_e is None else f"{check.delta_e:.2f}",
                "swatch_passed": "" if check.passed is None else ("pass" if check.passed else "fail"),
            })
    return rows


def run_export(export_id: int) -> str:
    """Build the ZIP of an Export (the task body). Idempotent: a finished export is left as it is."""
    export = Export.objects.select_related("collection").filter(pk=export_id).first()
    if export is None or export.status == Export.Status.DONE:
        return export.status if export else "missing"
    collection = export.collection
    try:
        images = list(exportable_images(collection))
        fd, tmp = tempfile.mkstemp(suffix=".zip")
        os.close(fd)
        listed = []
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for image in images:
                    approval = image.current_approval
                    if approval is None:
                        continue
                    files = image_files(image, approval.seq, export.background)
                    for name, data in files.items():
                        # PNG/JPEG/TIFF are compressed already; deflating them again only costs time
                        kind = zipfile.ZIP_DEFLATED if name.endswith((".svg", ".tif")) else zipfile.ZIP_STORED
                        zf.writestr(name, data, compress_type=kind)
                    listed.append((image, approval, list(files)))
                buf = io.StringIO()
                writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS)
                writer.writeheader()
                writer.writerows(manifest_rows(listed))
                zf.writestr("manifest.csv", buf.getvalue())
            with open(tmp, "rb") as fh:
                stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
                name = storage.write_bytes(f"collections/{collection.pk}/exports/{export.pk}-{stamp}.zip", fh.read())
        finally:
            os.unlink(tmp)
        Export.objects.filter(pk=export.pk).update(
            status=Export.Status.DONE, file=name, image_count=len(listed), finished_at=timezone.now(), error=""
        )
        workflow.audit("exported", studio_id=collection.studio_id, actor=export.requested_by, collection_id=collection.pk,
                       export=export.pk, images={i.name: a.seq for i, a, _ in listed})
        return Export.Status.DONE
    except Exception as exc:  # noqa: BLE001 - the person who asked should see why
        Export.objects.filter(pk=export.pk).update(status=Export.Status.FAILED, error=str(exc)[:2000],
                                                   finished_at=timezone.now())
        if not isinstance(exc, ValueError):
            raise
        return Export.Status.FAILED
