"""Web Push to a real push service on loopback: VAPID JWT verified, aes128gcm payload decrypted, headers checked."""

import pytest
from django.utils import timezone
from push_notifications.models import WebPushDevice

from bench.harness.servers import push_decrypt, vapid_verify
from notifications.delivery.webpush import webpush_topic
from notifications.models import DeliveryStatus
from tests.factories import send
from tests.notifications.delivery.helpers import deliveries_of, reload, send_now


def _device(user, subscription) -> WebPushDevice:
    return WebPushDevice.objects.create(
        user=user, registration_id=subscription.endpoint, p256dh=subscription.p256dh, auth=subscription.auth_b64
    )


def test_web_push_is_signed_encrypted_and_carries_ttl_urgency_topic(push_service, vapid, settings, alice):
    # given alice subscribed in one browser
    subscription = push_service.subscription("alice-1")
    device = _device(alice, subscription)
    # when an urgent mention in a thread is delivered
    result = send(
        [alice],
        category="mention",
        title="Bob mentioned you",
        body="in #general",
        url="/t/7",
        priority="urgent",
        group_key="thread-7",
    )
    (row,) = deliveries_of(result, channel="webpush")
    assert row.target == str(device.pk)
    assert send_now([row]) == {"sent": 1}
    # then the push service got one request whose VAPID JWT verifies against our public key
    (request,) = push_service.requests
    assert request.path == "/push/alice-1"
    claims = vapid_verify(request, audience=push_service.origin, public_key=vapid.public_key)
    assert claims["sub"] == "mailto:ops@example.com" and claims["exp"] > timezone.now().timestamp()
    # and TTL is non-zero, Urgency follows the priority, Topic collapses by group_key
    assert int(request.headers["ttl"]) == settings.DELIVERY_PUSH_TTL
    assert request.headers["urgency"] == "high"
    assert request.headers["topic"] == webpush_topic("thread-7") and len(request.headers["topic"]) == 32
    # and only the subscription's private key opens the payload
    payload = push_decrypt(request, subscription)
    assert payload["title"] == "Bob mentioned you" and payload["body"] == "in #general"
    assert payload["url"].endswith("/t/7") and payload["tag"] == "thread-7" and payload["category"] == "mention"
    assert payload["id"] == str(result.notification_ids[0])
    assert reload(row).status == DeliveryStatus.SENT


def test_web_push_resolves_a_relative_image_against_the_site_url(push_service, settings, alice):
    # given alice subscribed, and a site served at SITE_URL
    settings.SITE_URL = "https://notify.example.com/"
    subscription = push_service.subscription("alice-1")
    _device(alice, subscription)
    # when a notification with an image on this site (a path) is pushed
    result = send([alice], category="comment", title="Photo", url="/posts/42", image_url="/media/a.png")
    assert send_now(deliveries_of(result, channel="webpush")) == {"sent": 1}
    # then the push carries absolute URLs: the service worker has no page to resolve a path against
    (request,) = push_service.requests
    payload = push_decrypt(request, subscription)
    assert payload["image"] == "https://notify.example.com/media/a.png"
    assert payload["url"] == "https://notify.example.com/posts/42"


def test_web_push_of_a_private_category_carries_generic_text(push_service, alice):
    subscription = push_service.subscription("alice-1")
    _device(alice, subscription)
    result = send([alice], category="security", title="New sign-in from Berlin", body="IP 203.0.113.9")
    send_now(deliveries_of(result, channel="webpush"))
    (request,) = push_service.requests
    payload = push_decrypt(request, subscription)
    assert payload["title"] == "You have a new notification"
    assert "Berlin" not in str(payload) and "203.0.113.9" not in str(payload) and "category" not in payload
    assert "topic" not in request.headers


def test_web_push_of_a_private_category_keeps_its_group_key_opaque(push_service, alice):
    subscription = push_service.subscription("alice-1")
    _device(alice, subscription)
    for title in ("Sign-in", "Another sign-in"):
        send_now(
            deliveries_of(send([alice], category="security", title=title, group_key="reset:alice"), channel="webpush")
        )
    first, second = push_service.requests
    tags = [push_decrypt(r, subscription)["tag"] for r in (first, second)]
    assert "alice" not in tags[0] and tags[0] == tags[1]  # opaque, yet the browser still replaces one with the next
    assert first.headers["topic"] == second.headers["topic"] != webpush_topic("reset:alice")


