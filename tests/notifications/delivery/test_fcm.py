"""FCM through the real client (firebase-admin, google-auth) against a loopback FCM v1 API and OAuth token endpoint.

Nothing of the client is patched: the service-account file names the loopback token endpoint, FCM_API_URL the
loopback send endpoint.
"""

from push_notifications.models import GCMDevice

from notifications.delivery.pushfit import PAYLOAD_MAX_BYTES, payload_size
from notifications.services import notification_mark_read
from tests.factories import send
from tests.notifications.delivery.fcm_server import INVALID_TOKEN
from tests.notifications.delivery.helpers import deliveries_of, reload, send_now


def _devices(user, tokens) -> dict[str, GCMDevice]:
    return {t: GCMDevice.objects.create(user=user, registration_id=t, cloud_message_type="FCM") for t in tokens}


def _token_of(row) -> str:
    return GCMDevice.objects.get(pk=int(row.target)).registration_id


def test_a_send_reaches_the_android_device_with_payload_ttl_priority_and_collapse_key(fcm_server, alice, settings):
    # given an Android device
    _devices(alice, ["android-1"])
    # when a high-priority notification with a group key is sent
    result = send([alice], category="mention", title="Bob mentioned you", body="in #general", group_key="thread-1")
    (row,) = deliveries_of(result, channel="fcm")
    send_now([row])
    # then FCM got one authorized message for that token, after one OAuth grant signed with the service account key
    (request,) = fcm_server.sends("android-1")
    assert request.status == 200 and reload(row).status == "sent"
    (grant,) = fcm_server.grants
    assert grant["iss"] == fcm_server.client_email and grant["aud"] == "https://oauth2.googleapis.com/token"
    message = request.body["message"]
    assert message["token"] == "android-1"
    assert message["notification"] == {"title": "Bob mentioned you", "body": "in #general"}
    assert message["data"] == {
        "id": str(result.notification_ids[0]),
        "seq": "1",
        "url": settings.SITE_URL + "/notifications/",
    }
    android = message["android"]
    assert android["priority"] == "high" and android["collapse_key"] == "thread-1"
    assert android["ttl"] == f"{settings.DELIVERY_PUSH_TTL}s" and android["notification"]["tag"] == "thread-1"
    # and iOS apps registered through FCM get the same priority, expiry and collapse through the apns block
    apns = message["apns"]
    assert apns["headers"]["apns-priority"] == "10" and apns["headers"]["apns-collapse-id"] == "thread-1"
    assert int(apns["headers"]["apns-expiration"]) > 0
    assert apns["payload"]["aps"] == {"sound": "default", "mutable-content": 1, "thread-id": "thread-1"}


def test_the_access_token_is_reused_and_refreshed_when_fcm_rejects_it(fcm_server, alice):
    _devices(alice, ["android-1"])
    send_now(deliveries_of(send([alice], title="One", priority="urgent"), channel="fcm"))
    send_now(deliveries_of(send([alice], title="Two", priority="urgent"), channel="fcm"))
    assert len(fcm_server.grants) == 1 and len(fcm_server.sends("android-1")) == 2
    # when FCM stops accepting the token (revoked, expired early)
    fcm_server.access_tokens.clear()
    (row,) = deliveries_of(send([alice], title="Three", priority="urgent"), channel="fcm")
    send_now([row])
    # then a new one is fetched and the message goes out
    assert len(fcm_server.grants) == 2
    assert reload(row).status == "sent"


# registration token -> FCM's answer (absent: success)
ANSWERS = {
    "unregistered": "UNREGISTERED",
    "sender-mismatch": "SENDER_ID_MISMATCH",
    "bad-token": INVALID_TOKEN,
    "invalid-argument": "INVALID_ARGUMENT",
    "quota": "QUOTA_EXCEEDED",
    "unavailable": "UNAVAILABLE",
    "internal": "INTERNAL",
    "apns-auth": "THIRD_PARTY_AUTH_ERROR",
}


