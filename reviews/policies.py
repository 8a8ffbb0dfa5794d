"""Every permission rule of JewelReview, in one place.

``can(user, action, obj)`` answers; ``require`` raises ``PermissionDenied``. Views, consumers,
tile / render / download views and Celery-triggering endpoints all ask here; nothing else
decides who may see or change what.

Rules (role × action × own/other studio or organisation):
- lead: everything in their own studio (within what the image's state allows).
- retoucher: the images assigned to them, plus the context of those images' collections
  (collection page with their own images, swatches); edits and submits while in retouch.
- client: only their own organisation's collections, and only images that were sent for client
  review; they comment, approve or request changes, approve swatches, download approved exports.
- anyone else (no profile, anonymous, inactive): nothing.
"""
from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from reviews.models import ClientOrg, Collection, Comment, Export, Image, Profile, Role, State, Studio, Swatch

EDITABLE_BY_RETOUCHER = {State.IN_RETOUCH, State.CHANGES_REQUESTED}
# a lead may correct the mask at any stage after ingest; an edit after approval makes it stale
EDITABLE_BY_LEAD = {
    State.READY_FOR_RETOUCH, State.IN_RETOUCH, State.CHANGES_REQUESTED,
    State.LEAD_REVIEW, State.CLIENT_REVIEW, State.APPROVED,
}
ASSIGNABLE = {State.READY_FOR_RETOUCH, State.IN_RETOUCH, State.CHANGES_REQUESTED}
CLIENT_DECIDES = {State.CLIENT_REVIEW}
CLIENT_REOPENS = {State.CLIENT_REVIEW, State.APPROVED}

# what everyone who may see an image may also do with it
VIEWER_ACTIONS = {"view_image", "view_tiles", "comment", "view_history", "measure_colour"}
IMAGE_ACTIONS = {
    "view_image", "download_original", "view_tiles", "edit_image", "comment", "submit",
    "send_back", "send_to_client", "approve", "request_changes", "assign", "retry_ingest",
    "view_history", "measure_colour",
}
COLLECTION_ACTIONS = {
    "view_collection", "upload", "export", "download_export", "manage_swatches", "assign",
    "view_audit", "send_to_client",
}
STUDIO_ACTIONS = {"create_collection", "view_lead_dashboard", "view_audit"}
OTHER_ACTIONS = {
    "approve_swatch": Swatch, "view_swatch": Swatch, "manage_swatches": Swatch,
    "resolve_comment": Comment, "view_client_dashboard": ClientOrg, "download_export": Export,
}
ACTIONS = IMAGE_ACTIONS | COLLECTION_ACTIONS | STUDIO_ACTIONS | set(OTHER_ACTIONS) | {"view_retoucher_dashboard"}


