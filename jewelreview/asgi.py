"""ASGI entry for daphne: HTTP through Django, websockets through reviews.routing."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelreview.settings")
django_asgi_app = get_asgi_application()  # sets Django up before the consumers import models

from django.core.signals import request_finished  # noqa: E402
from django.db import connections  # noqa: E402


def _close_request_connections(**kwargs):
    """Under ASGI each HTTP request runs its sync code in a thread of its own that ends with the
    request, so its connection must be given back here (request_finished is sent in that thread):
    with the pool (settings: DB_POOL_SIZE) it goes back to the pool; without it a persistent
    connection would be left open behind the thread until garbage collection (under load
    PostgreSQL ran out of connection slots: HTTP 500)."""
    connections.close_all()


request_finished.connect(_close_request_connections, dispatch_uid="jewelreview-asgi-close-connections")

from channels.auth import AuthMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.sessions import CookieMiddleware, SessionMiddleware  # noqa: E402
from django.contrib.auth.models import AnonymousUser  # noqa: E402

from reviews.routing import websocket_urlpatterns  # noqa: E402
from reviews.services.realtime import DATABASE_UNAVAILABLE  # noqa: E402


class OutageTolerantAuthMiddleware(AuthMiddleware):
    """Channels' AuthMiddleware, except that a session that cannot be read because the database
    is unreachable does not kill the connection before it starts: the scope gets an anonymous
    user and ``database_unavailable``, and the consumer answers with its "try again" error frame
    (reviews.consumers) instead of the handshake failing with a server error."""

    async def resolve_scope(self, scope):
        try:
            await super().resolve_scope(scope)
        except DATABASE_UNAVAILABLE:
            scope["user"]._wrapped = AnonymousUser()
            scope["database_unavailable"] = True


def auth_stack(inner):
    """channels.auth.AuthMiddlewareStack with the outage-tolerant AuthMiddleware."""
    return CookieMiddleware(SessionMiddleware(OutageTolerantAuthMiddleware(inner)))


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(auth_stack(URLRouter(websocket_urlpatterns))),
    }
)
