"""Dashboards: counts by state, waiting longest, turnaround, WIP per retoucher, client progress."""
from datetime import timedelta

import pytest
from django.utils import timezone

from reviews.models import Image, State
from reviews.services import dashboards, workflow
from tests.conftest import make_ingested

pytestmark = pytest.mark.django_db


def test_lead_dashboard_figures(world):
    u = world.users
    now = timezone.now()
    Image.objects.filter(pk=world.image.pk).update(state_changed_at=now - timedelta(hours=30))
    # one approved image: uploaded 10 h before its approval
    Image.objects.filter(pk=world.unassigned.pk).update(state=State.APPROVED, created_at=now - timedelta(hours=10),
                                                       approved_at=now, assignee=u["retoucher2"])
    data = dashboards.lead_dashboard(world.studio)
    rows = {r["collection"].name: r for r in data["collections"]}
    assert set(rows) == {"Rings", "Chains"}  # never the other studio's
    assert rows["Rings"]["counts"][State.IN_RETOUCH] == 1 and rows["Rings"]["counts"][State.APPROVED] == 1
    assert rows["Rings"]["approved_pct"] == 50 and rows["Rings"]["state"] == State.IN_RETOUCH
    assert rows["Rings"]["turnaround"].median_hours == pytest.approx(10, abs=0.01)
    r = {row["user"].username: row for row in data["retouchers"]}
    assert r["retoucher1"]["wip"] == 1 and r["retoucher1"]["counts"][State.CLIENT_REVIEW] == 1
    assert r["retoucher2"]["counts"][State.APPROVED] == 1 and r["retoucher2"]["wip"] == 0
    assert data["waiting"][0].pk == world.image.pk and data["waiting"][0].waiting_hours >= 30
    assert world.other_studio_image.pk not in {i.pk for i in data["waiting"]}


def test_overloaded_retoucher_is_flagged(world):
    u = world.users
    for n in range(4):
        Image.objects.create(collection=world.collection, name=f"x{n}.jpg", state=State.IN_RETOUCH, assignee=u["retoucher1"])
    rows = {r["user"].username: r for r in dashboards.lead_dashboard(world.studio)["retouchers"]}
    assert rows["retoucher1"]["overloaded"] and not rows["retoucher2"]["overloaded"]


def test_retoucher_queue_puts_changes_requested_first(world):
    u = world.users
    back = Image.objects.create(collection=world.collection, name="back.jpg", state=State.CHANGES_REQUESTED,
                                assignee=u["retoucher1"], change_reason="halo on the left")
    queue = dashboards.retoucher_queue(u["retoucher1"])
    assert [i.pk for i in queue["todo"]] == [back.pk, world.image.pk]
    assert [i.pk for i in queue["submitted"]] == [world.other_org_image.pk]


def test_client_dashboard_only_their_sent_images(world):
    data = dashboards.client_dashboard(world.users["client_b"])
    assert [row["collection"].pk for row in data["collections"]] == [world.other_org_collection.pk]
    assert [i.pk for i in data["awaiting"]] == [world.other_org_image.pk]
    assert dashboards.client_dashboard(world.users["client_a"])["collections"] == []


def test_pages_render_for_each_role(world, client):
    """Every screen renders with real content for the people who use it."""
    make_ingested(world.image)
    checks = {
        "lead": ["/dashboard/lead/", f"/collections/{world.collection.pk}/", f"/images/{world.image.pk}/",
                 f"/collections/{world.collection.pk}/upload/", f"/collections/{world.collection.pk}/audit/", "/collections/new/"],
        "retoucher1": ["/dashboard/retoucher/", f"/images/{world.image.pk}/", f"/collections/{world.collection.pk}/"],
        "client_b": ["/dashboard/client/", f"/collections/{world.other_org_collection.pk}/", f"/images/{world.other_org_image.pk}/"],
    }
    for name, urls in checks.items():
        client.force_login(world.users[name])
        home = client.get("/")
        assert home.status_code == 302
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (name, url)
            assert b"JewelReview" in response.content
    client.force_login(world.users["lead"])
    page = client.get("/dashboard/lead/").content.decode()
    assert "Rings" in page and "Chains" in page and "retoucher1" in page.lower() and "Elsewhere" not in page


def test_text_that_would_be_html_is_escaped(world, client):
    client.force_login(world.users["lead"])
    image = make_ingested(world.image)
    client.post(f"/images/{image.pk}/comments/", {"body": "<script>alert(1)</script>", "x": "5", "y": "5"})
    page = client.get(f"/images/{image.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    for bad in ({"body": "", "x": "1", "y": "1"}, {"body": "x", "x": "nan", "y": "1"}, {"body": "x", "x": "1e9", "y": "1"},
                {"body": "x" * 5001, "x": "1", "y": "1"}):
        assert client.post(f"/images/{image.pk}/comments/", bad).status_code == 400
    assert image.comments.count() == 1


def test_changes_requested_reason_shows(world, client):
    u = world.users
    workflow.transition(world.other_org_image, u["client_b"], "request_changes", reason="chain link 3 vanished")
    client.force_login(u["retoucher1"])
    assert "chain link 3 vanished" in client.get("/dashboard/retoucher/").content.decode()
