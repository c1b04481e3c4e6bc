"""The state machine: claims, retries with backoff, dead, sweeper, scan and lease, ids-only tasks, privacy,
retention, the embedded scheduler."""

import logging
from datetime import timedelta

from django.utils import timezone

from notifications import tasks
from notifications.delivery import machine, scheduler
from notifications.delivery.machine import (
    deliveries_dispatch_due,
    deliveries_send,
    deliveries_sweep_stuck,
    retry_delay,
)
from notifications.delivery.retention import notifications_purge
from notifications.jobs import wakes_flush
from notifications.models import Content, Delivery, DeliveryPlanPending, DeliveryStatus, Notification
from notifyproject.celery import app as celery_app
from tests.factories import send
from tests.notifications.delivery.helpers import deliveries_of, reload, send_now


def test_retry_delay_grows_exponentially_with_jitter_and_honours_retry_after(settings):
    settings.DELIVERY_RETRY_BASE, settings.DELIVERY_RETRY_CAP = 30, 3600
    for attempts, base in [(1, 30), (2, 60), (3, 120), (5, 480)]:
        delays = [retry_delay(attempts) for _ in range(200)]
        assert all(base * 0.5 <= d <= base * 1.5 for d in delays)
        assert len(set(delays)) > 100  # jittered, not lock-step
    assert all(retry_delay(20) <= 3600 for _ in range(50))
    assert retry_delay(1, retry_after=900) >= 900


