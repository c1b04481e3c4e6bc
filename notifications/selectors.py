"""Every read of the notification app. Each selector owns its query shape, matched by an index in models.py."""

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, models
from django.db.models import Count, Q, QuerySet
from django.db.models.expressions import RawSQL
from push_notifications.models import APNSDevice, GCMDevice, WebPushDevice

from .models import Category, Content, Delivery, DeliveryChannel, DeliveryStatus, Notification, UserSeq


class Status(models.TextChoices):
    """Which of the user's notifications a list shows."""

    UNREAD = "unread", "Unread"
    READ = "read", "Read"
    ARCHIVED = "archived", "Archived"
    ALL = "all", "All"
    SAVED = "saved", "Saved"  # starred, whatever the read or archive state
    SNOOZED = "snoozed", "Snoozed"  # waiting to come back (out of every other view but all and saved)
    INBOX = "inbox", "All but archived"  # the default when no status is asked for; not a filter clients send


# The `status` values a client may ask for (REST `status=`, the center's ?status=).
STATUS_FILTERS = (Status.UNREAD, Status.READ, Status.ARCHIVED, Status.ALL, Status.SAVED, Status.SNOOZED)

# What "unread" means everywhere (counts, badge, lists): exactly the condition of the partial index
# notification_unread_idx, so that PostgreSQL can use it.
UNREAD = {"read_at__isnull": True, "archived_at__isnull": True, "snoozed_until__isnull": True}


def _base(user: AbstractBaseUser) -> QuerySet[Notification]:
    # Retracted sends are gone for their recipients: lists, detail, replay. The rows joined content anyway (the
    # payload); counts need no join, since a retraction also archives the rows (retraction.py).
    return Notification.objects.filter(recipient=user, content__retracted_at__isnull=True).select_related(
        "content", "content__actor", "category"
    )


def notification_list(
    *,
    user: AbstractBaseUser,
    status: str = Status.INBOX,
    categories: Sequence[str] = (),
    priorities: Sequence[str] = (),
    since: datetime | None = None,
    before: datetime | None = None,
    after_seq: int | None = None,
    search: str = "",
) -> QuerySet[Notification]:
    """The user's notifications, newest first (by seq); with after_seq oldest first, for replay."""
    qs = _search(_base(user), search)
    if status == Status.UNREAD:
        qs = qs.filter(**UNREAD)
    elif status == Status.READ:
        qs = qs.filter(read_at__isnull=False, archived_at__isnull=True, snoozed_until__isnull=True)
    elif status == Status.ARCHIVED:
        qs = qs.filter(archived_at__isnull=False, snoozed_until__isnull=True)
    elif status == Status.SAVED:
        qs = qs.filter(saved_at__isnull=False)  # the partial index notification_saved_idx
    elif status == Status.SNOOZED:
        qs = qs.filter(snoozed_until__isnull=False)  # the partial index notification_snoozed_idx
    elif status != Status.ALL:
        qs = qs.filter(archived_at__isnull=True, snoozed_until__isnull=True)
    if categories:
        qs = qs.filter(category__slug__in=list(categories))
    if priorities:
        qs = qs.filter(content__priority__in=list(priorities))
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if before is not None:
        qs = qs.filter(created_at__lt=before)
    if after_seq is not None:
        return qs.filter(seq__gt=after_seq).order_by("seq")
    return qs.order_by("-seq")


SEARCH_WORDS_MAX = 8


def _search(qs: QuerySet[Notification], text: str) -> QuerySet[Notification]:
    """Every word (a prefix) in title or body. PostgreSQL: full text on the GIN index of migration 0008."""
    words = re.findall(r"\w+", text)[:SEARCH_WORDS_MAX]
    if not words:
        return qs
    if connection.vendor == "postgresql":
        # The expression must stay identical to the index's, or PostgreSQL cannot use it.
        matching = RawSQL(
            "SELECT id FROM notifications_content"
            " WHERE to_tsvector('simple'::regconfig, (title || ' ' || body)) @@ to_tsquery('simple'::regconfig, %s)",
            [" & ".join(f"{word}:*" for word in words)],
        )
        return qs.filter(content_id__in=matching)
    for word in words:
        qs = qs.filter(Q(content__title__icontains=word) | Q(content__body__icontains=word))
    return qs


def notification_get(*, user: AbstractBaseUser, id: UUID | str) -> Notification:
    """One of the user's own notifications; another user's id raises DoesNotExist exactly like a missing one."""
    return _base(user).get(uuid=id)


def notification_unread_count(*, user: AbstractBaseUser) -> int:
    return Notification.objects.filter(recipient=user, **UNREAD).count()


def notification_unseen_count(*, user: AbstractBaseUser) -> int:
    """Unread and not yet seen (the bell was not opened since they came): what the badge shows as new.

    Served by the same partial index as the unread count (recipient, where read_at is null)."""
    return Notification.objects.filter(recipient=user, **UNREAD, seen_at__isnull=True).count()


