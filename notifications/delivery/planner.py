"""The seam between a send and its external deliveries, off the send path.

A send writes only itself plus one DeliveryPlanPending row (the outbox) in its transaction. After commit a task plans
it (`deliveries_plan_pending` with its ids); a periodic sweep plans whatever a lost task left behind (broker down,
worker killed between commit and planning). Plans are claimed with SKIP LOCKED and deleted in the planning
transaction, and Delivery rows are unique per (notification, channel, target): a plan runs once, and a second run of
the same plan could write nothing twice.

Planning reads the current state: a notification read or archived before planning gets no email or push.
`deliveries_cancel` runs when notifications are read, so nothing is sent about what the user already saw.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from preferences.models import UserSettings
from preferences.selectors import channel_enabled, preferences_explicit_bulk, user_settings_bulk

from .. import jobs
from ..models import (
    Category,
    ChannelKind,
    Content,
    Delivery,
    DeliveryChannel,
    DeliveryPlanPending,
    DeliveryStatus,
    Notification,
    SkipReason,
)
from ..selectors import devices
from .policy import delivery_plan
from .registry import PUSH, delivery_channels

logger = logging.getLogger(__name__)

PLAN_TASK = "notifications.tasks.deliveries_plan"
DISPATCH_TASK = "notifications.tasks.deliveries_dispatch_content"

# More users than this failing on their own in one batch is a bug, not bad data.
MAX_BAD_USERS = 5

# (notification id, recipient id, content id) of the rows a plan covers.
Row = tuple[int, int, int]


def plans_wake_on_commit() -> None:
    """The send wrote its DeliveryPlanPending rows: wake a planner once it commits."""
    jobs.wake_on_commit(PLAN_TASK)


def deliveries_plan_pending(*, pending_ids: Sequence[int] | None = None, budget_seconds: float = 10.0) -> int:
    """Plan pending sends: all of them, oldest first (what the woken task and the periodic sweep do), or only these.
    Returns how many plans ran. Safe to run twice or concurrently: each plan is claimed with SKIP LOCKED and deleted
    in the same transaction as the Delivery rows it creates."""
    started = time.monotonic()
    done = 0
    while True:
        ran = _plan_batch(pending_ids, limit=settings.DELIVERY_PLAN_BATCH)
        done += ran
        if pending_ids is not None or ran < settings.DELIVERY_PLAN_BATCH:
            return done
        if time.monotonic() - started > budget_seconds:
            jobs.enqueue(PLAN_TASK)  # the rest in a fresh task, far below the worker's time limit
            return done


def _plan_batch(pending_ids: Sequence[int] | None, *, limit: int) -> int:
    with transaction.atomic():
        claimed = DeliveryPlanPending.objects.select_for_update(skip_locked=True)
        if pending_ids is not None:
            claimed = claimed.filter(pk__in=list(pending_ids))
        plans = list(claimed.order_by("pk")[:limit])
        if not plans:
            return 0
        contents = Content.objects.select_related("category").in_bulk({p.content_id for p in plans})
        rows = _rows_to_plan(plans)
        created = _plan_isolated(rows, contents)
        DeliveryPlanPending.objects.filter(pk__in=[p.pk for p in plans]).delete()
    logger.debug("planned %d send(s): %d deliveries", len(plans), created)
    return len(plans)


def _rows_to_plan(plans: Sequence[DeliveryPlanPending]) -> list[Row]:
    """The unread, unarchived rows each plan covers: one query. A broadcast writes one content's rows in batches in
    ascending user id order, so a plan is exactly its content's rows within its recipient id range."""
    ranges: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p in plans:
        ranges[p.content_id].append((p.recipient_min, p.recipient_max))
    lowest = min(p.recipient_min for p in plans)
    highest = max(p.recipient_max for p in plans)
    candidates = Notification.objects.filter(
        content_id__in=list(ranges),
        recipient_id__gte=lowest,
        recipient_id__lte=highest,
        read_at__isnull=True,
        archived_at__isnull=True,
    ).values_list("pk", "recipient_id", "content_id")
    return [row for row in candidates if any(lo <= row[1] <= hi for lo, hi in ranges[row[2]])]


