"""APNs delivery channel (token auth, HTTP/2) through aioapns, the client django-push-notifications uses.

Devices are django-push-notifications' APNSDevice rows. The library's own bulk sender deactivates and raises on any
error; the error handling here is ours: only Unregistered / BadDeviceToken / DeviceTokenNotForTopic deactivate that
one device (and not even those when most of a batch fails at once: the breaker), payload errors are dead, auth
errors, 429, 5xx and timeouts retry. Every device keeps its own result.
"""

import asyncio
import logging
from typing import Any

from aioapns import APNs, NotificationRequest, PushType
from aioapns.common import NotificationResult
from django.conf import settings

from ..models import Priority
from .base import SENT, Breaker, Message, Outcome, dead, gone, push_group_key, retry, visible_text
from .webpush import push_ttl, webpush_topic

logger = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic"})
AUTH_ERRORS = frozenset(
    {"ExpiredProviderToken", "InvalidProviderToken", "MissingProviderToken", "TooManyProviderTokenUpdates"}
)
breaker = Breaker("apns")


def client_get() -> Any:
    """The APNs client: the boundary tests replace. Built inside the running event loop (its pool lives there)."""
    with open(settings.APNS_KEY_PATH) as handle:
        key = handle.read()
    return APNs(
        key=key,
        key_id=settings.APNS_KEY_ID,
        team_id=settings.APNS_TEAM_ID,
        topic=settings.APNS_TOPIC,
        use_sandbox=settings.APNS_USE_SANDBOX,
    )


def apns_collapse_id(group_key: str) -> str | None:
    if not group_key:
        return None
    return group_key if len(group_key.encode()) <= 64 else webpush_topic(group_key)


def apns_request(message: Message) -> NotificationRequest:
    shown = visible_text(message)
    aps: dict[str, Any] = {
        "alert": {"title": shown.title, "body": shown.body} if shown.body else {"title": shown.title},
        "sound": "default",
        # Lets the app's notification service extension fetch and show the real content after login.
        "mutable-content": 1,
    }
    if message.content.group_key:
        aps["thread-id"] = apns_collapse_id(push_group_key(message))
    urgent = message.content.priority in (Priority.URGENT, Priority.HIGH)
    return NotificationRequest(
        device_token=message.device.registration_id,
        message={"aps": aps, "id": str(message.notification.uuid), "url": shown.url},
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


class ApnsChannel:
    name = "apns"

    def is_configured(self) -> bool:
        return bool(settings.APNS_KEY_PATH and settings.APNS_KEY_ID and settings.APNS_TEAM_ID and settings.APNS_TOPIC)

    async def _send_all(self, requests: list[NotificationRequest]) -> list[Outcome]:
        client = client_get()
        timeout = settings.DELIVERY_PUSH_TIMEOUT

        async def one(request: NotificationRequest) -> Outcome:
            try:
                result = await asyncio.wait_for(client.send_notification(request), timeout=timeout)
            except TimeoutError:
                return retry("APNs timeout")
            except Exception as exc:  # connection or TLS trouble: transient from our point of view
                return retry(f"APNs connection: {type(exc).__name__}")
            return apns_outcome(result)

        return list(await asyncio.gather(*(one(r) for r in requests)))

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
