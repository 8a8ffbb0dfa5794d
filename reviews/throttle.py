"""Login throttling: passwords cannot be guessed at speed.

After ``MAX_PER_USER`` failed sign-ins for one username, or ``MAX_PER_ADDRESS`` from one client
address, within ``WINDOW_S`` seconds, every further attempt for it is refused with HTTP 429 and a
message — even with the right password — until the window has passed. A successful sign-in
clears the username's count.

The counts live where every web process sees them: in Redis when ``REDIS_URL`` is set (several
daphne processes share one count), otherwise in Django's default cache (one process).
Settings (``settings.JEWELREVIEW``): LOGIN_MAX_PER_USER (5), LOGIN_MAX_PER_ADDRESS (30),
LOGIN_WINDOW_S (900).

Hooked in by reviews/urls.py: ``path("login/", ThrottledLoginView.as_view(...))``.

Edit rate over HTTP (``edit_allowed``, used by the edit API view): the same rate as a websocket
(``EDIT_RATE_PER_S`` on average, ``EDIT_BURST`` at once), counted per person in fixed windows of
``EDIT_BURST / EDIT_RATE_PER_S`` seconds in the shared count above, so several web processes
cannot multiply it.
"""
from __future__ import annotations

import hashlib
import math
import threading
import time

from django.conf import settings
from django.contrib.auth.views import LoginView
from django.core.cache import caches

# Messages (edits, cursor moves …) per second on average and at once: a websocket's token bucket
# (reviews.consumers) and the HTTP edit API's window both use these.
EDIT_RATE_PER_S, EDIT_BURST = 40.0, 80.0
_clock = time.time  # wall clock (s): windows must line up across processes

_lock = threading.Lock()
_redis_cache = None


def _limits() -> tuple[int, int, int]:
    conf = getattr(settings, "JEWELREVIEW", {})
    return (int(conf.get("LOGIN_MAX_PER_USER", 5)), int(conf.get("LOGIN_MAX_PER_ADDRESS", 30)),
            int(conf.get("LOGIN_WINDOW_S", 900)))


def _cache():
    global _redis_cache
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return caches["default"]
    with _lock:
        if _redis_cache is None:
            from django.core.cache.backends.redis import RedisCache

            _redis_cache = RedisCache(url, {"KEY_PREFIX": "jr-throttle"})
        return _redis_cache


def _keys(request, username: str) -> tuple[str, str]:
    name = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]  # no raw user text in keys
    address = request.META.get("REMOTE_ADDR", "") or "unknown"
    return f"login:user:{name}", f"login:addr:{address}"


def blocked(request, username: str) -> bool:
    """True when this username or this address has used up its failed attempts."""
    per_user, per_address, _ = _limits()
    user_key, addr_key = _keys(request, username)
    counts = _cache().get_many([user_key, addr_key])
    return counts.get(user_key, 0) >= per_user or counts.get(addr_key, 0) >= per_address


def record_failure(request, username: str) -> None:
    _, _, window = _limits()
    cache = _cache()
    for key in _keys(request, username):
        cache.add(key, 0, timeout=window)  # the window starts at the first failure
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)


def clear(request, username: str) -> None:
    _cache().delete(_keys(request, username)[0])


def edit_allowed(user_id: int) -> bool:
    """Count one edit of ``user_id`` over HTTP; False when the person's window is used up
    (at most EDIT_BURST edits per window of EDIT_BURST / EDIT_RATE_PER_S seconds)."""
    window = EDIT_BURST / EDIT_RATE_PER_S
    key = f"edit:user:{int(user_id)}:{math.floor(_clock() / window)}"
    cache = _cache()
    cache.add(key, 0, timeout=math.ceil(window) + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: a new window
        cache.set(key, 1, timeout=math.ceil(window) + 1)
        count = 1
    return count <= EDIT_BURST


def edit_window_s() -> int:
    """Seconds to wait after a refused edit, at most (for Retry-After)."""
    return math.ceil(EDIT_BURST / EDIT_RATE_PER_S)


class ThrottledLoginView(LoginView):
    """Django's LoginView, refusing with 429 while the username or address is throttled."""

    def post(self, request, *args, **kwargs):
        username = str(request.POST.get("username", ""))[:150]
        if blocked(request, username):
            # the password is not even checked while throttled (no hashing, no timing signal)
            minutes = max(1, _limits()[2] // 60)
            context = self.get_context_data(form=self.get_form(),
                                            throttled=f"Too many failed sign-ins. Try again in {minutes} minutes.")
            return self.render_to_response(context, status=429)
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            clear(request, username)
        else:
            record_failure(request, username)
        return response
