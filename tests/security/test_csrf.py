"""CSRF: every state-changing request without the token is refused, for every route of the
URLconf; every POST form on every page a signed-in person can open carries the token."""
from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.security.conftest import fill, routes

pytestmark = pytest.mark.django_db

FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)
POST = re.compile(r"""method\s*=\s*["']?post""", re.I)


def test_every_route_refuses_unsafe_methods_without_a_csrf_token(objects, world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["lead"])
    failures, checked = [], 0
    for route, _ in routes():
        if route.startswith(("admin/", "static/")):
            continue
        url = fill(route, objects)
        for method in ("post", "put", "patch", "delete"):
            response = getattr(client, method)(url, {"reason": "x", "body": "x", "x": "1", "y": "1"})
            checked += 1
            if response.status_code != 403:
                failures.append(f"{method.upper()} {url} -> {response.status_code}")
    assert checked > 100
    assert not failures, "accepted without a CSRF token:\n" + "\n".join(failures)


def test_login_form_needs_the_token_too(world):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/login/", {"username": "lead", "password": "pw"}).status_code == 403
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("role", ["lead", "retoucher1", "client_a"])
def test_every_post_form_on_every_page_carries_the_token(objects, world, role):
    from reviews.models import State

    if role == "client_a":  # let the client see the image and its decision forms
        objects.image.state = State.CLIENT_REVIEW
        objects.image.sent_to_client_at = objects.image.created_at
        objects.image.save()
    client = Client()
    client.force_login(world.users[role])
    pages = forms = 0
    missing = []
    for route, _ in routes():
        if route.startswith(("admin/", "static/")):
            continue
        url = fill(route, objects)
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        pages += 1
        for form in FORM.findall(response.content.decode()):
            if POST.search(form.split(">", 1)[0]):
                forms += 1
                if 'name="csrfmiddlewaretoken"' not in form:
                    missing.append(f"{url}: {form[:120]}")
    assert pages >= 3, f"only {pages} pages rendered for {role}"
    assert not missing, "POST forms without the CSRF token:\n" + "\n".join(missing)
    if role == "lead":
        assert forms >= 3, "the lead's pages should hold several POST forms"


def test_scripts_send_the_csrf_token_with_every_unsafe_fetch():
    """The editor's ES modules post with fetch(); each module that does so sends X-CSRFToken."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "static" / "js"
    offenders = []
    for path in root.rglob("*.js"):
        if "vendor" in path.parts:
            continue
        text = path.read_text(errors="replace")
        if re.search(r"""method\s*:\s*["'](POST|PUT|PATCH|DELETE)""", text, re.I) and "X-CSRFToken" not in text:
            offenders.append(path.name)
    assert not offenders, f"unsafe fetch without X-CSRFToken in {offenders}"
