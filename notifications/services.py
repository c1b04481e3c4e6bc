"""Every write of the notification app. Keyword-only; each public service is one transaction.

Fan-out never does per-recipient round trips: one statement allocates the seqs of a whole batch, one bulk INSERT
writes its rows, one publish per batch goes out after commit.
"""

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, QuerySet
from django.utils import timezone

from . import jobs, metrics, realtime, selectors
from .categories import categories_by_slug
from .delivery.planner import deliveries_cancel, plans_wake_on_commit
from .models import Category, Content, DeliveryPlanPending, IdempotencyRecord, Notification
from .validation import IDEMPOTENCY_KEY_MAX, SendSpec, send_validate

User = get_user_model()

# Rows per INSERT / seq statement. SQLite caps bound parameters at 32766.
BATCH_SIZE = 5000


class BulkValidationError(Exception):
    """Some items of a bulk send are invalid: `errors` maps item index -> field -> messages."""

    def __init__(self, errors: dict[int, dict[str, list[str]]]) -> None:
        super().__init__(f"{len(errors)} invalid item(s)")
        self.errors = errors


class IdempotencyConflict(Exception):
    """The idempotency key was already used by this producer for a different send."""


@dataclass
class SendResult:
    id: UUID
    content: Content
    recipient_count: int
    notification_ids: list[UUID] = field(default_factory=list)
    replayed: bool = False


Recipients = Iterable[AbstractBaseUser | int] | QuerySet[Any]


def recipients_resolve(recipients: Recipients, *, active: set[int] | None = None) -> list[int]:
    """Active user ids, sorted and unique. Unknown or inactive ids: ValidationError naming them.

    `active`: ids already known to be active users (a bulk send looks up every item's recipients at once).
    """
    if isinstance(recipients, QuerySet):
        return sorted(set(recipients.filter(is_active=True).values_list("pk", flat=True)))
    wanted: set[int] = set()
    bad: list[str] = []
    for item in recipients:
        if isinstance(item, AbstractBaseUser):
            wanted.add(item.pk)
        elif isinstance(item, int) and not isinstance(item, bool):
            wanted.add(item)
        else:
            bad.append(repr(item))
    if bad:
        raise ValidationError({"recipients": [f"Not user ids: {', '.join(bad[:20])}."]})
    if not wanted:
        raise ValidationError({"recipients": ["At least one recipient is required."]})
    ids = sorted(wanted)
    if active is not None:
        found = wanted & active
    else:
        found = _active_ids(ids)
    missing = sorted(wanted - found)
    if missing:
        shown = ", ".join(str(i) for i in missing[:50])
        raise ValidationError({"recipients": [f"Unknown or inactive user ids: {shown}."]})
    return ids


def _active_ids(ids: Sequence[int]) -> set[int]:
    """Which of these ids are active users. On PostgreSQL one array parameter (`= ANY`): an IN list of 10,000
    placeholders cost more client CPU to build and bind than the query took."""
    if connection.vendor == "postgresql":
        table, pk = User._meta.db_table, User._meta.pk.column
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT "{table}"."{pk}" FROM "{table}" WHERE "{table}"."{pk}" = ANY(%s) AND "{table}"."is_active"',
                [list(ids)],
            )
            return {row[0] for row in cursor.fetchall()}
    found: set[int] = set()
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start : start + BATCH_SIZE]
        found.update(User.objects.filter(pk__in=chunk, is_active=True).values_list("pk", flat=True))
    return found


def _seq_allocate(counts: dict[int, int]) -> dict[int, int]:
    """Reserve `counts[user]` seqs per user; returns each user's new last seq.

    One statement per batch. The upsert row-locks each user's counter until commit, in ascending user id order,
    so concurrent sends to overlapping users serialize per user (no duplicates, no gaps, no deadlock) and seq
    order equals commit order for each user.
    """
    result: dict[int, int] = {}
    user_ids = sorted(counts)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "INSERT INTO notifications_userseq (user_id, last_seq) "
                "SELECT u, c FROM unnest(%s::bigint[], %s::bigint[]) AS t(u, c) ORDER BY u "
                "ON CONFLICT (user_id) DO UPDATE SET last_seq = notifications_userseq.last_seq + EXCLUDED.last_seq "
                "RETURNING user_id, last_seq",
                [user_ids, [counts[u] for u in user_ids]],
            )
            result.update(cursor.fetchall())
        else:
            for start in range(0, len(user_ids), BATCH_SIZE):
                chunk = user_ids[start : start + BATCH_SIZE]
                values = ",".join(["(%s, %s)"] * len(chunk))
                params: list[int] = []
                for u in chunk:
                    params += [u, counts[u]]
                cursor.execute(
                    f"INSERT INTO notifications_userseq (user_id, last_seq) VALUES {values} "
                    "ON CONFLICT (user_id) DO UPDATE SET last_seq = last_seq + excluded.last_seq "
                    "RETURNING user_id, last_seq",
                    params,
                )
                result.update(cursor.fetchall())
    return result


