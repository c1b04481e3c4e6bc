"""The write path's inner loop: per-user seqs, the per-recipient rows and their outbox rows, the after-commit work.

Shared by every send (notify, bulk, audience batches). Fan-out never does per-recipient round trips: one statement
allocates the seqs of a whole batch, one INSERT writes its rows, one publish per batch goes out after commit.
"""

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from . import metrics, realtime
from .delivery.planner import plans_wake_on_commit
from .models import Content, DeliveryPlanPending, Notification

User = get_user_model()

# Rows per INSERT / seq statement. SQLite caps bound parameters at 32766.
BATCH_SIZE = 5000


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


def rows_fan_out(sends: Sequence[tuple[Content, Sequence[int]]]) -> list[list[Notification]]:
    """Write the per-recipient rows of several contents at once, with the outbox rows that tell the planner worker
    their email/push still need planning. Returns the rows of each content, in order."""
    counts: Counter[int] = Counter()
    for _content, recipient_ids in sends:
        counts.update(recipient_ids)
    last = _seq_allocate(dict(counts))
    # Hand out each user's reserved range in send order: first = last - count + 1.
    next_seq = {user_id: last[user_id] - count + 1 for user_id, count in counts.items()}
    now = timezone.now()
    per_send = _rows_build(sends, next_seq, now)
    plans = [(content.pk, min(ids), max(ids)) for content, ids in sends if ids]
    _rows_insert([row for rows in per_send for row in rows], plans, now)
    return per_send


def _rows_build(
    sends: Sequence[tuple[Content, Sequence[int]]], next_seq: dict[int, int], now: datetime
) -> list[list[Notification]]:
    """The Notification objects of these sends (not saved), each recipient's seq taken from `next_seq` in order."""
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
            row = Notification(*values)  # type: ignore[misc]  # the django plugin reads *values as the first field
            cache_content(row, content)
            rows.append(row)
        per_send.append(rows)
    return per_send


def send_insert_one_statement(content: Content, recipient_ids: Sequence[int]) -> list[Notification] | None:
    """PostgreSQL: one send written in ONE statement: the recipients checked (every id an active user), the content,
    the seqs, the rows and the outbox row. Returns the rows, or None when it wrote nothing because a recipient is
    not an active user or the content's (producer, idempotency key) exists already: the caller then takes the
    general path, which says which.

    Why one statement: a single send was five round trips (recipients, content, seqs, rows, commit), each with
    its client and server CPU; in autocommit this one is also its own transaction (no BEGIN/COMMIT trips). The
    seq upsert locks each recipient's counter in ascending id order until commit, exactly as _seq_allocate does.
    `recipient_ids` must be sorted and unique.
    """
    fields = [f for f in Content._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(content, True), connection) for f in fields]
    columns = ", ".join(connection.ops.quote_name(f.column or f.attname) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    (rows,) = _rows_build([(content, recipient_ids)], {u: 0 for u in recipient_ids}, content.created_at)
    users, user_pk = User._meta.db_table, User._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            f'WITH r AS (SELECT "{user_pk}" AS id FROM "{users}" WHERE "{user_pk}" = ANY(%s) AND is_active), '
            "ok AS (SELECT count(*) = %s AS ok FROM r), "
            f"c AS (INSERT INTO {Content._meta.db_table} ({columns}) SELECT {placeholders} FROM ok WHERE ok.ok "
            "ON CONFLICT DO NOTHING RETURNING id), "
            "s AS (INSERT INTO notifications_userseq (user_id, last_seq) SELECT r.id, 1 FROM r, c ORDER BY r.id "
            "ON CONFLICT (user_id) DO UPDATE SET last_seq = notifications_userseq.last_seq + 1 "
            "RETURNING user_id, last_seq), "
            f"n AS (INSERT INTO {Notification._meta.db_table} "
            "(uuid, recipient_id, content_id, category_id, seq, created_at) "
            "SELECT t.u, s.user_id, c.id, %s, s.last_seq, %s "
            "FROM unnest(%s::uuid[], %s::bigint[]) AS t(u, uid) JOIN s ON s.user_id = t.uid, c), "
            f"p AS (INSERT INTO {DeliveryPlanPending._meta.db_table} "
            "(content_id, recipient_min, recipient_max, created_at) SELECT c.id, %s, %s, %s FROM c) "
            "SELECT c.id, s.user_id, s.last_seq FROM c, s",
            [
                list(recipient_ids),
                len(recipient_ids),
                *values,
                content.category_id,
                content.created_at,
                [r.uuid for r in rows],
                list(recipient_ids),
                recipient_ids[0],
                recipient_ids[-1],
                content.created_at,
            ],
        )
        written = cursor.fetchall()
    if not written:
        return None
    content.pk = written[0][0]
    content._state.adding = False
    content._state.db = connection.alias
    seqs = {user_id: seq for _id, user_id, seq in written}
    for row in rows:
        row.content_id = content.pk
        row.seq = seqs[row.recipient_id]
    return rows


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


