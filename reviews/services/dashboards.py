"""Figures for the three dashboards, computed with a few grouped queries (no per-image loops)."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Count
from django.utils import timezone

from reviews import policies
from reviews.models import STATE_ORDER, Collection, Image, Role, State, derive_collection_state

WAITING_STATES = [s for s in STATE_ORDER if s not in (State.APPROVED,)]
WIP_STATES = [State.IN_RETOUCH, State.CHANGES_REQUESTED]


def _counts(qs, key: str) -> dict:
    out: dict = {}
    for row in qs.values(key, "state").annotate(n=Count("id")):
        out.setdefault(row[key], dict.fromkeys(STATE_ORDER, 0))[row["state"]] = row["n"]
    return out


@dataclass
class Turnaround:
    count: int
    median_hours: float | None
    mean_hours: float | None


def turnaround(images) -> Turnaround:
    """Ingest (upload) → approval, in hours, over approved images."""
    hours = [
        (a - c).total_seconds() / 3600
        for c, a in images.filter(state=State.APPROVED, approved_at__isnull=False).values_list("created_at", "approved_at")
    ]
    if not hours:
        return Turnaround(0, None, None)
    return Turnaround(len(hours), round(statistics.median(hours), 2), round(statistics.fmean(hours), 2))


def lead_dashboard(studio, *, waiting_limit: int = 10) -> dict:
    images = Image.objects.filter(collection__studio=studio)
    by_collection = _counts(images, "collection_id")
    collections = []
    for c in Collection.objects.filter(studio=studio).select_related("client_org"):
        counts = by_collection.get(c.pk, dict.fromkeys(STATE_ORDER, 0))
        total = sum(counts.values())
        collections.append({
            "collection": c, "counts": counts, "total": total, "state": derive_collection_state(counts),
            "approved_pct": round(100 * counts[State.APPROVED] / total) if total else 0,
            "turnaround": turnaround(images.filter(collection=c)),
        })
    by_assignee = _counts(images.filter(assignee__isnull=False), "assignee_id")
    retouchers = []
    for user in User.objects.filter(profile__studio=studio, profile__role=Role.RETOUCHER, is_active=True).order_by("username"):
        counts = by_assignee.get(user.pk, dict.fromkeys(STATE_ORDER, 0))
        retouchers.append({
            "user": user, "counts": counts, "wip": sum(counts[s] for s in WIP_STATES),
            "turnaround": turnaround(images.filter(assignee=user)),
        })
    wips = [r["wip"] for r in retouchers]
    mean_wip = statistics.fmean(wips) if wips else 0
    for r in retouchers:
        # overloaded: clearly more open work than the team average (and more than a couple)
        r["overloaded"] = r["wip"] >= 3 and r["wip"] > 1.5 * mean_wip
    now = timezone.now()
    waiting = list(
        images.filter(state__in=WAITING_STATES).select_related("collection", "assignee").order_by("state_changed_at", "id")[:waiting_limit]
    )
    for image in waiting:
        image.waiting_hours = round((now - image.state_changed_at).total_seconds() / 3600, 1)
    return {
        "collections": collections, "retouchers": retouchers, "waiting": waiting,
        "totals": {s: sum(c["counts"][s] for c in collections) for s in STATE_ORDER},
        "turnaround": turnaround(images),
        "assignable": images.filter(state__in=sorted(policies.ASSIGNABLE)).select_related("collection", "assignee"),
    }


def retoucher_queue(user) -> dict:
    mine = Image.objects.filter(assignee=user).select_related("collection").annotate(finding_count=Count("findings"))
    # sent back first (someone is waiting on a fix), then oldest first
    todo = list(mine.filter(state=State.CHANGES_REQUESTED).order_by("state_changed_at")) + list(
        mine.filter(state=State.IN_RETOUCH).order_by("state_changed_at")
    )
    return {
        "todo": todo,
        "submitted": list(mine.filter(state__in=[State.LEAD_REVIEW, State.CLIENT_REVIEW]).order_by("-state_changed_at")),
        "done": mine.filter(state=State.APPROVED).count(),
    }


def client_dashboard(user) -> dict:
    collections = []
    visible = policies.visible_images(user)
    counts = _counts(visible, "collection_id")
    for c in policies.visible_collections(user).order_by("-created_at"):
        cs = counts.get(c.pk, dict.fromkeys(STATE_ORDER, 0))
        sent = sum(cs.values())
        collections.append({
            "collection": c, "counts": cs, "sent": sent,
            "awaiting": cs[State.CLIENT_REVIEW], "approved": cs[State.APPROVED],
            "approved_pct": round(100 * cs[State.APPROVED] / sent) if sent else 0,
            "swatches_pending": c.swatches.filter(approved_at__isnull=True).count(),
        })
    awaiting = list(visible.filter(state=State.CLIENT_REVIEW).select_related("collection").order_by("state_changed_at"))
    stale = [i for i in visible.filter(state=State.APPROVED).select_related("collection") if _stale(i)]
    return {"collections": collections, "awaiting": awaiting, "stale": stale}


def _stale(image: Image) -> bool:
    approval = image.current_approval
    return approval is not None and approval.stale
