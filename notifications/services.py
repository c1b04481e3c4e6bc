"""Every write of the notification app. Keyword-only; each public service is one transaction.

The send path lives in its own modules of this layer (sending: notify and bulk; broadcasts: audiences; inserts:
the rows themselves) and is re-exported here, so `from notifications.services import notify` is the one import
every producer uses. This module keeps read state and housekeeping.
"""

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
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
from .delivery.planner import deliveries_cancel, deliveries_defer
from .delivery.webhook_events import webhook_state_events_record
from .inserts import BATCH_SIZE, rows_wake
from .models import Content, IdempotencyRecord, Notification, SkipReason, WebhookEventType
from .retraction import (
    UPDATE_FIELDS,
    Retraction,
    SendRetracted,
    UpdateFields,
    contents_retract,
    notification_retract,
    notification_update,
    notifications_retract_group,
    send_lookup,
)
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
    "UPDATE_FIELDS",
    "BulkValidationError",
    "IdempotencyConflict",
    "Recipients",
    "Retraction",
    "SendFields",
    "SendResult",
    "SendRetracted",
    "UpdateFields",
    "audience_users",
    "contents_retract",
    "idempotency_records_purge",
    "notification_archive",
    "notification_broadcast",
    "notification_broadcast_batch",
    "notification_mark_all_read",
    "notification_mark_read",
    "notification_mark_seen",
    "notification_mark_unread",
    "notification_retract",
    "notification_save",
    "notification_send_bulk",
    "notification_snooze",
    "notification_update",
    "notification_update_state",
    "notification_wake",
    "notifications_retract_group",
    "notifications_wake_due",
    "notify",
    "recipients_resolve",
    "send_lookup",
    "snooze_preset_until",
    "snooze_until_check",
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

    Returns the ids whose state changed. Reading cancels pending email/push. A read or an archive records webhook
    events for the producers' endpoints (one insert, in this transaction; posted by a worker). Every open socket of
    the user gets notification_updated (with the keys that were asked for) and unread_count after commit.
    """
    uuids = _uuids(ids)
    if not uuids or (read is None and archived is None and saved is None):
        return []
    now = timezone.now()
    with transaction.atomic():
        # A retracted send's rows are out of reach (never un-archived back into an inbox). `of`: lock the user's
        # rows only, never the shared content row.
        base = Notification.objects.select_for_update(of=("self",)).filter(
            recipient=user, uuid__in=uuids, content__retracted_at__isnull=True
        )
        changed: dict[int, UUID] = {}
        if read is not None:
            qs = base.filter(read_at__isnull=read)
            rows = dict(qs.values_list("pk", "uuid"))
            Notification.objects.filter(pk__in=rows).update(read_at=now if read else None)
            changed.update(rows)
            if read:
                deliveries_cancel(notification_ids=list(rows), reason=SkipReason.READ)
                webhook_state_events_record(notification_ids=list(rows), event=WebhookEventType.READ, now=now)
        if archived is not None:
            qs = base.filter(archived_at__isnull=archived)
            rows = dict(qs.values_list("pk", "uuid"))
            Notification.objects.filter(pk__in=rows).update(archived_at=now if archived else None)
            changed.update(rows)
            if archived:
                webhook_state_events_record(notification_ids=list(rows), event=WebhookEventType.ARCHIVED, now=now)
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
        # Snoozed rows are not in the inbox the user sees: they stay as they are and come back unread anyway.
        qs = Notification.objects.select_for_update(of=("self",)).filter(
            recipient=user, read_at__isnull=True, snoozed_until__isnull=True, content__retracted_at__isnull=True
        )
        if up_to_seq is not None:
            qs = qs.filter(seq__lte=up_to_seq)
        if category:
            qs = qs.filter(category__slug=category)
        rows = dict(qs.values_list("pk", "uuid"))
        if not rows:
            return 0
        Notification.objects.filter(pk__in=rows).update(read_at=now)
        deliveries_cancel(notification_ids=list(rows), reason=SkipReason.READ)
        webhook_state_events_record(notification_ids=list(rows), event=WebhookEventType.READ, now=now)
        realtime.state_publish_on_commit(
            user_id=user.pk,
            ids=list(rows.values()),
            unread_count=selectors.notification_unread_count(user=user),
            read=True,
        )
    return len(rows)


# --- Snooze -------------------------------------------------------------------------------------------------------

SNOOZE_MAX = timedelta(days=365)
SNOOZE_MORNING = time(8, 0)
SNOOZE_PRESETS = ("1h", "3h", "tomorrow", "next_week")
# Rows woken per statement, and statements per sweep run (the next run, seconds later, continues).
WAKE_BATCH = 1000
WAKE_BATCHES_PER_RUN = 20


def snooze_until_check(until: datetime, *, now: datetime | None = None) -> None:
    """A snooze must end in the future, at most SNOOZE_MAX ahead; ValidationError otherwise (every path: REST, the
    center, the Python API)."""
    now = now or timezone.now()
    if timezone.is_naive(until):
        raise ValidationError({"snoozed_until": ["Give a time zone (an offset) with the time."]})
    if until <= now:
        raise ValidationError({"snoozed_until": ["Snooze until a time in the future."]})
    if until > now + SNOOZE_MAX:
        raise ValidationError({"snoozed_until": ["Snooze for at most a year."]})


def snooze_preset_until(*, choice: str, now: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """The end of a snooze preset in the user's time zone: 1h, 3h, tomorrow (08:00 tomorrow), next_week (08:00 next
    Monday, a week ahead on a Monday). ValueError for anything else."""
    local = now.astimezone(zone)
    if choice == "1h":
        return now + timedelta(hours=1)
    if choice == "3h":
        return now + timedelta(hours=3)
    if choice == "tomorrow":
        day = local.date() + timedelta(days=1)
    elif choice == "next_week":
        day = local.date() + timedelta(days=7 - local.weekday())
    else:
        raise ValueError(choice)
    return datetime.combine(day, SNOOZE_MORNING, tzinfo=zone)


def notification_snooze(*, user: AbstractBaseUser, ids: Iterable[UUID | str], until: datetime | None) -> list[UUID]:
    """Snooze the user's own notifications until `until` (ids of others are ignored, never revealed), or with None
    bring snoozed ones back now (notification_wake). Returns the ids that changed.

    A snoozed notification leaves the inbox and the unread count at once (every socket gets notification_updated
    with `snoozed_until`, then unread_count), and its pending email/push wait until it wakes. The wake sweep
    (notifications_wake_due) brings it back at that time as unread, at the top.
    """
    uuids = _uuids(ids)
    if not uuids:
        return []
    if until is None:
        return notification_wake(user=user, ids=uuids)
    snooze_until_check(until)
    with transaction.atomic():
        qs = Notification.objects.select_for_update(of=("self",)).filter(
            recipient=user, uuid__in=uuids, content__retracted_at__isnull=True
        )
        rows = dict(qs.exclude(snoozed_until=until).values_list("pk", "uuid"))
        if not rows:
            return []
        Notification.objects.filter(pk__in=rows).update(snoozed_until=until)
        deliveries_defer(notification_ids=list(rows), until=until)
        realtime.state_publish_on_commit(
            user_id=user.pk,
            ids=list(rows.values()),
            unread_count=selectors.notification_unread_count(user=user),
            extra={"snoozed_until": until.isoformat()},
        )
    return list(rows.values())


def notification_wake(*, user: AbstractBaseUser, ids: Iterable[UUID | str]) -> list[UUID]:
    """Un-snooze now: the user's snoozed notifications among ids come back exactly as at their wake time."""
    uuids = _uuids(ids)
    if not uuids:
        return []
    with transaction.atomic():
        woken = _woken_publish(rows_wake(now=None, limit=len(uuids), user_id=user.pk, uuids=uuids))
    return [n.uuid for n in woken]


