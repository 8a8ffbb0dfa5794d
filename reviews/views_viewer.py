"""The editor page and what it loads: deep-zoom tiles (original, mask and cutout per revision),
server-side previews of an op before it is applied, the history list and the traced AI path;
and the collection grid (every cutout on one matte, the retoucher's final consistency check).
(Full renders, colour checks and decisions are django-app's views in reviews/views.py.)

Every view asks ``reviews.policies`` first. Tile URLs name the revision, so their bytes never
change: they are sent with a year-long private, immutable cache lifetime.
"""
from __future__ import annotations

import io
import json

import numpy as np
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from masks import color as mcolor
from masks import tiles as mask_tiles
from masks.errors import MaskError
from masks.ops import parse_op
from reviews import policies
from reviews.models import Collection, ColourCheck, Comment, Image, OpKind, Swatch
from reviews.services import masklog, realtime

IMMUTABLE = "private, max-age=31536000, immutable"
DECISIONS = ("submit", "send_back", "send_to_client", "approve", "request_changes")
MAX_PREVIEW_OP = 16 * 1024  # bytes of op JSON in a preview URL


def _image(request, image_id: int, action: str = "view_image") -> Image:
    image = Image.objects.select_related("collection").filter(pk=image_id).first()
    if image is None or not policies.can(request.user, "view_image", image):
        raise Http404("no such image")  # the same answer whether it exists or is someone else's
    if action != "view_image":
        policies.require(request.user, action, image)
    return image


def _tile_response(data: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = IMMUTABLE
    return response


def _decision_urls(image: Image) -> dict:
    """URLs of django-app's decision endpoints, where they exist."""
    out = {}
    for action in DECISIONS:
        for name in (f"image_{action}", f"reviews:image_{action}", action):
            try:
                out[action] = reverse(name, args=[image.pk])
                break
            except Exception:  # noqa: BLE001 - not routed (yet): the button is left out
                continue
    return out


def editor_config(request, image: Image) -> dict:
    user = request.user
    tiles_base = f"/images/{image.pk}/tiles"
    comments = Comment.objects.filter(image=image).select_related("author")
    swatches = Swatch.objects.filter(collection=image.collection)
    checks = {c.swatch_id: c for c in ColourCheck.objects.filter(image=image)}
    decision_urls = _decision_urls(image)
    return {
        "image": {"id": image.pk, "name": image.name, "state": image.state, "width": image.width,
                  "height": image.height, "has_ai_path": bool(image.ai_path)},
        "tiles": realtime.tile_info(image),
        "head_seq": image.head_seq,
        "me": {**realtime.person(user), "role": getattr(getattr(user, "profile", None), "role", "")},
        "can": {a: policies.can(user, a, image) for a in ("edit_image", "comment", *DECISIONS)},
        "decisions": [{"action": a, "url": decision_urls[a]} for a in DECISIONS
                      if a in decision_urls and policies.can(user, a, image)],
        "urls": {
            "ws": f"/ws/images/{image.pk}/",
            "original": f"{tiles_base}/original/{{level}}/{{col}}_{{row}}.jpeg",
            "mask": f"{tiles_base}/mask/{{rev}}/{{level}}/{{col}}_{{row}}.png",
            "preview": f"{tiles_base}/preview/{{rev}}/{{level}}/{{col}}_{{row}}.png",
            "history": f"/images/{image.pk}/history.json",
            "ai_path": f"/images/{image.pk}/ai-path.json",
            "colour": reverse("colour_measure", args=[image.pk]),
            "render": reverse("revision_mask", args=[image.pk, 0]).replace("/0/", "/{rev}/"),
        },
        "findings": [
            {"id": f.pk, "kind": f.kind, "bbox": [f.x, f.y, f.w, f.h], "severity": f.severity,
             "message": f.message, "resolved": f.resolved}
            for f in image.findings.all()
        ],
        "comments": [realtime.comment_frame(c)["comment"] for c in comments],
        "swatches": [
            {"id": s.pk, "name": s.name, "lab": list(s.lab), "tolerance": s.tolerance,
             "hex": _lab_hex(s.lab), "approved": s.approved_at is not None,
             "check": _check_dict(checks.get(s.pk))}
            for s in swatches
        ],
    }


def _lab_hex(lab) -> str:
    rgb = mcolor.lab_to_srgb(np.asarray(lab, dtype=np.float64)).reshape(-1)[:3]  # 0–1
    r, g, b = (int(v) for v in np.round(rgb * 255))
    return f"#{r:02x}{g:02x}{b:02x}"


def _check_dict(c: ColourCheck | None):
    if c is None or c.delta_e is None:
        return None
    lab = (c.measured_l, c.measured_a, c.measured_b)
    return {"rect": [c.x, c.y, c.w, c.h], "measured_lab": lab, "measured_hex": _lab_hex(lab),
            "delta_e": c.delta_e, "passed": c.passed, "seq": c.seq}


@require_GET
def editor(request, image_id: int):
    image = _image(request, image_id)
    config = editor_config(request, image)
    return render(request, "reviews/editor.html", {"image": image, "config": config})


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404(f"{name} must be a whole number") from None


@require_GET
def original_tile(request, image_id: int, level: int, col: int, row: int):
    image = _image(request, image_id, "view_tiles")
    try:
        return _tile_response(realtime.original_tile(image, level, col, row), "image/jpeg")
    except MaskError as exc:
        raise Http404(str(exc)) from None


@require_GET
def mask_tile(request, image_id: int, rev: int, level: int, col: int, row: int):
    image = _image(request, image_id, "view_tiles")
    try:
        data, _ = realtime.mask_tile(image, rev, level, col, row)
    except (MaskError, realtime.EditRefused) as exc:
        raise Http404(str(exc)) from None
    return _tile_response(data, "image/png")


@require_GET
def cutout_tile(request, image_id: int, rev: int, level: int, col: int, row: int):
    image = _image(request, image_id, "view_tiles")
    try:
        return _tile_response(realtime.cutout_tile(image, rev, level, col, row), "image/png")
    except (MaskError, realtime.EditRefused) as exc:
        raise Http404(str(exc)) from None


@require_GET
def preview_tile(request, image_id: int, rev: int, level: int, col: int, row: int):
    """The mask tile as it would be with one more op (``?op=<wire JSON>``); nothing is stored."""
    image = _image(request, image_id, "view_tiles")
    raw = request.GET.get("op", "")
    if len(raw) > MAX_PREVIEW_OP:
        return JsonResponse({"error": f"op too large (at most {MAX_PREVIEW_OP} bytes)"}, status=400)
    try:
        op = parse_op(json.loads(raw))
        data = realtime.preview_tile(image, rev, level, col, row, op)
    except (ValueError, MaskError, realtime.EditRefused) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, max-age=300"
    return response


@require_GET
def dzi(request, image_id: int, layer: str, rev: int = 0):
    image = _image(request, image_id, "view_tiles")
    fmt = "jpeg" if layer == "original" else "png"
    if rev > image.head_seq:
        raise Http404("no such revision")
    return HttpResponse(realtime.dzi_xml(image, fmt), content_type="application/xml")


@require_GET
def history(request, image_id: int):
    image = _image(request, image_id, "view_history")
    ops = masklog.operations_since(image, 0)
    rows = []
    for op in ops:
        row = {"seq": op.seq, "kind": op.kind, "author": realtime.person(op.author),
               "created_at": op.created_at.isoformat()}
        if op.kind == OpKind.OP:
            row["op_type"] = op.payload.get("type")
            row["mode"] = op.payload.get("mode")
        else:
            row["target"] = op.payload.get("target")
        rows.append(row)
    return JsonResponse({"head_seq": image.head_seq, "entries": rows})


@require_GET
def ai_path(request, image_id: int):
    image = _image(request, image_id)
    return JsonResponse({"d": image.ai_path or ""})


# ------------------------------------------------------------------ collection grid


def thumb_level(width: int, height: int) -> int:
    """The finest pyramid level whose whole picture is one tile (≤ TILE_SIZE px a side)."""
    top = mask_tiles.level_count(width, height) - 1
    level = top
    while level > 0 and mask_tiles.tile_grid(level, width, height) != (1, 1):
        level -= 1
    return level


def _thumb_arrays(image: Image, level: int) -> tuple[np.ndarray, np.ndarray]:
    """The one-tile original (uint8 RGB) and head-revision mask (uint8) at ``level``; both are
    the cached tiles the grid's pictures are made of."""
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(realtime.original_tile(image, level, 0, 0))) as im:
        rgb = np.asarray(im.convert("RGB"))
    alpha = realtime.decode_mask_tile(realtime.mask_tile(image, image.head_seq, level, 0, 0)[0])
    return rgb, alpha[: rgb.shape[0], : rgb.shape[1]]


