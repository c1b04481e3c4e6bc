"""The delivery policy: quiet hours (across midnight, in the user's zone), DND, urgent bypass, escalation, digest,
mandatory categories, and the re-check right before sending."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from push_notifications.models import WebPushDevice

from notifications.categories import categories_by_slug
from notifications.delivery.policy import delivery_plan, digest_slot, quiet_hours_end
from notifications.models import Category, Delivery, DeliveryStatus
from notifications.services import notification_mark_read
from preferences.models import Preference, UserSettings
from preferences.services import preference_set
from tests.factories import make_users, send
from tests.notifications.delivery.helpers import deliveries_of, reload, send_now

BERLIN = ZoneInfo("Europe/Berlin")


def _night(**extra) -> UserSettings:
    return UserSettings(
        quiet_hours_enabled=True, quiet_start=time(22), quiet_end=time(7), timezone="Europe/Berlin", **extra
    )


def test_quiet_hours_across_midnight_in_the_users_time_zone():
    s = _night()
    # 23:30 Berlin (22:30 UTC in winter): quiet until 07:00 Berlin the next morning
    late = datetime(2026, 1, 14, 23, 30, tzinfo=BERLIN)
    assert quiet_hours_end(late, s) == datetime(2026, 1, 15, 7, 0, tzinfo=BERLIN)
    # 06:00 Berlin: quiet until 07:00 the same morning
    early = datetime(2026, 1, 15, 6, 0, tzinfo=BERLIN)
    assert quiet_hours_end(early, s) == datetime(2026, 1, 15, 7, 0, tzinfo=BERLIN)
    # 21:59 and 07:00 Berlin are not quiet, although 21:59 Berlin is 20:59 UTC and 07:00 Berlin is 06:00 UTC
    assert quiet_hours_end(datetime(2026, 1, 14, 21, 59, tzinfo=BERLIN), s) is None
    assert quiet_hours_end(datetime(2026, 1, 15, 7, 0, tzinfo=BERLIN), s) is None
    # 22:30 UTC = 23:30 Berlin is quiet for her even though it is 22:30 at UTC
    assert quiet_hours_end(datetime(2026, 1, 14, 22, 30, tzinfo=UTC), s) is not None
    # disabled: never quiet
    s.quiet_hours_enabled = False
    assert quiet_hours_end(late, s) is None


def test_quiet_hours_defer_all_but_urgent_to_their_end():
    comment = Category(slug="comment", escalate_after=600, digestible=True)
    now = datetime(2026, 1, 14, 23, 30, tzinfo=BERLIN).astimezone(UTC)
    morning = datetime(2026, 1, 15, 7, 0, tzinfo=BERLIN)
    high = delivery_plan(now=now, priority="high", category=comment, user_settings=_night())
    assert high.push_due == morning and high.email_due == morning
    urgent = delivery_plan(now=now, priority="urgent", category=comment, user_settings=_night())
    assert urgent.push_due == now and urgent.email_due == now


def test_do_not_disturb_defers_and_urgent_bypasses():
    comment = Category(slug="comment", escalate_after=0, digestible=True)
    now = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)
    s = UserSettings(muted_until=now + timedelta(hours=2))
    assert delivery_plan(now=now, priority="high", category=comment, user_settings=s).push_due == now + timedelta(
        hours=2
    )
    assert delivery_plan(now=now, priority="urgent", category=comment, user_settings=s).push_due == now
    # a DND that ends inside quiet hours waits for the quiet hours to end too
    s = _night(muted_until=datetime(2026, 1, 14, 23, 0, tzinfo=BERLIN))
    plan = delivery_plan(now=now, priority="high", category=comment, user_settings=s)
    assert plan.push_due == datetime(2026, 1, 15, 7, 0, tzinfo=BERLIN)


def test_policy_table_by_priority_and_digest():
    comment = Category(slug="comment", escalate_after=600, digestible=True)
    now = datetime(2026, 1, 14, 12, 20, tzinfo=UTC)
    later = now + timedelta(seconds=600)
    plain, hourly = UserSettings(), UserSettings(email_digest="hourly")
    high = delivery_plan(now=now, priority="high", category=comment, user_settings=plain)
    assert (high.push_due, high.email_due, high.email_digest) == (now, later, False)
    normal = delivery_plan(now=now, priority="normal", category=comment, user_settings=plain)
    assert (normal.push_due, normal.email_due, normal.email_digest) == (later, later, False)
    normal_digest = delivery_plan(now=now, priority="normal", category=comment, user_settings=hourly)
    assert normal_digest.email_due == datetime(2026, 1, 14, 13, 0, tzinfo=UTC) and normal_digest.email_digest
    low = delivery_plan(now=now, priority="low", category=comment, user_settings=plain)
    assert (low.push_due, low.email_due) == (None, None)
    low_digest = delivery_plan(now=now, priority="low", category=comment, user_settings=hourly)
    assert low_digest.push_due is None and low_digest.email_digest
    # a category that is not digestible escalates instead
    no_digest = Category(slug="x", escalate_after=600, digestible=False)
    assert delivery_plan(now=now, priority="normal", category=no_digest, user_settings=hourly).email_due == later


def test_daily_digest_is_at_the_digest_hour_in_the_users_zone(settings):
    settings.DELIVERY_DIGEST_HOUR = 8
    s = UserSettings(email_digest="daily", timezone="Asia/Tokyo")
    # 2026-01-14 00:30 UTC is 09:30 in Tokyo: today's 08:00 passed, so tomorrow 08:00 Tokyo
    slot = digest_slot(datetime(2026, 1, 14, 0, 30, tzinfo=UTC), s)
    assert slot == datetime(2026, 1, 15, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


# --- Planned rows and the re-check before sending ------------------------------------------------------------------


def test_planner_takes_the_same_number_of_queries_for_3_and_40_recipients(db, vapid):
    def queries(n: int, prefix: str) -> int:
        users = make_users(n, prefix)
        for u in users:
            WebPushDevice.objects.create(
                user=u, registration_id=f"https://push.example/{prefix}{u.pk}", p256dh="k", auth="a"
            )
        UserSettings.objects.create(user=users[0], email_digest="hourly")
        Preference.objects.create(
            user=users[1], category=Category.objects.get(slug="mention"), channel="push", enabled=False
        )
        categories_by_slug()  # warm, as in a running process
        with CaptureQueriesContext(connection) as ctx:
            result = send(users, category="mention", priority="high")
        assert Delivery.objects.filter(notification__content=result.content, channel="email").count() == n
        assert Delivery.objects.filter(notification__content=result.content, channel="webpush").count() == n - 1
        return len(ctx.captured_queries)

    assert queries(3, "small") == queries(40, "large")


def test_quiet_hours_defer_a_planned_delivery_in_a_non_utc_zone(alice):
    # given alice's quiet hours hold "now" in Tokyo, across midnight
    tokyo = ZoneInfo("Asia/Tokyo")
    local_now = timezone.now().astimezone(tokyo)
    start = (local_now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (local_now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    UserSettings.objects.create(
        user=alice, quiet_hours_enabled=True, quiet_start=start, quiet_end=end, timezone="Asia/Tokyo"
    )
    high = send([alice], category="mention", title="Hi", priority="high")
    urgent = send([alice], category="mention", title="Hi", priority="urgent")
    (high_email,) = deliveries_of(high, channel="email")
    (urgent_email,) = deliveries_of(urgent, channel="email")
    expected_end = datetime.combine((local_now + timedelta(hours=2)).date(), end, tzinfo=tokyo)
    assert high_email.due_at == expected_end
    assert urgent_email.due_at <= timezone.now()


def test_quiet_hours_that_began_after_planning_defer_without_counting_an_attempt(alice, smtp):
    result = send([alice], title="Hi", priority="high", category="mention")
    (email,) = deliveries_of(result, channel="email")
    UserSettings.objects.create(user=alice, muted_until=timezone.now() + timedelta(hours=1))
    assert send_now([email]) == {"deferred": 1}
    email = reload(email)
    assert email.status == DeliveryStatus.PENDING and email.attempts == 0
    assert email.due_at > timezone.now() + timedelta(minutes=59)
    assert smtp.messages == []


def test_escalation_is_cancelled_when_read_and_skipped_if_read_in_a_race(alice, smtp):
    # given two escalating mentions (email after 300 s if unread)
    first = send([alice], category="mention", title="One")
    second = send([alice], category="mention", title="Two")
    (email1,) = deliveries_of(first, channel="email")
    (email2,) = deliveries_of(second, channel="email")
    assert email1.due_at >= timezone.now() + timedelta(seconds=290)
    # when alice reads the first through the app: its email is cancelled at once
    notification_mark_read(user=alice, ids=first.notification_ids)
    assert reload(email1).status == DeliveryStatus.SKIPPED and reload(email1).skip_reason == "read"
    # and the second is read by a path that did not cancel (a race): the worker's re-check skips it
    second.content.notifications.update(read_at=timezone.now())
    send_now([email1, email2])
    assert reload(email2).status == DeliveryStatus.SKIPPED and reload(email2).skip_reason == "read"
    assert smtp.messages == []


def test_unread_escalation_is_sent_when_due(alice, smtp):
    result = send([alice], category="mention", title="Still unread")
    send_now(deliveries_of(result, channel="email"))
    assert [m["Subject"] for m in smtp.messages] == ["Still unread"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("preference", "preference_off"),
        ("inactive", "user_inactive"),
        ("archived", "archived"),
        ("expired", "expired"),
        ("no_address", "no_address"),
    ],
)
def test_recheck_before_sending_skips_with_the_reason(alice, smtp, change, reason):
    result = send([alice], title="Hi", priority="urgent")
    (email,) = deliveries_of(result, channel="email")
    if change == "preference":
        preference_set(user=alice, category="comment", channel="email", enabled=False)
    elif change == "inactive":
        type(alice).objects.filter(pk=alice.pk).update(is_active=False)
    elif change == "archived":
        result.content.notifications.update(archived_at=timezone.now())
    elif change == "expired":
        type(result.content).objects.filter(pk=result.content.pk).update(expires_at=timezone.now())
    elif change == "no_address":
        type(alice).objects.filter(pk=alice.pk).update(email="")
    assert send_now([email]) == {"skipped": 1}
    assert reload(email).status == DeliveryStatus.SKIPPED and reload(email).skip_reason == reason
    assert smtp.messages == []


def test_mandatory_category_ignores_an_email_opt_out_but_honours_a_push_opt_out(alice, vapid):
    security = Category.objects.get(slug="security")
    WebPushDevice.objects.create(user=alice, registration_id="https://push.example/a", p256dh="k", auth="a")
    # rows written around the service (the service refuses to turn mandatory email off)
    Preference.objects.create(user=alice, category=security, channel="email", enabled=False)
    Preference.objects.create(user=alice, category=security, channel="push", enabled=False)
    result = send([alice], category="security", title="New sign-in")
    assert [d.channel for d in deliveries_of(result)] == ["email"]


def test_low_priority_without_digest_plans_no_email_and_no_push(alice, vapid):
    WebPushDevice.objects.create(user=alice, registration_id="https://push.example/a", p256dh="k", auth="a")
    assert deliveries_of(send([alice], title="fyi", priority="low")) == []
