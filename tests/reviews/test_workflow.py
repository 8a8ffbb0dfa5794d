"""Workflow transitions: policy-checked, conditional, audited; approvals and staleness."""
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.db import connection, transaction

from reviews.models import Approval, AuditEvent, Image, State, derive_collection_state
from reviews.services import masklog, workflow
from tests.conftest import make_ingested, rect_op

pytestmark = pytest.mark.django_db


def run(image, user, action, **kw):
    return workflow.transition(Image.objects.get(pk=image.pk), user, action, **kw)


def test_full_path_records_approval_and_audit(world):
    u = world.users
    image = make_ingested(world.unassigned)  # ready_for_retouch
    run(image, u["lead"], "assign", assignee=u["retoucher2"])
    masklog.append(image.pk, u["retoucher2"], "op", rect_op(1, 1, 4, 4), "e1")
    run(image, u["retoucher2"], "submit")
    run(image, u["lead"], "send_to_client")
    done = run(image, u["client_a"], "approve")
    assert done.state == State.APPROVED and done.approved_at is not None and done.sent_to_client_at is not None
    approval = done.current_approval
    assert (approval.user, approval.seq, approval.stale) == (u["client_a"], 1, False)
    events = list(AuditEvent.objects.filter(image_id=image.pk).values_list("action", "from_state", "to_state", "actor__username"))
    assert events == [
        ("assign", "ready_for_retouch", "in_retouch", "lead"),
        ("submit", "in_retouch", "lead_review", "retoucher2"),
        ("send_to_client", "lead_review", "client_review", "lead"),
        ("approve", "client_review", "approved", "client_a"),
    ]
    # an edit after approval makes it stale (and the approval still names revision 1)
    masklog.append(image.pk, u["lead"], "op", rect_op(20, 20, 4, 4), "late")
    approval = Image.objects.get(pk=image.pk).current_approval
    assert approval.stale and approval.seq == 1


def test_changes_requested_needs_reason_and_revokes_approval(world):
    u = world.users
    image = world.image
    run(image, u["retoucher1"], "submit")
    run(image, u["lead"], "send_to_client")
    run(image, u["client_a"], "approve")
    with pytest.raises(workflow.WorkflowError, match="reason"):
        run(image, u["client_a"], "request_changes", reason="   ")
    assert Image.objects.get(pk=image.pk).state == State.APPROVED
    back = run(image, u["client_a"], "request_changes", reason="Prong at top left is clipped")
    assert back.state == State.CHANGES_REQUESTED and back.change_reason == "Prong at top left is clipped"
    assert back.current_approval is None and Approval.objects.filter(image=image, revoked=True).count() == 1
    assert back.assignee == u["retoucher1"]  # goes back to the same retoucher
    assert AuditEvent.objects.filter(image_id=image.pk, action="request_changes").get().detail["reason"].startswith("Prong")
    run(image, u["retoucher1"], "submit")
    assert Image.objects.get(pk=image.pk).state == State.LEAD_REVIEW


def test_refused_transitions_change_nothing(world):
    u = world.users
    image = world.image  # in retouch
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        run(image, u["retoucher2"], "submit")  # not theirs
    with pytest.raises(PermissionDenied):
        run(image, u["client_a"], "approve")  # not sent, wrong state
    with pytest.raises(workflow.WorkflowError, match="not a retoucher"):
        run(image, u["lead"], "assign", assignee=u["client_a"])
    stale = Image.objects.get(pk=image.pk)
    run(image, u["retoucher1"], "submit")
    # a second submit from an out-of-date copy: the policy sees lead_review and refuses
    with pytest.raises((PermissionDenied, workflow.WorkflowError)):
        workflow.transition(stale, u["lead"], "submit")
    assert Image.objects.get(pk=image.pk).state == State.LEAD_REVIEW
    assert AuditEvent.objects.count() == before + 1


