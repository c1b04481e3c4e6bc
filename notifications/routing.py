"""WebSocket routing and the handshake guard.

The guard runs before the consumer exists: a rejected handshake (HTTP 403) creates no channel and subscribes to
nothing. Browsers authenticate with the session cookie and always send Origin, which must be this server's own origin
(scheme, host and port) or one of CSRF_TRUSTED_ORIGINS (cross-site WebSocket hijacking). Token clients present a
single-use `?ticket=`; they may omit Origin (no ambient credentials to abuse), but an Origin they send must pass.
"""

from typing import Any
from urllib.parse import parse_qs

from channels.routing import URLRouter
from django.conf import settings
from django.http import parse_cookie
from django.urls import path

from .consumers import NotificationConsumer, in_db_thread
from .handshake import credentials_from_ticket, origin_allowed, session_claims

Scope = dict[str, Any]


async def _deny(receive: Any, send: Any) -> None:
    """Reject the handshake: daphne answers HTTP 403."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close"})


class HandshakeGuard:
    """Origin and credentials, before a consumer exists. The credentials are only a claim here (session read from
    the cache, or a consumed ticket): the consumer checks the user in the same query that reads its `hello`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        origin = next((v.decode("latin1") for k, v in scope.get("headers") or [] if k == b"origin"), None)
        if origin is not None and not origin_allowed(scope, origin):
            return await _deny(receive, send)
        tickets = parse_qs(scope.get("query_string", b"").decode("latin1")).get("ticket")
        if tickets:
            credentials = await in_db_thread(credentials_from_ticket)(tickets[0])
        elif origin is None:
            return await _deny(receive, send)  # a browser always sends Origin with its cookies
        else:
            cookies = parse_cookie(next((v.decode("latin1") for k, v in scope["headers"] if k == b"cookie"), ""))
            session_key = cookies.get(settings.SESSION_COOKIE_NAME, "")
            credentials = await session_claims.get(session_key) if session_key else None
        if credentials is None:
            return await _deny(receive, send)
        return await self.inner({**scope, "ws_credentials": credentials}, receive, send)


websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi()),
]

websocket_application = HandshakeGuard(URLRouter(websocket_urlpatterns))
