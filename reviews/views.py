"""Pages and downloads of the review app. Every view asks ``reviews.policies`` first; files
under MEDIA_ROOT are only ever sent from here (or the viewer's tile views), never by a static route."""
from __future__ import annotations

import json
import logging
import mimetypes

import numpy as np
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST

from masks.errors import MaskError
from reviews import policies
from reviews.models import (
    STATE_ORDER, Approval, AuditEvent, ClientOrg, Collection, Comment, Export, Image, Role, State, Swatch,
)
from reviews.services import colour, dashboards, exports, ingest, masklog, storage, workflow

log = logging.getLogger(__name__)

MAX_COMMENT = 5000


def _get(model, pk, user, action, **select):
    obj = get_object_or_404(model.objects.select_related(*select.get("related", ())), pk=pk)
    policies.require(user, action, obj)
    return obj


def _image(request, pk, action) -> Image:
    return _get(Image, pk, request.user, action, related=("collection", "collection__client_org", "assignee"))


def _collection(request, pk, action) -> Collection:
    return _get(Collection, pk, request.user, action, related=("client_org", "studio"))


def _send_file(name: str, filename: str | None = None, as_attachment=False, content_type=None):
    if not name or not storage.exists(name):
        raise Http404("file not found")
    fh = storage.default_storage.open(name, "rb")
    ctype = content_type or mimetypes.guess_type(filename or name)[0] or "application/octet-stream"
    response = FileResponse(fh, as_attachment=as_attachment, filename=filename, content_type=ctype)
    response["Cache-Control"] = "private, max-age=0"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _png_response(array: np.ndarray) -> HttpResponse:
    from masks.imageio import encode_png

    response = HttpResponse(encode_png(array), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _back(request, fallback: str):
    target = request.POST.get("next") or request.META.get("HTTP_REFERER") or fallback
    if not target.startswith("/") or target.startswith("//"):
        target = fallback  # only ever redirect inside the site
    return redirect(target)


def editor_url(image: Image) -> str | None:
    """The editor page of browser-realtime, when it is installed."""
    for name in ("image_editor", "editor"):
        try:
            return reverse(name, args=[image.pk])
        except NoReverseMatch:
            continue
    return None


# ------------------------------------------------------------------ home and dashboards

def _own_studio(request, action: str):
    """The signed-in person's profile, once they may do the studio-level ``action``."""
    profile = policies.profile_of(request.user)
    if profile is None:
        raise PermissionDenied("this account has no role in any studio")
    policies.require(request.user, action, profile.studio)
    return profile


@login_required
def home(request):
    profile = policies.profile_of(request.user)
    if profile is None:
        raise PermissionDenied("this account has no role in any studio")
    return redirect({Role.LEAD: "lead_dashboard", Role.RETOUCHER: "retoucher_dashboard",
                     Role.CLIENT: "client_dashboard"}[profile.role])


@login_required
@require_GET
def lead_dashboard(request):
    profile = _own_studio(request, "view_lead_dashboard")
    data = dashboards.lead_dashboard(profile.studio)
    retouchers = User.objects.filter(profile__studio=profile.studio, profile__role=Role.RETOUCHER, is_active=True)
    return render(request, "reviews/lead_dashboard.html", {
        **data, "studio": profile.studio, "states": STATE_ORDER, "retoucher_choices": retouchers.order_by("username"),
    })


@login_required
@require_POST
def bulk_assign(request):
    _own_studio(request, "view_lead_dashboard")
    ids = [int(i) for i in request.POST.getlist("image") if i.isdigit()]
    assignee = User.objects.filter(pk=request.POST.get("assignee") or 0).first()
    if not ids:
        messages.error(request, "Tick at least one image to assign.")
        return redirect("lead_dashboard")
    if assignee is None:
        messages.error(request, "Choose a retoucher.")
        return redirect("lead_dashboard")
    images = Image.objects.filter(pk__in=ids).select_related("collection")
    result = workflow.bulk(images, request.user, "assign", assignee=assignee)
    if result.done:
        messages.success(request, f"Assigned {len(result.done)} image(s) to {assignee.get_username()}.")
    for image, why in result.refused:
        messages.error(request, f"{image.name}: {why}")
    return _back(request, reverse("lead_dashboard"))


@login_required
@require_GET
def retoucher_dashboard(request, user_id: int | None = None):
    target = request.user if user_id is None else get_object_or_404(User, pk=user_id)
    policies.require(request.user, "view_retoucher_dashboard", target)
    return render(request, "reviews/retoucher_dashboard.html", {**dashboards.retoucher_queue(target), "target": target})


@login_required
@require_GET
def client_dashboard(request):
    profile = policies.profile_of(request.user)
    if profile is None or profile.client_org is None:
        raise PermissionDenied("only client users have a client dashboard")
    policies.require(request.user, "view_client_dashboard", profile.client_org)
    return render(request, "reviews/client_dashboard.html", {**dashboards.client_dashboard(request.user), "org": profile.client_org})


# ------------------------------------------------------------------ collections

@login_required
def collection_new(request):
    profile = _own_studio(request, "create_collection")
    orgs = ClientOrg.objects.filter(studio=profile.studio)
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        org = orgs.filter(pk=request.POST.get("client_org") or 0).first()
        errors = []
        if not name or len(name) > 200:
            errors.append("Give the collection a name (at most 200 characters).")
        if org is None:
            errors.append("Choose the client organisation.")
        if not errors:
            collection = Collection.objects.create(studio=profile.studio, client_org=org, name=name)
            workflow.audit("collection_created", studio_id=profile.studio_id, actor=request.user,
                           collection_id=collection.pk, name=name)
            return redirect("collection_upload", collection.pk)
        return render(request, "reviews/collection_new.html", {"orgs": orgs, "errors": errors}, status=400)
    return render(request, "reviews/collection_new.html", {"orgs": orgs})


@login_required
@require_GET
def collection_detail(request, pk: int):
    collection = _collection(request, pk, "view_collection")
    images = policies.visible_images(request.user).filter(collection=collection).select_related("assignee")
    images = images.prefetch_related(Prefetch("approvals", queryset=Approval.objects.filter(revoked=False)))
    counts = dict.fromkeys(STATE_ORDER, 0)
    for image in images:
        counts[image.state] += 1
        live = list(image.approvals.all())
        image.approval = live[0] if live else None
    u = request.user
    return render(request, "reviews/collection_detail.html", {
        "collection": collection, "images": images, "counts": counts, "states": STATE_ORDER,
        "swatches": collection.swatches.select_related("approved_by"),
        "exports": policies.visible_exports(u, collection),
        "can_upload": policies.can(u, "upload", collection),
        "can_export": policies.can(u, "export", collection),
        "can_manage_swatches": policies.can(u, "manage_swatches", collection),
        "retoucher_choices": User.objects.filter(profile__studio=collection.studio, profile__role=Role.RETOUCHER),
        "is_client": policies.profile_of(u).role == Role.CLIENT,
    })


@login_required
@require_GET
def collection_progress(request, pk: int):
    """Per-image and per-collection ingest/workflow progress, polled by the collection page."""
    collection = _collection(request, pk, "view_collection")
    images = policies.visible_images(request.user).filter(collection=collection)
    rows = list(images.values("id", "name", "state", "ingest_step", "error"))
    counts = dict.fromkeys(STATE_ORDER, 0)
    for row in rows:
        counts[row["state"]] += 1
    done = sum(v for k, v in counts.items() if k not in (State.NEW, State.PROCESSING))
    return JsonResponse({
        "collection": collection.pk, "state": collection.state if policies.can(request.user, "upload", collection) else None,
        "counts": counts, "total": len(rows), "ingested": done, "images": rows,
    })


@login_required
def collection_upload(request, pk: int):
    collection = _collection(request, pk, "upload")
    if request.method != "POST":
        return render(request, "reviews/upload.html", {"collection": collection})
    files = request.FILES.getlist("files")
    if not files:
        return render(request, "reviews/upload.html", {"collection": collection,
                      "refused": [("(nothing)", "choose one or more photos, or one ZIP")]}, status=400)
    result = ingest.accept_upload(collection, files, request.user)
    status = 200 if result.created else 400
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"created": [{"id": i.pk, "name": i.name} for i in result.created],
                             "refused": [{"file": n, "reason": r} for n, r in result.refused]}, status=status)
    return render(request, "reviews/upload.html", {"collection": collection, "result": result,
                                                   "refused": result.refused}, status=status)