def _fingerprint(spec: SendSpec, **target: Any) -> str:
    """Hash of a validated send and who it goes to (recipient ids or an audience), for idempotency checks."""
    canonical = json.dumps({"send": spec.canonical(), **target}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _content_build(
    spec: SendSpec, *, actor: Any, producer: str, idempotency_key: str, fingerprint: str, recipient_count: int
) -> Content:
    return Content(
        uuid=uuid4(),
        category=spec.category,
        priority=spec.priority,
        title=spec.title,
        body=spec.body,
        url=spec.url,
        image_url=spec.image_url,
        actions=spec.actions,
        data=spec.data,
        group_key=spec.group_key,
        expires_at=spec.expires_at,
        actor=actor if isinstance(actor, AbstractBaseUser) else None,
        producer=producer,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        recipient_count=recipient_count,
    )


def _fan_out(sends: Sequence[tuple[Content, Sequence[int]]]) -> list[list[Notification]]:
    """Write the per-recipient rows of several contents at once, with the outbox rows that tell the planner worker
    their email/push still need planning. Returns the rows of each content, in order."""
    counts: Counter[int] = Counter()
    for _content, recipient_ids in sends:
        counts.update(recipient_ids)
    last = _seq_allocate(dict(counts))
    # Hand out each user's reserved range in send order: first = last - count + 1.
    next_seq = {user_id: last[user_id] - count + 1 for user_id, count in counts.items()}
    now = timezone.now()
    # Positional construction (what Model.from_db does) skips __init__'s keyword handling: half the CPU per row.
    fields = Notification._meta.concrete_fields
    at = {f.attname: i for i, f in enumerate(fields)}
    template = [None if f.primary_key else f.get_default() for f in fields]
    template[at["created_at"]] = now
    i_uuid, i_recipient, i_content, i_category, i_seq = (
        at[a] for a in ("uuid", "recipient_id", "content_id", "category_id", "seq")
    )
    cache_content = Notification.content.field.set_cached_value
    per_send: list[list[Notification]] = []
    all_rows: list[Notification] = []
    for content, recipient_ids in sends:
        template[i_content] = content.pk
        template[i_category] = content.category_id
        rows = []
        for user_id in recipient_ids:
            values = template.copy()
            values[i_uuid] = uuid4()
            values[i_recipient] = user_id
            values[i_seq] = next_seq[user_id]
            next_seq[user_id] += 1
            row = Notification(*values)
            cache_content(row, content)
            rows.append(row)
        per_send.append(rows)
        all_rows.extend(rows)
    plans = [(content.pk, min(ids), max(ids)) for content, ids in sends if ids]
    _rows_insert(all_rows, plans, now)
    return per_send


def _rows_insert(rows: Sequence[Notification], plans: Sequence[tuple[int, int, int]], now: datetime) -> None:
    """Insert per-recipient rows in one statement whatever their number (bulk_create would split into
    parameter-limited batches: ~140 rows per query on SQLite), and the pending plans (content id, lowest and highest
    recipient id) in the same statement on PostgreSQL (a data-modifying CTE: one round trip fewer per send)."""
    if not rows:
        return
    table = Notification._meta.db_table
    columns = "uuid, recipient_id, content_id, category_id, seq, created_at"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH rows AS (INSERT INTO {table} ({columns}) SELECT u, r, c, k, s, %s "
                "FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]) AS t(u, r, c, k, s)) "
                f"INSERT INTO {DeliveryPlanPending._meta.db_table} "
                "(content_id, recipient_min, recipient_max, created_at) "
                "SELECT c, lo, hi, %s FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS p(c, lo, hi)",
                [
                    now,
                    [r.uuid for r in rows],
                    [r.recipient_id for r in rows],
                    [r.content_id for r in rows],
                    [r.category_id for r in rows],
                    [r.seq for r in rows],
                    now,
                    [p[0] for p in plans],
                    [p[1] for p in plans],
                    [p[2] for p in plans],
                ],
            )
        else:
            created = connection.ops.adapt_datetimefield_value(now)
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)",
                [(r.uuid.hex, r.recipient_id, r.content_id, r.category_id, r.seq, created) for r in rows],
            )
            DeliveryPlanPending.objects.bulk_create(
                [
                    DeliveryPlanPending(content_id=c, recipient_min=lo, recipient_max=hi, created_at=now)
                    for c, lo, hi in plans
                ]
            )


