import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from notifications import tasks
from notifications.models import Content, IdempotencyRecord, Notification
from tests.factories import make_user

SEND = "/api/v1/notifications/send/"
BULK = "/api/v1/notifications/send-bulk/"


def post(client, payload, key, path=SEND):
    return client.post(path, payload, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_same_body_replays_the_first_response(sender_client, alice):
    payload = {"recipients": [alice.pk], "category": "comment", "title": "Hi"}
    first = post(sender_client, payload, "k-1")
    second = post(sender_client, payload, "k-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Content.objects.count() == 1
    assert Notification.objects.count() == 1


def test_same_key_other_body_is_a_422_and_sends_nothing(sender_client, alice):
    post(sender_client, {"recipients": [alice.pk], "category": "comment", "title": "Hi"}, "k-2")
    response = post(sender_client, {"recipients": [alice.pk], "category": "comment", "title": "Other"}, "k-2")
    assert response.status_code == 422
    assert Notification.objects.count() == 1


def test_keys_are_per_sender(sender_client, alice):
    other = make_user("other-sender", perms=["send_notification"])
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    payload = {"recipients": [alice.pk], "category": "comment", "title": "Hi"}
    assert post(sender_client, payload, "shared").status_code == 201
    assert post(other_client, payload, "shared").status_code == 201
    assert Notification.objects.count() == 2


def test_a_failed_request_does_not_burn_the_key(sender_client, alice):
    bad = post(sender_client, {"recipients": [alice.pk], "category": "nope", "title": "Hi"}, "k-3")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.exists()
    good = post(sender_client, {"recipients": [alice.pk], "category": "comment", "title": "Hi"}, "k-3")
    assert good.status_code == 201


def test_in_flight_key_is_a_409(sender_client, sender, alice):
    # given a request with this key still running (its record has no response yet)
    payload = {"recipients": [alice.pk], "category": "comment", "title": "Hi"}
    from notifications.api.idempotency import request_hash  # noqa: F401 - the hash must match the body

    first = post(sender_client, payload, "k-4")
    IdempotencyRecord.objects.filter(key="k-4").update(status_code=None, response=None)
    # when the same key comes again
    response = post(sender_client, payload, "k-4")
    # then 409 and nothing new
    assert first.status_code == 201
    assert response.status_code == 409
    assert Notification.objects.count() == 1


def test_bad_key_is_a_400(sender_client, alice):
    response = post(sender_client, {"recipients": [alice.pk], "category": "comment", "title": "Hi"}, "k" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert Content.objects.count() == 0


def test_bulk_honours_the_key(sender_client, alice):
    payload = {"notifications": [{"recipients": [alice.pk], "category": "comment", "title": "Hi"}]}
    first = post(sender_client, payload, "b-1", BULK)
    second = post(sender_client, payload, "b-1", BULK)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Notification.objects.count() == 1


def test_purge_keeps_24_hours(sender, alice):
    fresh = IdempotencyRecord.objects.create(sender=sender, key="fresh", request_hash="x", status_code=201)
    old = IdempotencyRecord.objects.create(sender=sender, key="old", request_hash="x", status_code=201)
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyRecord.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - timedelta(hours=23))
    assert tasks.idempotency_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_send_once(postgres, settings):
    # given a sender and a recipient, committed so that other connections see them
    settings.NOTIFICATIONS_SEND_RATE = "off"
    sender = make_user("racer", perms=["send_notification"])
    alice = make_user("alice-race")
    token = Token.objects.create(user=sender).key
    payload = {"recipients": [alice.pk], "category": "comment", "title": "Race"}
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def worker() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        barrier.wait()
        try:
            statuses.append(post(client, payload, "race-key").status_code)
        finally:
            connection.close()

    # when six threads send the same key at once
    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then exactly one send happened; the others were replays (201) or told it was in flight (409)
    assert len(statuses) == 6
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    assert Content.objects.count() == 1
    assert Notification.objects.filter(recipient=alice).count() == 1