def test_failing_delivery_retries_then_goes_dead_after_max_attempts(smtp, alice, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 3
    smtp.handler.replies["alice@example.com"] = "451 4.3.0 later"
    (email,) = deliveries_of(send([alice], title="Hi", priority="urgent"), channel="email")
    for attempt in (1, 2):
        send_now([email])
        assert (reload(email).status, reload(email).attempts) == (DeliveryStatus.FAILED, attempt)
    send_now([email])
    assert (reload(email).status, reload(email).attempts) == (DeliveryStatus.DEAD, 3)
    # dead is final: another run does nothing
    assert send_now([email]) == {}
    assert reload(email).attempts == 3


def test_a_duplicate_task_message_sends_nothing_twice(smtp, alice):
    (email,) = deliveries_of(send([alice], title="Hi", priority="urgent"), channel="email")
    assert deliveries_send(delivery_ids=[email.pk]) == {"sent": 1}
    assert deliveries_send(delivery_ids=[email.pk]) == {}
    assert len(smtp.messages) == 1


def test_a_retry_is_not_sent_early_by_a_stale_message(smtp, alice):
    (email,) = deliveries_of(send([alice], title="Hi", priority="urgent"), channel="email")
    Delivery.objects.filter(pk=email.pk).update(status=DeliveryStatus.FAILED, due_at=timezone.now() + timedelta(60))
    assert deliveries_send(delivery_ids=[email.pk]) == {}
    assert smtp.messages == [] and reload(email).status == DeliveryStatus.FAILED


def test_sweeper_requeues_rows_stuck_in_sending_and_kills_exhausted_ones(alice, settings):
    settings.DELIVERY_SENDING_TIMEOUT, settings.DELIVERY_MAX_ATTEMPTS = 60, 3
    r1, r2, r3 = (send([alice], title=f"n{i}", priority="urgent") for i in range(3))
    (stuck,), (exhausted,), (fresh,) = (deliveries_of(r, channel="email") for r in (r1, r2, r3))
    old = timezone.now() - timedelta(seconds=120)
    Delivery.objects.filter(pk__in=[stuck.pk, exhausted.pk]).update(status="sending", updated_at=old, attempts=1)
    Delivery.objects.filter(pk=exhausted.pk).update(attempts=3)
    Delivery.objects.filter(pk=fresh.pk).update(status="sending", updated_at=timezone.now(), attempts=1)
    assert deliveries_sweep_stuck() == 2
    assert reload(stuck).status == DeliveryStatus.FAILED and reload(stuck).due_at <= timezone.now()
    assert reload(exhausted).status == DeliveryStatus.DEAD
    assert reload(fresh).status == DeliveryStatus.SENDING  # a live worker's row is left alone


def broker_capture(monkeypatch) -> list[tuple[str, tuple]]:
    """A broker that records what it is handed (production mode: not eager)."""
    published: list[tuple[str, tuple]] = []
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(celery_app, "send_task", lambda name, args=(), **kw: published.append((name, tuple(args))))
    return published


def test_scan_hands_out_due_rows_once_per_lease_with_ids_only(alice, bob, monkeypatch, settings):
    settings.DELIVERY_LEASE_SECONDS = 60
    published = broker_capture(monkeypatch)
    result = send([alice, bob], category="mention", title="Secret title", body="secret body")
    rows = deliveries_of(result, channel="email")
    # not due yet: nothing
    assert deliveries_dispatch_due() == 0
    # due now, and last touched long ago
    past = timezone.now() - timedelta(seconds=120)
    Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(due_at=past, updated_at=past)
    assert deliveries_dispatch_due() == 2
    # the task got delivery ids and nothing else
    assert published == [("notifications.tasks.delivery_send", ([rows[0].pk, rows[1].pk],))]
    # within the lease a second scan hands out nothing again
    assert deliveries_dispatch_due() == 0
    assert len(published) == 1


def test_a_send_enqueues_its_due_deliveries_on_commit_and_they_go_out_in_embedded_mode(
    smtp, alice, eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = send([alice], title="Right away", priority="urgent")
    assert len(callbacks) >= 1
    assert [m["Subject"] for m in smtp.messages] == ["Right away"]
    (email,) = deliveries_of(result, channel="email")
    assert reload(email).status == DeliveryStatus.SENT


def test_nothing_is_enqueued_before_commit(alice, monkeypatch):
    published = []
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(celery_app, "send_task", lambda *a, **kw: published.append(a))
    send([alice], title="Hi", priority="urgent", plan=False)  # the test transaction never commits
    assert published == []
    assert DeliveryPlanPending.objects.count() == 1


def test_a_broker_outage_at_commit_does_not_fail_the_send(alice, monkeypatch, django_capture_on_commit_callbacks):
    # given a broker that refuses every message
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(celery_app, "send_task", down)
    # when a send commits: the send succeeds, its planning waits in the outbox
    with django_capture_on_commit_callbacks(execute=True):
        result = send([alice], title="Hi", priority="urgent", plan=False)
    assert wakes_flush()
    assert deliveries_of(result) == []
    assert DeliveryPlanPending.objects.count() == 1
    # then the periodic sweep plans it, and the row waits for the dispatcher's scan
    assert tasks.deliveries_plan() == 1
    assert [d.status for d in deliveries_of(result)] == ["pending"]
    assert DeliveryPlanPending.objects.count() == 0


def test_no_content_in_logs_or_task_arguments_even_on_failure(smtp, alice, caplog, monkeypatch):
    published = broker_capture(monkeypatch)
    smtp.handler.replies["alice@example.com"] = "451 4.3.0 later"
    result = send([alice], category="security", title="TOPSECRET-TITLE", body="TOPSECRET-BODY")
    caplog.set_level(logging.DEBUG)
    send_now(deliveries_of(result))
    Delivery.objects.update(due_at=timezone.now() - timedelta(1), updated_at=timezone.now() - timedelta(1))
    deliveries_dispatch_due()
    assert published and all(isinstance(i, int) for (_name, args) in published for i in args[0])
    assert "TOPSECRET" not in caplog.text
    assert "TOPSECRET" not in str(published)
    assert "TOPSECRET" not in " ".join(Delivery.objects.values_list("last_error", flat=True))


def test_retention_purges_old_notifications_with_their_deliveries_in_batches(alice, settings):
    settings.NOTIFICATIONS_RETENTION_DAYS = 90
    old = send([alice], title="old", priority="urgent")
    recent = send([alice], title="recent", priority="urgent")
    Notification.objects.filter(content=old.content).update(created_at=timezone.now() - timedelta(days=91))
    Content.objects.filter(pk=old.content.pk).update(created_at=timezone.now() - timedelta(days=91))
    Notification.objects.filter(content=recent.content).update(created_at=timezone.now() - timedelta(days=89))
    assert notifications_purge(batch_size=1) == 1
    assert list(Notification.objects.values_list("content_id", flat=True)) == [recent.content.pk]
    assert not Delivery.objects.filter(notification__content=old.content).exists()
    assert Delivery.objects.filter(notification__content=recent.content).exists()
    assert not Content.objects.filter(pk=old.content.pk).exists()


def test_retention_never_goes_below_30_days(alice, settings):
    settings.NOTIFICATIONS_RETENTION_DAYS = 5
    result = send([alice], title="x")
    Notification.objects.update(created_at=timezone.now() - timedelta(days=29))
    assert notifications_purge() == 0
    Notification.objects.update(created_at=timezone.now() - timedelta(days=31))
    assert notifications_purge() == 1
    assert not Notification.objects.filter(content=result.content).exists()


def test_embedded_scheduler_runs_due_delayed_work_without_redis(smtp, alice, eager, settings):
    # given an escalation email that has come due, and no broker
    result = send([alice], category="mention", title="Escalated")
    past = timezone.now() - timedelta(seconds=600)
    Delivery.objects.filter(notification__content=result.content).update(due_at=past, updated_at=past)
    # when the embedded scheduler ticks once
    scheduler._run_due({})
    # then the email went out and the purge ran without error
    assert [m["Subject"] for m in smtp.messages] == ["Escalated"]
    assert deliveries_of(result, channel="email")[0].status == DeliveryStatus.SENT


def test_embedded_scheduler_stays_off_with_redis(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.EMBEDDED_SCHEDULER = True
    assert scheduler.scheduler_start() is False


def test_beat_schedule_holds_every_periodic_task(settings):
    tasks_by_name = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks_by_name == {
        "notifications.tasks.deliveries_plan",
        "notifications.tasks.deliveries_dispatch_due",
        "notifications.tasks.deliveries_sweep_stuck",
        "notifications.tasks.webhooks_dispatch",
        "notifications.tasks.retention_purge",
        "notifications.tasks.partitions_maintain",
        "notifications.tasks.idempotency_purge",
        "notifications.tasks.notifications_wake",
    }
    assert machine.ACTIVE == ("pending", "failed")


def test_a_row_due_soon_after_it_was_written_is_handed_out_when_due_not_a_lease_later(alice, monkeypatch, settings):
    # given a 60 s lease and an email escalated 3 s after the send (the row was written just now)
    settings.DELIVERY_LEASE_SECONDS = 60
    published = broker_capture(monkeypatch)
    result = send([alice], category="mention", title="Escalated")
    (email,) = deliveries_of(result, channel="email")
    due = timezone.now() + timedelta(seconds=3)
    Delivery.objects.filter(pk=email.pk).update(due_at=due)
    # then the scan leaves it before it is due, and hands it out the moment it is
    assert deliveries_dispatch_due(now=due - timedelta(seconds=1)) == 0
    assert deliveries_dispatch_due(now=due + timedelta(seconds=1)) == 1
    assert published == [("notifications.tasks.delivery_send", ([email.pk],))]
    # and within the lease it is not handed out twice; after the lease (its task was lost) it is
    assert deliveries_dispatch_due(now=due + timedelta(seconds=30)) == 0
    assert deliveries_dispatch_due(now=due + timedelta(seconds=62)) == 1


def test_a_retry_after_a_short_backoff_is_handed_out_after_the_backoff(smtp, alice, monkeypatch, settings):
    # given a 60 s lease and an email the server refuses for now
    settings.DELIVERY_LEASE_SECONDS = 60
    settings.DELIVERY_RETRY_BASE = 2
    result = send([alice], category="mention", title="Retry me")
    (email,) = deliveries_of(result, channel="email")
    smtp.handler.replies["alice@example.com"] = "451 4.3.0 later"
    send_now([email])
    failed = reload(email)
    assert failed.status == DeliveryStatus.FAILED
    backoff = failed.due_at - timezone.now()
    assert backoff < timedelta(seconds=4)  # 2 s base, jittered 0.5x to 1.5x
    # then the scan hands it out once the backoff passed, not a lease after the failure was written
    published = broker_capture(monkeypatch)
    assert deliveries_dispatch_due(now=failed.due_at + timedelta(milliseconds=10)) == 1
    assert published == [("notifications.tasks.delivery_send", ([email.pk],))]


def test_finished_deliveries_move_the_deliveries_metric(smtp, alice):
    from notifications import metrics

    def sent() -> float:
        return metrics.DELIVERIES.labels(channel="email", status="sent")._value.get()

    before = sent()
    result = send([alice], category="mention", title="Counted")
    send_now(deliveries_of(result, channel="email"))
    assert sent() == before + 1


def test_one_row_that_cannot_be_prepared_does_not_fail_the_batch(smtp, alice, bob, monkeypatch):
    # given a batch with alice's and bob's emails, where anything about alice's row makes preparing it raise
    result = send([alice, bob], category="mention", title="Hi")
    rows = deliveries_of(result, channel="email")
    real = machine.quiet_until

    def quiet_until(now, priority, user_settings):
        if user_settings.user_id == alice.pk:
            raise OverflowError("date value out of range")
        return real(now, priority, user_settings)

    monkeypatch.setattr(machine, "quiet_until", quiet_until)
    # when the worker sends the batch
    send_now(rows)
    # then bob's email went out, and alice's row waits for a retry instead of staying in `sending`
    by_user = {r.notification.recipient_id: reload(r) for r in rows}
    assert [m["To"] for m in smtp.messages] == ["bob@example.com"]
    assert by_user[bob.pk].status == DeliveryStatus.SENT
    assert by_user[alice.pk].status == DeliveryStatus.FAILED
    assert by_user[alice.pk].last_error == "could not prepare: OverflowError"
