"""FCM delivery channel through firebase-admin (HTTP v1), the client django-push-notifications uses.

Devices are django-push-notifications' GCMDevice rows with cloud_message_type "FCM". The library deactivates on any
INVALID_ARGUMENT too; here only UNREGISTERED and SENDER_ID_MISMATCH deactivate (and not when most of a batch fails at
once: the breaker); INVALID_ARGUMENT is a payload error (dead); quota, unavailable, internal and auth errors retry,
honouring Retry-After. Every device keeps its own result.
"""

import logging
from datetime import timedelta
from typing import Any

import firebase_admin
from django.conf import settings
from firebase_admin import credentials, messaging
from firebase_admin import exceptions as fb

from ..models import Priority
from .base import SENT, Breaker, Message, Outcome, dead, gone, parse_retry_after, push_group_key, retry, visible_text
from .webpush import push_ttl

logger = logging.getLogger(__name__)

APP_NAME = "notifications"
breaker = Breaker("fcm")


def app_get() -> Any:
    try:
        return firebase_admin.get_app(APP_NAME)
    except ValueError:
        return firebase_admin.initialize_app(credentials.Certificate(settings.FCM_CREDENTIALS), name=APP_NAME)


def fcm_message(message: Message) -> messaging.Message:
    shown = visible_text(message)
    urgent = message.content.priority in (Priority.URGENT, Priority.HIGH)
    return messaging.Message(
        token=message.device.registration_id,
        notification=messaging.Notification(title=shown.title, body=shown.body or None),
        data={"id": str(message.notification.uuid), "url": shown.url},
        android=messaging.AndroidConfig(
            collapse_key=push_group_key(message)[:100] or None,
            ttl=timedelta(seconds=push_ttl(message)),
            priority="high" if urgent else "normal",
        ),
    )


def fcm_outcome(exc: BaseException) -> Outcome:
    code = getattr(exc, "code", type(exc).__name__)
    if isinstance(exc, messaging.UnregisteredError | messaging.SenderIdMismatchError):
        return gone(f"FCM {code} {type(exc).__name__}")
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
