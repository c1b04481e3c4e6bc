"""The delivery states and their transitions, for every row that goes out to the world: a Delivery (email, push)
and a WebhookDelivery (a batch of webhook events) move through the same machine (machine.py draws it).

    pending --claim--> sending --> sent
                          |------> failed --(backoff + jitter, Retry-After)--> claimed again ... --> dead
                          '------> dead                   permanent error, or out of attempts
    sending for longer than DELIVERY_SENDING_TIMEOUT (the worker died) --sweeper--> failed (due now)

A model using these functions has the columns status, due_at, attempts, last_error, updated_at and leased_until.
"""

import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F, QuerySet

from ..models import DeliveryStatus
from .base import Outcome

logger = logging.getLogger(__name__)

ACTIVE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
# A message for a retry that is not due yet (a stale duplicate from the broker) must not send it early.
CLAIM_SLACK = timedelta(seconds=5)

M = TypeVar("M", bound=models.Model)


def lock(qs: QuerySet[M]) -> QuerySet[M]:
    return qs.select_for_update(skip_locked=True, of=("self",))


def relaxed_commit() -> None:
    """PostgreSQL: this transaction's commit does not wait for the WAL flush. Safe for delivery bookkeeping: a
    database crash can only lose the last few marks, and a lost mark means one more send, never a missing one."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (0.5x-1.5x), capped; never sooner than the provider's Retry-After."""
    base = min(settings.DELIVERY_RETRY_CAP, settings.DELIVERY_RETRY_BASE * 2 ** max(0, attempts - 1))
    delay = min(settings.DELIVERY_RETRY_CAP, base * random.uniform(0.5, 1.5))
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.DELIVERY_RETRY_CAP))
    return delay


def rows_claim(model: type[M], ids: Sequence[int], now: datetime) -> list[int]:
    """pending/failed and due -> sending, one attempt more. Rows another worker holds, or that are not claimable
    (sent, dead, not due), are left out: a duplicate task message claims nothing."""
    with transaction.atomic():
        relaxed_commit()
        manager: Any = model._default_manager
        claimed = list(
            lock(manager.filter(pk__in=list(ids), status__in=ACTIVE, due_at__lte=now + CLAIM_SLACK))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        manager.filter(pk__in=claimed).update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, updated_at=now)
    return claimed


def outcome_apply(row: Any, outcome: Outcome, now: datetime, *, max_attempts: int) -> None:
    """A claimed row's new state after a send that did not succeed: failed and due again after a backoff, or dead
    (a permanent error, a dead token, or out of attempts). The caller saves it."""
    row.last_error = outcome.error
    if outcome.kind in (Outcome.GONE, Outcome.DEAD) or row.attempts >= max_attempts:
        row.status = DeliveryStatus.DEAD
    else:
        row.status = DeliveryStatus.FAILED
        row.due_at = now + timedelta(seconds=retry_delay(row.attempts, outcome.retry_after))
    row.updated_at, row.leased_until = now, None  # due again at due_at, not a lease later


def rows_sweep_stuck(model: type[M], *, now: datetime, max_attempts: int) -> tuple[int, int]:
    """Rows left in `sending` by a worker that died: back to failed (due now), or dead when out of attempts.
    Returns (re-queued, dead)."""
    manager: Any = model._default_manager
    stuck = manager.filter(
        status=DeliveryStatus.SENDING, updated_at__lt=now - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT)
    )
    error = "worker lost while sending"
    dead = stuck.filter(attempts__gte=max_attempts).update(status=DeliveryStatus.DEAD, last_error=error, updated_at=now)
    requeued = stuck.update(
        status=DeliveryStatus.FAILED, due_at=now, last_error=error, updated_at=now, leased_until=None
    )
    return requeued, dead


def rows_retry_dead(qs: QuerySet[M], now: datetime) -> int:
    """Staff's "retry dead": the dead rows among these go back to pending, due now, with a fresh attempt budget (a
    row left at the maximum would die on its first new failure). One UPDATE whatever the count."""
    manager: Any = qs.model._default_manager
    return int(
        manager.filter(pk__in=qs.values("pk"), status=DeliveryStatus.DEAD).update(
            status=DeliveryStatus.PENDING, due_at=now, attempts=0, leased_until=None, updated_at=now
        )
    )
