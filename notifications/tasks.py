"""Celery tasks: thin. They take ids, call one service, and are idempotent (the broker may run them twice).

Never pass notification content through the broker (privacy: task arguments end up in logs and Redis).
"""

import time

from celery import shared_task

# A fan-out task hands the rest to a fresh task after this long, to stay far below the worker time limit.
BROADCAST_TASK_BUDGET_S = 30.0


@shared_task(name="notifications.broadcast_fan_out", acks_late=True)
def notification_broadcast_fan_out(content_id: int, audience: str) -> int:
    """Write an audience broadcast's rows batch by batch (each batch its own transaction and publish)."""
    from . import services

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


@shared_task(name="notifications.idempotency_purge")
def idempotency_purge() -> int:
    """Periodic: drop API idempotency records older than 24 h."""
    from .api.idempotency import idempotency_purge as purge

    return purge()