def _after_insert(sends: Sequence[tuple[Content, Sequence[Notification]]]) -> None:
    """Wake the planner worker after commit (it plans email/push off the send path) and register the realtime
    publish, once for all sends of a call."""
    if any(rows for _content, rows in sends):
        plans_wake_on_commit()
    realtime.notifications_publish_on_commit(sends)
    for content, rows in sends:
        metrics.notifications_sent_on_commit(
            category=content.category.slug, priority=content.priority, count=len(rows), created_at=content.created_at
        )


def _replay(existing: Content) -> SendResult:
    ids = list(Notification.objects.filter(content=existing).order_by("id").values_list("uuid", flat=True))
    return SendResult(
        id=existing.uuid,
        content=existing,
        recipient_count=existing.recipient_count,
        notification_ids=ids,
        replayed=True,
    )


def _producer_of(actor: Any, producer: str | None) -> str:
    return producer or (f"user:{actor.pk}" if isinstance(actor, AbstractBaseUser) else "system")


def _content_create_once(
    spec: SendSpec, *, actor: Any, producer: str, key: str, fingerprint: str, recipient_count: int
) -> tuple[Content, bool]:
    """Insert the send's content, or find the one already sent with this (producer, idempotency key).

    Returns (content, created). The same key with another send raises IdempotencyConflict. A concurrent send with
    the same key blocks on the unique index until the first commits, then finds it.
    """
    existing = Content.objects.filter(producer=producer, idempotency_key=key).first() if key else None
    if existing is None:
        content = _content_build(
            spec,
            actor=actor,
            producer=producer,
            idempotency_key=key,
            fingerprint=fingerprint,
            recipient_count=recipient_count,
        )
        if not key:  # nothing to collide with: no savepoint (two round trips) needed
            content.save(force_insert=True)
            return content, True
        try:
            with transaction.atomic():
                content.save(force_insert=True)
            return content, True
        except IntegrityError:
            existing = Content.objects.get(producer=producer, idempotency_key=key)
    if existing.fingerprint != fingerprint:
        raise IdempotencyConflict("This idempotency key was already used for a different send.")
    return existing, False


def notify(
    *,
    recipients: Recipients,
    category: str | Category,
    title: str,
    body: str = "",
    url: str = "",
    image_url: str = "",
    priority: str | None = None,
    actions: list[dict[str, str]] | None = None,
    data: dict[str, Any] | None = None,
    group_key: str = "",
    expires_at: datetime | None = None,
    actor: AbstractBaseUser | None = None,
    idempotency_key: str = "",
    producer: str | None = None,
) -> SendResult:
    """Send one notification to many recipients (contract.md, Python API).

    Validates everything before writing anything. Runs in the caller's transaction (atomic nests as a savepoint);
    WebSocket frames and deliveries go out only after the outermost commit.
    The same (producer, idempotency_key) with the same send returns the first result; with another send raises
    IdempotencyConflict. Concurrent duplicates block on the unique index and then replay.
    """
    spec = send_validate(
        category=category,
        title=title,
        body=body,
        url=url,
        image_url=image_url,
        priority=priority,
        actions=actions,
        data=data,
        group_key=group_key,
        expires_at=expires_at,
    )
    key = _idempotency_key_clean(idempotency_key)
    recipient_ids = recipients_resolve(recipients)
    producer = _producer_of(actor, producer)
    fingerprint = _fingerprint(spec, recipients=list(recipient_ids))

    with transaction.atomic():
        content, created = _content_create_once(
            spec, actor=actor, producer=producer, key=key, fingerprint=fingerprint, recipient_count=len(recipient_ids)
        )
        if not created:
            return _replay(content)
        (rows,) = _fan_out([(content, recipient_ids)])
        _after_insert([(content, rows)])
    return SendResult(
        id=content.uuid, content=content, recipient_count=len(rows), notification_ids=[r.uuid for r in rows]
    )