def notification_unread_by_category(*, user: AbstractBaseUser) -> dict[str, int]:
    rows = (
        Notification.objects.filter(recipient=user, **UNREAD)
        .values("category_id")
        .annotate(n=Count("*"))  # COUNT(*), not COUNT(id): an index-only scan of the partial unread index
        .values_list("category_id", "n")
    )
    counts = dict(rows)
    if not counts:
        return {}
    slugs = dict(Category.objects.filter(pk__in=counts).values_list("pk", "slug"))
    return {slugs[pk]: n for pk, n in counts.items()}


def notification_unread_counts_of_contents(*, content_ids: Sequence[int]) -> dict[int, int]:
    """user id -> unread count, for every recipient of these sends that has unread rows (missing: 0). One query
    whatever the audience: the recipients as a semi-join, each counted on the partial unread index."""
    recipients = Notification.objects.filter(content_id__in=list(content_ids)).values("recipient_id")
    rows = (
        Notification.objects.filter(recipient_id__in=recipients, **UNREAD)
        .values("recipient_id")
        .annotate(n=Count("*"))
        .values_list("recipient_id", "n")
    )
    return dict(rows)


def notification_replay(*, user: AbstractBaseUser, after_seq: int, limit: int = 200) -> list[Notification]:
    """One page of what the user missed after a seq, oldest first (the index (recipient, seq))."""
    return list(_base(user).filter(seq__gt=after_seq).order_by("seq")[:limit])


def notification_changed_since(
    *, user: AbstractBaseUser, since: datetime, after_seq: int, up_to_seq: int, limit: int
) -> list[Notification]:
    """One page, oldest first, of the user's rows in (after_seq, up_to_seq] whose send was updated or retracted
    after `since`: what a resuming client holds stale. Retracted ones included (unlike _base), their content joined.

    Driven by the changed sends (the small partial indexes content_updated_idx / content_retracted_idx), each
    probed for this user's row with notification_content_user_idx, not by a walk of the user's history."""
    changed = Content.objects.filter(Q(updated_at__gt=since) | Q(retracted_at__gt=since)).values("pk")
    return list(
        Notification.objects.filter(recipient=user, content__in=changed, seq__gt=after_seq, seq__lte=up_to_seq)
        .select_related("content", "content__actor", "category")
        .order_by("seq")[:limit]
    )


def notification_last_seq(*, user: AbstractBaseUser) -> int:
    value = UserSeq.objects.filter(user=user).values_list("last_seq", flat=True).first()
    return value or 0


@functools.cache
def _user_socket_state_sql() -> tuple[str, list[str]]:
    """Written once per process from the models' metadata (compiling the ORM query cost more CPU than running it,
    and a reconnect storm runs it for every socket); `{ids}` is filled with one placeholder per user."""
    user_model = get_user_model()
    fields = list(user_model._meta.concrete_fields)
    qn = connection.ops.quote_name
    n, s = Notification._meta, UserSeq._meta
    pk = user_model._meta.pk
    assert pk is not None and pk.column is not None
    user_pk = f"u.{qn(pk.column)}"
    recipient, seq_user = qn(str(n.get_field("recipient").column)), qn(str(s.get_field("user").column))
    columns = ", ".join(f"u.{qn(str(f.column))}" for f in fields)
    unread = f"n.{qn('read_at')} IS NULL AND n.{qn('archived_at')} IS NULL AND n.{qn('snoozed_until')} IS NULL"
    key, category = qn("group_key"), qn(str(n.get_field("category").column))
    # Each group (category, group_key) once, each row without a key once: what the center's bell shows. In the same
    # statement as the row count and last_seq, so the three describe one snapshot. The row's own group_key: an
    # index-only scan of the partial unread index, like the row count (no join to the contents).
    items = (
        f"SUM(CASE WHEN n.{key} = '' THEN 1 ELSE 0 END) + COUNT(DISTINCT CASE WHEN n.{key} <> ''"
        f" THEN CAST(n.{category} AS TEXT) || ':' || n.{key} END)"
    )
    sql = (
        f"SELECT {columns}, "
        f"COALESCE((SELECT COUNT(*) FROM {qn(n.db_table)} n WHERE n.{recipient} = {user_pk} AND {unread}), 0), "
        f"COALESCE((SELECT s.{qn('last_seq')} FROM {qn(s.db_table)} s WHERE s.{seq_user} = {user_pk}), 0), "
        f"COALESCE((SELECT {items} FROM {qn(n.db_table)} n WHERE n.{recipient} = {user_pk} AND {unread}), 0) "
        f"FROM {qn(user_model._meta.db_table)} u WHERE {user_pk} IN ({{ids}})"
    )
    return sql, [f.attname for f in fields]


