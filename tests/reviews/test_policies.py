"""reviews.policies as a table: role × action × own/other object, checked against can()."""
import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from reviews import policies
from reviews.models import State

pytestmark = pytest.mark.django_db

VIEW = ("view_image", "view_tiles", "comment", "view_history")


def test_lead_sees_and_manages_only_own_studio(world):
    lead = world.users["lead"]
    for action in VIEW + ("download_original",):
        assert policies.can(lead, action, world.image)
        assert policies.can(lead, action, world.other_org_image)
        assert not policies.can(lead, action, world.other_studio_image)
    for action in ("view_collection", "upload", "export", "manage_swatches", "view_audit"):
        assert policies.can(lead, action, world.collection)
        assert not policies.can(lead, action, world.other_studio_collection)
    assert policies.can(lead, "view_lead_dashboard", world.studio)
    assert not policies.can(lead, "view_lead_dashboard", world.other_studio)
    assert not policies.can(world.users["other_lead"], "view_image", world.image)


def test_retoucher_only_assigned_images_and_their_collections(world):
    r1, r2 = world.users["retoucher1"], world.users["retoucher2"]
    assert policies.can(r1, "edit_image", world.image)
    assert policies.can(r1, "submit", world.image)
    assert not policies.can(r2, "view_image", world.image)
    assert not policies.can(r1, "view_image", world.unassigned)
    assert policies.can(r1, "view_collection", world.collection)  # collection context
    assert not policies.can(r2, "view_collection", world.collection)
    for action in ("upload", "export", "assign", "manage_swatches", "view_audit"):
        assert not policies.can(r1, action, world.collection)
    # assigned but in client review: may look, may not edit
    assert policies.can(r1, "view_image", world.other_org_image)
    assert not policies.can(r1, "edit_image", world.other_org_image)
    assert not policies.can(r1, "approve", world.other_org_image)


def test_client_sees_own_org_only_after_sent(world):
    a, b = world.users["client_a"], world.users["client_b"]
    # client_b's org image was sent for review; client_a's collection has nothing sent yet
    assert policies.can(b, "view_image", world.other_org_image)
    assert policies.can(b, "approve", world.other_org_image)
    assert policies.can(b, "view_collection", world.other_org_collection)
    assert not policies.can(a, "view_image", world.other_org_image)
    assert not policies.can(a, "view_collection", world.collection)
    assert not policies.can(a, "view_image", world.image)
    assert not policies.can(b, "edit_image", world.other_org_image)
    assert not policies.can(b, "download_original", world.other_org_image)
    assert not policies.can(b, "view_image", world.other_studio_image)  # sent, but other studio
    world.image.sent_to_client_at = world.other_org_image.sent_to_client_at
    world.image.state = State.CLIENT_REVIEW
    world.image.save()
    assert policies.can(a, "view_image", world.image)
    assert policies.can(a, "view_collection", world.collection)
    assert not policies.can(a, "view_image", world.unassigned)  # not sent, same collection


@pytest.mark.parametrize(
    "state,allowed",
    [
        (State.READY_FOR_RETOUCH, {"lead": {"edit_image", "assign"}}),
        (State.IN_RETOUCH, {"lead": {"edit_image", "assign", "submit"}, "retoucher1": {"edit_image", "submit"}}),
        (State.CHANGES_REQUESTED, {"lead": {"edit_image", "assign", "submit"}, "retoucher1": {"edit_image", "submit"}}),
        (State.LEAD_REVIEW, {"lead": {"edit_image", "send_back", "send_to_client"}}),
        (State.CLIENT_REVIEW, {"lead": {"edit_image", "send_back", "approve"},
                               "client_a": {"approve", "request_changes"}}),
        (State.APPROVED, {"lead": {"edit_image", "send_back"}, "client_a": {"request_changes"}}),
        (State.FAILED, {"lead": {"retry_ingest"}}),
        (State.PROCESSING, {}),
    ],
)
def test_state_gates_every_transition(world, state, allowed):
    from django.utils import timezone

    image = world.image
    image.state = state
    image.sent_to_client_at = timezone.now()
    image.save()
    gated = ("edit_image", "submit", "send_back", "send_to_client", "approve", "request_changes", "assign", "retry_ingest")
    for name in ("lead", "retoucher1", "retoucher2", "client_a", "client_b", "other_lead"):
        got = {a for a in gated if policies.can(world.users[name], a, image)}
        assert got == allowed.get(name, set()), (name, state)


def test_anonymous_inactive_and_profileless_get_nothing(world):
    from django.contrib.auth.models import User

    lead = world.users["lead"]
    lead.is_active = False
    nobody = User.objects.create_user("nobody", password="x")
    for user in (AnonymousUser(), lead, nobody, None):
        assert not policies.can(user, "view_image", world.image)
        assert not policies.can(user, "view_collection", world.collection)
    assert not policies.visible_images(AnonymousUser()).exists()


def test_require_raises_and_unknown_action_is_a_bug(world):
    with pytest.raises(PermissionDenied):
        policies.require(world.users["retoucher2"], "view_image", world.image)
    policies.require(world.users["lead"], "view_image", world.image)
    with pytest.raises(ValueError, match="unknown action"):
        policies.can(world.users["lead"], "veiw_image", world.image)


def test_querysets_agree_with_can(world):
    from reviews.models import Collection, Image

    for user in world.users.values():
        visible = set(policies.visible_images(user))
        assert visible == {i for i in Image.objects.all() if policies.can(user, "view_image", i)}
        cols = set(policies.visible_collections(user))
        assert cols == {c for c in Collection.objects.all() if policies.can(user, "view_collection", c)}


def test_swatch_and_comment_rules(world):
    from reviews.models import Comment, Swatch

    sw = Swatch.objects.create(collection=world.other_org_collection, name="18k rose gold", lab_l=70, lab_a=15, lab_b=18)
    assert policies.can(world.users["client_b"], "approve_swatch", sw)
    assert not policies.can(world.users["client_a"], "approve_swatch", sw)
    assert not policies.can(world.users["lead"], "approve_swatch", sw)  # the client approves colour
    assert policies.can(world.users["lead"], "manage_swatches", sw)
    c = Comment.objects.create(image=world.other_org_image, author=world.users["client_b"], x=1, y=2, body="hi")
    assert policies.can(world.users["client_b"], "resolve_comment", c)
    assert policies.can(world.users["lead"], "resolve_comment", c)
    assert not policies.can(world.users["retoucher2"], "resolve_comment", c)


def test_exports_clients_get_only_their_own(world):
    from reviews.models import Export

    lead, client_b, client_a = world.users["lead"], world.users["client_b"], world.users["client_a"]
    col = world.other_org_collection
    studio_export = Export.objects.create(collection=col, requested_by=lead)
    client_export = Export.objects.create(collection=col, requested_by=client_b)
    assert policies.can(lead, "download_export", studio_export)
    assert policies.can(lead, "download_export", client_export)
    assert policies.can(client_b, "download_export", client_export)
    assert not policies.can(client_b, "download_export", studio_export)  # may hold more than was sent
    assert not policies.can(client_a, "download_export", client_export)  # other organisation
    assert not policies.can(world.users["retoucher1"], "download_export", client_export)
    assert not policies.can(world.users["other_lead"], "download_export", studio_export)
    for user in world.users.values():
        assert set(policies.visible_exports(user, col)) == {
            e for e in (studio_export, client_export) if policies.can(user, "download_export", e)}