def _idempotency_key_clean(key: Any) -> str:
    if key in (None, ""):
        return ""
    if not isinstance(key, str) or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise ValidationError(
            {"idempotency_key": [f"Must be printable text of at most {IDEMPOTENCY_KEY_MAX} characters."]}
        )
    return key


def notification_send_bulk(
    *, sends: Sequence[dict[str, Any]], actor: AbstractBaseUser | None = None, producer: str | None = None
) -> list[SendResult]:
    """Many sends in one transaction, all or nothing: one seq statement and one INSERT batch for all of them.

    Each item takes notify()'s keyword arguments (without actor/producer/idempotency_key). Invalid items raise
    one BulkValidationError naming every bad item.
    """
    categories = categories_by_slug()
    producer = _producer_of(actor, producer)
    prepared: list[tuple[SendSpec, list[int]]] = []
    errors: dict[int, dict[str, list[str]]] = {}
    # One lookup for every item's recipients, not one query per item.
    every_id = {
        r.pk if isinstance(r, AbstractBaseUser) else r
        for item in sends
        if isinstance(item.get("recipients"), list | tuple | set)
        for r in item["recipients"]
        if isinstance(r, AbstractBaseUser) or (isinstance(r, int) and not isinstance(r, bool))
    }
    active = _active_ids(sorted(every_id))
    for index, item in enumerate(sends):
        item = dict(item)
        recipients = item.pop("recipients", None)
        try:
            spec = send_validate(categories=categories, **item)
            recipient_ids = recipients_resolve(recipients if recipients is not None else [], active=active)
        except ValidationError as exc:
            errors[index] = exc.message_dict
            continue
        except TypeError as exc:
            errors[index] = {"non_field_errors": [str(exc)]}
            continue
        prepared.append((spec, recipient_ids))
    if errors:
        raise BulkValidationError(errors)

    with transaction.atomic():
        contents = [
            _content_build(
                spec,
                actor=actor,
                producer=producer,
                idempotency_key="",
                fingerprint="",
                recipient_count=len(ids),
            )
            for spec, ids in prepared
        ]
        Content.objects.bulk_create(contents, batch_size=500)
        if any(c.pk is None for c in contents):
            # Backends that cannot return ids from a bulk insert (PostgreSQL and SQLite 3.35+ can).
            by_uuid = dict(Content.objects.filter(uuid__in=[c.uuid for c in contents]).values_list("uuid", "pk"))
            for c in contents:
                c.pk = by_uuid[c.uuid]
        per_send = _fan_out([(c, ids) for c, (_spec, ids) in zip(contents, prepared, strict=True)])
        _after_insert(list(zip(contents, per_send, strict=True)))
    return [
        SendResult(id=c.uuid, content=c, recipient_count=len(rows), notification_ids=[r.uuid for r in rows])
        for c, rows in zip(contents, per_send, strict=True)
    ]


# --- Read state -------------------------------------------------------------------------------------------------


def notification_update_state(
    *, user: AbstractBaseUser, ids: Iterable[UUID | str], read: bool | None = None, archived: bool | None = None
) -> list[UUID]:
    """Set read and/or archived on the user's own notifications; ids of other users are ignored, never revealed.

    Returns the ids whose state changed. Reading cancels pending email/push. Every open socket of the user gets
    notification_updated and unread_count after commit.
    """
    uuids = _uuids(ids)
    if not uuids or (read is None and archived is None):
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
                deliveries_cancel(notification_ids=list(rows), reason="read")
        if archived is not None:
            qs = base.filter(archived_at__isnull=archived)
            rows = dict(qs.values_list("pk", "uuid"))
            Notification.objects.filter(pk__in=rows).update(archived_at=now if archived else None)
            changed.update(rows)
        if changed:
            realtime.state_publish_on_commit(
                user_id=user.pk,
                ids=list(changed.values()),
                unread_count=selectors.notification_unread_count(user=user),
                read=read,
                archived=archived,
            )
    return list(changed.values())


