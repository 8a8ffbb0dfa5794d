"""Authentication on every HTTP and websocket endpoint, found by walking the URLconf and the
websocket routes (a new endpoint is covered without touching this file), and the production
settings: ``check --deploy`` passes, cookies are secure.

(Who may do what once signed in is tests/reviews/test_permission_matrix.py.)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator

from tests.security.conftest import PUBLIC_PREFIXES, fill, routes

REPO = Path(__file__).resolve().parents[2]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _refused(response) -> bool:
    if response.status_code == 302:
        return "/login/" in response["Location"]
    return response.status_code in (401, 403, 404, 405)


@pytest.mark.django_db
def test_every_http_endpoint_refuses_anonymous_requests(objects, client):
    """Every route × every method, signed out, with ids of objects that exist: a redirect to the
    log-in page or a 4xx, and never any of the object's bytes."""
    checked, failures = 0, []
    for route, _ in routes():
        if route.startswith(PUBLIC_PREFIXES) or route.startswith("static/"):
            continue
        url = fill(route, objects)
        for method in METHODS:
            response = getattr(client, method.lower())(url)
            checked += 1
            if not _refused(response):
                failures.append(f"{method} {url} -> {response.status_code}")
            elif response.status_code != 302:
                body = b"".join(response.streaming_content) if response.streaming else response.content
                assert len(body) < 2000, f"{method} {url}: a refusal must not carry content"
    assert checked > 100, "the URLconf walk found suspiciously few endpoints"
    assert not failures, "open to anonymous requests:\n" + "\n".join(failures)


@pytest.mark.django_db
def test_public_pages_are_only_the_sign_in_ones(client):
    """The routes left out above really are the sign-in/out pages and the admin's own log-in."""
    assert client.get("/login/").status_code == 200
    r = client.get("/admin/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
    assert client.get("/logout/").status_code in (302, 405)  # GET logout is not allowed in Django 5


# ------------------------------------------------------------------ websockets

def _ws_routes():
    from reviews.routing import websocket_urlpatterns

    return [str(p.pattern) for p in websocket_urlpatterns]


async def _open(path: str, cookie: str | None, origin: str | None = "http://127.0.0.1"):
    """Through the whole ASGI application (origin check + session auth), like a browser."""
    from jewelreview.asgi import application

    headers = []
    if origin:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await comm.connect(timeout=5)
    frames = []
    if connected:
        while not await comm.receive_nothing(timeout=0.3):
            out = await comm.receive_output(timeout=1)
            if out["type"] == "websocket.send":
                frames.append(json.loads(out["text"]))
            elif out["type"] == "websocket.close":
                code = out.get("code")
                connected = False
                break
    return comm, connected, code, frames


def _session(client, user) -> str:
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.mark.django_db(transaction=True)
async def test_every_websocket_route_needs_a_session_that_may_see_the_image(objects, world, client, settings):
    from asgiref.sync import sync_to_async

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    lead = await sync_to_async(_session)(client, world.users["lead"])
    stranger = await sync_to_async(_session)(client.__class__(), world.users["other_lead"])
    assert _ws_routes(), "no websocket routes found"
    for route in _ws_routes():
        path = fill(route, objects)
        # positive control: the lead of the studio gets the welcome
        comm, connected, _, frames = await _open(path, lead)
        assert connected and frames and frames[0]["type"] == "welcome", (path, frames)
        await comm.disconnect()
        for who, cookie in (("anonymous", None), ("forged", "not-a-session"), ("other studio", stranger)):
            comm, connected, code, frames = await _open(path, cookie)
            assert not any(f.get("type") == "welcome" for f in frames), f"{who} was welcomed on {path}"
            assert not connected, f"{who}: the socket of {path} stays open ({code})"
            await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_cross_site_websocket_is_refused_even_with_a_valid_session(objects, world, client, settings):
    """A page on another site cannot ride the user's cookie (cross-site websocket hijacking)."""
    from asgiref.sync import sync_to_async

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    lead = await sync_to_async(_session)(client, world.users["lead"])
    for route in _ws_routes():
        path = fill(route, objects)
        for origin in ("http://evil.example", None):
            comm, connected, _, frames = await _open(path, lead, origin=origin)
            assert not connected and not frames, f"origin {origin} accepted on {path}"
            await comm.disconnect()


# ------------------------------------------------------------------ production settings

def _production_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))}
    env.update({"SECRET_KEY": "x" * 20 + "-production-like-secret-key-of-some-length-9f8e7d", "ALLOWED_HOSTS": "review.example.com",
                "DJANGO_SETTINGS_MODULE": "jewelreview.settings_production", **extra})
    return env


def test_check_deploy_passes_with_production_settings(tmp_path):
    res = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                         cwd=REPO, env=_production_env(JEWELREVIEW_VAR=str(tmp_path)), capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no issues" in res.stdout


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path):
    env = _production_env(JEWELREVIEW_VAR=str(tmp_path))
    env.pop("SECRET_KEY")
    res = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "SECRET_KEY" in res.stderr


def test_production_cookies_and_headers(tmp_path):
    code = ("import django; django.setup(); from django.conf import settings as s; import json; "
            "print(json.dumps({k: getattr(s, k) for k in ('DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE',"
            "'SESSION_COOKIE_HTTPONLY', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'X_FRAME_OPTIONS',"
            "'SECURE_CONTENT_TYPE_NOSNIFF', 'SESSION_COOKIE_SAMESITE', 'CSRF_COOKIE_SAMESITE')}))")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_production_env(JEWELREVIEW_VAR=str(tmp_path)),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout.strip().splitlines()[-1])
    assert s["DEBUG"] is False
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"] and s["SESSION_COOKIE_HTTPONLY"]
    assert s["SECURE_SSL_REDIRECT"] and s["SECURE_HSTS_SECONDS"] >= 31536000
    assert s["X_FRAME_OPTIONS"] == "DENY" and s["SECURE_CONTENT_TYPE_NOSNIFF"]
    assert s["SESSION_COOKIE_SAMESITE"] in ("Lax", "Strict") and s["CSRF_COOKIE_SAMESITE"] in ("Lax", "Strict")
