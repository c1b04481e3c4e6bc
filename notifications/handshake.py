"""What a WebSocket handshake checks, as plain functions: the Origin (the way CsrfViewMiddleware checks it), the
credentials (session cookie or single-use ticket), and the user they name.

A reconnect storm (every client of a restarted process at once) makes this the hottest path of a web process, so
it costs as little as Django's own checks allow: the session comes from the cache (cached_db sessions), and the
user, the unread count and the last seq come in one query (`selectors.user_socket_state`). The session check is
Django's (`django.contrib.auth.get_user`): same backend rule, same session-hash rule with SECRET_KEY_FALLBACKS.
"""

from dataclasses import dataclass
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.http.request import split_domain_port, validate_host
from django.utils.crypto import constant_time_compare
from django.utils.http import is_same_domain

from . import selectors
from .tickets import ws_ticket_consume

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@dataclass(frozen=True)
class Credentials:
    """Who a handshake claims to be. `session_key` None: a ticket (token clients)."""

    user_id: int
    session_key: str | None = None
    session_hash: str = ""
    backend: str = ""


# --- Origin -------------------------------------------------------------------------------------------------------


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin1")
    return ""


def _is_secure(scope: dict[str, Any]) -> bool:
    if scope.get("scheme") == "wss":
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, value = proxy
        name = header.removeprefix("HTTP_").lower().replace("_", "-").encode()
        return _header(scope, name).split(",")[0].strip() == value
    return False


def _trusted(origin: str) -> bool:
    """CSRF_TRUSTED_ORIGINS, read as Django reads it: exact origins, or `scheme://*.domain` for subdomains."""
    parsed = urlsplit(origin)
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" not in trusted:
            if origin == trusted.lower():
                return True
            continue
        pattern = urlsplit(trusted)
        if parsed.scheme == pattern.scheme and is_same_domain(parsed.netloc, pattern.netloc.split("*", 1)[1]):
            return True
    return False


def origin_allowed(scope: dict[str, Any], origin: str) -> bool:
    """Scheme, host and port must equal this server's own origin (Host header, allowed by ALLOWED_HOSTS), or be a
    CSRF_TRUSTED_ORIGINS entry: a page on another port or scheme of an allowed host is another origin."""
    origin = origin.strip().lower()
    try:
        parsed = urlsplit(origin)
        parsed.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return False
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.username is not None:
        return False
    if parsed.path or parsed.query or parsed.fragment:
        return False
    if _trusted(origin):
        return True
    host = _header(scope, b"host").lower()
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    return origin == f"{'https' if _is_secure(scope) else 'http'}://{host}"


# --- Credentials --------------------------------------------------------------------------------------------------


def credentials_from_session(session_key: str) -> Credentials | None:
    """The session's claim, read from the cache (or the database on a miss); no user query yet."""
    if not session_key or len(session_key) > 64:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    data = session.load()  # an unknown or expired key loads as an empty session
    try:
        user_id = int(data[SESSION_KEY])
        backend = data[BACKEND_SESSION_KEY]
    except (KeyError, TypeError, ValueError):
        return None
    if backend not in settings.AUTHENTICATION_BACKENDS:
        return None
    return Credentials(
        user_id=user_id, session_key=session_key, session_hash=data.get(HASH_SESSION_KEY) or "", backend=backend
    )


def credentials_from_ticket(ticket: str) -> Credentials | None:
    user_id = ws_ticket_consume(ticket=ticket)
    return None if user_id is None else Credentials(user_id=user_id)


def _session_hash_valid(user: Any, session_hash: str) -> bool:
    if not session_hash:
        return False
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(constant_time_compare(session_hash, h) for h in user.get_session_auth_fallback_hash())


def socket_user(credentials: Credentials) -> Any:
    """The active user the credentials name, annotated with `socket_unread` and `socket_last_seq`; else None.
    One query for the usual ModelBackend session; another backend's own get_user() is asked as well."""
    user = selectors.user_socket_state(user_id=credentials.user_id)
    if user is None or not user.is_active:
        return None
    if credentials.session_key is None:
        return user
    if credentials.backend and credentials.backend != MODEL_BACKEND:
        if load_backend(credentials.backend).get_user(credentials.user_id) is None:
            return None
    return user if _session_hash_valid(user, credentials.session_hash) else None


def credentials_valid(credentials: Credentials) -> bool:
    """Whether an open socket's credentials still hold (re-checked periodically and when they may have changed):
    the session still exists and names the same user with a valid hash; the user is still active."""
    if credentials.session_key is not None:
        current = credentials_from_session(credentials.session_key)
        if current is None or current.user_id != credentials.user_id:
            return False
        credentials = current  # the hash as the session holds it now (a password change on this session updates it)
    return socket_user(credentials) is not None