def notification_mark_read(*, user: AbstractBaseUser, ids: Iterable[UUID | str]) -> list[UUID]:
    return notification_update_state(user=user, ids=ids, read=True)


def notification_mark_unread(*, user: AbstractBaseUser, ids: Iterable[UUID | str]) -> list[UUID]:
    return notification_update_state(user=user, ids=ids, read=False)


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
        deliveries_cancel(notification_ids=list(rows), reason="read")
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


# --- Audience broadcasts ------------------------------------------------------------------------------------------

AUDIENCE_ALL = "all"
BROADCAST_TASK = "notifications.broadcast_fan_out"
AUDIENCE_GROUP_PREFIX = "group:"


def audience_users(audience: str) -> QuerySet[Any]:
    """Active users of an audience ("all" or "group:<name>"); ValidationError for anything else."""
    if audience == AUDIENCE_ALL:
        return User.objects.filter(is_active=True)
    if isinstance(audience, str) and audience.startswith(AUDIENCE_GROUP_PREFIX):
        name = audience[len(AUDIENCE_GROUP_PREFIX) :]
        if name and Group.objects.filter(name=name).exists():
            return User.objects.filter(is_active=True, groups__name=name)
        raise ValidationError({"audience": [f"Unknown group {name!r}."]})
    raise ValidationError({"audience": ['Must be "all" or "group:<name>".']})


def notification_broadcast(
    *,
    audience: str,
    category: str | Category,
    title: str,
    body: str = "",
    url: str = "",
    image_url: str = "",
    priority: str | None = None,
    actions: list[dict[str, str]] | None = None,
    data: dict[str, Any] | None = None,
    group_key: str = "",
    expires_at: datetime | None = None,
    actor: AbstractBaseUser | None = None,
    idempotency_key: str = "",
    producer: str | None = None,
) -> SendResult:
    """Store one content for a whole audience now; a worker writes the per-recipient rows in batches.

    The request does not wait for 100,000 inserts: the fan-out task gets only the content id and the audience.
    recipient_count grows as batches commit.
    """
    spec = send_validate(
        category=category,
        title=title,
        body=body,
        url=url,
        image_url=image_url,
        priority=priority,
        actions=actions,
        data=data,
        group_key=group_key,
        expires_at=expires_at,
    )
    key = _idempotency_key_clean(idempotency_key)
    audience_users(audience)
    producer = _producer_of(actor, producer)
    fingerprint = _fingerprint(spec, audience=audience)

    with transaction.atomic():
        content, created = _content_create_once(
            spec, actor=actor, producer=producer, key=key, fingerprint=fingerprint, recipient_count=0
        )
        if not created:
            return SendResult(id=content.uuid, content=content, recipient_count=content.recipient_count, replayed=True)
        jobs.enqueue_on_commit(BROADCAST_TASK, content.pk, audience)
    return SendResult(id=content.uuid, content=content, recipient_count=0)


def notification_broadcast_batch(*, content_id: int, audience: str, batch_size: int = BATCH_SIZE) -> int:
    """Write the next batch of an audience broadcast; returns how many rows (0: done). Safe to run twice.

    Batches go in user id order and resume after the highest recipient already written, under a row lock on the
    content: a duplicate task waits, then continues where the other stopped, never writing a user twice.
    """
    with transaction.atomic():
        content = Content.objects.select_for_update().select_related("category").filter(pk=content_id).first()
        if content is None:
            return 0
        try:
            users = audience_users(audience)
        except ValidationError:
            return 0  # the group was deleted meanwhile
        done = Notification.objects.filter(content_id=content_id).aggregate(last=Max("recipient_id"))["last"]
        if done is not None:
            users = users.filter(pk__gt=done)
        ids = list(users.order_by("pk").values_list("pk", flat=True).distinct()[:batch_size])
        if not ids:
            return 0
        (rows,) = _fan_out([(content, ids)])
        _after_insert([(content, rows)])
        Content.objects.filter(pk=content_id).update(recipient_count=F("recipient_count") + len(ids))
    return len(ids)
