"""APNs through the real client (aioapns over HTTP/2 + TLS) against a loopback APNs that checks what Apple checks.

Nothing of the client is patched: settings point it at the loopback server (APNS_HOST / APNS_PORT / APNS_CA_FILE).
"""

import hashlib
import time

from django.conf import settings
from push_notifications.models import APNSDevice

from notifications.delivery.pushfit import PAYLOAD_MAX_BYTES
from notifications.services import notification_mark_read
from tests.factories import send
from tests.notifications.delivery.helpers import deliveries_of, reload, send_now


def tok(name: str) -> str:
    """A device token as iOS hands it out (32 bytes, hex)."""
    return hashlib.sha256(name.encode()).hexdigest()


def _devices(user, names) -> dict[str, APNSDevice]:
    return {n: APNSDevice.objects.create(user=user, registration_id=tok(n)) for n in names}


def _token_of(row) -> str:
    return APNSDevice.objects.get(pk=int(row.target)).registration_id


def test_a_send_reaches_the_ios_device_with_payload_expiration_priority_and_collapse_id(apns_server, alice):
    # given an iOS device
    _devices(alice, ["phone"])
    # when a high-priority notification with a group key is sent
    before = int(time.time())
    result = send([alice], category="mention", title="Bob mentioned you", body="in #general", group_key="thread-1")
    (row,) = deliveries_of(result, channel="apns")
    send_now([row])
    # then Apple got exactly one request, authorized with a provider token the server verified
    (request,) = apns_server.to(tok("phone"))
    assert request.status == 200 and reload(row).status == "sent"
    headers = request.headers
    assert headers[":path"] == f"/3/device/{tok('phone')}"
    assert headers["apns-topic"] == "com.example.notify" and headers["apns-push-type"] == "alert"
    assert headers["apns-priority"] == "10"
    assert headers["apns-collapse-id"] == "thread-1"
    expiration = int(headers["apns-expiration"])
    assert before + settings.DELIVERY_PUSH_TTL <= expiration <= time.time() + settings.DELIVERY_PUSH_TTL
    # and the payload is what the app reads: the alert, the thread, the notification's id, seq and url
    assert request.payload == {
        "aps": {
            "alert": {"title": "Bob mentioned you", "body": "in #general"},
            "sound": "default",
            "mutable-content": 1,
            "thread-id": "thread-1",
        },
        "id": str(result.notification_ids[0]),
        "seq": 1,
        "url": settings.SITE_URL + "/notifications/",
    }


def test_normal_priority_goes_with_apns_priority_5_and_no_collapse_id_without_a_group_key(apns_server, alice):
    _devices(alice, ["phone"])
    send_now(deliveries_of(send([alice], category="comment", title="Hi", url="/posts/42"), channel="apns"))
    (request,) = apns_server.sent(tok("phone"))
    assert request.headers["apns-priority"] == "5"
    assert "apns-collapse-id" not in request.headers and "thread-id" not in request.payload["aps"]
    assert request.payload["url"] == settings.SITE_URL + "/posts/42"


# device name -> what the loopback APNs answers for it (None: it passes every check and gets a 200)
ANSWERS = {
    "ok": None,
    "unregistered": (410, "Unregistered"),
    "wrong-topic": (400, "DeviceTokenNotForTopic"),
    "too-large": (413, "PayloadTooLarge"),
    "bad-collapse": (400, "BadCollapseId"),
    "throttled": (429, "TooManyRequests"),
    "apns-error": (500, "InternalServerError"),
    "apns-down": (503, "ServiceUnavailable"),
    "slow": None,
}


