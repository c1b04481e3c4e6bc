"""Web Push delivery channel (VAPID, RFC 8291 aes128gcm payload encryption) through pywebpush.

TTL is never zero (a zero TTL is dropped by push services when the browser is offline); Urgency follows the
priority; Topic (collapse) comes from group_key. 404/410 mean the subscription is gone: that device is deactivated.
429/5xx/timeouts retry (honouring Retry-After); other 4xx are payload errors and never deactivate.
"""

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils import timezone
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from ..models import Priority
from ..outbound import UnsafeEndpoint, endpoint_check
from .base import (
    SENT,
    Message,
    Outcome,
    absolute_url,
    dead,
    gone,
    parse_retry_after,
    push_group_key,
    retry,
    visible_text,
)
from .vapid import vapid_keys

logger = logging.getLogger(__name__)

URGENCY: dict[str, str] = {
    Priority.URGENT: "high",
    Priority.HIGH: "high",
    Priority.NORMAL: "normal",
    Priority.LOW: "low",
}
_local = threading.local()
_vapid_lock = threading.Lock()
_vapid_headers: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}


class _NoRedirects(requests.Session):
    """A push service answers; it never sends us elsewhere (a redirect could point inside the network)."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["allow_redirects"] = False
        return super().request(*args, **kwargs)


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = _NoRedirects()
    return session


def _authorization(endpoint: str) -> dict[str, str]:
    """VAPID Authorization header for the endpoint's origin, signed once and reused for an hour."""
    parts = urlsplit(endpoint)
    audience = f"{parts.scheme}://{parts.netloc}"
    keys = vapid_keys()
    cache_key = (audience, keys.public_key)
    now = time.time()
    with _vapid_lock:
        cached = _vapid_headers.get(cache_key)
        if cached is not None and cached[0] > now:
            return cached[1]
    claims = {"aud": audience, "exp": int(now) + 12 * 3600, "sub": settings.VAPID_SUBJECT}
    headers = Vapid.from_raw(keys.private_key.encode()).sign(claims)
    with _vapid_lock:
        _vapid_headers[cache_key] = (now + 3600, headers)
    return headers


def webpush_topic(group_key: str) -> str:
    """A Topic header is at most 32 URL-safe base64 characters: a digest of group_key."""
    return base64.urlsafe_b64encode(hashlib.sha256(group_key.encode()).digest()).decode()[:32]


def webpush_payload(message: Message) -> dict[str, str]:
    shown = visible_text(message)
    payload = {
        "id": str(message.notification.uuid),
        "title": shown.title,
        "body": shown.body,
        "url": shown.url,
        "tag": push_group_key(message) or str(message.notification.uuid),
    }
    if not shown.private:
        payload["category"] = message.category.slug
        payload["priority"] = message.content.priority
        if message.content.image_url:
            payload["image"] = absolute_url(message.content.image_url)  # a relative path is on SITE_URL
    return payload


def push_ttl(message: Message) -> int:
    expires_at = message.content.expires_at
    if expires_at is None:
        return settings.DELIVERY_PUSH_TTL
    return max(60, min(settings.DELIVERY_PUSH_TTL, int((expires_at - timezone.now()).total_seconds())))


def _outcome_for_status(status: int, retry_after: str | None) -> Outcome:
    if status in (404, 410):
        return gone(f"HTTP {status}: subscription gone")
    if status == 429 or status >= 500:
        return retry(f"HTTP {status}", parse_retry_after(retry_after))
    if status in (401, 403):
        return retry(f"HTTP {status}: VAPID authorization rejected")
    return dead(f"HTTP {status}")


class WebPushChannel:
    name = "webpush"

    def is_configured(self) -> bool:
        return True

    def send_one(self, message: Message) -> Outcome:
        device = message.device
        try:
            endpoint_check(device.registration_id, resolve=True)
        except UnsafeEndpoint as exc:  # stored before the rules, or DNS changed: never posted to; deactivated
            logger.warning("web push device %s refused: %s", device.pk, exc)
            return gone(f"web push: endpoint refused ({exc})")
        subscription = {"endpoint": device.registration_id, "keys": {"p256dh": device.p256dh, "auth": device.auth}}
        headers = {"Urgency": URGENCY.get(message.content.priority, "normal"), **_authorization(device.registration_id)}
        if message.content.group_key:
            headers["Topic"] = webpush_topic(push_group_key(message))
        try:
            webpush(
                subscription,
                data=json.dumps(webpush_payload(message), separators=(",", ":")),
                ttl=push_ttl(message),
                headers=headers,
                timeout=settings.DELIVERY_PUSH_TIMEOUT,
                requests_session=_session(),
            )
        except WebPushException as exc:
            response = exc.response
            if response is None:
                return retry("web push: no response")
            return _outcome_for_status(response.status_code, response.headers.get("Retry-After"))
        except requests.RequestException as exc:
            return retry(f"web push: {type(exc).__name__}")
        except (ValueError, TypeError) as exc:  # malformed subscription keys; deactivation is for 404/410 only
            return dead(f"web push: bad subscription ({type(exc).__name__})")
        return SENT

    def send(self, messages: list[Message]) -> Iterator[tuple[int, Outcome]]:
        for index, message in enumerate(messages):
            yield index, self.send_one(message)
