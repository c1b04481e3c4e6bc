"""WebSocket routing and the handshake guard.

The guard runs before the consumer exists: a rejected handshake (HTTP 403) creates no channel and subscribes to
nothing. Browsers authenticate with the session cookie and always send Origin, which must name an allowed host
(cross-site WebSocket hijacking). Token clients present a single-use `?ticket=`; they may omit Origin (no ambient
credentials to abuse), but an Origin they do send must still be allowed.
"""

from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http.request import validate_host
from django.urls import path

from .consumers import NotificationConsumer, in_db_thread
from .realtime import session_fingerprint
from .tickets import ws_ticket_consume

Scope = dict[str, Any]


def _origin_allowed(origin: str) -> bool:
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    if not host:
        return False
    if ":" in host:  # IPv6 literal, as ALLOWED_HOSTS spells it
        host = f"[{host}]"
    return validate_host(host, settings.ALLOWED_HOSTS)


def _ticket_user(ticket: str) -> Any:
    user_id = ws_ticket_consume(ticket=ticket)
    if user_id is None:
        return None
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


async def _deny(receive: Any, send: Any) -> None:
    """Reject the handshake: daphne answers HTTP 403."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close"})


class HandshakeGuard:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin1") or None
        if origin is not None and not _origin_allowed(origin):
            return await _deny(receive, send)
        tickets = parse_qs(scope.get("query_string", b"").decode("latin1")).get("ticket")
        if tickets:
            user = await in_db_thread(_ticket_user)(tickets[0])
            if user is None:
                return await _deny(receive, send)
            scope = {**scope, "user": user, "ws_session_fingerprint": None}
        else:
            user = scope.get("user")
            if origin is None or user is None or not user.is_authenticated:
                return await _deny(receive, send)
            session = scope.get("session")
            scope = {**scope, "ws_session_fingerprint": session_fingerprint(session.session_key if session else None)}
        return await self.inner(scope, receive, send)


def _daphne_oversized_frames_close_with_1009() -> None:
    """daphne (>= 4.2.2) refuses frames over --websocket-max-message-size before reading them, but its WebSocket
    engine (autobahn) then drops the TCP connection (1006) instead of closing with 1009 as contract.md promises.
    Make it send the close frame: the only change is how a failed connection ends."""
    try:
        from autobahn.websocket.protocol import WebSocketServerFactory
    except ImportError:
        return
    original = WebSocketServerFactory.resetProtocolOptions
    if getattr(original, "closes_politely", False):
        return

    def reset(self: Any) -> None:
        original(self)
        self.failByDrop = False

    reset.closes_politely = True  # type: ignore[attr-defined]
    WebSocketServerFactory.resetProtocolOptions = reset  # type: ignore[method-assign]


_daphne_oversized_frames_close_with_1009()

websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi()),
]

websocket_application = AuthMiddlewareStack(HandshakeGuard(URLRouter(websocket_urlpatterns)))
