"""Snooze and the external deliveries: nothing is emailed or pushed while a notification sleeps; its pending email
and push are deferred (not skipped) and go out when it wakes, unless it is read first."""

from datetime import timedelta

from django.utils import timezone
from push_notifications.models import WebPushDevice

from notifications.delivery.machine import deliveries_dispatch_due
from notifications.models import DeliveryStatus
from notifications.services import notification_mark_read, notification_snooze, notifications_wake_due
from tests.factories import send
from tests.notifications.delivery.helpers import deliveries_of, reload, send_now


def _subscribed(user, push_service) -> WebPushDevice:
    subscription = push_service.subscription(f"{user.username}-1")
    return WebPushDevice.objects.create(
        user=user, registration_id=subscription.endpoint, p256dh=subscription.p256dh, auth=subscription.auth_b64
    )


def test_nothing_is_emailed_or_pushed_while_it_sleeps_and_both_go_out_when_it_wakes(smtp, push_service, alice):
    # given an urgent notification with an email and a web push due now
    _subscribed(alice, push_service)
    result = send([alice], title="Deploy failed", category="mention", priority="urgent")
    email, push = deliveries_of(result, channel="email")[0], deliveries_of(result, channel="webpush")[0]
    assert email.due_at <= timezone.now() and push.due_at <= timezone.now()
    # when it is snoozed for an hour
    until = timezone.now() + timedelta(hours=1)
    notification_snooze(user=alice, ids=result.notification_ids, until=until)
    # then both wait until then: the dispatcher's scan hands out nothing now
    assert (reload(email).due_at, reload(push).due_at) == (until, until)
    assert deliveries_dispatch_due(now=timezone.now()) == 0
    # and a worker that gets them anyway (a message sent before the snooze) defers them: not skipped, not sent
    assert send_now([email, push]) == {"deferred": 2}
    for row in (reload(email), reload(push)):
        assert (row.status, row.due_at, row.skip_reason, row.attempts) == (DeliveryStatus.PENDING, until, "", 0)
    assert smtp.messages == [] and push_service.requests == []
    # when it wakes at its time, they are due and go out
    assert notifications_wake_due(now=until) == 1
    assert send_now([email, push]) == {"sent": 2}
    assert [m["Subject"] for m in smtp.messages] == ["Deploy failed"]
    assert len(push_service.requests) == 1


def test_a_snoozed_notification_read_after_it_woke_sends_nothing(smtp, alice):
    result = send([alice], title="Hi", priority="urgent")
    (email,) = deliveries_of(result, channel="email")
    until = timezone.now() + timedelta(minutes=30)
    notification_snooze(user=alice, ids=result.notification_ids, until=until)
    notifications_wake_due(now=until)
    notification_mark_read(user=alice, ids=result.notification_ids)
    assert send_now([email]) == {}
    assert (reload(email).status, reload(email).skip_reason) == (DeliveryStatus.SKIPPED, "read")
    assert smtp.messages == []