def test_token_level_errors_deactivate_exactly_that_device_and_everything_else_keeps_its_own_result(
    fcm_server, alice, bob
):
    # given one device per answer, a legacy GCM device, and bob's phone
    fcm_server.answers.update(ANSWERS)
    fcm_server.retry_after["quota"] = "900"
    _devices(alice, ["ok", *ANSWERS])
    GCMDevice.objects.create(user=alice, registration_id="legacy-gcm", cloud_message_type="GCM")
    _devices(bob, ["bob-phone"])
    result = send([alice, bob], category="mention", title="Hi", body="there", priority="high")
    rows = deliveries_of(result, channel="fcm")
    assert len(rows) == len(ANSWERS) + 2  # the GCM-type device is not an FCM target
    # when they are sent in one batch
    send_now(rows)
    # then UNREGISTERED, SENDER_ID_MISMATCH and an invalid token deactivate exactly those devices
    inactive = set(GCMDevice.objects.filter(active=False).values_list("registration_id", flat=True))
    assert inactive == {"unregistered", "sender-mismatch", "bad-token"}
    by_token = {_token_of(r): reload(r) for r in rows}
    assert {t: r.status for t, r in by_token.items()} == {
        "ok": "sent",
        "bob-phone": "sent",
        "unregistered": "dead",
        "sender-mismatch": "dead",
        "bad-token": "dead",
        "invalid-argument": "dead",
        "quota": "failed",
        "unavailable": "failed",
        "internal": "failed",
        "apns-auth": "failed",
    }
    # and Retry-After is honoured; the others back off on their own
    quota = by_token["quota"]
    assert (quota.due_at - quota.updated_at).total_seconds() >= 900
    for token in ("unavailable", "internal", "apns-auth"):
        assert by_token[token].attempts == 1 and by_token[token].due_at > by_token[token].updated_at
    # and a 500 or 503 was asked once: retrying is the state machine's job, not a worker sleeping in the client
    assert len(fcm_server.sends("unavailable")) == 1 and len(fcm_server.sends("internal")) == 1


def test_a_retried_delivery_is_sent_once_fcm_recovers(fcm_server, alice):
    _devices(alice, ["android-1"])
    fcm_server.answers["android-1"] = "UNAVAILABLE"
    (row,) = deliveries_of(send([alice], title="Hi", priority="urgent"), channel="fcm")
    send_now([row])
    assert reload(row).status == "failed"
    del fcm_server.answers["android-1"]
    send_now([reload(row)])
    assert reload(row).status == "sent" and reload(row).attempts == 2
    assert [r.status for r in fcm_server.sends("android-1")] == [503, 200]


def test_the_breaker_keeps_every_device_when_most_of_a_batch_is_rejected_at_once(fcm_server, alice):
    tokens = ["a", "b", "c", "d", "e"]
    fcm_server.answers.update({"a": "UNREGISTERED", "b": "UNREGISTERED", "c": "SENDER_ID_MISMATCH"})
    _devices(alice, tokens)
    rows = deliveries_of(send([alice], title="Hi", priority="urgent"), channel="fcm")
    send_now(rows)
    assert GCMDevice.objects.filter(active=False).count() == 0
    assert sorted(reload(r).status for r in rows) == ["failed"] * 3 + ["sent"] * 2


def test_private_categories_carry_generic_text_and_an_opaque_collapse_key(fcm_server, alice, settings):
    _devices(alice, ["android-1"])
    rows = deliveries_of(
        send([alice], category="security", title="Sign-in from Berlin", group_key="reset:alice"), channel="fcm"
    )
    send_now(rows)
    (request,) = fcm_server.sends("android-1")
    message = request.body["message"]
    assert message["notification"] == {"title": "You have a new notification", "body": "Sign in to read it."}
    assert message["data"]["url"] == settings.SITE_URL + "/notifications/"
    assert "Berlin" not in str(message) and "alice" not in str(message)
    assert message["android"]["collapse_key"].startswith("g-")


def test_a_payload_over_4kb_is_cut_to_fit_and_the_device_stays_active(fcm_server, alice):
    _devices(alice, ["android-1"])
    title, body = "T" * 200, "€" * 2000
    (row,) = deliveries_of(send([alice], title=title, body=body, priority="urgent"), channel="fcm")
    send_now([row])
    (request,) = fcm_server.sends("android-1")
    message = request.body["message"]
    assert request.status == 200 and reload(row).status == "sent"
    assert payload_size({"notification": message["notification"], "data": message["data"]}) <= PAYLOAD_MAX_BYTES
    assert message["notification"]["title"] == title and message["notification"]["body"].endswith("…")
    assert GCMDevice.objects.get(registration_id="android-1").active


def test_a_message_fcm_refuses_without_naming_the_token_is_dead_and_the_device_stays_active(fcm_server, alice):
    _devices(alice, ["android-1"])
    fcm_server.answers["android-1"] = "INVALID_ARGUMENT"
    (row,) = deliveries_of(send([alice], title="Hi", priority="urgent"), channel="fcm")
    send_now([row])
    assert reload(row).status == "dead"
    assert GCMDevice.objects.get(registration_id="android-1").active


def test_a_notification_read_before_the_push_is_due_sends_nothing(fcm_server, alice):
    _devices(alice, ["android-1"])
    result = send([alice], category="comment", title="Hi")
    (row,) = deliveries_of(result, channel="fcm")
    assert row.status == "pending" and row.due_at > row.created_at
    notification_mark_read(user=alice, ids=result.notification_ids)
    send_now([row])
    assert fcm_server.requests == [] and fcm_server.grants == []
    assert reload(row).status == "skipped"
