"""No SSRF through Web Push: the worker posts only to allowed push services (issue 11), checked at registration and
again at send time against a real receiver on loopback."""

import pytest
from push_notifications.models import WebPushDevice

from notifications.models import DeliveryStatus
from tests.factories import send
from tests.notifications.api.conftest import client_for
from tests.notifications.delivery.helpers import deliveries_of, reload, send_now

DEVICES = "/api/v1/devices/webpush/"
KEYS = {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
        "auth": "tBHItJI5svbpez7KI4CCXg"}  # fmt: skip


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8203/internal/admin",
        "https://127.0.0.1/push/x",
        "https://[::1]/push/x",
        "https://10.0.0.5/push/x",
        "https://169.254.169.254/latest/meta-data",
        "https://evil.example/push/x",
        "https://fcm.googleapis.com.evil.example/x",
        "https://user@fcm.googleapis.com/x",
        "http://fcm.googleapis.com/fcm/send/x",
        "ftp://fcm.googleapis.com/x",
    ],
)
def test_registering_an_endpoint_that_is_not_a_push_service_is_a_400(alice, endpoint):
    response = client_for(alice).post(DEVICES, {"registration_id": endpoint, **KEYS}, format="json")
    assert response.status_code == 400
    assert "registration_id" in response.json()
    assert not WebPushDevice.objects.exists()


def test_a_public_push_service_endpoint_registers(alice):
    endpoint = "https://fcm.googleapis.com/fcm/send/abc:def"
    response = client_for(alice).post(DEVICES, {"registration_id": endpoint, **KEYS}, format="json")
    assert response.status_code == 201


def test_the_worker_posts_only_to_allowed_endpoints(push_service, alice, bob, settings):
    # given alice's subscription at the allowed receiver, and bob's stored before the rules, pointing at the same
    # loopback server under another name (not allowed)
    good = push_service.subscription("alice-1")
    WebPushDevice.objects.create(user=alice, registration_id=good.endpoint, p256dh=good.p256dh, auth=good.auth_b64)
    port = push_service.origin.rsplit(":", 1)[1]
    evil = WebPushDevice.objects.create(
        user=bob, registration_id=f"http://localhost:{port}/push/internal", p256dh=good.p256dh, auth=good.auth_b64
    )
    # when a notification goes to both
    result = send([alice, bob], category="mention", title="Hi")
    send_now(deliveries_of(result, channel="webpush"))
    # then only alice's endpoint was posted to; bob's row never reached the network and his device is off
    assert [r.path for r in push_service.requests] == ["/push/alice-1"]
    assert reload(deliveries_of(result, channel="webpush")[1]).status == DeliveryStatus.DEAD
    evil.refresh_from_db()
    assert evil.active is False


def test_an_allowed_host_that_resolves_to_a_private_address_is_refused_at_send_time(push_service, alice, settings):
    # given a push-service name on the allow-list that resolves to loopback (DNS changed after registration)
    settings.WEBPUSH_ALLOWED_HOSTS = ["localhost"]
    settings.WEBPUSH_TRUSTED_ORIGINS = []
    good = push_service.subscription("alice-1")
    port = push_service.origin.rsplit(":", 1)[1]
    WebPushDevice.objects.create(
        user=alice, registration_id=f"https://localhost:{port}/push/alice-1", p256dh=good.p256dh, auth=good.auth_b64
    )
    result = send([alice], category="mention", title="Hi")
    send_now(deliveries_of(result, channel="webpush"))
    assert push_service.requests == []


def test_devices_per_user_are_capped(alice, settings):
    settings.DEVICES_PER_USER_MAX = 2
    api = client_for(alice)
    codes = [
        api.post(DEVICES, {"registration_id": f"https://fcm.googleapis.com/fcm/send/{i}", **KEYS}, format="json")
        for i in range(3)
    ]
    assert [c.status_code for c in codes] == [201, 201, 400]
    assert WebPushDevice.objects.filter(user=alice).count() == 2


def test_a_token_moving_to_another_user_keeps_nothing_of_its_previous_owner(alice, bob):
    token = "ab12cd34"
    first = client_for(alice).post(
        "/api/v1/devices/apns/",
        {"registration_id": token, "name": "Alice's iPhone", "application_id": "acme"},
        format="json",
    )
    assert first.status_code == 201, first.content
    response = client_for(bob).post("/api/v1/devices/apns/", {"registration_id": token}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] is None and body["application_id"] is None and body["device_id"] is None
    assert "Alice" not in response.content.decode()
