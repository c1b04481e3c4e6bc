"""APNs delivery channel (token auth, HTTP/2) through aioapns, the client django-push-notifications uses.

Devices are django-push-notifications' APNSDevice rows. The library's own bulk sender deactivates and raises on any
error; the error handling here is ours: only Unregistered / BadDeviceToken / DeviceTokenNotForTopic deactivate that
one device (and not even those when most of a batch fails at once: the breaker), payload errors are dead, auth
errors, 429, 5xx and timeouts retry. Every device keeps its own result.

Where it connects is configuration: Apple's production or sandbox host by default, APNS_HOST / APNS_PORT (and
APNS_CA_FILE to trust a private CA) otherwise; the test suite points it at a loopback HTTP/2 server that checks what
Apple checks.
"""

import asyncio
import logging
import ssl
import threading
import time
from functools import partial
from typing import Any

import jwt
from aioapns import NotificationRequest, PushType
from aioapns.common import NotificationResult
from aioapns.connection import (
    APNsBaseClientProtocol,
    APNsDevelopmentClientProtocol,
    APNsKeyConnectionPool,
    APNsProductionClientProtocol,
    AuthorizationHeaderProvider,
)
from django.conf import settings

from ..models import Priority
from .base import SENT, Breaker, Message, Outcome, dead, gone, push_group_key, retry, visible_text
from .pushfit import text_fit
from .webpush import push_ttl, webpush_topic

logger = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic"})
AUTH_ERRORS = frozenset(
    {"ExpiredProviderToken", "InvalidProviderToken", "MissingProviderToken", "TooManyProviderTokenUpdates"}
)
breaker = Breaker("apns")


class ProviderToken(AuthorizationHeaderProvider):
    """The provider token (ES256 JWT) of this process, shared by every connection and every batch.

    Apple rejects a token older than an hour (ExpiredProviderToken) and one refreshed more often than every 20
    minutes (TooManyProviderTokenUpdates): a new token per batch or per connection would hit the second. So one is
    minted and reused for LIFETIME, and an ExpiredProviderToken (clock skew, a suspended process) replaces it once:
    `expire(generation)` only throws away the token that was rejected, never the one minted after it.
    """

    LIFETIME = 50 * 60

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: tuple[str, str, str] = ("", "", "")
        self._header = ""
        self.issued_at = 0
        self.generation = 0  # which token this is: a replacement within the same second has the same iat

    def configure(self, key: str, key_id: str, team_id: str) -> None:
        with self._lock:
            if self._credentials != (key, key_id, team_id):
                self._credentials, self._header = (key, key_id, team_id), ""

    def get_header(self) -> str:
        with self._lock:
            if not self._header or self.issued_at < time.time() - self.LIFETIME:
                self._mint()
            return self._header

    def expire(self, generation: int) -> None:
        with self._lock:
            if self.generation == generation:
                self._header = ""

    def _mint(self) -> None:
        key, key_id, team_id = self._credentials
        self.issued_at = int(time.time())
        self.generation += 1
        token = jwt.encode({"iss": team_id, "iat": self.issued_at}, key, algorithm="ES256", headers={"kid": key_id})
        self._header = f"bearer {token}"


provider_token = ProviderToken()


class ApnsPool(APNsKeyConnectionPool):
    """aioapns' token-auth pool, connecting where the settings say, with the process's shared provider token."""

    async def create_connection(self) -> APNsBaseClientProtocol:
        host, port = apns_address()
        topic = self.apns_topic or ""
        # aioapns annotates this callback as returning NoReturn although its own pool passes this very method.
        lost: Any = self.discard_connection
        factory = partial(self.protocol_class, topic, self.loop, lost, provider_token)
        _, protocol = await self.loop.create_connection(factory, host=host, port=port, ssl=self.ssl_context)
        return protocol


def apns_address() -> tuple[str, int]:
    if settings.APNS_HOST:
        return settings.APNS_HOST, settings.APNS_PORT
    protocol = APNsDevelopmentClientProtocol if settings.APNS_USE_SANDBOX else APNsProductionClientProtocol
    return protocol.APNS_SERVER, protocol.APNS_PORT


