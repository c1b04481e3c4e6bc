"""Fixtures of the delivery tests: real SMTP, Web Push, APNs and FCM servers on loopback, VAPID keys, eager Celery."""

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.harness.servers import PushService, SmtpServer, push_service_start, smtp_server_start
from notifications.delivery import apns, fcm
from notifications.delivery.vapid import vapid_keys_generate
from notifyproject.celery import app as celery_app
from tests.notifications.delivery.apns_server import ApnsServer, tls_make
from tests.notifications.delivery.fcm_server import FcmServer

APNS_TOPIC = "com.example.notify"
APNS_TEAM_ID = "TEAM123456"
APNS_KEY_ID = "KEY1234567"


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
def apns_server(settings, tmp_path) -> Iterator[ApnsServer]:
    """A loopback APNs with its own TLS certificate and the test's own .p8 signing key; settings point at it."""
    key = ec.generate_private_key(ec.SECP256R1())
    key_path = tmp_path / "AuthKey.p8"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ApnsServer(APNS_TOPIC, APNS_TEAM_ID, APNS_KEY_ID, key.public_key(), tls_make(tmp_path)).start()
    settings.APNS_KEY_PATH, settings.APNS_KEY_ID, settings.APNS_TEAM_ID = str(key_path), APNS_KEY_ID, APNS_TEAM_ID
    settings.APNS_TOPIC, settings.APNS_USE_SANDBOX = APNS_TOPIC, False
    settings.APNS_HOST, settings.APNS_PORT, settings.APNS_CA_FILE = "127.0.0.1", server.port, server.tls.ca_file
    yield server
    server.stop()


@pytest.fixture
def fcm_server(settings, tmp_path) -> Iterator[FcmServer]:
    """A loopback FCM v1 API; the service-account file names its token endpoint, FCM_API_URL its send endpoint."""
    server = FcmServer().start()
    settings.FCM_CREDENTIALS = server.service_account(tmp_path)
    settings.FCM_API_URL = server.origin
    yield server
    server.stop()


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