COLLECTION_BULK = {"send_to_client", "approve", "request_changes", "submit"}


@login_required
@require_POST
def collection_action(request, pk: int):
    """One transition for every image of the collection where it is possible (e.g. approve all)."""
    collection = _collection(request, pk, "view_collection")
    action = request.POST.get("action", "")
    if action not in COLLECTION_BULK:
        return HttpResponseBadRequest("unknown collection action")
    from_states = workflow.TRANSITIONS[action][0]
    images = [i for i in policies.visible_images(request.user).filter(collection=collection, state__in=from_states)
              .select_related("collection") if policies.can(request.user, action, i)]
    if not images:
        messages.error(request, f"No image here can {action.replace('_', ' ')} now.")
        return redirect("collection_detail", pk)
    try:
        result = workflow.bulk(images, request.user, action, reason=request.POST.get("reason", ""))
    except workflow.WorkflowError as exc:
        messages.error(request, str(exc))
        return redirect("collection_detail", pk)
    if result.done:
        messages.success(request, f"{action.replace('_', ' ').capitalize()}: {len(result.done)} image(s).")
    for image, why in result.refused:
        messages.error(request, f"{image.name}: {why}")
    return redirect("collection_detail", pk)


@login_required
@require_GET
def collection_audit(request, pk: int):
    collection = _collection(request, pk, "view_audit")
    events = AuditEvent.objects.filter(collection_id=collection.pk).select_related("actor").order_by("-created_at", "-id")[:500]
    names = dict(collection.images.values_list("id", "name"))
    return render(request, "reviews/audit.html", {"collection": collection, "events": events, "names": names})


