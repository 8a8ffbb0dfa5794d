"""Workflow transitions of images. The only code that changes ``Image.state``.

Each transition: the policy is asked, then ONE transaction locks the image row, moves the
state with a conditional UPDATE (``WHERE state IN (allowed from-states)``), and appends an
``AuditEvent``. If someone else moved the image first, the update matches no row and the
caller gets a ``WorkflowError`` — nothing changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reviews import policies
from reviews.models import Approval, AuditEvent, Image, Profile, Role, State


class WorkflowError(Exception):
    """A transition that is not possible now; the message says why."""


MAX_REASON = 2000

# action -> (from-states, to-state); the policy additionally decides who
TRANSITIONS: dict[str, tuple[frozenset, str | None]] = {
    "assign": (frozenset({State.READY_FOR_RETOUCH, State.IN_RETOUCH, State.CHANGES_REQUESTED}), None),
    "submit": (frozenset({State.IN_RETOUCH, State.CHANGES_REQUESTED}), State.LEAD_REVIEW),
    "send_back": (frozenset({State.LEAD_REVIEW, State.CLIENT_REVIEW, State.APPROVED}), State.CHANGES_REQUESTED),
    "send_to_client": (frozenset({State.LEAD_REVIEW}), State.CLIENT_REVIEW),
    "approve": (frozenset({State.CLIENT_REVIEW}), State.APPROVED),
    "request_changes": (frozenset({State.CLIENT_REVIEW, State.APPROVED}), State.CHANGES_REQUESTED),
    # new/processing only once the policy calls it stuck (its task was lost)
    "retry_ingest": (frozenset({State.FAILED, State.NEW, State.PROCESSING}), State.NEW),
}
NEEDS_REASON = {"send_back", "request_changes"}


def audit(action: str, *, studio_id: int, actor=None, image: Image | None = None, collection_id=None,
          from_state: str = "", to_state: str = "", seq=None, **detail) -> AuditEvent:
    """Append one event to the audit log (never updated or deleted)."""
    return AuditEvent.objects.create(
        actor=actor if actor is not None and getattr(actor, "pk", None) else None,
        action=action, studio_id=studio_id,
        collection_id=collection_id or (image.collection_id if image is not None else None),
        image=image, from_state=from_state, to_state=to_state, seq=seq, detail=detail,
    )


def _clean_reason(reason) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError("say what needs to change (a reason is required)")
    if len(reason) > MAX_REASON:
        raise WorkflowError(f"the reason is longer than {MAX_REASON} characters")
    return reason


def transition(image: Image, user, action: str, *, reason: str = "", assignee: User | None = None) -> Image:
    """Perform ``action`` on ``image`` as ``user``; return the image reloaded.

    Raises PermissionDenied (policy) or WorkflowError (state moved on, missing reason, bad assignee).
    """
    if action not in TRANSITIONS:
        raise ValueError(f"unknown transition {action!r}")
    policies.require(user, action, image)
    from_states, to_state = TRANSITIONS[action]
    if action in NEEDS_REASON:
        reason = _clean_reason(reason)
    if action == "assign":
        _check_assignee(image, assignee)
    now = timezone.now()
    with transaction.atomic():
        locked = Image.objects.select_for_update().select_related("collection").get(pk=image.pk)
        if locked.state not in from_states:
            raise WorkflowError(f"the image is {locked.get_state_display().lower()} now; it cannot {action.replace('_', ' ')}")
        changes: dict = {"updated_at": now}
        new_state = to_state
        if action == "assign":
            # reassigning work that was sent back keeps its "changes requested" reason visible
            new_state = State.CHANGES_REQUESTED if locked.state == State.CHANGES_REQUESTED else State.IN_RETOUCH
            changes["assignee"] = assignee
        if action in NEEDS_REASON:
            changes["change_reason"] = reason
            Approval.objects.filter(image_id=locked.pk, revoked=False).update(revoked=True)
            changes["approved_at"] = None
        if action == "send_to_client":
            changes["sent_to_client_at"] = locked.sent_to_client_at or now
        if action == "retry_ingest":
            changes["error"] = ""
        if action == "approve":
            Approval.objects.create(image_id=locked.pk, user=user, seq=locked.head_seq, created_at=now)
            changes["approved_at"] = now
        if new_state != locked.state:
            changes["state"] = new_state
            changes["state_changed_at"] = now
        updated = Image.objects.filter(pk=locked.pk, state=locked.state).update(**changes)
        if updated != 1:  # pragma: no cover - the row lock makes this unreachable; kept as a guard
            raise WorkflowError("the image changed meanwhile; reload and try again")
        detail = {}
        if reason:
            detail["reason"] = reason
        if assignee is not None:
            detail["assignee"] = assignee.get_username()
        audit(action, studio_id=locked.collection.studio_id, actor=user, image=locked,
              from_state=locked.state, to_state=new_state, seq=locked.head_seq, **detail)
    if action == "retry_ingest":
        from reviews.services.ingest import enqueue_ingest

        enqueue_ingest([image.pk])
    return Image.objects.select_related("collection", "assignee").get(pk=image.pk)


def _check_assignee(image: Image, assignee) -> None:
    if assignee is None:
        raise WorkflowError("choose a retoucher to assign")
    profile = Profile.objects.filter(user=assignee, role=Role.RETOUCHER, studio_id=image.collection.studio_id).first()
    if profile is None or not assignee.is_active:
        raise WorkflowError(f"{assignee.get_username()} is not a retoucher of this studio")


@dataclass
class BulkResult:
    done: list[Image] = field(default_factory=list)
    refused: list[tuple[Image, str]] = field(default_factory=list)  # (image, why)


def bulk(images, user, action: str, **kwargs) -> BulkResult:
    """Apply one transition to many images; each succeeds or is refused on its own."""
    from django.core.exceptions import PermissionDenied

    result = BulkResult()
    for image in images:
        try:
            result.done.append(transition(image, user, action, **kwargs))
        except (PermissionDenied, WorkflowError) as exc:
            result.refused.append((image, str(exc) or "not allowed"))
    return result


# --- ingest's own transitions (the system, no person) ---

def claim_for_ingest(image_id: int) -> bool:
    """new/processing → processing, counting the attempt. False when ingest is not wanted
    (already done, or failed and not retried): a redelivered task then does nothing."""
    now = timezone.now()
    return bool(
        Image.objects.filter(pk=image_id, state__in=[State.NEW, State.PROCESSING]).update(
            state=State.PROCESSING, ingest_attempts=F("ingest_attempts") + 1, state_changed_at=now, updated_at=now,
            error="",
        )
    )


def finish_ingest(image_id: int, **fields) -> bool:
    now = timezone.now()
    with transaction.atomic():
        done = Image.objects.filter(pk=image_id, state=State.PROCESSING).update(
            state=State.READY_FOR_RETOUCH, state_changed_at=now, updated_at=now, ingested_at=now, error="",
            ingest_step="", **fields,
        )
        if done:
            image = Image.objects.select_related("collection").get(pk=image_id)
            audit("ingested", studio_id=image.collection.studio_id, image=image,
                  from_state=State.PROCESSING, to_state=State.READY_FOR_RETOUCH, seq=0,
                  base_source=image.base_source)
    return bool(done)


def fail_ingest(image_id: int, message: str) -> bool:
    now = timezone.now()
    with transaction.atomic():
        done = Image.objects.filter(pk=image_id, state=State.PROCESSING).update(
            state=State.FAILED, error=message[:2000], state_changed_at=now, updated_at=now, ingest_step=""
        )
        if done:
            image = Image.objects.select_related("collection").get(pk=image_id)
            audit("ingest_failed", studio_id=image.collection.studio_id, image=image,
                  from_state=State.PROCESSING, to_state=State.FAILED, error=message[:2000])
    return bool(done)
