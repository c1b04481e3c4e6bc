"""The delivery state machine, in one place.

    pending --claim--> sending --> sent
                          |------> skipped(reason)        re-check before sending: read, archived, expired,
                          |                               user inactive, preference off, device gone, ...
                          |------> pending (deferred)     quiet hours / do-not-disturb began after planning,
                          |                               or the notification is snoozed (until it wakes)
                          |------> failed --(backoff + jitter, Retry-After)--> claimed again ... --> dead
                          '------> dead                   permanent error, token gone, or out of attempts
    sending for longer than DELIVERY_SENDING_TIMEOUT (the worker died) --sweeper--> failed (due now)

The states and transitions are shared with webhook deliveries (states.py).
Claims use SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL, so any number of dispatchers and workers never take the
same row; on SQLite (one process) the plain select is enough. Delivery is at least once: a worker killed after the
provider accepted a message but before the row says `sent` causes one duplicate, never a loss.
"""

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from preferences.models import UserSettings
from preferences.selectors import channel_enabled, preferences_explicit_bulk, user_settings_bulk

from .. import jobs, metrics
from ..models import ChannelKind, Delivery, DeliveryChannel, DeliveryStatus, SkipReason
from ..selectors import devices
from .base import Message, Outcome
from .policy import quiet_until
from .registry import PUSH, delivery_channels, device_deactivate
from .states import ACTIVE as ACTIVE
from .states import CLAIM_SLACK as CLAIM_SLACK
from .states import lock, outcome_apply, relaxed_commit, rows_claim, rows_retry_dead, rows_sweep_stuck
from .states import retry_delay as retry_delay
from .webhook_events import webhook_delivery_events_record

logger = logging.getLogger(__name__)

# A delivery of a snoozed notification whose wake time has passed (the sweep runs every few seconds) looks again then.
SNOOZE_RECHECK = timedelta(seconds=5)


# --- Handing work to workers ------------------------------------------------------------------------------------


def _enqueue(batches: Iterable[list[int]]) -> None:
    """Publish one task per batch. A failed publish is not an error (jobs.enqueue logs it): the rows are leased,
    not lost, and the dispatcher's scan hands them out again when the lease ends."""
    for ids in batches:
        jobs.enqueue("notifications.tasks.delivery_send", ids)