# ------------------------------------------------------------------ swatches

@login_required
@require_POST
def swatch_create(request, pk: int):
    collection = _collection(request, pk, "manage_swatches")
    ref_id = request.POST.get("reference", "")
    reference = collection.images.filter(pk=int(ref_id)).first() if ref_id.isdigit() else None
    try:
        colour.create_swatch(collection, request.user, request.POST.get("name", ""), request.POST.get("colour", ""),
                             request.POST.get("tolerance", "2"), reference=reference,
                             rect=[request.POST.get(k) for k in ("x", "y", "w", "h")])
        messages.success(request, "Swatch added; the client approves it.")
    except colour.ColourError as exc:
        messages.error(request, str(exc))
    return redirect("collection_detail", pk)


@login_required
@require_POST
def swatch_approve(request, pk: int):
    swatch = _get(Swatch, pk, request.user, "approve_swatch", related=("collection",))
    colour.approve_swatch(swatch, request.user)
    messages.success(request, f"Approved the colour reference “{swatch.name}”.")
    return redirect("collection_detail", swatch.collection_id)


# ------------------------------------------------------------------ images

@login_required
@require_GET
def image_detail(request, pk: int):
    image = _image(request, pk, "view_image")
    u = request.user
    approval = image.current_approval
    actions = [a for a in ("submit", "send_to_client", "approve", "request_changes", "send_back", "retry_ingest")
               if policies.can(u, a, image)]
    checks = {c.swatch_id: c for c in image.colour_checks.all()}
    swatches = [(s, checks.get(s.pk)) for s in image.collection.swatches.all()]
    return render(request, "reviews/image_detail.html", {
        "image": image, "approval": approval, "actions": actions,
        "comments": image.comments.select_related("author").filter(parent__isnull=True).prefetch_related("replies__author"),
        "findings": image.findings.all()[:50],
        "operations": image.operations.select_related("author").order_by("-seq")[:50],
        "swatches": swatches,
        "can_assign": policies.can(u, "assign", image),
        "can_edit": policies.can(u, "edit_image", image),
        "can_download": policies.can(u, "download_original", image),
        "retoucher_choices": User.objects.filter(profile__studio=image.collection.studio_id, profile__role=Role.RETOUCHER),
        "editor_url": editor_url(image),
    })


