"""Celery tasks: thin. They take ids, call one service, and are idempotent (the broker may run them twice).

Never pass notification content through the broker (privacy: task arguments end up in logs and Redis).
"""

import time

from celery import shared_task

from . import services
from .delivery import machine, partitions, planner, retention, webhooks, webpush_retract

# A fan-out task hands the rest to a fresh task after this long, to stay far below the worker time limit.
BROADCAST_TASK_BUDGET_S = 30.0


@shared_task(name="notifications.broadcast_fan_out", acks_late=True)
def notification_broadcast_fan_out(content_id: int, audience: str) -> int:
    """Write an audience broadcast's rows batch by batch (each batch its own transaction and publish)."""
    started = time.monotonic()
    total = 0
    while True:
        written = services.notification_broadcast_batch(content_id=content_id, audience=audience)
        total += written
        if written == 0:
            return total
        if time.monotonic() - started > BROADCAST_TASK_BUDGET_S:
            notification_broadcast_fan_out.delay(content_id, audience)
            return total


@shared_task(name="notifications.tasks.idempotency_purge")
def idempotency_purge() -> int:
    """Periodic: drop API idempotency records older than 24 h."""
    return services.idempotency_records_purge()


@shared_task(name="notifications.tasks.deliveries_plan")
def deliveries_plan() -> int:
    """Woken after sends commit, and run by beat as the sweep for lost wake-ups (broker down, worker killed):
    plan the email/push deliveries of every send still pending."""
    return planner.deliveries_plan_pending()


@shared_task(name="notifications.tasks.delivery_send")
def delivery_send(delivery_ids: list[int]) -> dict[str, int]:
    """Send these deliveries. Ids only; the state machine claims them, so a second run of the same message is a
    no-op (at-least-once broker, at-most-one-extra send)."""
    return machine.deliveries_send(delivery_ids=delivery_ids)


@shared_task(name="notifications.tasks.webpush_retract")
def webpush_retractions_close(content_ids: list[int]) -> int:
    """After a retraction committed: close the web pushes already shown for these sends (best effort, ids only)."""
    return webpush_retract.webpush_retractions_send(content_ids=content_ids)


@shared_task(name="notifications.tasks.deliveries_dispatch_content")
def deliveries_dispatch_content(content_ids: list[int]) -> int:
    """Right after sends committed: hand their immediately-due deliveries to workers (one message per call)."""
    return machine.deliveries_dispatch_content(content_ids=content_ids)


@shared_task(name="notifications.tasks.deliveries_dispatch_due")
def deliveries_dispatch_due() -> int:
    """Beat: due deliveries (escalations, deferrals, digests, retries, lost messages) go to workers."""
    return machine.deliveries_dispatch_due()


@shared_task(name="notifications.tasks.deliveries_sweep_stuck")
def deliveries_sweep_stuck() -> int:
    """Beat: rows left `sending` by a dead worker go back to the queue."""
    return machine.deliveries_sweep_stuck()


@shared_task(name="notifications.tasks.notifications_wake")
def notifications_wake() -> int:
    """Beat (and the embedded scheduler): snoozed notifications whose time has come go back to the inbox."""
    return services.notifications_wake_due()


@shared_task(name="notifications.tasks.partitions_maintain")
def partitions_maintain() -> list[str]:
    """Daily (beat and the embedded scheduler): the notification table's next partitions, on PostgreSQL."""
    return partitions.partitions_maintain()


@shared_task(name="notifications.tasks.retention_purge")
def retention_purge() -> int:
    """Daily: notifications older than the retention period, with their deliveries."""
    return retention.notifications_purge()


@shared_task(name="notifications.tasks.webhooks_dispatch")
def webhooks_dispatch() -> int:
    """Woken after webhook events were recorded, and run by beat as the sweep: batch pending events per endpoint and
    hand due batches (new ones, retries, lost messages) to webhook_send."""
    return webhooks.webhooks_dispatch()


@shared_task(name="notifications.tasks.webhook_send")
def webhook_send(delivery_ids: list[int]) -> dict[str, int]:
    """Post these webhook batches. Ids only; claimed like deliveries, so a duplicate message posts nothing."""
    return webhooks.webhook_deliveries_send(delivery_ids=delivery_ids)