def test_token_level_errors_deactivate_exactly_that_device_and_everything_else_keeps_its_own_result(
    apns_server, alice, bob, settings
):
    # given one device per answer, one whose token is not even hex (Apple answers BadDeviceToken), and bob's phone
    settings.DELIVERY_PUSH_TIMEOUT = 1.0
    apns_server.answers.update({tok(n): a for n, a in ANSWERS.items() if a})
    apns_server.delays[tok("slow")] = 60
    _devices(alice, ANSWERS)
    APNSDevice.objects.create(user=alice, registration_id="not-a-token")
    _devices(bob, ["bob-phone"])
    result = send([alice, bob], category="mention", title="Hi", priority="high")
    rows = deliveries_of(result, channel="apns")
    assert len(rows) == len(ANSWERS) + 2
    # when they are sent in one batch
    send_now(rows)
    # then the token-level errors deactivate exactly those devices, nobody else's
    inactive = set(APNSDevice.objects.filter(active=False).values_list("registration_id", flat=True))
    assert inactive == {tok("unregistered"), tok("wrong-topic"), "not-a-token"}
    assert [r.reason for r in apns_server.to("not-a-token")] == ["BadDeviceToken"]
    statuses = {_token_of(r): reload(r).status for r in rows}
    assert statuses == {
        tok("ok"): "sent",
        tok("bob-phone"): "sent",
        tok("unregistered"): "dead",
        "not-a-token": "dead",
        tok("wrong-topic"): "dead",
        tok("too-large"): "dead",
        tok("bad-collapse"): "dead",
        tok("throttled"): "failed",
        tok("apns-error"): "failed",
        tok("apns-down"): "failed",
        tok("slow"): "failed",
    }
    # and each failed one waits (backoff) before its next attempt; nothing was sent twice
    by_token = {_token_of(r): reload(r) for r in rows}
    assert by_token[tok("slow")].last_error == "APNs timeout"
    assert by_token[tok("throttled")].last_error == "APNs 429 TooManyRequests"
    for name in ("throttled", "apns-error", "apns-down", "slow"):
        row = by_token[tok(name)]
        assert row.attempts == 1 and row.due_at > row.updated_at
    assert len(apns_server.to(tok("throttled"))) == 1


def test_a_retried_delivery_is_sent_once_apns_recovers(apns_server, alice):
    # given APNs answering 503 to the first attempt
    _devices(alice, ["phone"])
    apns_server.answers[tok("phone")] = (503, "ServiceUnavailable")
    (row,) = deliveries_of(send([alice], title="Hi", priority="urgent"), channel="apns")
    send_now([row])
    assert reload(row).status == "failed"
    # when it is due again and APNs is back
    del apns_server.answers[tok("phone")]
    send_now([reload(row)])
    # then it is sent, on the second attempt, with the device still active
    row = reload(row)
    assert row.status == "sent" and row.attempts == 2
    assert [r.status for r in apns_server.to(tok("phone"))] == [503, 200]
    assert APNSDevice.objects.get(registration_id=tok("phone")).active


def test_the_breaker_keeps_every_device_when_most_of_a_batch_is_rejected_at_once(apns_server, alice):
    names = [f"t{i}" for i in range(6)]
    apns_server.answers.update({tok(n): (410, "Unregistered") for n in names[:5]})
    _devices(alice, names)
    rows = deliveries_of(send([alice], title="Hi", priority="urgent"), channel="apns")
    send_now(rows)
    # no device deactivated; the five retry later, the good one was sent
    assert APNSDevice.objects.filter(active=False).count() == 0
    assert sorted(reload(r).status for r in rows) == ["failed"] * 5 + ["sent"]
    # and while the breaker is open nothing reaches APNs at all
    seen = len(apns_server.requests)
    send_now(deliveries_of(send([alice], title="Again", priority="urgent"), channel="apns"))
    assert len(apns_server.requests) == seen


def test_private_categories_carry_generic_text_and_an_opaque_but_stable_group_key(apns_server, alice):
    _devices(alice, ["phone"])
    for title in ("New sign-in from Berlin", "Another sign-in from Berlin"):
        rows = deliveries_of(send([alice], category="security", title=title, group_key="reset:alice"), channel="apns")
        send_now(rows)
    first, second = apns_server.sent(tok("phone"))
    assert first.payload["aps"]["alert"] == {"title": "You have a new notification", "body": "Sign in to read it."}
    assert first.payload["url"] == settings.SITE_URL + "/notifications/"
    for request in (first, second):
        assert "Berlin" not in str(request.payload) and "alice" not in str(request.payload)
        assert "alice" not in request.headers["apns-collapse-id"]
    assert first.headers["apns-collapse-id"] == second.headers["apns-collapse-id"] == first.payload["aps"]["thread-id"]