def client_get() -> ApnsPool:
    """The APNs connection pool. Built inside the running event loop (its connections live there)."""
    with open(settings.APNS_KEY_PATH) as handle:
        key = handle.read()
    provider_token.configure(key, settings.APNS_KEY_ID, settings.APNS_TEAM_ID)
    context = ssl.create_default_context(cafile=settings.APNS_CA_FILE or None)
    context.set_alpn_protocols(["h2"])
    return ApnsPool(
        key=key,
        key_id=settings.APNS_KEY_ID,
        team_id=settings.APNS_TEAM_ID,
        topic=settings.APNS_TOPIC,
        use_sandbox=settings.APNS_USE_SANDBOX,
        ssl_context=context,
        max_connection_attempts=2,
    )


def apns_collapse_id(group_key: str) -> str | None:
    if not group_key:
        return None
    return group_key if len(group_key.encode()) <= 64 else webpush_topic(group_key)


def apns_payload(message: Message, title: str, body: str) -> dict[str, Any]:
    aps: dict[str, Any] = {
        "alert": {"title": title, "body": body} if body else {"title": title},
        "sound": "default",
        # Lets the app's notification service extension fetch and show the real content after login.
        "mutable-content": 1,
    }
    group = apns_collapse_id(push_group_key(message))
    if group:
        aps["thread-id"] = group
    shown = visible_text(message)
    return {"aps": aps, "id": str(message.notification.uuid), "seq": message.notification.seq, "url": shown.url}


def apns_request(message: Message) -> NotificationRequest:
    shown = visible_text(message)
    title, body = text_fit(shown.title, shown.body, partial(apns_payload, message))
    urgent = message.content.priority in (Priority.URGENT, Priority.HIGH)
    return NotificationRequest(
        device_token=message.device.registration_id,
        message=apns_payload(message, title, body),
        time_to_live=push_ttl(message),
        priority=10 if urgent else 5,
        collapse_key=apns_collapse_id(push_group_key(message)),
        push_type=PushType.ALERT,
    )


def apns_outcome(result: NotificationResult) -> Outcome:
    if result.is_successful:
        return SENT
    reason = result.description or ""
    status = str(result.status)
    if reason in TOKEN_ERRORS:
        return gone(f"APNs {status} {reason}")
    if reason in AUTH_ERRORS or status in ("429", "500", "503") or reason in ("TooManyRequests", "Shutdown"):
        return retry(f"APNs {status} {reason}")
    if status.startswith("4"):
        return dead(f"APNs {status} {reason}")
    return retry(f"APNs {status} {reason}")


async def _send_one(client: ApnsPool, request: NotificationRequest) -> NotificationResult:
    """One request; an ExpiredProviderToken replaces the token and sends again, once."""
    provider_token.get_header()
    generation = provider_token.generation
    result = await client.send_notification(request)
    if result.description == "ExpiredProviderToken":
        provider_token.expire(generation)
        result = await client.send_notification(request)
    return result


class ApnsChannel:
    name = "apns"

    def is_configured(self) -> bool:
        return bool(settings.APNS_KEY_PATH and settings.APNS_KEY_ID and settings.APNS_TEAM_ID and settings.APNS_TOPIC)

    async def _send_all(self, requests: list[NotificationRequest]) -> list[Outcome]:
        client = client_get()
        timeout = settings.DELIVERY_PUSH_TIMEOUT

        async def one(request: NotificationRequest) -> Outcome:
            try:
                result = await asyncio.wait_for(_send_one(client, request), timeout=timeout)
            except TimeoutError:
                return retry("APNs timeout")
            except Exception as exc:  # connection or TLS trouble: transient from our point of view
                return retry(f"APNs connection: {type(exc).__name__}")
            return apns_outcome(result)

        try:
            return list(await asyncio.gather(*(one(r) for r in requests)))
        finally:
            client.close()

    def send(self, messages: list[Message]) -> list[tuple[int, Outcome]]:
        return list(enumerate(self._send(messages)))

    def _send(self, messages: list[Message]) -> list[Outcome]:
        paused = breaker.remaining()
        if paused:
            return [retry("APNs breaker open", paused)] * len(messages)
        try:
            outcomes = asyncio.run(self._send_all([apns_request(m) for m in messages]))
        except Exception as exc:  # the client could not even be built (key file, ...)
            logger.warning("APNs batch failed: %s", type(exc).__name__)
            return [retry(f"APNs client: {type(exc).__name__}")] * len(messages)
        return breaker.guard(outcomes)