def _plan_isolated(rows: Sequence[Row], contents: dict[int, Content], bad_users: list[int] | None = None) -> int:
    """Plan all rows at once; if that fails (one user's bad data, whatever put it there), halve and retry, so a bad
    user is found in a few passes and skipped (logged by id, never content) while everyone else is planned. Past
    MAX_BAD_USERS the failure is not about users: it propagates and the plan stays pending for the next sweep."""
    bad_users = [] if bad_users is None else bad_users
    try:
        with transaction.atomic():
            return _plan(rows, contents)
    except Exception as exc:
        users = sorted({user_id for _pk, user_id, _content in rows})
        if len(users) > 1:
            half = set(users[: len(users) // 2])
            first = [r for r in rows if r[1] in half]
            second = [r for r in rows if r[1] not in half]
            return _plan_isolated(first, contents, bad_users) + _plan_isolated(second, contents, bad_users)
        bad_users.extend(users)
        if len(bad_users) > MAX_BAD_USERS:
            raise
        logger.error("delivery planning skipped user %s: %s", users[0] if users else "?", type(exc).__name__)
        return 0


@dataclass
class _Lookups:
    """What planning a batch needs of its recipients, each loaded in one query (per chunk of ids)."""

    emails: dict[int, str] = field(default_factory=dict)
    explicit: dict[tuple[int, int, str], bool] = field(default_factory=dict)
    settings_by_user: dict[int, UserSettings] = field(default_factory=dict)
    # delivery channel -> user id -> device primary keys
    devices_by_user: dict[str, dict[int, list[int]]] = field(default_factory=dict)

    def allowed(self, user_id: int, category: Category, channel: str) -> bool:
        explicit = self.explicit.get((user_id, category.pk, channel))
        return channel_enabled(category=category, channel=channel, explicit=explicit)


def _lookups(per_recipient: Sequence[Row], contents: dict[int, Content]) -> _Lookups:
    # The ids themselves, not a subquery on rows this transaction just wrote: PostgreSQL's statistics do not know
    # those rows yet and picked a plan that scanned every user (90 ms for 26 recipients).
    recipients = sorted({user_id for _pk, user_id, _content_id in per_recipient})
    category_ids = list({content.category_id for content in contents.values()})
    found = _Lookups()
    for chunk in _chunks(recipients):
        found.emails.update(get_user_model().objects.filter(pk__in=chunk).values_list("pk", "email"))
        found.explicit.update(preferences_explicit_bulk(user_ids=chunk, category_ids=category_ids))
        found.settings_by_user.update(user_settings_bulk(user_ids=chunk))
    wants_push = any(
        found.allowed(user_id, contents[content_id].category, ChannelKind.PUSH)
        for _pk, user_id, content_id in per_recipient
    )
    if not wants_push:
        return found
    registry = delivery_channels()
    for channel in PUSH:
        if registry[channel].is_configured():
            by_user: dict[int, list[int]] = defaultdict(list)
            for chunk in _chunks(recipients):
                for pk, user_id in devices(channel).filter(active=True, user_id__in=chunk).values_list("pk", "user_id"):
                    by_user[user_id].append(pk)
            found.devices_by_user[channel] = by_user
    return found


def _plan(per_recipient: Sequence[Row], contents: dict[int, Content]) -> int:
    """Create Delivery rows for the recipients' allowed external channels. Returns how many were created.

    A constant number of queries whatever the number of sends and recipients: emails, preferences, settings and
    devices load in one query each; all rows go in with one INSERT. Rows due now are handed to a worker after commit
    (one task message per call); the rest wait for the dispatcher's scan.
    """
    if not per_recipient:
        return 0
    now = timezone.now()
    found = _lookups(per_recipient, contents)
    rows: list[tuple[int, str, str, datetime, bool]] = []
    immediate: set[int] = set()
    # The plan depends on the settings, not the user: users who never changed a setting share one plan per
    # priority x category (computed once, not per recipient: a third of a 10,000-recipient send's CPU before).
    default_settings = UserSettings()
    default_plans: dict[tuple[str, int], Any] = {}
    for notification_id, user_id, content_id in per_recipient:
        content = contents[content_id]
        category = content.category
        user_settings = found.settings_by_user.get(user_id)
        if user_settings is None:
            key = (content.priority, category.pk)
            plan = default_plans.get(key)
            if plan is None:
                plan = default_plans[key] = delivery_plan(
                    now=now, priority=content.priority, category=category, user_settings=default_settings
                )
        else:
            plan = delivery_plan(now=now, priority=content.priority, category=category, user_settings=user_settings)
        if (
            plan.email_due is not None
            and found.emails.get(user_id)
            and found.allowed(user_id, category, ChannelKind.EMAIL)
        ):
            rows.append((notification_id, DeliveryChannel.EMAIL, "", plan.email_due, plan.email_digest))
            if plan.email_due <= now and not plan.email_digest:
                immediate.add(content_id)
        if plan.push_due is not None and found.allowed(user_id, category, ChannelKind.PUSH):
            for push_channel, by_user in found.devices_by_user.items():
                for device_pk in by_user.get(user_id, ()):
                    rows.append((notification_id, push_channel, str(device_pk), plan.push_due, False))
                    if plan.push_due <= now:
                        immediate.add(content_id)
    _deliveries_insert(rows, now)
    if immediate:
        jobs.enqueue_on_commit(DISPATCH_TASK, sorted(immediate))
    return len(rows)


def _chunks(ids: Sequence[int], size: int = 5000) -> list[Any]:
    """The recipient ids as few, parameter-light sets: one array parameter on PostgreSQL (binding an IN list of
    thousands of placeholders costs more client CPU than the query), bounded IN lists elsewhere (SQLite caps them)."""
    if connection.vendor == "postgresql":
        return [RawSQL("SELECT unnest(%s::bigint[])", (list(ids),))]
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _deliveries_insert(rows: Sequence[tuple[int, str, str, datetime, bool]], now: datetime) -> None:
    """One statement whatever the number of rows (bulk_create splits into ~80-row batches on SQLite)."""
    if not rows:
        return
    table = Delivery._meta.db_table
    columns = (
        "notification_id, channel, target, due_at, digest, status, attempts, last_error, skip_reason, "
        "created_at, updated_at"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT n, c, t, d, g, %s, 0, '', '', %s, %s "
                "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::boolean[]) "
                "AS x(n, c, t, d, g) ON CONFLICT DO NOTHING",
                [
                    DeliveryStatus.PENDING,
                    now,
                    now,
                    [r[0] for r in rows],
                    [r[1] for r in rows],
                    [r[2] for r in rows],
                    [r[3] for r in rows],
                    [r[4] for r in rows],
                ],
            )
        else:
            adapt = connection.ops.adapt_datetimefield_value
            created: Any = adapt(now)
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, 0, '', '', %s, %s) "
                "ON CONFLICT DO NOTHING",
                [(n, c, t, adapt(d), g, DeliveryStatus.PENDING, created, created) for n, c, t, d, g in rows],
            )