def grid_rows(user, collection: Collection) -> list[dict]:
    """One row per image the person may see: state, open QA findings, the worst colour check,
    and backdrop colour / exposure drift against the rest of the collection (masks.color's
    batch_drift on the one-tile thumbnails: ΔE2000 of the backdrop to the collection's median,
    exposure in EV stops). Images still being ingested get no picture and no drift."""
    images = (policies.visible_images(user).filter(collection=collection).order_by("name")
              .annotate(open_findings=Count("findings", filter=Q(findings__resolved=False), distinct=True),
                        worst_delta_e=Max("colour_checks__delta_e"),
                        failed_checks=Count("colour_checks", filter=Q(colour_checks__passed=False), distinct=True)))
    rows, pictures = [], []
    for image in images:
        row = {"image": image, "cutout_url": None, "drift": None, "thumb_error": ""}
        if image.base_alpha and image.width and image.height:
            level = thumb_level(image.width, image.height)
            row["cutout_url"] = reverse("tile_cutout", args=[image.pk, image.head_seq, level, 0, 0])
            try:
                pictures.append((row, _thumb_arrays(image, level)))
            except (MaskError, OSError, ValueError) as exc:
                row["thumb_error"] = str(exc)
        rows.append(row)
    if len(pictures) >= 2:  # drift is relative to the rest: one image has nothing to drift from
        for (row, _), drift in zip(pictures, mcolor.batch_drift([arrays for _, arrays in pictures])):
            row["drift"] = drift
    return rows


@login_required
@require_GET
def collection_grid(request, pk: int):
    collection = Collection.objects.select_related("client_org").filter(pk=pk).first()
    if collection is None or not policies.can(request.user, "view_collection", collection):
        raise Http404("no such collection")
    rows = grid_rows(request.user, collection)
    return render(request, "reviews/collection_grid.html", {
        "collection": collection, "rows": rows,
        "flagged": sum(1 for r in rows if r["drift"] and r["drift"].flagged),
    })
