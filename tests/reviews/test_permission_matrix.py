"""The permission matrix: every URL of the site × every role × own / other studio and
organisation objects. A URL pattern without an entry here fails ``test_every_url_is_in_the_matrix``.

"allowed" means the view did its work (any answer but a log-in redirect, 403 or 404); "denied"
means 403 or 404 (or the log-in redirect for anonymous) — and no bytes of the object.
"""
from __future__ import annotations

import io
import zipfile

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from masks.imageio import encode_png
from reviews.models import Comment, Export, Image, State, Swatch
from reviews.services import storage
from tests.asyncrun import run_async
from tests.conftest import make_ingested, small_photo

pytestmark = pytest.mark.django_db

ROLES = ("lead", "retoucher1", "retoucher2", "client_a", "client_b", "other_lead", "anonymous")
PUBLIC = {"login/", "logout/", "admin/"}  # open to everyone (the admin has its own staff check)


class M:
    """The objects of the matrix and who may reach each through "view"-type URLs."""

    def __init__(self, w):
        self.w = w
        u = w.users
        # A: retoucher1's work in progress (org A, not sent); C: sent to client_a; B: other org; Z: other studio
        self.A = w.image
        self.C = Image.objects.create(collection=w.collection, name="ring-3.jpg", state=State.CLIENT_REVIEW,
                                      assignee=u["retoucher2"], width=120, height=90, sent_to_client_at=timezone.now())
        self.B = w.other_org_image
        self.Z = w.other_studio_image
        for image in (self.A, self.C, self.B, self.Z):
            rgb, alpha = small_photo()
            make_ingested(image, rgb, alpha)  # no prebuilt pyramid: tile views render on demand
            storage.write_bytes(f"{image.folder}/qa_heatmap.png", encode_png(alpha[::8, ::8].copy()))
        self.view = {self.A: {"lead", "retoucher1"}, self.C: {"lead", "retoucher2", "client_a"},
                     self.B: {"lead", "retoucher1", "client_b"}, self.Z: {"other_lead"}}
        self.col_a, self.col_b, self.col_z = w.collection, w.other_org_collection, w.other_studio_collection
        self.col_view = {self.col_a: {"lead", "retoucher1", "retoucher2", "client_a"},
                         self.col_b: {"lead", "retoucher1", "client_b"}, self.col_z: {"other_lead"}}
        self.col_lead = {self.col_a: {"lead"}, self.col_b: {"lead"}, self.col_z: {"other_lead"}}
        self.col_export = {self.col_a: {"lead", "client_a"}, self.col_b: {"lead", "client_b"}, self.col_z: {"other_lead"}}
        self.sw_a = Swatch.objects.create(collection=self.col_a, name="rose", lab_l=60, lab_a=20, lab_b=15)
        self.sw_b = Swatch.objects.create(collection=self.col_b, name="pearl", lab_l=90, lab_a=0, lab_b=4)
        self.sw_z = Swatch.objects.create(collection=self.col_z, name="z", lab_l=50, lab_a=0, lab_b=0)
        self.com_c = Comment.objects.create(image=self.C, author=u["client_a"], x=5, y=5, body="pin")
        self.com_z = Comment.objects.create(image=self.Z, author=u["other_lead"], x=5, y=5, body="z")
        self.exp_lead = self._export(self.col_a, u["lead"])
        self.exp_client = self._export(self.col_a, u["client_a"])
        self.exp_z = self._export(self.col_z, u["other_lead"])

    def _export(self, collection, user):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("manifest.csv", "image\n")
        export = Export.objects.create(collection=collection, requested_by=user, status=Export.Status.DONE)
        export.file.name = storage.write_bytes(f"collections/{collection.pk}/exports/{export.pk}.zip", buf.getvalue())
        export.save()
        return export

    def images(self, allowed=None):
        """(image, allowed roles) for every image, ``allowed`` narrowing the view sets."""
        return [(i, (allowed or {}).get(i, roles) if allowed is not None else roles) for i, roles in self.view.items()]


def top_level(m):
    from masks.tiles import level_count

    return level_count(120, 90) - 1


def _img(path, *, method="GET", data=None, allowed=None):
    def cases(m):
        out = []
        for image, roles in m.view.items():
            who = allowed(m, image, roles) if allowed else roles
            out.append((method, path.format(i=image.pk, L=top_level(m)), data, who))
        return out
    return cases


