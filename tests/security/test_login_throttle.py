"""Login throttling (reviews.throttle): guesses are cut off after a few failures, the right
password does not get through while throttled, the window ends, and other people are unaffected."""
from __future__ import annotations

import pytest
from django.core.cache import caches

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.JEWELREVIEW = {**settings.JEWELREVIEW, "LOGIN_MAX_PER_USER": 3, "LOGIN_MAX_PER_ADDRESS": 8,
                            "LOGIN_WINDOW_S": 60}
    settings.REDIS_URL = ""  # the process cache (LocMem); Redis is covered by the scale tests
    caches["default"].clear()
    yield
    caches["default"].clear()


def login(client, username, password, addr="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=addr)


def test_failed_logins_are_throttled_per_username(world, client):
    for _ in range(3):
        r = login(client, "lead", "wrong")
        assert r.status_code == 200 and b"do not match" in r.content
    r = login(client, "lead", "pw")  # the right password, but too late
    assert r.status_code == 429
    assert b"Too many failed sign-ins" in r.content
    assert "_auth_user_id" not in client.session
    # someone else, from the same address, still signs in
    r = login(client, "retoucher1", "pw")
    assert r.status_code == 302 and client.session["_auth_user_id"] == str(world.users["retoucher1"].pk)


def test_usernames_differing_in_case_share_one_count(world, client):
    for name in ("lead", "LEAD", "Lead "):
        login(client, name, "wrong")
    assert login(client, "lead", "pw").status_code == 429


def test_one_address_trying_many_usernames_is_throttled(world, client):
    for i in range(8):
        login(client, f"nobody{i}", "guess", addr="10.9.9.9")
    assert login(client, "lead", "pw", addr="10.9.9.9").status_code == 429
    assert login(client, "lead", "pw", addr="10.1.1.1").status_code == 302  # elsewhere: fine


def test_success_clears_the_count_and_the_window_ends(world, client, monkeypatch):
    login(client, "lead", "wrong")
    login(client, "lead", "wrong")
    assert login(client, "lead", "pw").status_code == 302
    client.logout()
    for _ in range(3):
        login(client, "lead", "wrong")
    assert login(client, "lead", "pw").status_code == 429
    caches["default"].clear()  # what the window's expiry does
    assert login(client, "lead", "pw").status_code == 302


def test_throttled_attempts_do_not_check_the_password(world, client, monkeypatch):
    for _ in range(3):
        login(client, "lead", "wrong")
    calls = []
    import django.contrib.auth.forms as auth_forms

    real = auth_forms.authenticate
    monkeypatch.setattr(auth_forms, "authenticate", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert login(client, "lead", "pw").status_code == 429
    assert calls == []