def test_conditional_update_loses_race_cleanly(world, monkeypatch):
    """If the state moved between the policy check and the locked update, nothing is written."""
    u = world.users
    image = Image.objects.get(pk=world.image.pk)
    Image.objects.filter(pk=image.pk).update(state=State.LEAD_REVIEW)  # someone else submitted
    monkeypatch.setattr(workflow.policies, "require", lambda *a: None)  # the check ran on the old copy
    with pytest.raises(workflow.WorkflowError, match="lead review now"):
        workflow.transition(image, u["retoucher1"], "submit")
    assert not AuditEvent.objects.filter(image_id=image.pk).exists()


def test_bulk_assign_reports_each(world):
    u = world.users
    result = workflow.bulk([world.unassigned, world.other_studio_image], u["lead"], "assign", assignee=u["retoucher2"])
    assert [i.pk for i in result.done] == [world.unassigned.pk]
    assert result.refused[0][0].pk == world.other_studio_image.pk


def test_audit_log_is_append_only(world):
    event = workflow.audit("note", studio_id=world.studio.pk, actor=world.users["lead"])
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    for sql in ("UPDATE reviews_auditevent SET action = 'x'", "DELETE FROM reviews_auditevent"):
        with pytest.raises(Exception, match="append-only"):
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(sql)
    assert AuditEvent.objects.get(pk=event.pk).action == "note"


def test_collection_state_follows_images():
    c = dict.fromkeys([s.value for s in State], 0)
    assert derive_collection_state(c) == "empty"
    assert derive_collection_state({**c, "approved": 3}) == "approved"
    assert derive_collection_state({**c, "approved": 3, "client_review": 1}) == "client_review"
    assert derive_collection_state({**c, "processing": 1, "approved": 5}) == "processing"


def test_retry_ingest_only_failed(world, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("reviews.tasks.ingest_image.delay", lambda pk: queued.append(pk))
    image = world.unassigned
    Image.objects.filter(pk=image.pk).update(state=State.FAILED, error="truncated file")
    with django_capture_on_commit_callbacks(execute=True):
        again = run(image, world.users["lead"], "retry_ingest")
    assert again.state == State.NEW and again.error == "" and queued == [image.pk]
    with pytest.raises(PermissionDenied):
        run(image, world.users["lead"], "retry_ingest")  # queued just now: not stuck
    # a task lost with a restarted server: after a while the lead can start it again
    Image.objects.filter(pk=image.pk).update(state=State.PROCESSING, state_changed_at=timezone.now() - timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        assert run(image, world.users["lead"], "retry_ingest").state == State.NEW
    assert queued == [image.pk, image.pk]


def test_collection_level_decisions(world, client):
    """A client approves, or requests changes on, every image awaiting them in one go."""
    u = world.users
    extra = Image.objects.create(collection=world.other_org_collection, name="chain-2.jpg", state=State.CLIENT_REVIEW,
                                 assignee=u["retoucher2"], sent_to_client_at=world.other_org_image.sent_to_client_at)
    client.force_login(u["client_b"])
    url = f"/collections/{world.other_org_collection.pk}/action/"
    assert client.post(url, {"action": "request_changes", "reason": ""}).status_code == 302
    assert set(Image.objects.filter(pk__in=[extra.pk, world.other_org_image.pk]).values_list("state", flat=True)) == {State.CLIENT_REVIEW}
    client.post(url, {"action": "approve"})
    approved = Image.objects.filter(collection=world.other_org_collection, state=State.APPROVED)
    assert approved.count() == 2 and all(i.current_approval.user == u["client_b"] for i in approved)
    client.post(url, {"action": "request_changes", "reason": "all chains look too yellow"})
    assert set(Image.objects.filter(collection=world.other_org_collection).values_list("change_reason", flat=True)) == {
        "all chains look too yellow"}
    client.force_login(u["client_a"])
    assert client.post(url, {"action": "approve"}).status_code == 403
