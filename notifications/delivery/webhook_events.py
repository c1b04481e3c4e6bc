"""Recording webhook events on the state-change path: cheap, and never network I/O.

A read, an archive, a delivery sent or dead records one WebhookEventPending row per (subscribed endpoint,
notification) with one bulk insert for the whole change (mark-all-read of 5,000 rows: one lookup of their producers
and one insert, not 5,000 round trips), in the caller's transaction: the event exists exactly when the change
committed. Only endpoints of the producer that sent the notification get it. A worker woken after commit (and a
periodic sweep) groups the rows per endpoint into batches and posts them (webhooks.py).

Which endpoints exist is read from a per-process copy (process_cache.py), so a change with no subscribed endpoint
costs nothing but a dictionary lookup.
"""

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from .. import jobs
from ..models import Notification, WebhookEndpoint, WebhookEventPending, WebhookEventType
from ..process_cache import ProcessCache

WEBHOOKS_TASK = "notifications.tasks.webhooks_dispatch"
LOOKUP_CHUNK = 5000


@dataclass(frozen=True)
class _Subscription:
    endpoint_id: int
    producer: str  # Content.producer of the producer's sends
    events: frozenset[str]


_cache: ProcessCache[list[_Subscription]] = ProcessCache(
    "webhook-endpoints", ttl=lambda: settings.WEBHOOK_ENDPOINT_CACHE_SECONDS
)


def _subscriptions() -> list[_Subscription]:
    current = _cache.get("active")
    if current is not None:
        return current
    started = time.monotonic()
    loaded = [
        _Subscription(pk, f"user:{producer_id}", frozenset(e for e in events if isinstance(e, str)))
        for pk, producer_id, events in WebhookEndpoint.objects.filter(active=True).values_list(
            "pk", "producer_id", "events"
        )
        if isinstance(events, list)
    ]
    _cache.put("active", loaded, loaded_at=started)
    return loaded


def webhook_endpoints_changed() -> None:
    """An endpoint was created, changed, disabled or deleted: every process reloads its copy."""
    _cache.changed()


def webhook_endpoints_cache_clear() -> None:
    _cache.clear()


def webhook_events_record(*, events: Iterable[tuple[int, str]], now: datetime) -> int:
    """Record (notification id, event type) pairs for every active endpoint that subscribed to the event and belongs
    to the notification's producer. One producer lookup per 5,000 notifications and one bulk insert; nothing at all
    when no endpoint subscribed to these event types. Returns the number of rows written."""
    subscriptions = _subscriptions()
    if not subscriptions:
        return 0
    pairs = [(nid, event) for nid, event in events]
    wanted_types = {event for _nid, event in pairs}
    relevant = [s for s in subscriptions if s.events & wanted_types]
    if not relevant:
        return 0
    by_producer: dict[str, list[_Subscription]] = defaultdict(list)
    for subscription in relevant:
        by_producer[subscription.producer].append(subscription)
    ids = sorted({nid for nid, _event in pairs})
    producer_of: dict[int, str] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        producer_of.update(
            Notification.objects.filter(pk__in=chunk, content__producer__in=list(by_producer)).values_list(
                "pk", "content__producer"
            )
        )
    rows = [
        WebhookEventPending(endpoint_id=s.endpoint_id, notification_id=nid, event=event, occurred_at=now)
        for nid, event in pairs
        if nid in producer_of
        for s in by_producer[producer_of[nid]]
        if event in s.events
    ]
    if rows:
        WebhookEventPending.objects.bulk_create(rows)  # one statement where the backend allows
        jobs.wake_worker_on_commit(WEBHOOKS_TASK)
    return len(rows)


def webhook_state_events_record(*, notification_ids: Sequence[int], event: str, now: datetime) -> int:
    """A read or archive of these notifications (the services' state changes)."""
    if not notification_ids or not _subscriptions():
        return 0
    return webhook_events_record(events=((nid, event) for nid in notification_ids), now=now)


def webhook_delivery_events_record(
    *, delivered: Sequence[tuple[int, str]], failed: Sequence[tuple[int, str]], now: datetime
) -> int:
    """A delivery batch's outcomes: (notification id, delivery channel) sent, and those that went dead."""
    if not (delivered or failed) or not _subscriptions():
        return 0
    pairs = [(nid, f"delivery.{channel}.delivered") for nid, channel in delivered]
    pairs += [(nid, f"delivery.{channel}.failed") for nid, channel in failed]
    return webhook_events_record(events=pairs, now=now)


EVENT_TYPES = frozenset(WebhookEventType.values)