def rows_after_insert(sends: Sequence[tuple[Content, Sequence[Notification]]]) -> None:
    """Wake the planner worker after commit (it plans email/push off the send path) and register the realtime
    publish, once for all sends of a call."""
    if any(rows for _content, rows in sends):
        plans_wake_on_commit()
    realtime.notifications_publish_on_commit(sends)
    for content, rows in sends:
        metrics.notifications_sent_on_commit(
            category=content.category.slug, priority=content.priority, count=len(rows), created_at=content.created_at
        )


def rows_wake(*, now: datetime | None, limit: int, user_id: int | None = None, uuids: Sequence[UUID] = ()) -> list[int]:
    """Bring snoozed rows back: each gets a new seq of its recipient (allocated exactly as a send allocates them, so
    a resume by seq replays it and every list sorts it to the top), and becomes unread, unseen and unarchived.
    Returns the primary keys of the rows woken.

    Either the due rows of every user (`now`: snoozed until then or earlier; the wake sweep, SKIP LOCKED so
    concurrent sweeps share the work), or the given rows of one user (`user_id` and `uuids`: un-snooze now).
    PostgreSQL: one statement per batch (pick, allocate seqs, update), whatever the number of rows and users.
    The seq upsert locks each user's counter in ascending id order until commit, like every send.
    """
    table = Notification._meta.db_table
    params: list[Any]
    if user_id is not None:
        where, params = "recipient_id = %s AND uuid = ANY(%s) AND snoozed_until IS NOT NULL", [user_id, list(uuids)]
        lock = "FOR UPDATE"
    else:
        where, params = "snoozed_until IS NOT NULL AND snoozed_until <= %s", [now]
        lock = "FOR UPDATE SKIP LOCKED"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH picked AS (SELECT id, recipient_id, snoozed_until FROM {table} WHERE {where} "
                f"ORDER BY snoozed_until, id LIMIT %s {lock}), "
                "ranked AS (SELECT id, recipient_id, "
                "row_number() OVER (PARTITION BY recipient_id ORDER BY snoozed_until, id) AS k, "
                "count(*) OVER (PARTITION BY recipient_id) AS c FROM picked), "
                "s AS (INSERT INTO notifications_userseq (user_id, last_seq) "
                "SELECT recipient_id, max(c) FROM ranked GROUP BY recipient_id ORDER BY recipient_id "
                "ON CONFLICT (user_id) DO UPDATE SET last_seq = notifications_userseq.last_seq + EXCLUDED.last_seq "
                "RETURNING user_id, last_seq) "
                f"UPDATE {table} n SET seq = s.last_seq - r.c + r.k, snoozed_until = NULL, read_at = NULL, "
                "seen_at = NULL, archived_at = NULL "
                "FROM ranked r JOIN s ON s.user_id = r.recipient_id WHERE n.id = r.id RETURNING n.id",
                [*params, limit],
            )
            return [pk for (pk,) in cursor.fetchall()]
    # SQLite (embedded, one process): the same steps as a few statements; nothing runs per row but the in-process
    # executemany of the UPDATE.
    qs = Notification.objects.filter(snoozed_until__isnull=False)
    if user_id is not None:
        qs = qs.filter(recipient_id=user_id, uuid__in=list(uuids))
    else:
        qs = qs.filter(snoozed_until__lte=now)
    picked = list(qs.order_by("snoozed_until", "pk").values_list("pk", "recipient_id")[:limit])
    if not picked:
        return []
    counts = Counter(recipient for _pk, recipient in picked)
    last = _seq_allocate(dict(counts))
    next_seq = {user: last[user] - count + 1 for user, count in counts.items()}
    updates = []
    for pk, recipient in picked:
        updates.append((next_seq[recipient], pk))
        next_seq[recipient] += 1
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET seq = %s, snoozed_until = NULL, read_at = NULL, seen_at = NULL, archived_at = NULL "
            "WHERE id = %s",
            updates,
        )
    return [pk for pk, _recipient in picked]
