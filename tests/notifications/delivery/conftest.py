"""Fixtures of the delivery tests: real SMTP and Web Push servers on loopback, VAPID keys, eager Celery."""

from collections.abc import Iterator

import pytest

from notifications.delivery import apns, fcm
from notifications.delivery.vapid import vapid_keys_generate
from notifyproject.celery import app as celery_app
from tests.notifications.delivery.servers import PushService, SmtpServer, push_service_start, smtp_server_start


@pytest.fixture
def smtp(settings) -> Iterator[SmtpServer]:
    server = smtp_server_start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()


@pytest.fixture
def vapid(settings):
    keys = vapid_keys_generate()
    settings.VAPID_PUBLIC_KEY = keys.public_key
    settings.VAPID_PRIVATE_KEY = keys.private_key
    settings.VAPID_SUBJECT = "mailto:ops@example.com"
    return keys


@pytest.fixture
def push_service(vapid, settings) -> Iterator[PushService]:
    service = push_service_start()
    settings.WEBPUSH_TRUSTED_ORIGINS = [service.origin]  # the loopback receiver, allowed explicitly
    yield service
    service.stop()


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks run in the calling thread, whatever REDIS_URL says (tests call the state machine synchronously)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture(autouse=True)
def _breakers_closed() -> Iterator[None]:
    apns.breaker.reset()
    fcm.breaker.reset()
    yield
    apns.breaker.reset()
    fcm.breaker.reset()
