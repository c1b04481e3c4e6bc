"""Celery tasks: thin. They take ids, call one service, and are idempotent (the broker may run them twice).

Never pass notification content through the broker (privacy: task arguments end up in logs and Redis).
"""

from celery import shared_task

from .delivery import machine, retention


@shared_task(name="notifications.tasks.delivery_send")
def delivery_send(delivery_ids: list[int]) -> dict[str, int]:
    """Send these deliveries. Ids only; the state machine claims them, so a second run of the same message is a
    no-op (at-least-once broker, at-most-one-extra send)."""
    return machine.deliveries_send(delivery_ids=delivery_ids)


@shared_task(name="notifications.tasks.deliveries_dispatch_content")
def deliveries_dispatch_content(content_id: int) -> int:
    """Right after a send committed: hand its immediately-due deliveries to workers."""
    return machine.deliveries_dispatch_content(content_id=content_id)


@shared_task(name="notifications.tasks.deliveries_dispatch_due")
def deliveries_dispatch_due() -> int:
    """Beat: due deliveries (escalations, deferrals, digests, retries, lost messages) go to workers."""
    return machine.deliveries_dispatch_due()


@shared_task(name="notifications.tasks.deliveries_sweep_stuck")
def deliveries_sweep_stuck() -> int:
    """Beat: rows left `sending` by a dead worker go back to the queue."""
    return machine.deliveries_sweep_stuck()


@shared_task(name="notifications.tasks.retention_purge")
def retention_purge() -> int:
    """Daily: notifications older than the retention period, with their deliveries."""
    return retention.notifications_purge()
