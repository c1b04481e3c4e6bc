"""The seam between a send and its external deliveries.

`deliveries_plan` runs inside the send's transaction and creates the Delivery rows the delivery policy allows;
`deliveries_cancel` runs when notifications are read, so nothing is sent about what the user already saw.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from preferences.models import UserSettings
from preferences.selectors import channel_enabled, preferences_explicit_bulk, user_settings_bulk

from ..models import Category, ChannelKind, Content, Delivery, DeliveryChannel, DeliveryStatus, Notification
from .policy import delivery_plan
from .registry import PUSH, delivery_channels, devices

logger = logging.getLogger(__name__)


def deliveries_plan(*, sends: Sequence[tuple[Content, Sequence[Notification]]]) -> int:
    """Create Delivery rows for the recipients' allowed external channels. Returns how many were created.

    One pass for every send of a call (a bulk send plans all its items together): a constant number of queries
    whatever the number of sends and recipients. Recipients are read back from the rows just written; preferences,
    settings and devices load in one query each; all rows go in with one INSERT. Rows due now are handed to a worker
    after commit (one task message per call); the rest wait for the dispatcher's scan.
    """
    sends = [(content, rows) for content, rows in sends if rows]
    if not sends:
        return 0
    now = timezone.now()
    contents = {content.pk: content for content, _rows in sends}
    if len(sends) == 1:
        # Only this call's rows: an audience broadcast writes one content's rows in several batches, in ascending
        # user id order, so this batch is exactly the content's rows within its recipient id range.
        content, notifications = sends[0]
        recipient_ids = [n.recipient_id for n in notifications]
        batch = Notification.objects.filter(
            content=content, recipient_id__gte=min(recipient_ids), recipient_id__lte=max(recipient_ids)
        )
    else:
        batch = Notification.objects.filter(content_id__in=list(contents))
    per_recipient = list(batch.values_list("pk", "recipient_id", "content_id"))
    # The ids themselves, not a subquery on rows this transaction just wrote: PostgreSQL's statistics do not know
    # those rows yet and picked a plan that scanned every user (90 ms for 26 recipients).
    recipients = sorted({user_id for _pk, user_id, _content_id in per_recipient})
    category_ids = list({content.category_id for content in contents.values()})
    emails: dict[int, str] = {}
    explicit: dict[tuple[int, int, str], bool] = {}
    settings_by_user: dict[int, UserSettings] = {}
    for chunk in _chunks(recipients):
        emails.update(get_user_model().objects.filter(pk__in=chunk).values_list("pk", "email"))
        explicit.update(preferences_explicit_bulk(user_ids=chunk, category_ids=category_ids))
        settings_by_user.update(user_settings_bulk(user_ids=chunk))

    def allowed(user_id: int, category: Category, channel: str) -> bool:
        return channel_enabled(
            category=category, channel=channel, explicit=explicit.get((user_id, category.pk, channel))
        )

    registry = delivery_channels()
    devices_by_user: dict[str, dict[int, list[int]]] = {}
    wants_push = any(
        allowed(user_id, contents[content_id].category, ChannelKind.PUSH) for _pk, user_id, content_id in per_recipient
    )
    if wants_push:
        for channel in PUSH:
            if registry[channel].is_configured():
                found: dict[int, list[int]] = defaultdict(list)
                for chunk in _chunks(recipients):
                    for pk, user_id in (
                        devices(channel).filter(active=True, user_id__in=chunk).values_list("pk", "user_id")
                    ):
                        found[user_id].append(pk)
                devices_by_user[channel] = found

    rows: list[tuple[int, str, str, datetime, bool]] = []
    immediate: set[int] = set()
    # The plan depends on the settings, not the user: users who never changed a setting share one plan per
    # priority x category (computed once, not per recipient: a third of a 10,000-recipient send's CPU before).
    default_settings = UserSettings()
    default_plans: dict[tuple[str, int], Any] = {}
    for notification_id, user_id, content_id in per_recipient:
        content = contents[content_id]
        category = content.category
        user_settings = settings_by_user.get(user_id)
        if user_settings is None:
            key = (content.priority, category.pk)
            plan = default_plans.get(key)
            if plan is None:
                plan = default_plans[key] = delivery_plan(
                    now=now, priority=content.priority, category=category, user_settings=default_settings
                )
        else:
            plan = delivery_plan(now=now, priority=content.priority, category=category, user_settings=user_settings)
        if plan.email_due is not None and emails.get(user_id) and allowed(user_id, category, ChannelKind.EMAIL):
            rows.append((notification_id, DeliveryChannel.EMAIL, "", plan.email_due, plan.email_digest))
            if plan.email_due <= now and not plan.email_digest:
                immediate.add(content_id)
        if plan.push_due is not None and allowed(user_id, category, ChannelKind.PUSH):
            for push_channel, by_user in devices_by_user.items():
                for device_pk in by_user.get(user_id, ()):
                    rows.append((notification_id, push_channel, str(device_pk), plan.push_due, False))
                    if plan.push_due <= now:
                        immediate.add(content_id)
    _deliveries_insert(rows, now)
    if immediate:
        content_ids = sorted(immediate)
        transaction.on_commit(lambda: deliveries_enqueue_contents(content_ids))
    return len(rows)


def _chunks(ids: Sequence[int], size: int = 5000) -> list[Any]:
    """The recipient ids as few, parameter-light sets: one array parameter on PostgreSQL (binding an IN list of
    thousands of placeholders costs more client CPU than the query), bounded IN lists elsewhere (SQLite caps them)."""
    if connection.vendor == "postgresql":
        return [RawSQL("SELECT unnest(%s::bigint[])", (list(ids),))]
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def deliveries_enqueue_contents(content_ids: list[int]) -> None:
    """After commit: one task message per call. If the broker is down, the dispatcher's scan sends them later."""
    from .. import tasks

    try:
        tasks.deliveries_dispatch_content.delay(content_ids)
    except Exception as exc:  # never fail the request that sent the notification: the rows are safe in the database
        logger.warning(
            "could not enqueue deliveries of %d send(s) (%s); the scan will pick them up", len(content_ids), exc
        )


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
                "AS x(n, c, t, d, g)",
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
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, 0, '', '', %s, %s)",
                [(n, c, t, adapt(d), g, DeliveryStatus.PENDING, created, created) for n, c, t, d, g in rows],
            )


def deliveries_cancel(*, notification_ids: Sequence[int], reason: str) -> int:
    """Pending or retrying deliveries of these notifications become skipped(reason)."""
    if not notification_ids:
        return 0
    return Delivery.objects.filter(
        notification_id__in=notification_ids, status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    ).update(status=DeliveryStatus.SKIPPED, skip_reason=reason, updated_at=timezone.now())
