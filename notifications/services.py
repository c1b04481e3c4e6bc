"""Every write of the notification app. Keyword-only; each public service is one transaction.

The send path lives in its own modules of this layer (sending: notify and bulk; broadcasts: audiences; inserts:
the rows themselves) and is re-exported here, so `from notifications.services import notify` is the one import
every producer uses. This module keeps read state and housekeeping.
"""

from collections.abc import Iterable
from datetime import timedelta
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from . import realtime, selectors
from .broadcasts import (
    AUDIENCE_ALL,
    AUDIENCE_GROUP_PREFIX,
    BROADCAST_TASK,
    audience_users,
    notification_broadcast,
    notification_broadcast_batch,
)
from .delivery.planner import deliveries_cancel
from .inserts import BATCH_SIZE
from .models import IdempotencyRecord, Notification, SkipReason
from .sending import (
    BulkValidationError,
    IdempotencyConflict,
    Recipients,
    SendResult,
    notification_send_bulk,
    notify,
    recipients_resolve,
    usernames_resolve,
)
from .validation import SEND_FIELDS, SendFields

__all__ = [
    "AUDIENCE_ALL",
    "AUDIENCE_GROUP_PREFIX",
    "BATCH_SIZE",
    "BROADCAST_TASK",
    "SEND_FIELDS",
    "BulkValidationError",
    "IdempotencyConflict",
    "Recipients",
    "SendFields",
    "SendResult",
    "audience_users",
    "idempotency_records_purge",
    "notification_archive",
    "notification_broadcast",
    "notification_broadcast_batch",
    "notification_mark_all_read",
    "notification_mark_read",
    "notification_mark_seen",
    "notification_mark_unread",
    "notification_save",
    "notification_send_bulk",
    "notification_update_state",
    "notify",
    "recipients_resolve",
    "usernames_resolve",
]

# --- Read state -------------------------------------------------------------------------------------------------


def notification_update_state(
    *,
    user: AbstractBaseUser,
    ids: Iterable[UUID | str],
    read: bool | None = None,
    archived: bool | None = None,
    saved: bool | None = None,
) -> list[UUID]:
    """Set read, archived and/or saved (starred) on the user's own notifications; ids of other users are ignored,
    never revealed.

    Returns the ids whose state changed. Reading cancels pending email/push. Every open socket of the user gets
    notification_updated (with the keys that were asked for) and unread_count after commit.
    """
    uuids = _uuids(ids)
    if not uuids or (read is None and archived is None and saved is None):
        return []
    now = timezone.now()
    with transaction.atomic():
        base = Notification.objects.select_for_update().filter(recipient=user, uuid__in=uuids)
        changed: dict[int, UUID] = {}
        if read is not None:
            qs = base.filter(read_at__isnull=read)
            rows = dict(qs.values_list("pk", "uuid"))
            Notification.objects.filter(pk__in=rows).update(read_at=now if read else None)
            changed.update(rows)
            if read:
                deliveries_cancel(notification_ids=list(rows), reason=SkipReason.READ)
        if archived is not None:
            qs = base.filter(archived_at__isnull=archived)
            rows = dict(qs.values_list("pk", "uuid"))
            Notification.objects.filter(pk__in=rows).update(archived_at=now if archived else None)
            changed.update(rows)
        if saved is not None:
            qs = base.filter(saved_at__isnull=saved)
            rows = dict(qs.values_list("pk", "uuid"))
            Notification.objects.filter(pk__in=rows).update(saved_at=now if saved else None)
            changed.update(rows)
        if changed:
            realtime.state_publish_on_commit(
                user_id=user.pk,
                ids=list(changed.values()),
                unread_count=selectors.notification_unread_count(user=user),
                read=read,
                archived=archived,
                extra=None if saved is None else {"saved": saved},
            )
    return list(changed.values())


def notification_mark_read(*, user: AbstractBaseUser, ids: Iterable[UUID | str]) -> list[UUID]:
    return notification_update_state(user=user, ids=ids, read=True)


def notification_mark_unread(*, user: AbstractBaseUser, ids: Iterable[UUID | str]) -> list[UUID]:
    return notification_update_state(user=user, ids=ids, read=False)


def notification_save(*, user: AbstractBaseUser, ids: Iterable[UUID | str], saved: bool = True) -> list[UUID]:
    """Star (or unstar) the user's own notifications: the Saved view keeps them whatever their read/archive state."""
    return notification_update_state(user=user, ids=ids, saved=saved)


def notification_archive(*, user: AbstractBaseUser, ids: Iterable[UUID | str], archived: bool = True) -> list[UUID]:
    return notification_update_state(user=user, ids=ids, archived=archived)


def notification_mark_all_read(
    *, user: AbstractBaseUser, up_to_seq: int | None = None, category: str | None = None
) -> int:
    """Mark every unread notification of the user read, optionally only up to a seq and in one category."""
    now = timezone.now()
    with transaction.atomic():
        qs = Notification.objects.select_for_update().filter(recipient=user, read_at__isnull=True)
        if up_to_seq is not None:
            qs = qs.filter(seq__lte=up_to_seq)
        if category:
            qs = qs.filter(category__slug=category)
        rows = dict(qs.values_list("pk", "uuid"))
        if not rows:
            return 0
        Notification.objects.filter(pk__in=rows).update(read_at=now)
        deliveries_cancel(notification_ids=list(rows), reason=SkipReason.READ)
        realtime.state_publish_on_commit(
            user_id=user.pk,
            ids=list(rows.values()),
            unread_count=selectors.notification_unread_count(user=user),
            read=True,
        )
    return len(rows)


IDEMPOTENCY_RETENTION = timedelta(hours=24)


def idempotency_records_purge(*, older_than: timedelta = IDEMPOTENCY_RETENTION, batch_size: int = 5000) -> int:
    """Delete API idempotency records older than the retention (never less than 24 h), in batches."""
    cutoff = timezone.now() - max(older_than, IDEMPOTENCY_RETENTION)
    total = 0
    while True:
        pks = list(
            IdempotencyRecord.objects.filter(created_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not pks:
            return total
        total += IdempotencyRecord.objects.filter(pk__in=pks).delete()[0]


def notification_mark_seen(*, user: AbstractBaseUser, up_to_seq: int) -> int:
    """The user has seen the list up to this seq (the badge was opened). Does not change read state."""
    return Notification.objects.filter(recipient=user, seen_at__isnull=True, seq__lte=up_to_seq).update(
        seen_at=timezone.now()
    )


def _uuids(ids: Iterable[UUID | str]) -> list[UUID]:
    """Valid UUIDs among ids; anything else cannot be the user's notification and is ignored."""
    result = []
    for value in ids:
        if isinstance(value, UUID):
            result.append(value)
            continue
        try:
            result.append(UUID(str(value)))
        except (ValueError, TypeError, AttributeError):
            continue
    return result
