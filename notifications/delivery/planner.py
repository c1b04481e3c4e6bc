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
from django.utils import timezone

from preferences.models import UserSettings
from preferences.selectors import channel_enabled, preferences_explicit_bulk, user_settings_bulk

from ..models import Category, ChannelKind, Content, Delivery, DeliveryChannel, DeliveryStatus, Notification
from .policy import delivery_plan
from .registry import PUSH, delivery_channels, devices

logger = logging.getLogger(__name__)


def deliveries_plan(*, content: Content, category: Category, notifications: Sequence[Notification]) -> int:
    """Create Delivery rows for the recipients' allowed external channels. Returns how many were created.

    A constant number of queries whatever the recipient count: the recipients are a subquery on this content's rows,
    preferences, settings and devices load in one query each, and all rows go in with one INSERT. Rows due now are
    handed to a worker after commit (one task message per send); the rest wait for the dispatcher's scan.
    """
    if not notifications:
        return 0
    now = timezone.now()
    # Only this call's rows: an audience broadcast writes one content's rows in several batches, in ascending user
    # id order, so this batch is exactly the content's rows within its recipient id range.
    recipient_ids = [n.recipient_id for n in notifications]
    batch = Notification.objects.filter(
        content=content, recipient_id__gte=min(recipient_ids), recipient_id__lte=max(recipient_ids)
    )
    recipients = batch.values("recipient_id")
    per_recipient = list(batch.values_list("pk", "recipient_id"))
    emails = dict(get_user_model().objects.filter(pk__in=recipients).values_list("pk", "email"))
    explicit = preferences_explicit_bulk(user_ids=recipients, category_ids=[category.pk])
    settings_by_user = user_settings_bulk(user_ids=recipients)

    def allowed(user_id: int, channel: str) -> bool:
        return channel_enabled(
            category=category, channel=channel, explicit=explicit.get((user_id, category.pk, channel))
        )

    registry = delivery_channels()
    devices_by_user: dict[str, dict[int, list[int]]] = {}
    if any(allowed(user_id, ChannelKind.PUSH) for user_id in emails):
        for channel in PUSH:
            if registry[channel].is_configured():
                found: dict[int, list[int]] = defaultdict(list)
                for pk, user_id in (
                    devices(channel).filter(active=True, user_id__in=recipients).values_list("pk", "user_id")
                ):
                    found[user_id].append(pk)
                devices_by_user[channel] = found

    rows: list[tuple[int, str, str, datetime, bool]] = []
    immediate = False
    for notification_id, user_id in per_recipient:
        user_settings = settings_by_user.get(user_id) or UserSettings(user_id=user_id)
        plan = delivery_plan(now=now, priority=content.priority, category=category, user_settings=user_settings)
        if plan.email_due is not None and emails.get(user_id) and allowed(user_id, ChannelKind.EMAIL):
            rows.append((notification_id, DeliveryChannel.EMAIL, "", plan.email_due, plan.email_digest))
            immediate = immediate or (plan.email_due <= now and not plan.email_digest)
        if plan.push_due is not None and allowed(user_id, ChannelKind.PUSH):
            for push_channel, by_user in devices_by_user.items():
                for device_pk in by_user.get(user_id, ()):
                    rows.append((notification_id, push_channel, str(device_pk), plan.push_due, False))
                    immediate = immediate or plan.push_due <= now
    _deliveries_insert(rows, now)
    if immediate:
        content_id = content.pk
        transaction.on_commit(lambda: deliveries_enqueue_content(content_id))
    return len(rows)


def deliveries_enqueue_content(content_id: int) -> None:
    """After commit: one task message per send. If the broker is down, the dispatcher's scan sends them later."""
    from .. import tasks

    try:
        tasks.deliveries_dispatch_content.delay(content_id)
    except Exception as exc:  # never fail the request that sent the notification: the rows are safe in the database
        logger.warning("could not enqueue deliveries of content %s (%s); the scan will pick them up", content_id, exc)


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
                f"INSERT INTO {table} ({columns}) SELECT n, c, t, d, g, %s, 0, '', '', %s, %s "  # noqa: S608
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
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, 0, '', '', %s, %s)",  # noqa: S608
                [(n, c, t, adapt(d), g, DeliveryStatus.PENDING, created, created) for n, c, t, d, g in rows],
            )


def deliveries_cancel(*, notification_ids: Sequence[int], reason: str) -> int:
    """Pending or retrying deliveries of these notifications become skipped(reason)."""
    if not notification_ids:
        return 0
    return Delivery.objects.filter(
        notification_id__in=notification_ids, status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    ).update(status=DeliveryStatus.SKIPPED, skip_reason=reason, updated_at=timezone.now())