def _chunks(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def deliveries_dispatch_content(*, content_ids: list[int]) -> int:
    """Hand the immediately-due deliveries of these sends to workers (called right after the sends committed)."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            lock(Delivery.objects.filter(notification__content_id__in=content_ids, digest=False))
            .filter(status=DeliveryStatus.PENDING, due_at__lte=now)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        lease = timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
        Delivery.objects.filter(pk__in=ids).update(leased_until=now + lease)  # the scan leaves them alone
    _enqueue(_chunks(ids, settings.DELIVERY_BATCH_SIZE))
    return len(ids)


def deliveries_dispatch_due(*, now: datetime | None = None, limit: int = 5000) -> int:
    """The periodic scan: every due row not handed out within its lease goes to a worker.

    The lease has its own column: a row rescheduled for 2 s from now (a retry, an escalation) is handed out when
    it is due, not a lease later (the lease used to be read from `updated_at`, which every write moves).

    Digest rows of one user travel together, so they become one email.
    """
    now = now or timezone.now()
    lease = timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    unleased = Q(leased_until__isnull=True) | Q(leased_until__lte=now)
    with transaction.atomic():
        picked = list(
            lock(Delivery.objects.filter(status__in=ACTIVE, due_at__lte=now).filter(unleased))
            .order_by("due_at")
            .values_list("pk", "digest", "notification__recipient_id")[:limit]
        )
        Delivery.objects.filter(pk__in=[p[0] for p in picked]).update(leased_until=now + lease)
    single = [pk for pk, digest, _user in picked if not digest]
    digests: dict[int, list[int]] = defaultdict(list)
    for pk, digest, user_id in picked:
        if digest:
            digests[user_id].append(pk)
    _enqueue(_chunks(single, settings.DELIVERY_BATCH_SIZE) + list(digests.values()))
    return len(picked)


def deliveries_sweep_stuck(*, now: datetime | None = None) -> int:
    """Rows left in `sending` by a worker that died: back to failed (due now), or dead when out of attempts."""
    now = now or timezone.now()
    requeued, dead = rows_sweep_stuck(Delivery, now=now, max_attempts=settings.DELIVERY_MAX_ATTEMPTS)
    if dead or requeued:
        logger.warning("sweeper: %d deliveries re-queued, %d dead after a lost worker", requeued, len(dead))
    if dead:
        # A delivery that died this way failed like any other: its producer's endpoints hear of it.
        failed = list(Delivery.objects.filter(pk__in=dead).values_list("notification_id", "channel"))
        webhook_delivery_events_record(delivered=[], failed=failed, now=now)
    return requeued + len(dead)


DISPATCH_DUE_TASK = "notifications.tasks.deliveries_dispatch_due"


def deliveries_retry_dead(*, deliveries: QuerySet[Delivery]) -> int:
    """Staff's "retry dead deliveries": the dead rows among these go back to pending, due now, with a fresh attempt
    budget (a row left at the maximum would die on its first new failure). Sent, skipped and in-flight rows are left
    alone. One UPDATE whatever the count; the dispatcher is woken after commit, and its periodic scan finds the rows
    anyway if that wake-up is lost. No worker holds a dead row, so there is nothing to lock against."""
    now = timezone.now()
    with transaction.atomic():
        retried = rows_retry_dead(deliveries, now)
        if retried:
            jobs.wake_on_commit(DISPATCH_DUE_TASK)
    if retried:
        logger.info("retry: %d dead deliveries back to pending", retried)
    return retried


# --- Sending ----------------------------------------------------------------------------------------------------


@dataclass
class _Decision:
    delivery: Delivery
    skip: SkipReason | None = None
    defer_until: datetime | None = None
    message: Message | None = None
    failure: str = ""  # preparing it raised: retried with backoff like a failed send


def _claim(ids: Sequence[int], now: datetime) -> list[int]:
    return rows_claim(Delivery, ids, now)


def _decide(deliveries: list[Delivery], now: datetime) -> list[_Decision]:
    """Re-check every claimed row against the current state: a constant number of queries for the batch."""
    user_ids = {d.notification.recipient_id for d in deliveries}
    category_ids = {d.notification.category_id for d in deliveries}
    explicit = preferences_explicit_bulk(user_ids=user_ids, category_ids=category_ids)
    settings_by_user = user_settings_bulk(user_ids=user_ids)
    device_map: dict[tuple[str, str], Any] = {}
    for channel in PUSH:
        targets = [int(d.target) for d in deliveries if d.channel == channel and d.target.isdigit()]
        if targets:
            for device in devices(channel).filter(pk__in=targets):
                device_map[(channel, str(device.pk))] = device
    registry = delivery_channels()
    decisions = []
    for d in deliveries:
        try:
            decisions.append(_decide_one(d, now, explicit, settings_by_user, device_map, registry))
        except Exception as exc:  # one bad row (whatever got it there) must not fail the batch for everyone
            logger.exception("delivery %s could not be prepared; it retries", d.pk)
            decisions.append(_Decision(d, failure=f"could not prepare: {type(exc).__name__}"))
    return decisions


def _decide_one(
    d: Delivery,
    now: datetime,
    explicit: dict[tuple[int, int, str], bool],
    settings_by_user: dict[int, UserSettings],
    device_map: dict[tuple[str, str], Any],
    registry: dict[str, Any],
) -> _Decision:
    n = d.notification
    content, category, user = n.content, n.category, n.recipient
    user_settings = settings_by_user.get(user.pk) or UserSettings(user_id=user.pk)
    kind = ChannelKind.EMAIL if d.channel == DeliveryChannel.EMAIL else ChannelKind.PUSH
    device = device_map.get((d.channel, d.target))
    skip: SkipReason | None = None
    if content.retracted_at is not None:  # before read/archived: a retraction archives its rows too
        skip = SkipReason.RETRACTED
    elif n.read_at is not None:
        skip = SkipReason.READ
    elif n.archived_at is not None:
        skip = SkipReason.ARCHIVED
    elif content.expires_at is not None and content.expires_at <= now:
        skip = SkipReason.EXPIRED
    elif not user.is_active:
        skip = SkipReason.USER_INACTIVE
    elif not channel_enabled(category=category, channel=kind, explicit=explicit.get((user.pk, category.pk, kind))):
        skip = SkipReason.PREFERENCE_OFF
    elif kind == ChannelKind.EMAIL and not user.email:
        skip = SkipReason.NO_ADDRESS
    elif kind == ChannelKind.PUSH and (device is None or not device.active or device.user_id != user.pk):
        skip = SkipReason.DEVICE_INACTIVE
    elif not registry[d.channel].is_configured():
        skip = SkipReason.CHANNEL_OFF
    if skip is not None:
        return _Decision(d, skip=skip)
    if n.snoozed_until is not None:
        # Snoozed: not skipped but deferred, to when it wakes (or a moment, if the wake sweep is due now).
        return _Decision(d, defer_until=max(n.snoozed_until, now + SNOOZE_RECHECK))
    until = quiet_until(now, content.priority, user_settings)
    if until is not None:
        return _Decision(d, defer_until=until)
    return _Decision(d, message=Message(d, n, content, category, user, user_settings, device))


def deliveries_send(*, delivery_ids: Sequence[int]) -> dict[str, int]:
    """Claim, re-check, send, record. Idempotent: ids that are not claimable (sent, skipped, taken by another worker,
    not due) are ignored, so a duplicate task message does nothing."""
    now = timezone.now()
    claimed = _claim(delivery_ids, now)
    if not claimed:
        return {}
    deliveries = list(
        Delivery.objects.filter(pk__in=claimed).select_related(
            "notification__content", "notification__category", "notification__recipient"
        )
    )
    decisions = _decide(deliveries, now)
    outcomes: dict[int, Outcome] = {}
    by_channel: dict[str, list[Message]] = defaultdict(list)
    for decision in decisions:
        if decision.message is not None:
            by_channel[decision.delivery.channel].append(decision.message)
        elif decision.failure:
            outcomes[decision.delivery.pk] = Outcome(Outcome.RETRY, decision.failure)
    registry = delivery_channels()
    for channel, messages in by_channel.items():
        try:
            for index, outcome in registry[channel].send(messages):
                outcomes[messages[index].delivery.pk] = outcome
                if outcome.kind == Outcome.SENT:
                    _mark_sent(messages[index].delivery.pk)
        except Exception as exc:  # a bug or an unexpected client error must not leave rows in `sending`
            logger.exception("delivery channel %s failed on a batch of %d", channel, len(messages))
            for message in messages:
                outcomes.setdefault(message.delivery.pk, Outcome(Outcome.RETRY, f"{type(exc).__name__}"))
        for message in messages:
            outcomes.setdefault(message.delivery.pk, Outcome(Outcome.RETRY, "no result"))
    return _record(decisions, outcomes)


def _mark_sent(pk: int) -> None:
    """Recorded the moment the provider accepted it: a crash later in the batch cannot cause a re-send of this one."""
    now = timezone.now()
    with transaction.atomic():
        relaxed_commit()
        Delivery.objects.filter(pk=pk).update(status=DeliveryStatus.SENT, sent_at=now, last_error="", updated_at=now)


def _record(decisions: list[_Decision], outcomes: dict[int, Outcome]) -> dict[str, int]:
    now = timezone.now()
    counts: Counter[str] = Counter()
    changed: list[Delivery] = []
    gone: dict[str, list[int]] = defaultdict(list)
    observed: Counter[tuple[str, str]] = Counter()
    delivered: list[tuple[int, str]] = []
    failed: list[tuple[int, str]] = []
    for decision in decisions:
        d = decision.delivery
        if decision.skip is not None:
            d.status, d.skip_reason = DeliveryStatus.SKIPPED, decision.skip
        elif decision.defer_until is not None:
            # Not an attempt: the user's quiet hours or do-not-disturb began after planning.
            d.status, d.due_at, d.attempts = DeliveryStatus.PENDING, decision.defer_until, max(0, d.attempts - 1)
            counts["deferred"] += 1
        else:
            outcome = outcomes[d.pk]
            if outcome.kind == Outcome.SENT:
                counts["sent"] += 1
                observed[(d.channel, DeliveryStatus.SENT)] += 1
                delivered.append((d.notification_id, d.channel))
                continue
            if outcome.kind == Outcome.GONE:
                gone[d.channel].append(int(d.target))
            outcome_apply(d, outcome, now, max_attempts=settings.DELIVERY_MAX_ATTEMPTS)
            if d.status == DeliveryStatus.DEAD:
                failed.append((d.notification_id, d.channel))
        d.updated_at, d.leased_until = now, None  # due again at due_at, not a lease later
        if decision.defer_until is None:
            counts[str(d.status)] += 1
            observed[(d.channel, str(d.status))] += 1
        changed.append(d)
    with transaction.atomic():
        if changed:
            Delivery.objects.bulk_update(
                changed, ["status", "skip_reason", "due_at", "attempts", "last_error", "updated_at", "leased_until"]
            )
        for channel, pks in gone.items():
            deactivated = device_deactivate(channel, pks)
            logger.info("%s: %d device(s) deactivated after token-level errors", channel, deactivated)
        webhook_delivery_events_record(delivered=delivered, failed=failed, now=now)
    for (channel, status), count in observed.items():
        metrics.delivery_observe(channel=channel, status=status, count=count)
    logger.info("deliveries: %s", dict(counts))
    return dict(counts)
