"""The fatigue budget: past the user's pushes (or emails) per hour, non-urgent notifications of non-mandatory
categories are not dropped but go into the next digest email; urgent and mandatory ones bypass it."""

import pytest
from django.utils import timezone
from push_notifications.models import WebPushDevice

from notifications.delivery.planner import deliveries_plan_pending
from notifications.delivery.policy import digest_slot
from notifications.models import Delivery, DeliveryStatus
from notifications.services import notification_mark_read
from preferences.models import UserSettings
from preferences.services import preferences_update
from tests.factories import make_user, send

pytestmark = pytest.mark.django_db


def _device(user) -> WebPushDevice:
    return WebPushDevice.objects.create(
        user=user, registration_id=f"https://push.example.com/send/{user.pk}", p256dh="p" * 20, auth="a" * 16
    )


def _deliveries(result) -> list[tuple[str, str, str, bool, str]]:
    rows = Delivery.objects.filter(notification__content__uuid=result.id).order_by("channel")
    return [(d.channel, d.status, d.skip_reason, d.digest, d.held_by) for d in rows]


def test_the_seventh_push_in_an_hour_goes_into_the_digest_and_an_urgent_one_does_not(alice, vapid):
    # given alice with a browser device and the default budget of 6 pushes an hour
    _device(alice)
    assert UserSettings().push_per_hour == 6

    # when seven high-priority comments (push at once, email after the escalation delay) are planned
    results = [send([alice], priority="high", title=f"n{i}") for i in range(7)]
    urgent = send([alice], priority="urgent", title="urgent")

    # then the first six are pushed, each with its escalation email
    for result in results[:6]:
        assert _deliveries(result) == [
            ("email", DeliveryStatus.PENDING, "", False, ""),
            ("webpush", DeliveryStatus.PENDING, "", False, ""),
        ]
    # the seventh is not pushed (skipped: budget) and its email waits for the next digest
    assert _deliveries(results[6]) == [
        ("email", DeliveryStatus.PENDING, "", True, "budget"),
        ("webpush", DeliveryStatus.SKIPPED, "budget", False, ""),
    ]
    digest = Delivery.objects.get(notification__content__uuid=results[6].id, channel="email")
    assert digest.due_at == digest_slot(timezone.now(), UserSettings())
    # and the urgent one bypasses the budget: push and email at once
    assert _deliveries(urgent) == [
        ("email", DeliveryStatus.PENDING, "", False, ""),
        ("webpush", DeliveryStatus.PENDING, "", False, ""),
    ]


def test_a_mandatory_category_bypasses_the_budget(alice, vapid):
    # given alice with a device and a budget of one push an hour, already spent
    _device(alice)
    preferences_update(user=alice, budget={"push_per_hour": 1})
    send([alice], priority="high")

    # when a high-priority security alert is planned
    alert = send([alice], category="security", priority="high")

    # then it is pushed anyway
    assert ("webpush", DeliveryStatus.PENDING, "", False, "") in _deliveries(alert)


def test_past_the_email_budget_an_email_goes_into_the_digest(alice):
    # given alice (no push device) with a budget of two emails an hour
    preferences_update(user=alice, budget={"email_per_hour": 2})

    # when three comments are planned in one send each
    results = [send([alice], title=f"n{i}") for i in range(3)]

    # then two emails wait for the escalation delay and the third for the next digest
    assert [_deliveries(r) for r in results] == [
        [("email", DeliveryStatus.PENDING, "", False, "")],
        [("email", DeliveryStatus.PENDING, "", False, "")],
        [("email", DeliveryStatus.PENDING, "", True, "budget")],
    ]


def test_a_notification_read_before_its_push_does_not_spend_the_budget(alice, vapid):
    # given alice with a budget of one push an hour, whose first comment was read (its push skipped: read)
    _device(alice)
    preferences_update(user=alice, budget={"push_per_hour": 1})
    first = send([alice], priority="high")
    notification_mark_read(user=alice, ids=first.notification_ids)

    # when a second one is planned
    second = send([alice], priority="high")

    # then it is pushed: what never interrupted her does not count
    assert ("webpush", DeliveryStatus.PENDING, "", False, "") in _deliveries(second)


def test_no_limit_lets_every_push_through(alice, vapid):
    # given alice turned the push budget off
    _device(alice)
    preferences_update(user=alice, budget={"push_per_hour": None})

    # when eight high-priority comments are planned
    results = [send([alice], priority="high") for _ in range(8)]

    # then every one is pushed
    assert all(("webpush", DeliveryStatus.PENDING, "", False, "") in _deliveries(r) for r in results)


def test_one_send_to_many_recipients_counts_each_users_budget_on_its_own(alice, vapid):
    # given alice spent her one push an hour and bob did not
    bob = make_user("bob")
    _device(alice)
    _device(bob)
    for user in (alice, bob):
        preferences_update(user=user, budget={"push_per_hour": 1})
    send([alice], priority="high")

    # when one send reaches both
    both = send([alice, bob], priority="high")

    # then bob is pushed and alice's goes into her digest
    pushes = dict(
        Delivery.objects.filter(notification__content__uuid=both.id, channel="webpush").values_list(
            "notification__recipient_id", "skip_reason"
        )
    )
    assert pushes == {alice.pk: "budget", bob.pk: ""}


def test_a_burst_planned_in_one_batch_is_counted_in_send_order(alice, vapid):
    # given alice with a budget of two pushes an hour and three sends not yet planned
    _device(alice)
    preferences_update(user=alice, budget={"push_per_hour": 2})
    results = [send([alice], priority="high", plan=False) for _ in range(3)]

    # when one planning batch plans all three
    assert deliveries_plan_pending() == 3

    # then the first two are pushed and the last goes into the digest
    skips = [Delivery.objects.get(notification__content__uuid=r.id, channel="webpush").skip_reason for r in results]
    assert skips == ["", "", "budget"]


def test_the_why_says_a_push_past_the_budget_is_held_back_in_the_digest(alice, vapid, client):
    # given alice spent her one push an hour, and a second high-priority comment was planned
    _device(alice)
    preferences_update(user=alice, budget={"push_per_hour": 1})
    send([alice], priority="high")
    second = send([alice], priority="high")

    # when she asks why (API and page fragment)
    client.force_login(alice)
    why = client.get(f"/api/v1/notifications/{second.notification_ids[0]}/why/").json()
    page = client.get(f"/notifications/{second.notification_ids[0]}/why/?fragment=1").content.decode()

    # then the push says budget and the email waits for the digest because of the budget
    assert sorted((d["channel"], d["status"], d["held_by"], d["skip_reason"]) for d in why["deliveries"]) == [
        ("email", "pending", "budget", None),
        ("webpush", "skipped", None, "budget"),
    ]
    assert page.count("held back by your budget: in the digest at ") == 2