def test_an_expired_provider_token_is_replaced_once_and_the_new_one_is_kept(apns_server, alice):
    # given a first send, which mints the process's provider token
    _devices(alice, ["phone"])
    send_now(deliveries_of(send([alice], title="One", priority="urgent"), channel="apns"))
    (first,) = apns_server.requests
    # when Apple starts calling that token expired
    apns_server.expired_tokens.add(first.provider_token)
    (row,) = deliveries_of(send([alice], title="Two", priority="urgent"), channel="apns")
    send_now([row])
    # then the request is sent again with a new token, once, and delivered
    rejected, accepted = apns_server.requests[1:]
    assert (rejected.status, rejected.reason) == (403, "ExpiredProviderToken")
    assert accepted.status == 200 and accepted.provider_token != first.provider_token
    assert reload(row).status == "sent" and reload(row).attempts == 1
    # and the next send reuses the new token (no new token per batch: Apple throttles token updates)
    send_now(deliveries_of(send([alice], title="Three", priority="urgent"), channel="apns"))
    assert apns_server.requests[-1].provider_token == accepted.provider_token
    assert len(apns_server.requests) == 4


def test_a_token_apns_keeps_rejecting_is_refreshed_once_per_batch_not_in_a_loop(apns_server, alice):
    # given APNs calling every provider token expired
    apns_server.expire_every_token = True
    _devices(alice, ["a", "b", "c"])
    rows = deliveries_of(send([alice], title="Hi", priority="urgent"), channel="apns")
    # when a batch of three is sent
    send_now(rows)
    # then each device got exactly two requests, with two tokens in all, and every delivery retries later
    assert sorted(len(apns_server.to(tok(n))) for n in "abc") == [2, 2, 2]
    assert len({r.provider_token for r in apns_server.requests}) == 2
    assert {reload(r).status for r in rows} == {"failed"}
    assert {reload(r).last_error for r in rows} == {"APNs 403 ExpiredProviderToken"}
    assert APNSDevice.objects.filter(active=False).count() == 0


def test_a_payload_over_4kb_is_cut_to_fit_and_the_device_stays_active(apns_server, alice):
    # given a notification whose title and body are 6.6 KB of UTF-8
    _devices(alice, ["phone"])
    title, body = "T" * 200, "€" * 2000
    (row,) = deliveries_of(send([alice], title=title, body=body, priority="urgent"), channel="apns")
    # when it is pushed
    send_now([row])
    # then APNs accepted a payload within its limit, the title whole, the body cut with an ellipsis
    (request,) = apns_server.to(tok("phone"))
    assert request.status == 200 and request.size <= PAYLOAD_MAX_BYTES
    alert = request.payload["aps"]["alert"]
    assert alert["title"] == title
    assert alert["body"].endswith("…") and body.startswith(alert["body"][:-1]) and len(alert["body"]) > 1000
    assert reload(row).status == "sent"


def test_a_payload_apns_refuses_as_too_large_is_dead_and_the_device_stays_active(apns_server, alice):
    _devices(alice, ["phone"])
    apns_server.answers[tok("phone")] = (413, "PayloadTooLarge")
    (row,) = deliveries_of(send([alice], title="Hi", priority="urgent"), channel="apns")
    send_now([row])
    assert reload(row).status == "dead" and reload(row).last_error == "APNs 413 PayloadTooLarge"
    assert APNSDevice.objects.get(registration_id=tok("phone")).active


def test_a_notification_read_before_the_push_is_due_sends_nothing(apns_server, alice):
    # given a normal comment: its push waits for the category's escalation delay
    _devices(alice, ["phone"])
    result = send([alice], category="comment", title="Hi")
    (row,) = deliveries_of(result, channel="apns")
    assert row.status == "pending" and row.due_at > row.created_at
    # when alice reads it in the app first, and the push comes due
    notification_mark_read(user=alice, ids=result.notification_ids)
    send_now([row])
    # then nothing reached APNs
    assert apns_server.requests == []
    assert reload(row).status == "skipped"


def test_push_is_not_planned_for_an_unconfigured_delivery_channel(settings, alice):
    settings.APNS_KEY_PATH = ""
    APNSDevice.objects.create(user=alice, registration_id=tok("phone"))
    assert deliveries_of(send([alice], title="Hi", priority="urgent"), channel="apns") == []
    assert deliveries_of(send([alice], title="Hi", priority="urgent"), channel="email") != []
