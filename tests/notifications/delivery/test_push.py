"""APNs and FCM, mocked only at their client boundary (aioapns client, firebase-admin send_each): the error matrix."""

import asyncio
from types import SimpleNamespace

import pytest
from aioapns.common import NotificationResult
from firebase_admin import exceptions as fb
from firebase_admin import messaging
from push_notifications.models import APNSDevice, GCMDevice

from notifications.delivery import apns, fcm
from tests.factories import send
from tests.notifications.delivery.helpers import deliveries_of, reload, send_now

# token -> (status, reason) answered by the fake APNs
APNS_ANSWERS = {
    "ok": ("200", None),
    "unregistered": ("410", "Unregistered"),
    "bad-token": ("400", "BadDeviceToken"),
    "wrong-topic": ("400", "DeviceTokenNotForTopic"),
    "too-large": ("413", "PayloadTooLarge"),
    "bad-collapse": ("400", "BadCollapseId"),
    "expired-auth": ("403", "ExpiredProviderToken"),
    "throttled": ("429", "TooManyRequests"),
    "apns-down": ("503", "ServiceUnavailable"),
    "slow": None,
}


class FakeApns:
    def __init__(self, answers):
        self.answers = answers
        self.requests = []

    async def send_notification(self, request):
        self.requests.append(request)
        answer = self.answers[request.device_token]
        if answer is None:
            await asyncio.sleep(5)
        status, reason = answer
        return NotificationResult(request.notification_id, status, reason)


@pytest.fixture
def apns_on(settings, monkeypatch):
    settings.APNS_KEY_PATH, settings.APNS_KEY_ID, settings.APNS_TEAM_ID = "/nonexistent.p8", "KEY", "TEAM"
    settings.APNS_TOPIC = "com.example.app"
    settings.DELIVERY_PUSH_TIMEOUT = 0.3

    def install(answers):
        client = FakeApns(answers)
        monkeypatch.setattr(apns, "client_get", lambda: client)
        return client

    return install


def _apns_devices(user, tokens):
    return {t: APNSDevice.objects.create(user=user, registration_id=t) for t in tokens}


def test_apns_error_matrix_deactivates_only_token_errors(apns_on, alice):
    # given one device per provider answer
    client = apns_on(APNS_ANSWERS)
    devices = _apns_devices(alice, APNS_ANSWERS)
    result = send([alice], category="mention", title="Hi", priority="high", group_key="thread-1")
    rows = deliveries_of(result, channel="apns")
    assert len(rows) == len(APNS_ANSWERS)
    # when they are sent in one batch
    send_now(rows)
    by_token = {APNSDevice.objects.get(pk=int(r.target)).registration_id: reload(r) for r in rows}
    # then token-level errors deactivate exactly those devices
    inactive = set(APNSDevice.objects.filter(active=False).values_list("registration_id", flat=True))
    assert inactive == {"unregistered", "bad-token", "wrong-topic"}
    # and each device keeps its own result
    assert {t: r.status for t, r in by_token.items()} == {
        "ok": "sent",
        "unregistered": "dead",
        "bad-token": "dead",
        "wrong-topic": "dead",
        "too-large": "dead",
        "bad-collapse": "dead",
        "expired-auth": "failed",
        "throttled": "failed",
        "apns-down": "failed",
        "slow": "failed",
    }
    assert by_token["slow"].last_error == "APNs timeout"
    assert all(by_token[t].attempts == 1 for t in devices)
    # and the request carries collapse id, expiration, priority and mutable-content
    request = next(r for r in client.requests if r.device_token == "ok")
    assert request.collapse_key == "thread-1" and request.priority == 10 and request.time_to_live > 0
    assert request.message["aps"]["mutable-content"] == 1
    assert request.message["aps"]["alert"] == {"title": "Hi"}


def test_apns_breaker_trips_when_most_of_a_batch_fails_at_once(apns_on, alice):
    tokens = [f"t{i}" for i in range(6)]
    answers = {t: ("410", "Unregistered") for t in tokens[:5]} | {tokens[5]: ("200", None)}
    client = apns_on(answers)
    _apns_devices(alice, tokens)
    rows = deliveries_of(send([alice], title="Hi", priority="urgent"), channel="apns")
    send_now(rows)
    # no device deactivated; the five retry later, the good one was sent
    assert APNSDevice.objects.filter(active=False).count() == 0
    statuses = sorted(reload(r).status for r in rows)
    assert statuses == ["failed"] * 5 + ["sent"]
    assert all("breaker" in reload(r).last_error for r in rows if reload(r).status == "failed")
    # and while the breaker is open nothing is sent to APNs at all
    calls = len(client.requests)
    more = deliveries_of(send([alice], title="Again", priority="urgent"), channel="apns")
    send_now(more)
    assert len(client.requests) == calls
    assert {reload(r).status for r in more} == {"failed"}


def test_private_category_push_has_generic_text(apns_on, alice):
    client = apns_on({"ok": ("200", None)})
    _apns_devices(alice, ["ok"])
    send_now(deliveries_of(send([alice], category="security", title="New sign-in from Berlin"), channel="apns"))
    (request,) = client.requests
    assert request.message["aps"]["alert"]["title"] == "You have a new notification"
    assert "Berlin" not in str(request.message)