def test_every_member_of_a_group_is_pushed_with_the_groups_tag_so_the_browser_shows_one_that_updates(
    push_service, alice
):
    # given alice subscribed, and three comments of one group then one of another
    subscription = push_service.subscription("alice-1")
    _device(alice, subscription)
    for title, key in (("c1", "post:42"), ("c2", "post:42"), ("c3", "post:42"), ("other", "post:43")):
        send_now(deliveries_of(send([alice], title=title, group_key=key, priority="urgent"), channel="webpush"))
    # then the group's pushes share one tag and one Topic (each replaces the last), the other group has its own
    tags = [push_decrypt(r, subscription)["tag"] for r in push_service.requests]
    topics = [r.headers["topic"] for r in push_service.requests]
    assert tags == ["post:42", "post:42", "post:42", "post:43"]
    assert topics[0] == topics[1] == topics[2] == webpush_topic("post:42") != topics[3]


def test_gone_subscription_is_deactivated_and_the_other_one_still_gets_it(push_service, alice):
    gone, alive = push_service.subscription("gone"), push_service.subscription("alive")
    gone_device, alive_device = _device(alice, gone), _device(alice, alive)
    push_service.statuses["/push/gone"] = (410, {})
    result = send([alice], title="Hi", priority="urgent")
    rows = deliveries_of(result, channel="webpush")
    assert len(rows) == 2
    send_now(rows)
    by_target = {reload(r).target: reload(r) for r in rows}
    assert by_target[str(gone_device.pk)].status == DeliveryStatus.DEAD
    assert by_target[str(alive_device.pk)].status == DeliveryStatus.SENT
    assert WebPushDevice.objects.get(pk=gone_device.pk).active is False
    assert WebPushDevice.objects.get(pk=alive_device.pk).active is True
    # and the next notification no longer plans the gone subscription
    assert [r.target for r in deliveries_of(send([alice], title="Again", priority="urgent"), channel="webpush")] == [
        str(alive_device.pk)
    ]


@pytest.mark.parametrize(("status", "headers", "min_delay"), [(429, {"Retry-After": "600"}, 600), (503, {}, 10)])
def test_throttled_or_failing_push_service_retries_later_without_deactivating(
    push_service, alice, status, headers, min_delay
):
    subscription = push_service.subscription("busy")
    device = _device(alice, subscription)
    push_service.statuses["/push/busy"] = (status, headers)
    result = send([alice], title="Hi", priority="urgent")
    (row,) = deliveries_of(result, channel="webpush")
    before = timezone.now()
    send_now([row])
    row = reload(row)
    assert row.status == DeliveryStatus.FAILED and row.attempts == 1 and str(status) in row.last_error
    assert (row.due_at - before).total_seconds() >= min_delay
    assert WebPushDevice.objects.get(pk=device.pk).active is True


def test_payload_error_is_dead_without_deactivating(push_service, alice):
    subscription = push_service.subscription("big")
    device = _device(alice, subscription)
    push_service.statuses["/push/big"] = (413, {})
    result = send([alice], title="Hi", priority="urgent")
    (row,) = deliveries_of(result, channel="webpush")
    send_now([row])
    assert reload(row).status == DeliveryStatus.DEAD and "413" in reload(row).last_error
    assert WebPushDevice.objects.get(pk=device.pk).active is True


def test_public_key_endpoint_serves_the_vapid_key(client, vapid):
    response = client.get("/api/v1/webpush/public-key/")
    assert response.status_code == 200
    assert response.json() == {"public_key": vapid.public_key}


def test_dev_vapid_keys_are_generated_once_and_kept(settings, tmp_path):
    from notifications.delivery.vapid import vapid_keys

    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    settings.VAPID_KEY_FILE = str(tmp_path / "vapid.json")
    first = vapid_keys()
    assert (tmp_path / "vapid.json").exists() and (tmp_path / "vapid.json").stat().st_mode & 0o077 == 0
    from notifications.delivery import vapid as module

    module._cached = None  # a new process reads the same file
    assert vapid_keys() == first
    assert len(first.public_key) == 87  # 65-byte uncompressed P-256 point, base64url