def deliveries_cancel(*, notification_ids: Sequence[int], reason: SkipReason) -> int:
    """Pending or retrying deliveries of these notifications become skipped(reason)."""
    if not notification_ids:
        return 0
    return Delivery.objects.filter(
        notification_id__in=notification_ids, status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    ).update(status=DeliveryStatus.SKIPPED, skip_reason=reason, updated_at=timezone.now())


def deliveries_cancel_of_contents(*, content_ids: Sequence[int], reason: SkipReason) -> int:
    """Pending or retrying deliveries of every row of these sends become skipped(reason): one statement, whatever
    the audience (a retraction). Their outbox rows go first: a planner holding one is waited for, so the deliveries
    it creates are among those skipped."""
    if not content_ids:
        return 0
    DeliveryPlanPending.objects.filter(content_id__in=content_ids).delete()
    return Delivery.objects.filter(
        notification__content_id__in=content_ids, status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    ).update(status=DeliveryStatus.SKIPPED, skip_reason=reason, updated_at=timezone.now())


def deliveries_defer(*, notification_ids: Sequence[int], until: datetime) -> int:
    """Pending or retrying deliveries of these (snoozed) notifications wait until `until` at least: nothing is
    emailed or pushed about a notification while it sleeps. The dispatcher's re-check defers any that slip through."""
    if not notification_ids:
        return 0
    return Delivery.objects.filter(
        notification_id__in=notification_ids,
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED],
        due_at__lt=until,
    ).update(due_at=until, leased_until=None, updated_at=timezone.now())