def test_private_group_keys_are_opaque_but_stable_on_apns(apns_on, alice):
    # given two security alerts about the same account, grouped by a key that names it
    client = apns_on({"ok": ("200", None)})
    _apns_devices(alice, ["ok"])
    for title in ("Sign-in", "Another sign-in"):
        send_now(
            deliveries_of(send([alice], category="security", title=title, group_key="reset:alice"), channel="apns")
        )
    # then Apple sees neither the key in the thread nor in the collapse id, and both still collapse together
    first, second = client.requests
    assert "alice" not in str(first.message) and "alice" not in (first.collapse_key or "")
    assert first.collapse_key == second.collapse_key == first.message["aps"]["thread-id"]


# --- FCM ----------------------------------------------------------------------------------------------------------


def _http(headers):
    return SimpleNamespace(headers=headers, status_code=429)


FCM_ANSWERS = {
    "ok": None,
    "unregistered": messaging.UnregisteredError("gone"),
    "sender-mismatch": messaging.SenderIdMismatchError("other project"),
    "invalid-argument": fb.InvalidArgumentError("bad payload"),
    "quota": messaging.QuotaExceededError("slow down", http_response=_http({"Retry-After": "900"})),
    "unavailable": fb.UnavailableError("try later"),
    "internal": fb.InternalError("oops"),
    "auth": messaging.ThirdPartyAuthError("apns cert"),
    "timeout": fb.DeadlineExceededError("timeout"),
}


@pytest.fixture
def fcm_on(settings, monkeypatch):
    settings.FCM_CREDENTIALS = "/nonexistent.json"
    sent = []

    def send_each(messages, dry_run=False, app=None):
        sent.extend(messages)
        responses = []
        for message in messages:
            exc = FCM_ANSWERS[message.token]
            responses.append(messaging.SendResponse(None if exc else {"name": "projects/x/messages/1"}, exc))
        return messaging.BatchResponse(responses)

    monkeypatch.setattr(fcm.messaging, "send_each", send_each)
    monkeypatch.setattr(fcm, "app_get", lambda: object())
    return sent


def test_fcm_error_matrix_deactivates_only_unregistered_and_sender_mismatch(fcm_on, alice):
    for token in FCM_ANSWERS:
        GCMDevice.objects.create(user=alice, registration_id=token, cloud_message_type="FCM")
    GCMDevice.objects.create(user=alice, registration_id="legacy-gcm", cloud_message_type="GCM")
    result = send([alice], category="mention", title="Hi", body="there", priority="high", group_key="g1")
    rows = deliveries_of(result, channel="fcm")
    assert len(rows) == len(FCM_ANSWERS)  # the GCM-type device is not an FCM target
    send_now(rows)
    by_token = {GCMDevice.objects.get(pk=int(r.target)).registration_id: reload(r) for r in rows}
    assert set(GCMDevice.objects.filter(active=False).values_list("registration_id", flat=True)) == {
        "unregistered",
        "sender-mismatch",
    }
    assert {t: r.status for t, r in by_token.items()} == {
        "ok": "sent",
        "unregistered": "dead",
        "sender-mismatch": "dead",
        "invalid-argument": "dead",
        "quota": "failed",
        "unavailable": "failed",
        "internal": "failed",
        "auth": "failed",
        "timeout": "failed",
    }
    assert (by_token["quota"].due_at - by_token["quota"].updated_at).total_seconds() >= 900
    message = next(m for m in fcm_on if m.token == "ok")
    assert message.notification.title == "Hi" and message.notification.body == "there"
    assert message.android.collapse_key == "g1" and message.android.priority == "high"
    assert message.android.ttl.total_seconds() > 0
    assert message.data["id"] == str(result.notification_ids[0])


def test_private_group_keys_are_opaque_on_fcm(fcm_on, alice):
    GCMDevice.objects.create(user=alice, registration_id="ok", cloud_message_type="FCM")
    send_now(deliveries_of(send([alice], category="security", title="x", group_key="reset:alice"), channel="fcm"))
    (message,) = [m for m in fcm_on if m.token == "ok"]
    assert message.android.collapse_key and "alice" not in message.android.collapse_key


def test_fcm_breaker_keeps_devices_when_most_of_a_batch_is_rejected(fcm_on, alice, monkeypatch):
    monkeypatch.setitem(FCM_ANSWERS, "ok", messaging.UnregisteredError("gone"))
    for token in ["ok", "unregistered", "sender-mismatch", "quota", "internal"]:
        GCMDevice.objects.create(user=alice, registration_id=token, cloud_message_type="FCM")
    # 3 of 5 tokens say "gone" at once
    rows = deliveries_of(send([alice], title="Hi", priority="urgent"), channel="fcm")
    send_now(rows)
    assert GCMDevice.objects.filter(active=False).count() == 0
    assert {reload(r).status for r in rows} == {"failed"}


def test_push_is_not_planned_for_an_unconfigured_delivery_channel(settings, alice):
    settings.APNS_KEY_PATH = ""
    APNSDevice.objects.create(user=alice, registration_id="tok")
    assert deliveries_of(send([alice], title="Hi", priority="urgent"), channel="apns") == []
    assert deliveries_of(send([alice], title="Hi", priority="urgent"), channel="email") != []
