"""Delivery planning runs off the send path: the send writes an outbox row, a worker (or the sweep) plans it once."""

import threading

from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.categories import categories_by_slug
from notifications.delivery import planner
from notifications.delivery.planner import deliveries_plan_pending
from notifications.models import Delivery, DeliveryPlanPending
from notifications.services import notification_mark_read, notify
from preferences.models import UserSettings
from tests.factories import make_users, send
from tests.notifications.delivery.helpers import deliveries_of


def test_notify_to_one_recipient_takes_at_most_six_queries_and_plans_nothing_inline(alice):
    # given a warm process (the category cache is loaded)
    categories_by_slug()
    # when one notification is sent to one recipient
    with CaptureQueriesContext(connection) as ctx:
        result = notify(recipients=[alice], category="comment", title="Hi", priority="urgent")
    # then on PostgreSQL: savepoint, one statement (recipients, content, seq, row, outbox), release (the test runs
    # in a transaction); elsewhere: recipient check, savepoint, content, seqs, rows, outbox, release
    expected = 3 if connection.vendor == "postgresql" else 7
    assert len(ctx.captured_queries) == expected
    assert deliveries_of(result) == []
    assert DeliveryPlanPending.objects.count() == 1


def test_notify_outside_a_transaction_on_postgresql_is_one_statement(postgres, transactional_db):
    # given a warm process and a caller in autocommit (a view without ATOMIC_REQUESTS, the API's send/)
    (alice,) = make_users(1, "auto")
    categories_by_slug()
    # when one notification is sent to one recipient
    with CaptureQueriesContext(connection) as ctx:
        result = notify(recipients=[alice], category="comment", title="Hi", priority="urgent")
    # then it took one statement, which is its own transaction, and wrote the row and the outbox row
    assert len(ctx.captured_queries) == 1
    assert [n.seq for n in result.content.notifications.all()] == [1]
    assert DeliveryPlanPending.objects.filter(content=result.content).count() == 1


def test_a_notification_read_before_planning_gets_no_email_or_push(alice):
    result = send([alice], title="Hi", priority="urgent", plan=False)
    notification_mark_read(user=alice, ids=result.notification_ids)
    assert deliveries_plan_pending() == 1
    assert deliveries_of(result) == []
    assert DeliveryPlanPending.objects.count() == 0


def test_a_plan_runs_once_a_second_sweep_finds_nothing(alice):
    result = send([alice], title="Hi", priority="urgent", plan=False)
    assert deliveries_plan_pending() == 1
    assert deliveries_plan_pending() == 0
    assert [d.channel for d in deliveries_of(result)] == ["email"]


def test_one_users_bad_data_never_stops_planning_for_the_others(db, monkeypatch):
    # given a send to 8 users, one of whom makes the delivery policy raise (bad stored data, whatever put it there)
    users = make_users(8, "iso")
    bad = users[3]
    real = planner.delivery_plan

    def plan(*, now, priority, category, user_settings):
        if user_settings.user_id == bad.pk:
            raise OverflowError("date value out of range")
        return real(now=now, priority=priority, category=category, user_settings=user_settings)

    UserSettings.objects.create(user=bad, email_digest="off")
    monkeypatch.setattr(planner, "delivery_plan", plan)
    result = send(users, title="Hi", priority="urgent", plan=False)
    # when the planner runs
    assert deliveries_plan_pending() == 1
    # then everyone but the bad user got their email delivery, and the plan is done
    planned = set(
        Delivery.objects.filter(notification__content=result.content).values_list(
            "notification__recipient_id", flat=True
        )
    )
    assert planned == {u.pk for u in users} - {bad.pk}
    assert DeliveryPlanPending.objects.count() == 0


def test_two_sweeps_racing_plan_every_send_exactly_once(postgres, transactional_db):
    # given 40 committed sends whose planning never ran (the wake-up was lost)
    users = make_users(4, "race")
    for i in range(40):
        send(users, title=f"t{i}", priority="urgent", plan=False)
    assert DeliveryPlanPending.objects.count() == 40
    # when two sweeps run at the same time
    counts: list[int] = []

    def sweep() -> None:
        try:
            counts.append(deliveries_plan_pending())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # then every plan ran once: one email per recipient per send, nothing pending
    assert sum(counts) == 40
    assert Delivery.objects.filter(channel="email").count() == 40 * 4
    assert DeliveryPlanPending.objects.count() == 0