def notifications_wake_due(*, now: datetime | None = None, batch_size: int = WAKE_BATCH) -> int:
    """The wake sweep (beat, or the embedded scheduler, every SNOOZE_WAKE_INTERVAL): every notification snoozed until
    `now` or earlier comes back, in batches, each one statement and its own transaction.

    A woken notification gets a new seq of its user (as a send allocates them), is unread, unseen and unarchived, and
    goes out after commit as a live `notification` frame: open sockets show it at the top with a toast and count it
    (they count every new seq as unread); a client offline then gets it by resume, since its seq is newer than
    anything it has. Its deferred email/push are due then and go out unless it is read first.
    Returns how many woke."""
    now = now or timezone.now()
    total = 0
    for _ in range(WAKE_BATCHES_PER_RUN):
        with transaction.atomic():
            woken = _woken_publish(rows_wake(now=now, limit=batch_size))
        total += len(woken)
        if len(woken) < batch_size:
            break
    return total


def _woken_publish(pks: list[int]) -> list[Notification]:
    """One query for the woken rows and their contents; their frames go out after commit, one publish per batch."""
    if not pks:
        return []
    rows = list(Notification.objects.filter(pk__in=pks).select_related("content", "category").order_by("seq"))
    by_content: dict[int, list[Notification]] = defaultdict(list)
    contents: dict[int, Content] = {}
    for row in rows:
        by_content[row.content_id].append(row)
        contents[row.content_id] = row.content
        row.content.category = row.category  # the payload reads content.category: no query per content
    realtime.notifications_publish_on_commit([(contents[pk], by_content[pk]) for pk in by_content])
    return rows


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