def _col(path, access, *, method="GET", data=None):
    def cases(m):
        return [(method, path.format(c=c.pk), data, roles) for c, roles in getattr(m, access).items()]
    return cases


def _objs(path, pairs, *, method="GET", data=None):
    def cases(m):
        return [(method, path.format(o=obj.pk), data, roles) for obj, roles in pairs(m)]
    return cases


def _fixed(path, roles, *, method="GET", data=None):
    return lambda m: [(method, path(m) if callable(path) else path, data, roles)]


ALL = set(ROLES) - {"anonymous"}
NOT_CLIENT = lambda m, image, roles: roles - {"client_a", "client_b"}  # noqa: E731
EDIT = lambda m, image, roles: {m.A: {"lead", "retoucher1"}, m.C: {"lead"}, m.B: {"lead"}, m.Z: {"other_lead"}}[image]  # noqa: E731
DECIDE = lambda m, image, roles: {m.A: {"lead", "retoucher1"}, m.C: {"lead", "client_a"}, m.B: {"lead", "client_b"},  # noqa: E731
                                  m.Z: {"other_lead"}}[image]
OP = '{"kind": "op", "client_id": "matrix", "op": {"type": "path", "d": "M1 1H9V9H1Z", "mode": "add", "fill_rule": "nonzero"}}'