def user_socket_states(*, user_ids: list[int]) -> dict[int, Any]:
    """The users and everything `hello` needs, for many handshakes in one query (a reconnect storm would otherwise
    pay a round trip per socket): each user annotated with `socket_unread` (index-only count of the partial unread
    index), `socket_last_seq` and `socket_unread_groups` (the unread count with each group once). Unknown ids are
    absent."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    sql, attnames = _user_socket_state_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql.format(ids=", ".join(["%s"] * len(ids))), ids)
        rows = cursor.fetchall()
    model, width, users = get_user_model(), len(attnames), {}
    for row in rows:
        user = model.from_db(connection.alias, attnames, row[:width])
        user.socket_unread, user.socket_last_seq = row[width], row[width + 1]  # type: ignore[attr-defined]
        user.socket_unread_groups = row[width + 2]  # type: ignore[attr-defined]
        users[user.pk] = user
    return users


def user_socket_state(*, user_id: int) -> Any:
    """One user's `user_socket_states`, or None."""
    return user_socket_states(user_ids=[user_id]).get(user_id)


def notification_oldest_seq(*, user: AbstractBaseUser) -> int | None:
    """The oldest seq still kept (retention purges older rows)."""
    return Notification.objects.filter(recipient=user).order_by("seq").values_list("seq", flat=True).first()


def content_of_producer(*, producer: str | None, id: UUID | str | None = None, idempotency_key: str = "") -> Content:
    """A send by its id, or by its (producer, idempotency key), as its producer sees it (retracted ones included).

    `producer` None: any producer's (a user with notifications.manage_any_notification, by id only). Another
    producer's send raises DoesNotExist exactly like a missing one."""
    qs = Content.objects.select_related("category")
    if producer is not None:
        qs = qs.filter(producer=producer)
    if id is not None:
        return qs.get(uuid=id)
    if not idempotency_key or producer is None:
        raise Content.DoesNotExist
    return qs.get(idempotency_key=idempotency_key)


def content_ids_of_group(*, producer: str, group_key: str) -> list[int]:
    """The producer's sends with this group_key that are not retracted yet (the index content_producer_group_idx)."""
    return list(
        Content.objects.filter(producer=producer, group_key=group_key, retracted_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def category_list() -> QuerySet[Category]:
    return Category.objects.order_by("slug")


def notification_max_id() -> int:
    return Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def notification_seqs_after_id(*, after_id: int, limit: int = 5000) -> tuple[int, list[tuple[int, int]]]:
    """(recipient, seq) of rows inserted after a primary key, and the new high-water mark (embedded realtime)."""
    rows = list(
        Notification.objects.filter(pk__gt=after_id).order_by("pk").values_list("pk", "recipient_id", "seq")[:limit]
    )
    if not rows:
        return after_id, []
    return rows[-1][0], [(recipient, seq) for _pk, recipient, seq in rows]


@dataclass(frozen=True)
class FanOut:
    """How far one send got: rows written and read, and its external deliveries by channel and status."""

    recipients: int
    read: int
    deliveries: dict[str, dict[str, int]]  # channel -> status -> count (only the pairs that occur)

    @property
    def read_percent(self) -> float:
        return round(100 * self.read / self.recipients, 1) if self.recipients else 0.0

    @property
    def dead(self) -> int:
        return sum(by_status.get(DeliveryStatus.DEAD, 0) for by_status in self.deliveries.values())


def content_fan_out(*, content_id: int) -> FanOut:
    """Two aggregate queries whatever the audience: the content's rows (by the notification content index) and its
    deliveries grouped by (channel, status). Never a query per recipient or per delivery."""
    counts = Notification.objects.filter(content_id=content_id).aggregate(
        recipients=Count("pk"), read=Count("pk", filter=Q(read_at__isnull=False))
    )
    grouped = (
        Delivery.objects.filter(notification__content_id=content_id)
        .values_list("channel", "status")
        .annotate(count=Count("pk"))
        .order_by("channel", "status")
    )
    deliveries: dict[str, dict[str, int]] = {}
    for channel, status, count in grouped:
        deliveries.setdefault(channel, {})[status] = count
    return FanOut(recipients=counts["recipients"], read=counts["read"], deliveries=deliveries)


# --- Devices ------------------------------------------------------------------------------------------------------

PUSH_CHANNELS = (DeliveryChannel.APNS, DeliveryChannel.FCM, DeliveryChannel.WEBPUSH)


def devices(channel: str) -> QuerySet[Any]:
    """Every device of a push delivery channel ("apns", "fcm", "webpush"), active or not: callers filter.

    The one lookup of devices for planning, sending, the devices API, the export, the preferences page and the
    admin. FCM devices are django-push-notifications' GCMDevice rows with cloud_message_type "FCM": the library's
    legacy "GCM" rows are never sent to, so nothing else shows or counts them as FCM devices either.
    ValueError for any other channel.
    """
    if channel == DeliveryChannel.APNS:
        return APNSDevice.objects.all()
    if channel == DeliveryChannel.FCM:
        return GCMDevice.objects.filter(cloud_message_type="FCM")
    if channel == DeliveryChannel.WEBPUSH:
        return WebPushDevice.objects.all()
    raise ValueError(channel)


def device_list_of(*, user: AbstractBaseUser, channel: str) -> QuerySet[Any]:
    """The user's own devices of one push delivery channel, oldest first."""
    return devices(channel).filter(user=user).order_by("pk")
