"""A retraction reaches the producer's webhook endpoint as `notification.retracted`, posted like every event."""

import pytest

from notifications.delivery.webhooks import webhooks_dispatch
from notifications.services import notification_retract
from notifications.webhooks import webhook_endpoint_create
from notifyproject.celery import app as celery_app
from tests.factories import make_user, send
from tests.notifications.webhook_receiver import receiver_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the receiver is on loopback, plain HTTP: as only tests allow
    settings.WEBHOOK_REQUIRE_HTTPS = False
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    server = receiver_start()
    yield server
    server.stop()


def test_the_producers_endpoint_receives_notification_retracted_per_recipient(receiver, alice, bob):
    # given a producer's endpoint subscribed to retractions, and its send to alice and bob
    crm = make_user("crm", perms=["send_notification"])
    _endpoint, receiver.secret = webhook_endpoint_create(
        producer=crm, url=receiver.url, events=["notification.retracted"]
    )
    result = send([alice, bob], actor=crm, plan=False, title="Deleted comment", group_key="comment:9")
    # when the producer retracts it and the webhook worker runs
    notification_retract(send_id=result.id, actor=crm)
    assert webhooks_dispatch() == 1
    # then one signed POST carries one notification.retracted event per recipient, saying when
    (request,) = receiver.requests
    assert request.verified is True
    events = request.json()["events"]
    assert [e["type"] for e in events] == ["notification.retracted"] * 2
    assert {e["notification"]["id"] for e in events} == {str(i) for i in result.notification_ids}
    assert {e["notification"]["send_id"] for e in events} == {str(result.id)}
    assert all(e["notification"]["retracted_at"] is not None for e in events)
    assert {e["notification"]["recipient"] for e in events} == {alice.pk, bob.pk}