def _form_or_json(request) -> dict:
    """POST fields, or the JSON object body the editor sends."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
    return request.POST


@login_required
@require_POST
def image_transition(request, pk: int, action: str | None = None):
    """A workflow step on one image: ``action`` from the URL (image_approve …) or the form."""
    data = _form_or_json(request)
    action = action or str(data.get("action", ""))
    if action not in workflow.TRANSITIONS:
        return HttpResponseBadRequest("unknown action")
    image = _image(request, pk, "view_image" if action != "retry_ingest" else "retry_ingest")
    assignee = None
    if action == "assign":
        raw = str(data.get("assignee") or "")
        assignee = User.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    try:
        workflow.transition(image, request.user, action, reason=str(data.get("reason", "") or ""), assignee=assignee)
    except workflow.WorkflowError as exc:
        if request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse({"error": str(exc)}, status=409)
        messages.error(request, str(exc))
        return _back(request, reverse("image_detail", args=[pk]))
    if request.headers.get("Accept", "").startswith("application/json"):
        image.refresh_from_db()
        return JsonResponse({"id": image.pk, "state": image.state})
    messages.success(request, f"{image.name}: {action.replace('_', ' ')} done.")
    return _back(request, reverse("image_detail", args=[pk]))


@login_required
@require_GET
def image_original(request, pk: int):
    image = _image(request, pk, "download_original")
    return _send_file(image.original.name, filename=image.name, as_attachment=True)


@login_required
@require_GET
def image_thumbnail(request, pk: int):
    """A small JPEG preview of the photo (sRGB), cached next to it."""
    from PIL import Image as PILImage

    image = _image(request, pk, "view_image")
    name = f"{image.folder}/thumb.jpg"
    if not storage.exists(name):
        src = f"{image.folder}/srgb.png"
        if not storage.exists(src):
            raise Http404("not ingested yet")
        import io

        with storage.default_storage.open(src, "rb") as fh:
            pil = PILImage.open(fh)
            pil.thumbnail((320, 320))
            buf = io.BytesIO()
            pil.convert("RGB").save(buf, "JPEG", quality=85)
        storage.write_bytes(name, buf.getvalue())
    return _send_file(name, content_type="image/jpeg")


@login_required
@require_GET
def image_heatmap(request, pk: int):
    image = _image(request, pk, "view_image")
    return _send_file(f"{image.folder}/qa_heatmap.png", content_type="image/png")


def _seq(value, image: Image) -> int:
    try:
        seq = int(value)
    except (TypeError, ValueError):
        raise Http404("no such revision") from None
    if not 0 <= seq <= image.head_seq:
        raise Http404("no such revision")
    return seq


@login_required
@require_GET
def revision_mask(request, pk: int, seq: int):
    """The mask of one revision as a grey PNG (0 = background, 255 = object)."""
    image = _image(request, pk, "view_history")
    seq = _seq(seq, image)
    try:
        return _png_response(masklog.render_revision(image, seq))
    except MaskError as exc:
        return HttpResponseBadRequest(str(exc))


def _diff(image: Image, a: int, b: int):
    ma = masklog.render_revision(image, a).astype(np.int16)
    mb = masklog.render_revision(image, b).astype(np.int16)
    delta = mb - ma
    changed = np.abs(delta) > 0
    ys, xs = np.nonzero(changed)
    bbox = None if xs.size == 0 else (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    return delta, {"changed_px": int(changed.sum()), "added_px": int((delta > 0).sum()),
                   "removed_px": int((delta < 0).sum()), "bbox": bbox}


@login_required
@require_GET
def revision_compare(request, pk: int):
    """Compare two revisions: changed pixel counts, bounding box, and a difference picture."""
    image = _image(request, pk, "view_history")
    a = _seq(request.GET.get("a", max(image.head_seq - 1, 0)), image)
    b = _seq(request.GET.get("b", image.head_seq), image)
    if not image.base_alpha:
        raise Http404("not ingested yet")
    _delta, stats = _diff(image, a, b)
    return render(request, "reviews/compare.html", {"image": image, "a": a, "b": b, "stats": stats,
                                                    "revisions": range(image.head_seq + 1)})


@login_required
@require_GET
def revision_diff_png(request, pk: int):
    """Green = added to the object from a to b, magenta = removed, grey = the mask at b."""
    image = _image(request, pk, "view_history")
    a = _seq(request.GET.get("a"), image)
    b = _seq(request.GET.get("b"), image)
    delta, _ = _diff(image, a, b)
    mb = masklog.render_revision(image, b)
    out = np.dstack([mb // 3] * 3).astype(np.uint8)
    out[delta > 0] = (40, 220, 90)
    out[delta < 0] = (230, 40, 200)
    return _png_response(out)


@login_required
@require_POST
def comment_create(request, pk: int):
    image = _image(request, pk, "comment")
    body = request.POST.get("body", "").strip()
    try:
        x, y = float(request.POST.get("x", "")), float(request.POST.get("y", ""))
    except ValueError:
        x = y = float("nan")
    if not body or len(body) > MAX_COMMENT:
        return HttpResponseBadRequest(f"a comment needs text (at most {MAX_COMMENT} characters)")
    if not (0 <= x <= image.width and 0 <= y <= image.height):  # also refuses NaN
        return HttpResponseBadRequest(f"the pin must be inside the {image.width}x{image.height} image")
    parent = None
    if request.POST.get("parent"):
        parent = image.comments.filter(pk=request.POST["parent"]).first()
        if parent is None:
            return HttpResponseBadRequest("the comment replied to is not on this image")
    Comment.objects.create(image=image, author=request.user, x=x, y=y, body=body, parent=parent, seq=image.head_seq)
    return redirect("image_detail", pk)


@login_required
@require_POST
def comment_resolve(request, pk: int):
    comment = _get(Comment, pk, request.user, "resolve_comment", related=("image", "image__collection"))
    Comment.objects.filter(pk=comment.pk).update(resolved=request.POST.get("resolved", "1") == "1")
    return redirect("image_detail", comment.image_id)


@login_required
@require_POST
def colour_measure(request, pk: int):
    image = _image(request, pk, "measure_colour")
    swatch = image.collection.swatches.filter(pk=request.POST.get("swatch") or 0).first()
    if swatch is None:
        return HttpResponseBadRequest("choose a swatch of this collection")
    if not image.base_alpha:
        return HttpResponseBadRequest("the image is not ingested yet")
    try:
        check = colour.measure(image, swatch, [request.POST.get(k) for k in ("x", "y", "w", "h")], request.user)
    except colour.ColourError as exc:
        if request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse({"error": str(exc)}, status=400)
        return HttpResponseBadRequest(str(exc))
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"delta_e": check.delta_e, "passed": check.passed,
                             "measured_lab": [check.measured_l, check.measured_a, check.measured_b]})
    return redirect("image_detail", pk)


# ------------------------------------------------------------------ exports

@login_required
@require_POST
def export_create(request, pk: int):
    collection = _collection(request, pk, "export")
    try:
        export = exports.request_export(collection, request.user, request.POST.get("background"))
    except exports.ExportError as exc:
        if request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse({"error": str(exc)}, status=400)
        messages.error(request, str(exc))
        return redirect("collection_detail", pk)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"id": export.pk, "status": export.status}, status=202)
    messages.success(request, "Export started; it appears below when ready.")
    return redirect("collection_detail", pk)


@login_required
@require_GET
def export_status(request, pk: int):
    export = get_object_or_404(Export.objects.select_related("collection"), pk=pk)
    policies.require(request.user, "download_export", export)
    return JsonResponse({"id": export.pk, "status": export.status, "error": export.error,
                         "images": export.image_count,
                         "url": reverse("export_download", args=[export.pk]) if export.status == Export.Status.DONE else None})


@login_required
@require_GET
def export_download(request, pk: int):
    export = get_object_or_404(Export.objects.select_related("collection"), pk=pk)
    policies.require(request.user, "download_export", export)
    if export.status != Export.Status.DONE:
        raise Http404("the export is not ready")
    return _send_file(export.file.name, filename=f"{export.collection.name}-{export.pk}.zip", as_attachment=True,
                      content_type="application/zip")


# ------------------------------------------------------------------ the edit log over HTTP

@login_required
def api_operations(request, pk: int):
    """GET ?since=N: entries after N. POST {"kind","op"|-,"client_id"}: append (as the socket does)."""
    if request.method == "GET":
        image = _image(request, pk, "view_history")
        try:
            since = int(request.GET.get("since", 0))
        except ValueError:
            return JsonResponse({"error": "since must be a whole number"}, status=400)
        return JsonResponse({"head_seq": image.head_seq,
                             "operations": [masklog.operation_frame(o) for o in masklog.operations_since(image, since)]})
    if request.method != "POST":
        return JsonResponse({"error": "GET or POST"}, status=405)
    from reviews import throttle
    from reviews.services import realtime

    _image(request, pk, "edit_image")
    if not throttle.edit_allowed(request.user.pk):  # the websocket's message rate, per person
        response = JsonResponse({"error": "too many edits: slow down"}, status=429)
        response["Retry-After"] = str(throttle.edit_window_s())
        return response
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        # the same hot path as the websocket: policy, masklog, then the broadcast to open editors
        frame, fresh = realtime.record_edit(request.user, pk, str(body.get("kind", "op")), body.get("op"),
                                            body.get("client_id"))
    except (ValueError, MaskError) as exc:  # JSONDecodeError, OpError and EditRefused are ValueErrors
        return JsonResponse({"error": str(exc)}, status=400)
    if fresh:
        _broadcast(pk, frame)
    return JsonResponse({"type": "ack", "client_id": frame["client_id"], "seq": frame["seq"], "frame": frame},
                        status=201)


def _broadcast(image_id: int, frame: dict) -> None:
    """Tell everyone who has the image open in the editor (same event shape as the consumer's)."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from reviews.services import realtime

    from reviews.layers import LAYER_UNAVAILABLE

    layer = get_channel_layer()
    if layer is not None:
        try:
            async_to_sync(layer.group_send)(realtime.group_name(image_id), {
                "type": "relay", "text": json.dumps(frame, separators=(",", ":")), "skip": None, "reply_to": None})
        except LAYER_UNAVAILABLE:  # the edit is stored; open editors resume once Redis is back
            log.warning("image %s: seq %s stored but not broadcast (channel layer unreachable)",
                        image_id, frame.get("seq"))