def profile_of(user) -> Profile | None:
    """The user's profile if they are signed in, active and have one; cached on the user."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    cached = getattr(user, "_jr_profile", False)
    if cached is not False:
        return cached
    try:
        profile = Profile.objects.select_related("client_org").get(user_id=user.pk)
    except Profile.DoesNotExist:
        profile = None
    user._jr_profile = profile
    return profile


# an image still new/processing after this long lost its task (a worker or the server restarted)
STUCK_AFTER = timedelta(minutes=10)


def _stuck(image: Image) -> bool:
    return image.state in (State.NEW, State.PROCESSING) and image.state_changed_at < timezone.now() - STUCK_AFTER


def _collection_visible_to_client(collection: Collection) -> bool:
    return collection.images.filter(sent_to_client_at__isnull=False).exists()


def _image_rules(p: Profile, action: str, image: Image) -> bool:
    collection = image.collection
    if collection.studio_id != p.studio_id:
        return False
    state = image.state
    if p.role == Role.LEAD:
        if action in VIEWER_ACTIONS or action == "download_original":
            return True
        return {
            "edit_image": state in EDITABLE_BY_LEAD,
            "submit": state in EDITABLE_BY_RETOUCHER,
            "send_back": state in {State.LEAD_REVIEW, State.CLIENT_REVIEW, State.APPROVED},
            "send_to_client": state == State.LEAD_REVIEW,
            "approve": state in CLIENT_DECIDES,  # on the client's behalf, recorded as the lead
            # "request changes" is the client's word; the lead sends work back instead
            "assign": state in ASSIGNABLE,
            "retry_ingest": state == State.FAILED or _stuck(image),
        }.get(action, False)
    if p.role == Role.RETOUCHER:
        if image.assignee_id != p.user_id:
            return False
        if action in VIEWER_ACTIONS or action == "download_original":
            return True
        return action in {"edit_image", "submit"} and state in EDITABLE_BY_RETOUCHER
    if p.role == Role.CLIENT:
        if collection.client_org_id != p.client_org_id or image.sent_to_client_at is None:
            return False
        if action in VIEWER_ACTIONS:
            return True
        if action == "download_original":
            return False  # clients see the photo through tiles; originals stay in the studio
        if action == "approve":
            return state in CLIENT_DECIDES
        if action == "request_changes":
            return state in CLIENT_REOPENS
    return False


def _collection_rules(p: Profile, action: str, collection: Collection) -> bool:
    if collection.studio_id != p.studio_id:
        return False
    if p.role == Role.LEAD:
        return True
    if p.role == Role.RETOUCHER:
        return action == "view_collection" and collection.images.filter(assignee_id=p.user_id).exists()
    if p.role == Role.CLIENT:
        if collection.client_org_id != p.client_org_id or not _collection_visible_to_client(collection):
            return False
        return action in {"view_collection", "export", "download_export"}
    return False


def can(user, action: str, obj) -> bool:
    """May ``user`` do ``action`` on ``obj``? Unknown actions are a programming error (ValueError)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    p = profile_of(user)
    if p is None or obj is None:
        return False
    if isinstance(obj, Image) and action in IMAGE_ACTIONS:
        return _image_rules(p, action, obj)
    if isinstance(obj, Collection) and action in COLLECTION_ACTIONS:
        return _collection_rules(p, action, obj)
    if isinstance(obj, Studio) and action in STUDIO_ACTIONS:
        return p.role == Role.LEAD and obj.pk == p.studio_id
    if isinstance(obj, Swatch) and action in {"approve_swatch", "view_swatch", "manage_swatches"}:
        if action == "manage_swatches":
            return _collection_rules(p, "manage_swatches", obj.collection)
        if action == "approve_swatch":
            return p.role == Role.CLIENT and _collection_rules(p, "view_collection", obj.collection)
        return _collection_rules(p, "view_collection", obj.collection)
    if isinstance(obj, Comment) and action == "resolve_comment":
        if not _image_rules(p, "comment", obj.image):
            return False
        return obj.author_id == p.user_id or p.role == Role.LEAD
    if isinstance(obj, Export) and action == "download_export":
        # an export made for the studio may hold more than a client may see: clients get only
        # the exports they asked for themselves
        if not _collection_rules(p, "download_export", obj.collection):
            return False
        return p.role == Role.LEAD or obj.requested_by_id == p.user_id
    if isinstance(obj, ClientOrg) and action == "view_client_dashboard":
        return p.role == Role.CLIENT and obj.pk == p.client_org_id
    if action == "view_retoucher_dashboard":
        # obj is the retoucher whose queue is shown: themself, or any retoucher of a lead's studio
        target = profile_of(obj) if hasattr(obj, "is_authenticated") else None
        if target is None or target.studio_id != p.studio_id or target.role != Role.RETOUCHER:
            return False
        return p.role == Role.LEAD or target.user_id == p.user_id
    return False


def require(user, action: str, obj) -> None:
    """Raise ``PermissionDenied`` unless ``can(user, action, obj)``."""
    if not can(user, action, obj):
        raise PermissionDenied(f"not allowed to {action.replace('_', ' ')}")


def _visible(user, qs, to_image: str, to_collection: str):
    """``qs`` narrowed to what ``user`` may see; ``to_image`` / ``to_collection`` are the lookup
    prefixes from the queryset's model to the image and to its collection ("" for the model
    itself), so images and collections share one rule."""
    p = profile_of(user)
    if p is None:
        return qs.none()
    qs = qs.filter(**{f"{to_collection}studio_id": p.studio_id})
    if p.role == Role.LEAD:
        return qs
    if p.role == Role.RETOUCHER:
        return qs.filter(**{f"{to_image}assignee_id": p.user_id})
    if p.role == Role.CLIENT:
        return qs.filter(**{f"{to_collection}client_org_id": p.client_org_id,
                            f"{to_image}sent_to_client_at__isnull": False})
    return qs.none()


def visible_images(user):
    """Queryset of the images ``user`` may view (same rules as ``view_image``)."""
    return _visible(user, Image.objects.all(), to_image="", to_collection="collection__")


def visible_collections(user):
    """Queryset of the collections ``user`` may view (same rules as ``view_collection``)."""
    return _visible(user, Collection.objects.all(), to_image="images__", to_collection="").distinct()


def visible_exports(user, collection: Collection):
    """The exports of ``collection`` that ``user`` may download (same rules as ``download_export``)."""
    if not can(user, "download_export", collection):
        return collection.exports.none()
    if profile_of(user).role == Role.LEAD:
        return collection.exports.all()
    return collection.exports.filter(requested_by_id=user.pk)

