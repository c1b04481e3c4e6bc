"""FCM delivery channel through firebase-admin (HTTP v1), the client django-push-notifications uses.

Devices are django-push-notifications' GCMDevice rows with cloud_message_type "FCM". The library deactivates on any
INVALID_ARGUMENT; here only UNREGISTERED, SENDER_ID_MISMATCH and an INVALID_ARGUMENT that names the token
(`message.token` in its field violations) deactivate (and not when most of a batch fails at once: the breaker);
any other INVALID_ARGUMENT is a payload error (dead); quota, unavailable, internal and auth errors retry, honouring
Retry-After. Every device keeps its own result.

Retrying is the state machine's job, not the HTTP client's: firebase-admin's session retries 500/503 four times
inside the call and sleeps for whatever Retry-After says, which would hold a worker for minutes. Its adapters are
replaced by ones that only retry a failed connect. FCM_API_URL points the client elsewhere (the test suite's
loopback server); the OAuth token comes from the service-account file's own token_uri.
"""

import logging
import threading
import time
from datetime import timedelta
from typing import Any

import firebase_admin
import requests
from django.conf import settings
from firebase_admin import credentials, messaging
from firebase_admin import exceptions as fb
from urllib3.util.retry import Retry

from ..models import Priority
from .base import SENT, Breaker, Message, Outcome, dead, gone, parse_retry_after, push_group_key, retry, visible_text
from .pushfit import text_fit
from .webpush import push_ttl

logger = logging.getLogger(__name__)

APP_NAME = "notifications"
breaker = Breaker("fcm")
_app_lock = threading.Lock()
_app_config: tuple[str, str, float] | None = None


def _service_configure(app: Any) -> None:
    """Point firebase-admin's messaging service at FCM_API_URL and take its status retries away (see above).

    These are the service's private attributes: the wire tests (tests/notifications/delivery/test_fcm.py) fail
    the day an upgrade renames them, because nothing then reaches the loopback server."""
    service = messaging._get_messaging_service(app)
    if settings.FCM_API_URL:
        service._fcm_url = f"{settings.FCM_API_URL.rstrip('/')}/v1/projects/{service._project_id}/messages:send"
    adapter = requests.adapters.HTTPAdapter(
        pool_maxsize=100, max_retries=Retry(total=1, connect=1, read=0, status=0, other=0, redirect=0)
    )
    for prefix in ("http://", "https://", "https://fcm.googleapis.com"):
        service._client.session.mount(prefix, adapter)


def app_get() -> Any:
    """The firebase-admin app of these settings; a new one (and a new access token) when they change."""
    global _app_config
    config = (settings.FCM_CREDENTIALS, settings.FCM_API_URL, float(settings.DELIVERY_PUSH_TIMEOUT))
    with _app_lock:
        if _app_config == config:
            return firebase_admin.get_app(APP_NAME)
        try:
            firebase_admin.delete_app(firebase_admin.get_app(APP_NAME))
        except ValueError:
            pass
        app = firebase_admin.initialize_app(
            credentials.Certificate(settings.FCM_CREDENTIALS), {"httpTimeout": config[2]}, name=APP_NAME
        )
        _service_configure(app)
        _app_config = config
        return app


def _fcm_payload(message: Message, title: str, body: str) -> dict[str, Any]:
    """What counts against FCM's 4 KB: the notification and the data."""
    shown = visible_text(message)
    data = {"id": str(message.notification.uuid), "seq": str(message.notification.seq), "url": shown.url}
    return {"notification": {"title": title, "body": body}, "data": data}


def fcm_message(message: Message) -> messaging.Message:
    shown = visible_text(message)
    title, body = text_fit(shown.title, shown.body, lambda t, b: _fcm_payload(message, t, b))
    payload = _fcm_payload(message, title, body)
    urgent = message.content.priority in (Priority.URGENT, Priority.HIGH)
    ttl = push_ttl(message)
    group = push_group_key(message)
    apns_headers = {"apns-priority": "10" if urgent else "5", "apns-expiration": str(int(time.time() + ttl))}
    if group:
        apns_headers["apns-collapse-id"] = group[:64]
    return messaging.Message(
        token=message.device.registration_id,
        notification=messaging.Notification(title=title, body=body or None),
        data=payload["data"],
        android=messaging.AndroidConfig(
            collapse_key=group[:100] or None,
            ttl=timedelta(seconds=ttl),
            priority="high" if urgent else "normal",
            notification=messaging.AndroidNotification(tag=group[:100] or None),
        ),
        # iOS apps registered through FCM: the same priority, expiry and collapse as a direct APNs push.
        apns=messaging.APNSConfig(
            headers=apns_headers,
            payload=messaging.APNSPayload(
                aps=messaging.Aps(sound="default", mutable_content=True, thread_id=group[:64] or None)
            ),
        ),
    )


def _names_the_token(exc: BaseException) -> bool:
    """An INVALID_ARGUMENT about the registration token itself (FCM's BadRequest field violation)."""
    response = getattr(exc, "http_response", None)
    try:
        details = response.json()["error"].get("details", []) if response is not None else []
    except (ValueError, KeyError, AttributeError, TypeError):
        return False
    for detail in details if isinstance(details, list) else []:
        violations = detail.get("fieldViolations", []) if isinstance(detail, dict) else []
        if any(isinstance(v, dict) and v.get("field") == "message.token" for v in violations):
            return True
    return False


def fcm_outcome(exc: BaseException) -> Outcome:
    code = getattr(exc, "code", type(exc).__name__)
    if isinstance(exc, messaging.UnregisteredError | messaging.SenderIdMismatchError):
        return gone(f"FCM {code} {type(exc).__name__}")
    if isinstance(exc, fb.InvalidArgumentError) and _names_the_token(exc):
        return gone(f"FCM {code} invalid registration token")
    if isinstance(exc, fb.InvalidArgumentError | fb.FailedPreconditionError | fb.OutOfRangeError):
        return dead(f"FCM {code}")
    response = getattr(exc, "http_response", None)
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
    return retry(f"FCM {code}", retry_after)


class FcmChannel:
    name = "fcm"

    def is_configured(self) -> bool:
        return bool(settings.FCM_CREDENTIALS)

    def send(self, messages: list[Message]) -> list[tuple[int, Outcome]]:
        return list(enumerate(self._send(messages)))

    def _send(self, messages: list[Message]) -> list[Outcome]:
        paused = breaker.remaining()
        if paused:
            return [retry("FCM breaker open", paused)] * len(messages)
        try:
            batch = messaging.send_each([fcm_message(m) for m in messages], app=app_get())
        except Exception as exc:  # the whole call failed (network, credentials): every message retries
            logger.warning("FCM batch failed: %s", type(exc).__name__)
            return [retry(f"FCM batch: {type(exc).__name__}")] * len(messages)
        outcomes = [
            SENT if r.success else fcm_outcome(r.exception) if r.exception else retry("FCM: no message id")
            for r in batch.responses
        ]
        return breaker.guard(outcomes)