# URL pattern (as routed) -> the requests that exercise it
MATRIX = {
    "": _fixed("/", ALL),
    "dashboard/lead/": _fixed("/dashboard/lead/", {"lead", "other_lead"}),
    "dashboard/lead/assign/": _fixed("/dashboard/lead/assign/", {"lead", "other_lead"}, method="POST", data={}),
    "dashboard/retoucher/": _fixed("/dashboard/retoucher/", {"retoucher1", "retoucher2"}),
    "dashboard/retoucher/<int:user_id>/": _fixed(lambda m: f"/dashboard/retoucher/{m.w.users['retoucher1'].pk}/", {"lead", "retoucher1"}),
    "dashboard/client/": _fixed("/dashboard/client/", {"client_a", "client_b"}),
    "collections/new/": _fixed("/collections/new/", {"lead", "other_lead"}),
    "collections/<int:pk>/": _col("/collections/{c}/", "col_view"),
    "collections/<int:pk>/progress.json": _col("/collections/{c}/progress.json", "col_view"),
    "collections/<int:pk>/grid/": _col("/collections/{c}/grid/", "col_view"),
    "collections/<int:pk>/upload/": _col("/collections/{c}/upload/", "col_lead"),
    "collections/<int:pk>/action/": _col("/collections/{c}/action/", "col_view", method="POST", data={"action": "approve"}),
    "collections/<int:pk>/audit/": _col("/collections/{c}/audit/", "col_lead"),
    "collections/<int:pk>/swatches/": _col("/collections/{c}/swatches/", "col_lead", method="POST",
                                           data={"name": "new", "colour": "#aa8877"}),
    "collections/<int:pk>/exports/": _col("/collections/{c}/exports/", "col_export", method="POST", data={}),
    "swatches/<int:pk>/approve/": _objs("/swatches/{o}/approve/", lambda m: [(m.sw_a, {"client_a"}), (m.sw_b, {"client_b"}),
                                                                           (m.sw_z, set())], method="POST"),
    "exports/<int:pk>/": _objs("/exports/{o}/", lambda m: [(m.exp_lead, {"lead"}), (m.exp_client, {"lead", "client_a"}),
                                                           (m.exp_z, {"other_lead"})]),
    "exports/<int:pk>/download/": _objs("/exports/{o}/download/", lambda m: [
        (m.exp_lead, {"lead"}), (m.exp_client, {"lead", "client_a"}), (m.exp_z, {"other_lead"})]),
    "comments/<int:pk>/resolve/": _objs("/comments/{o}/resolve/", lambda m: [(m.com_c, {"lead", "client_a"}),
                                                                           (m.com_z, {"other_lead"})], method="POST"),
    "images/<int:pk>/": _img("/images/{i}/"),
    "images/<int:pk>/transition/": _img("/images/{i}/transition/", method="POST", data={"action": "approve"},
                                        allowed=lambda m, i, r: {m.A: set(), m.C: {"lead", "client_a"}, m.B: {"lead", "client_b"},
                                                                 m.Z: {"other_lead"}}[i]),
    "images/<int:pk>/assign/": _img("/images/{i}/assign/", method="POST", data={},
                                    allowed=lambda m, i, r: {m.A: {"lead"}, m.C: set(), m.B: set(), m.Z: set()}[i]),
    "images/<int:pk>/submit/": _img("/images/{i}/submit/", method="POST",
                                    allowed=lambda m, i, r: {m.A: {"lead", "retoucher1"}}.get(i, set())),
    "images/<int:pk>/send_back/": _img("/images/{i}/send_back/", method="POST", data={"reason": "fix"},
                                       allowed=lambda m, i, r: {m.A: set(), m.C: {"lead"}, m.B: {"lead"}, m.Z: {"other_lead"}}[i]),
    "images/<int:pk>/send_to_client/": _img("/images/{i}/send_to_client/", method="POST", allowed=lambda m, i, r: set()),
    "images/<int:pk>/approve/": _img("/images/{i}/approve/", method="POST",
                                     allowed=lambda m, i, r: DECIDE(m, i, r) if i is not m.A else set()),
    "images/<int:pk>/request_changes/": _img("/images/{i}/request_changes/", method="POST", data={"reason": "x"},
                                             allowed=lambda m, i, r: {m.C: {"client_a"}, m.B: {"client_b"}}.get(i, set())),
    "images/<int:pk>/retry_ingest/": _img("/images/{i}/retry_ingest/", method="POST", allowed=lambda m, i, r: set()),
    "images/<int:pk>/original/": _img("/images/{i}/original/", allowed=NOT_CLIENT),
    "images/<int:pk>/thumb.jpg": _img("/images/{i}/thumb.jpg"),
    "images/<int:pk>/qa-heatmap.png": _img("/images/{i}/qa-heatmap.png"),
    "images/<int:pk>/revisions/<int:seq>/mask.png": _img("/images/{i}/revisions/0/mask.png"),
    "images/<int:pk>/compare/": _img("/images/{i}/compare/?a=0&b=0"),
    "images/<int:pk>/compare/diff.png": _img("/images/{i}/compare/diff.png?a=0&b=0"),
    "images/<int:pk>/comments/": _img("/images/{i}/comments/", method="POST", data={"body": "hi", "x": "3", "y": "4"}),
    "images/<int:pk>/colour/": _img("/images/{i}/colour/", method="POST", data={}),
    "api/images/<int:pk>/operations/": lambda m: _img("/api/images/{i}/operations/")(m) + [
        ("POST_JSON", f"/api/images/{i.pk}/operations/", OP, EDIT(m, i, r)) for i, r in m.view.items()],
    # browser-realtime's editor and tile views (reviews/urls_viewer.py)
    "images/<int:image_id>/editor/": _img("/images/{i}/editor/"),
    "images/<int:image_id>/tiles/original.dzi": _img("/images/{i}/tiles/original.dzi"),
    "images/<int:image_id>/tiles/mask/<int:rev>.dzi": _img("/images/{i}/tiles/mask/0.dzi"),
    "images/<int:image_id>/tiles/cutout/<int:rev>.dzi": _img("/images/{i}/tiles/cutout/0.dzi"),
    "images/<int:image_id>/tiles/original_files/<int:level>/<int:col>_<int:row>.jpeg": _img("/images/{i}/tiles/original_files/{L}/0_0.jpeg"),
    "images/<int:image_id>/tiles/mask/<int:rev>_files/<int:level>/<int:col>_<int:row>.png": _img("/images/{i}/tiles/mask/0_files/{L}/0_0.png"),
    "images/<int:image_id>/tiles/cutout/<int:rev>_files/<int:level>/<int:col>_<int:row>.png": _img("/images/{i}/tiles/cutout/0_files/{L}/0_0.png"),
    "images/<int:image_id>/tiles/original/<int:level>/<int:col>_<int:row>.jpeg": _img("/images/{i}/tiles/original/{L}/0_0.jpeg"),
    "images/<int:image_id>/tiles/mask/<int:rev>/<int:level>/<int:col>_<int:row>.png": _img("/images/{i}/tiles/mask/0/{L}/0_0.png"),
    "images/<int:image_id>/tiles/cutout/<int:rev>/<int:level>/<int:col>_<int:row>.png": _img("/images/{i}/tiles/cutout/0/{L}/0_0.png"),
    "images/<int:image_id>/tiles/preview/<int:rev>/<int:level>/<int:col>_<int:row>.png":
        _img('/images/{i}/tiles/preview/0/{L}/0_0.png?op={{"type":"path","d":"M1 1H9V9H1Z","mode":"add","fill_rule":"nonzero"}}'),
    "images/<int:image_id>/history.json": _img("/images/{i}/history.json"),
    "images/<int:image_id>/ai-path.json": _img("/images/{i}/ai-path.json"),
}


def routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for p in resolver.url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            if route in PUBLIC:
                continue
            yield from routes(p, route)
        elif isinstance(p, URLPattern):
            yield route


def test_every_url_is_in_the_matrix():
    live = set(routes())
    missing = sorted(live - set(MATRIX) - PUBLIC)
    assert not missing, f"add these URL patterns to MATRIX (who may use them?): {missing}"
    gone = sorted(set(MATRIX) - live)
    assert not gone, f"MATRIX names URL patterns that no longer exist: {gone}"


def _request(client, method, url, data):
    if method == "POST_JSON":
        return client.post(url, data, content_type="application/json")
    if method == "POST":
        return client.post(url, data or {})
    return client.get(url)


def _denied(response, role) -> bool:
    if response.status_code in (403, 404):
        return True
    return role == "anonymous" and response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_matrix(route, world, client):
    m = M(world)
    failures = []
    for method, url, data, allowed in MATRIX[route](m):
        for role in ROLES:
            client.logout()
            if role != "anonymous":
                client.force_login(world.users[role])
            with transaction.atomic():  # every request sees the same world; POSTs are rolled back
                response = _request(client, method, url, data)
                transaction.set_rollback(True)
            denied = _denied(response, role)
            if role in allowed and method == "POST_JSON" and response.status_code != 201:
                failures.append(f"{role:>10} {method} {url} -> {response.status_code}: the edit was not stored")
            if (role in allowed) == denied:
                failures.append(f"{role:>10} {method} {url} -> {response.status_code} "
                                f"(expected {'allowed' if role in allowed else 'denied'})")
            if denied and response.status_code != 302:
                body = b"".join(response.streaming_content) if response.streaming else response.content
                assert len(body) < 2000, f"{role} {url}: a refusal must not carry the object"
    assert not failures, "\n".join(failures)


def test_media_has_no_static_route(world, client, settings):
    """The files exist, but no URL serves MEDIA_ROOT: only the policy-checked views above."""
    m = M(world)
    client.force_login(world.users["lead"])
    for name in (m.A.original.name, m.A.base_alpha.name, f"{m.A.folder}/srgb.png", m.exp_lead.file.name):
        assert storage.exists(name)
        for prefix in ("/media/", settings.MEDIA_URL, "/static/"):
            assert client.get(prefix + name).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_websocket_matrix(world):
    """The editor socket: who may open each image's socket, and who may edit on it."""
    import json as _json

    from channels.layers import channel_layers
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth.models import AnonymousUser

    from reviews.routing import websocket_urlpatterns

    m = M(world)
    edit = {m.A: {"lead", "retoucher1"}, m.C: {"lead"}, m.B: {"lead"}, m.Z: {"other_lead"}}
    channel_layers.backends = {}
    failures = []

    async def probe(image, role):
        user = AnonymousUser() if role == "anonymous" else world.users[role]
        comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/images/{image.pk}/")
        comm.scope["user"] = user
        await comm.connect()
        first = _json.loads(await comm.receive_from(timeout=5))
        opened = first["type"] != "error"
        edited = False
        if opened:
            await comm.send_to(text_data=_json.dumps({"type": "op", "client_id": f"m-{role}", "base_seq": 0,
                                                      "op": {"type": "path", "d": "M1 1H9V9H1Z", "mode": "add", "fill_rule": "nonzero"}}))
            for _ in range(20):
                frame = _json.loads(await comm.receive_from(timeout=5))
                if frame["type"] in ("ack", "error"):
                    edited = frame["type"] == "ack"
                    break
        await comm.disconnect()
        return opened, edited

    async def run_all():
        for image, viewers in m.view.items():
            for role in ROLES:
                opened, edited = await probe(image, role)
                if opened != (role in viewers) or edited != (role in edit[image]):
                    failures.append(f"{role} image {image.name}: opened={opened} edited={edited}")

    run_async(run_all)  # its own loop: Playwright may hold this thread's
    channel_layers.backends = {}
    assert not failures, "\n".join(failures)
