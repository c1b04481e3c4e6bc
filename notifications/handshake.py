"""What a WebSocket handshake checks, as plain functions: the Origin (the way CsrfViewMiddleware checks it), the
credentials (session cookie or single-use ticket), and the user they name.

A reconnect storm (every client of a restarted process at once) makes this the hottest path of a web process, so
it costs as little as Django's own checks allow: the session comes from the cache (cached_db sessions), and the
user, the unread count and the last seq come in one query (`selectors.user_socket_states`). Both are asked through
a Coalescer (`session_claims`, `socket_states`): the handshakes that arrive together share one thread hop, one cache
read and one query. The session check is
Django's (`django.contrib.auth.get_user`): same backend rule, same session-hash rule with SECRET_KEY_FALLBACKS.
"""

import logging
from dataclasses import dataclass
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.core.cache import caches
from django.http.request import split_domain_port, validate_host
from django.utils.crypto import constant_time_compare
from django.utils.http import is_same_domain

from . import selectors
from .coalescing import Coalescer
from .tickets import ws_ticket_consume

logger = logging.getLogger(__name__)

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
_SESSION_KEY_CHARS = frozenset(VALID_KEY_CHARS)  # what Django writes; anything else is no session of ours


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


def credentials_from_sessions(session_keys: list[str]) -> dict[str, Credentials]:
    """The sessions' claims (no user query yet), for many handshakes at once: one cache read for all of them
    (`get_many`) with the cache-backed engines; a key the cache misses is loaded the engine's own way (the database
    for cached_db, which also refills the cache). Keys that name no logged-in session are absent from the result."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = [k for k in session_keys if 8 <= len(k) <= 64 and set(k) <= _SESSION_KEY_CHARS]
    prefix = getattr(store, "cache_key_prefix", None)
    cached: dict[str, Any] = {}
    if prefix is not None and keys:
        try:
            cached = caches[settings.SESSION_CACHE_ALIAS].get_many([prefix + k for k in keys])
        except Exception:  # the cache away for a moment: every key takes the engine's own path below
            logger.warning("session cache read failed; loading sessions one by one")
    claims = {}
    for key in keys:
        data = cached.get(f"{prefix}{key}")
        if not isinstance(data, dict):
            data = store(key).load()  # an unknown or expired key loads as an empty session
        claim = _claim(key, data)
        if claim is not None:
            claims[key] = claim
    return claims


def credentials_from_session(session_key: str) -> Credentials | None:
    """One session's claim, read from the cache (or the database on a miss); no user query yet."""
    return credentials_from_sessions([session_key]).get(session_key)


def _claim(session_key: str, data: dict[str, Any]) -> Credentials | None:
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


def socket_users(credentials: list[Credentials]) -> dict[Credentials, Any]:
    """For each credentials, the active user they name, annotated with `socket_unread` and `socket_last_seq`;
    credentials that name no such user are absent. One query for every usual ModelBackend session of the batch;
    another backend's own get_user() is asked as well."""
    users = selectors.user_socket_states(user_ids=[c.user_id for c in credentials])
    valid = {}
    for claim in credentials:
        user = users.get(claim.user_id)
        if user is not None and _user_valid(user, claim):
            valid[claim] = user
    return valid


def socket_user(credentials: Credentials) -> Any:
    """One credentials' `socket_users`, or None."""
    return socket_users([credentials]).get(credentials)


def _user_valid(user: Any, credentials: Credentials) -> bool:
    if not user.is_active:
        return False
    if credentials.session_key is None:
        return True
    if credentials.backend and credentials.backend != MODEL_BACKEND:
        if load_backend(credentials.backend).get_user(credentials.user_id) is None:
            return False
    return _session_hash_valid(user, credentials.session_hash)


def credentials_valid(credentials: Credentials) -> bool:
    """Whether an open socket's credentials still hold (re-checked periodically and when they may have changed):
    the session still exists and names the same user with a valid hash; the user is still active."""
    if credentials.session_key is not None:
        current = credentials_from_session(credentials.session_key)
        if current is None or current.user_id != credentials.user_id:
            return False
        credentials = current  # the hash as the session holds it now (a password change on this session updates it)
    return socket_user(credentials) is not None


# One per process: every handshake of the process asks through these (routing.py, consumers.py).
session_claims: Coalescer[str, Credentials] = Coalescer(credentials_from_sessions)
socket_states: Coalescer[Credentials, Any] = Coalescer(socket_users)
