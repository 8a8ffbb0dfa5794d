"""No user-supplied text or path data reaches a page as HTML or script.

Markup is planted in everything people type or upload — names of people, studios, organisations,
collections, images and swatches, comments, reasons, path data, file names — then every page of
the URLconf is opened as each role and searched for the markup in executable form.
"""
from __future__ import annotations

import itertools

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.security.conftest import fill, routes

pytestmark = pytest.mark.django_db

PAYLOADS = [
    '<script>alert("jr-xss-1")</script>',
    '"><img src=x onerror=alert("jr-xss-2")>',
    "'></script><script>alert('jr-xss-3')</script>",
    "<svg/onload=alert('jr-xss-4')>",
]
# what must never appear in an HTML page: the payloads as live markup
LIVE = ['<script>alert("jr-xss', "<img src=x onerror", "<script>alert('jr-xss", "<svg/onload"]
JS_URL = 'javascript:alert("jr-xss-5")'


def _plant(world, objects):
    from reviews.models import Comment, QAFinding

    p = itertools.cycle(PAYLOADS)
    for user in world.users.values():
        user.first_name, user.last_name = next(p), next(p)
        user.save()
    for obj in (world.studio, world.org, world.collection, objects.swatch):
        obj.name = next(p)
        obj.save()
    image = objects.image
    image.name = next(p) + ".jpg"
    image.change_reason = next(p)
    image.error = next(p)
    image.ai_path = 'M0 0L10 0L10 10Z"/><script>alert("jr-xss-1")</script><path d="'
    image.save()
    Comment.objects.create(image=image, author=world.users["client_a"], x=3, y=4, body=next(p))
    Comment.objects.create(image=image, author=world.users["lead"], x=3, y=4, body=JS_URL)
    QAFinding.objects.create(image=image, kind="halo", x=1, y=1, w=2, h=2, severity=0.5, area_px=4, message=next(p))


def _scan(client, objects, who: str) -> tuple[int, list[str]]:
    pages, problems = 0, []
    for route, _ in routes():
        if route.startswith(("admin/", "static/", "logout/")):
            continue
        url = fill(route, objects)
        response = client.get(url)
        if response.status_code != 200 or response.streaming:
            continue
        ctype = response.get("Content-Type", "")
        body = response.content.decode(errors="replace")
        if "text/html" in ctype:
            pages += 1
            for live in LIVE:
                if live in body:
                    i = body.index(live)
                    problems.append(f"{who} {url}: {body[max(0, i - 80):i + 60]!r}")
            if 'href="javascript:' in body.lower() or "href='javascript:" in body.lower():
                problems.append(f"{who} {url}: a javascript: link")
        elif any(live in body for live in LIVE):
            # raw text is fine in JSON or images, never in something a browser renders as a page
            if not ctype.startswith(("application/json", "image/", "application/zip")):
                problems.append(f"{who} {url}: markup served as {ctype}")
            assert response.get("X-Content-Type-Options", "nosniff") == "nosniff"
    return pages, problems


def test_planted_markup_never_reaches_a_page_as_markup(objects, world, client):
    from reviews.models import State

    _plant(world, objects)
    total, problems = 0, []
    for role in ("lead", "retoucher1"):
        client.force_login(world.users[role])
        pages, found = _scan(client, objects, role)
        total += pages
        problems += found
    image = objects.image
    image.state, image.sent_to_client_at = State.CLIENT_REVIEW, image.created_at
    image.save()
    client.force_login(world.users["client_a"])
    pages, found = _scan(client, objects, "client_a")
    total += pages
    problems += found
    assert total >= 8, f"only {total} pages were rendered; the scan proves little"
    assert not problems, "\n".join(problems)
    # and the texts were shown (escaped), not silently dropped
    client.force_login(world.users["lead"])
    page = client.get(f"/images/{image.pk}/").content.decode()
    assert "&lt;script&gt;alert(" in page or "\\u003Cscript\\u003Ealert(" in page


def test_markup_in_uploaded_file_names_is_escaped(world, client):
    client.force_login(world.users["lead"])
    files = [SimpleUploadedFile(name + ".txt", b"not an image", content_type="text/plain") for name in PAYLOADS]
    files.append(SimpleUploadedFile('<img src=x onerror=alert("jr-xss-2")>.zip', b"PK\x03\x04broken"))
    response = client.post(f"/collections/{world.collection.pk}/upload/", {"files": files})
    assert response.status_code in (200, 400)
    body = response.content.decode()
    assert "jr-xss" in body, "the refused names should be listed (escaped) so the person sees what was refused"
    for live in LIVE:
        assert live not in body


def test_path_data_with_markup_is_refused_as_an_operation():
    """Path data goes into SVG exports and the editor: the strict parser refuses anything but
    commands and numbers, so markup cannot ride along in an op."""
    from masks.errors import OpError
    from masks.ops import parse_op

    for d in ('M0 0L1 1Z"/><script>alert(1)</script>', "M0 0 L1 1 <svg/onload=alert(1)>", "javascript:alert(1)"):
        with pytest.raises(OpError):
            parse_op({"type": "path", "d": d, "mode": "add", "fill_rule": "evenodd"})


def test_svg_export_of_a_poisoned_ai_path_carries_no_markup():
    from masks.errors import MaskError
    from masks.export import export_svg

    try:
        svg = export_svg('M0 0L10 0L10 10Z"/><script>alert(1)</script><path d="', 20, 20).decode()
    except MaskError:
        return  # refused outright: fine
    assert "<script" not in svg and svg.count("<path") == 1


def test_page_scripts_never_parse_strings_as_html():
    """Comments, names and cursors arrive over the websocket as JSON and are put on the page by
    our ES modules; those must build nodes (textContent), never parse strings as HTML."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "static" / "js"
    sinks = re.compile(r"\.(innerHTML|outerHTML)\s*\+?=|insertAdjacentHTML|document\.write|\beval\s*\(|new Function\(")
    found = [f"{p.name}:{n}: {line.strip()[:100]}" for p in root.rglob("*.js") if "vendor" not in p.parts
             for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if sinks.search(line)]
    assert list(root.rglob("*.js")), "no page scripts found"
    assert not found, "HTML sinks in page scripts:\n" + "\n".join(found)
