"""Retention: notifications older than NOTIFICATIONS_RETENTION_DAYS (never below 30) go.

On a partitioned PostgreSQL table whole partitions older than the cutoff are dropped first (partitions.py); the
batched purge then deletes the rest (the boundary partition's older rows, DEFAULT), so "older than the cutoff is
gone" stays exact. Elsewhere the batched purge does it all."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import Content, Delivery, Notification, WebhookDelivery, WebhookEventPending
from . import partitions

logger = logging.getLogger(__name__)


def notifications_purge(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete old notifications with their deliveries and pending webhook events, then contents nobody references
    any more, then webhook batches as old.

    Whole partitions first where the table is partitioned (PostgreSQL). Small transactions (one batch each) keep
    locks short on a busy table; the created_at index drives the walk.
    Returns how many notifications were deleted.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=max(30, settings.NOTIFICATIONS_RETENTION_DAYS))
    total = partitions.partitions_drop(cutoff=cutoff)
    while True:
        with transaction.atomic():
            ids = list(
                Notification.objects.filter(created_at__lt=cutoff)
                .order_by("created_at")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            Delivery.objects.filter(notification_id__in=ids)._raw_delete(Delivery.objects.db)
            WebhookEventPending.objects.filter(notification_id__in=ids)._raw_delete(WebhookEventPending.objects.db)
            Notification.objects.filter(pk__in=ids)._raw_delete(Notification.objects.db)
        total += len(ids)
    while True:
        with transaction.atomic():
            orphans = list(
                Content.objects.filter(created_at__lt=cutoff, notifications__isnull=True).values_list("pk", flat=True)[
                    :batch_size
                ]
            )
            if not orphans:
                break
            Content.objects.filter(pk__in=orphans)._raw_delete(Content.objects.db)
    while True:  # webhook batches (their bodies hold content) go with the history they describe
        with transaction.atomic():
            batches = list(
                WebhookDelivery.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch_size]
            )
            if not batches:
                break
            WebhookDelivery.objects.filter(pk__in=batches)._raw_delete(WebhookDelivery.objects.db)
    if total:
        logger.info("retention: %d notifications older than %s purged", total, cutoff.date())
    return total
