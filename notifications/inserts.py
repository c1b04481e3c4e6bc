"""The write path's inner loop: per-user seqs, the per-recipient rows and their outbox rows, the after-commit work.

Shared by every send (notify, bulk, audience batches). Fan-out never does per-recipient round trips: one statement
allocates the seqs of a whole batch, one INSERT writes its rows, one publish per batch goes out after commit.
"""

import functools
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID, uuid4

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from preferences.models import GroupMute
from preferences.selectors import group_mutes_matching

from . import metrics, realtime
from .delivery.planner import plans_wake_on_commit
from .models import Content, DeliveryPlanPending, Notification

User = get_user_model()

# Rows per INSERT / seq statement. SQLite caps bound parameters at 32766.
BATCH_SIZE = 5000


class WrittenRow(NamedTuple):
    """A per-recipient row as the write path and its after-commit work need it (ids, seq, time). A tuple, not a
    Notification: building a model instance per recipient cost more than the INSERT's own client side."""

    uuid: UUID
    recipient_id: int
    content_id: int | None
    category_id: int
    seq: int
    created_at: datetime
    # A row of a muted group is written seen and read at its creation (models.Notification.muted says why).
    seen_at: datetime | None = None
    read_at: datetime | None = None
    archived_at: None = None
    saved_at: None = None
    snoozed_until: None = None
    muted: bool = False
    # The content's, copied onto the row (models.Notification.group_key says why).
    group_key: str = ""


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
                [pg_array(user_ids), pg_array([counts[u] for u in user_ids])],
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


def rows_fan_out(sends: Sequence[tuple[Content, Sequence[int]]]) -> list[list[WrittenRow]]:
    """Write the per-recipient rows of several contents at once, with the outbox rows that tell the planner worker
    their email/push still need planning. Returns the rows of each content, in order."""
    counts: Counter[int] = Counter()
    for _content, recipient_ids in sends:
        counts.update(recipient_ids)
    last = _seq_allocate(dict(counts))
    # Hand out each user's reserved range in send order: first = last - count + 1.
    next_seq = {user_id: last[user_id] - count + 1 for user_id, count in counts.items()}
    now = timezone.now()
    per_send = _rows_build(sends, next_seq, now, _muted(sends, now))
    plans = [(content.pk, min(ids), max(ids)) for content, ids in sends if ids]
    _rows_insert([row for rows in per_send for row in rows], plans, now)
    return per_send


def _muted(sends: Sequence[tuple[Content, Sequence[int]]], now: datetime) -> list[set[int]]:
    """The recipients of each send who muted its group: one query for all sends (none without a group key)."""
    keyed = [(content, ids) for content, ids in sends if content.group_key and ids]
    if not keyed:
        return [set() for _ in sends]
    mutes = group_mutes_matching(
        group_keys=[content.group_key for content, _ids in keyed],
        user_min=min(min(ids) for _content, ids in keyed),
        user_max=max(max(ids) for _content, ids in keyed),
        at=now,
    )
    by_key: dict[str, set[tuple[int, int | None]]] = {}
    for user_id, key, category_id in mutes:
        by_key.setdefault(key, set()).add((user_id, category_id))
    out: list[set[int]] = []
    for content, ids in sends:
        found = by_key.get(content.group_key) if content.group_key else None
        if not found:
            out.append(set())
            continue
        users = {u for u, category_id in found if category_id is None or category_id == content.category_id}
        out.append(users.intersection(ids))
    return out


def _rows_build(
    sends: Sequence[tuple[Content, Sequence[int]]], next_seq: dict[int, int], now: datetime, muted: list[set[int]]
) -> list[list[WrittenRow]]:
    """The rows of these sends (not saved), each recipient's seq taken from `next_seq` in order."""
    per_send: list[list[WrittenRow]] = []
    for (content, recipient_ids), muted_ids in zip(sends, muted, strict=True):
        content_id, category_id, key = content.pk, content.category_id, content.group_key
        rows = []
        for user_id in recipient_ids:
            seq = next_seq[user_id]
            if muted_ids and user_id in muted_ids:
                rows.append(
                    WrittenRow(uuid4(), user_id, content_id, category_id, seq, now, now, now, muted=True, group_key=key)
                )
            else:
                rows.append(WrittenRow(uuid4(), user_id, content_id, category_id, seq, now, group_key=key))
            next_seq[user_id] += 1
        per_send.append(rows)
    return per_send


def _cast(field: Any) -> str:
    """The column's type for an explicit cast, without its length: a cast to varchar(n) would truncate silently,
    while the insert's own assignment to the column still rejects a value that is too long."""
    return re.sub(r"\(.*\)", "", field.db_type(connection))


@functools.cache
def _sends_statement(count: int) -> str:
    """The one statement for `count` sends, built once per count (the same text every time)."""
    columns = ", ".join(connection.ops.quote_name(f.column or f.attname) for f in _content_fields())
    # Each value cast to its column's type: a VALUES list inside a query leaves untyped parameters as text.
    row_sql = "(%s::int, " + ", ".join(f"%s::{_cast(f)}" for f in _content_fields()) + ")"
    users, user_pk = User._meta.db_table, User._meta.pk.column
    mutes = GroupMute._meta.db_table
    return (
        # A join with the id list, not `= ANY(%s)`: a bound array is searched linearly per user row scanned.
        f'WITH r AS (SELECT u."{user_pk}" AS id FROM unnest(%s::bigint[]) AS t(id) '
        f'JOIN "{users}" u ON u."{user_pk}" = t.id WHERE u.is_active), '
        "ok AS (SELECT count(*) = %s AS ok FROM r), "
        f"v (o, {columns}) AS (VALUES {', '.join([row_sql] * count)}), "
        f"c AS (INSERT INTO {Content._meta.db_table} ({columns}) SELECT {columns} FROM v, ok WHERE ok.ok "
        "ON CONFLICT DO NOTHING RETURNING id, uuid), "
        "co AS (SELECT v.o, c.id, v.category_id, v.group_key, v.created_at FROM c JOIN v ON v.uuid = c.uuid), "
        "pairs AS (SELECT o, u FROM unnest(%s::int[], %s::bigint[]) AS t(o, u)), "
        "s AS (INSERT INTO notifications_userseq (user_id, last_seq) "
        "SELECT u, count(*) FROM pairs WHERE (SELECT count(*) FROM c) = %s GROUP BY u ORDER BY u "
        "ON CONFLICT (user_id) DO UPDATE SET last_seq = notifications_userseq.last_seq + EXCLUDED.last_seq "
        "RETURNING user_id, last_seq), "
        # A user's k-th of cnt rows in this statement gets seq last - cnt + k, in send order.
        "q AS (SELECT o, u, row_number() OVER (PARTITION BY u ORDER BY o) AS k, "
        "count(*) OVER (PARTITION BY u) AS cnt FROM pairs), "
        # A group key: whether each recipient muted it (an indexed EXISTS per row, on (user, group_key)); a
        # muted row is written seen and read at its creation. No group key: no mute to look up.
        "m AS (SELECT q.u, co.id AS content_id, co.category_id, co.group_key, co.created_at, "
        "s.last_seq - q.cnt + q.k AS seq, CASE WHEN co.group_key = '' THEN false ELSE EXISTS ("
        f"SELECT 1 FROM {mutes} g WHERE g.user_id = q.u AND g.group_key = co.group_key "
        "AND (g.category_id IS NULL OR g.category_id = co.category_id) "
        "AND (g.until IS NULL OR g.until > co.created_at)) END AS muted "
        "FROM q JOIN s ON s.user_id = q.u JOIN co ON co.o = q.o), "
        # The row ids are drawn by the server (gen_random_uuid, PostgreSQL 13+), as uuid4 would.
        f"n AS (INSERT INTO {Notification._meta.db_table} "
        "(uuid, recipient_id, content_id, category_id, group_key, seq, created_at, seen_at, read_at, muted) "
        "SELECT gen_random_uuid(), u, content_id, category_id, group_key, seq, created_at, "
        "CASE WHEN muted THEN created_at END, CASE WHEN muted THEN created_at END, muted FROM m "
        "RETURNING uuid, recipient_id, content_id, seq, muted), "
        f"p AS (INSERT INTO {DeliveryPlanPending._meta.db_table} "
        "(content_id, recipient_min, recipient_max, created_at) "
        "SELECT co.id, min(pairs.u), max(pairs.u), co.created_at FROM co JOIN pairs ON pairs.o = co.o "
        "GROUP BY co.id, co.created_at) "
        "SELECT co.o, co.id, n.uuid, n.recipient_id, n.seq, n.muted FROM n JOIN co ON co.id = n.content_id "
        "ORDER BY co.o, n.recipient_id"
    )


@functools.cache
def _content_fields() -> list[Any]:
    return [f for f in Content._meta.concrete_fields if not f.primary_key]


def sends_insert_one_statement(sends: Sequence[tuple[Content, Sequence[int]]]) -> list[list[WrittenRow]] | None:
    """PostgreSQL: several sends written in ONE statement: the recipients checked (every id an active user), the
    contents, the seqs, the rows (each muted or not, by the recipient's group mutes) and the outbox rows. Returns
    each send's rows, or None when it wrote nothing because a recipient is not an active user or a content's
    (producer, idempotency key) exists already: the caller then takes the general path, which says which.

    Why one statement: a send was five round trips or more (recipients, BEGIN, contents, seqs, rows, COMMIT),
    each with its client and server CPU, and a bulk of two cost 2.5 times a bulk of one; in autocommit this one is
    also its own transaction. The seq upsert locks each recipient's counter in ascending id order until commit,
    exactly as _seq_allocate does, and hands each user's new seqs out in send order. Each send's `recipient_ids`
    must be sorted, unique and not empty; only a single send may carry an idempotency key (a conflict on one of
    several contents would leave the others written).
    """
    if len(sends) == 1:
        rows = _one_send_statement(*sends[0])
        return None if rows is None else [rows]
    db = connections[DEFAULT_DB_ALIAS]
    fields = _content_fields()
    values: list[Any] = []
    pair_sends: list[int] = []
    pair_users: list[int] = []
    for o, (content, recipient_ids) in enumerate(sends):
        values += [o, *(f.get_db_prep_save(f.pre_save(content, True), db) for f in fields)]
        pair_sends += [o] * len(recipient_ids)
        pair_users += recipient_ids
    distinct = sorted(set(pair_users))
    with db.cursor() as cursor:
        cursor.execute(
            _sends_statement(len(sends)),
            [pg_array(distinct), len(distinct), *values, pg_array(pair_sends), pg_array(pair_users), len(sends)],
        )
        written = cursor.fetchall()
    if not written:
        return None
    per_send: list[list[WrittenRow]] = [[] for _ in sends]
    for o, content_id, u, user_id, seq, muted in written:
        content = sends[o][0]
        if content.pk is None:
            content.pk = content_id
            content._state.adding = False
            content._state.db = db.alias
        per_send[o].append(_written_row(content, u, user_id, seq, muted))
    return per_send


def _written_row(content: Content, uuid: UUID, user_id: int, seq: int, muted: bool) -> WrittenRow:
    """A row the statement wrote; a muted one was written seen and read at its creation."""
    at, key = content.created_at, content.group_key
    if muted:
        return WrittenRow(uuid, user_id, content.pk, content.category_id, seq, at, at, at, muted=True, group_key=key)
    return WrittenRow(uuid, user_id, content.pk, content.category_id, seq, at, group_key=key)


def _one_send_statement(content: Content, recipient_ids: Sequence[int]) -> list[WrittenRow] | None:
    """sends_insert_one_statement for a single send: the same writes in a statement with fewer steps (no list of
    sends to join, no window over them) that PostgreSQL plans and runs in ~0.45 ms against ~0.7 ms (notify() and
    most bulks are one send)."""
    db = connections[DEFAULT_DB_ALIAS]  # once: every `connection.x` goes through a thread-local lookup
    values = [f.get_db_prep_save(f.pre_save(content, True), db) for f in _content_fields()]
    at = content.created_at
    mute_params: list[Any] = [content.group_key, content.category_id, at] if content.group_key else []
    with db.cursor() as cursor:
        cursor.execute(
            _one_send_sql(bool(content.group_key)),
            [
                pg_array(recipient_ids),
                len(recipient_ids),
                *values,
                *mute_params,
                content.category_id,
                content.group_key,
                at,
                at,
                at,
                recipient_ids[0],
                recipient_ids[-1],
                at,
            ],
        )
        written = cursor.fetchall()
    if not written:
        return None
    content.pk = written[0][0]
    content._state.adding = False
    content._state.db = db.alias
    return [_written_row(content, u, user_id, seq, muted) for _id, u, user_id, seq, muted in written]


@functools.cache
def _one_send_sql(group_key: bool) -> str:
    """_one_send_statement's text, built once (with or without the group mute lookup)."""
    fields = _content_fields()
    columns = ", ".join(connection.ops.quote_name(f.column or f.attname) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    users, user_pk = User._meta.db_table, User._meta.pk.column
    # A group key: whether each recipient muted it is part of the same statement (an indexed EXISTS per row, on
    # (user, group_key)); a muted row is written seen and read at its creation. No group key: no mute to look up.
    muted_sql = (
        f"EXISTS (SELECT 1 FROM {GroupMute._meta.db_table} g WHERE g.user_id = s.user_id AND g.group_key = %s "
        "AND (g.category_id IS NULL OR g.category_id = %s) AND (g.until IS NULL OR g.until > %s))"
        if group_key
        else "false"
    )
    return (
        # A join with the id list, not `= ANY(%s)`: a bound array is searched linearly per user row scanned.
        f'WITH r AS (SELECT u."{user_pk}" AS id FROM unnest(%s::bigint[]) AS t(id) '
        f'JOIN "{users}" u ON u."{user_pk}" = t.id WHERE u.is_active), '
        "ok AS (SELECT count(*) = %s AS ok FROM r), "
        f"c AS (INSERT INTO {Content._meta.db_table} ({columns}) SELECT {placeholders} FROM ok WHERE ok.ok "
        "ON CONFLICT DO NOTHING RETURNING id), "
        "s AS (INSERT INTO notifications_userseq (user_id, last_seq) SELECT r.id, 1 FROM r, c ORDER BY r.id "
        "ON CONFLICT (user_id) DO UPDATE SET last_seq = notifications_userseq.last_seq + 1 "
        "RETURNING user_id, last_seq), "
        f"m AS (SELECT s.user_id, s.last_seq, {muted_sql} AS muted FROM s), "
        # The row ids are drawn by the server (gen_random_uuid, PostgreSQL 13+), as uuid4 would.
        f"n AS (INSERT INTO {Notification._meta.db_table} "
        "(uuid, recipient_id, content_id, category_id, group_key, seq, created_at, seen_at, read_at, muted) "
        "SELECT gen_random_uuid(), m.user_id, c.id, %s, %s, m.last_seq, %s, "
        "CASE WHEN m.muted THEN %s::timestamptz END, CASE WHEN m.muted THEN %s::timestamptz END, m.muted "
        "FROM m, c RETURNING uuid, recipient_id, seq, muted), "
        f"p AS (INSERT INTO {DeliveryPlanPending._meta.db_table} "
        "(content_id, recipient_min, recipient_max, created_at) SELECT c.id, %s, %s, %s FROM c) "
        "SELECT c.id, n.uuid, n.recipient_id, n.seq, n.muted FROM c, n ORDER BY n.recipient_id"
    )


def pg_array(values: Sequence[object]) -> str:
    """A PostgreSQL array literal of ints or uuids, for a parameter cast in the SQL (`%s::bigint[]`). psycopg's
    list dumper inspects every element (a regex each): a tenth of the client's time in a 1,000-row send."""
    return "{" + ",".join(map(str, values)) + "}"


def _rows_insert(rows: Sequence[WrittenRow], plans: Sequence[tuple[int, int, int]], now: datetime) -> None:
    """Insert per-recipient rows in one statement whatever their number (bulk_create would split into
    parameter-limited batches: ~140 rows per query on SQLite), and the pending plans (content id, lowest and highest
    recipient id) in the same statement on PostgreSQL (a data-modifying CTE: one round trip fewer per send)."""
    if not rows:
        return
    table = Notification._meta.db_table
    columns = "uuid, recipient_id, content_id, category_id, group_key, seq, created_at, seen_at, read_at, muted"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            keys: dict[str, int] = {}  # group_key -> its 1-based position in the array
            for r in rows:
                keys.setdefault(r.group_key, len(keys) + 1)
            cursor.execute(
                # Each row's group_key as a position in the call's few distinct keys: an array of ints costs the
                # client nothing (pg_array), a text array per row is escaped element by element.
                f"WITH rows AS (INSERT INTO {table} ({columns}) SELECT u, r, c, k, (%s::text[])[g], s, %s, "
                "CASE WHEN m THEN %s::timestamptz END, CASE WHEN m THEN %s::timestamptz END, m FROM unnest("
                "%s::uuid[], %s::bigint[], %s::bigint[], %s::bigint[], %s::int[], %s::bigint[], %s::boolean[]"
                ") AS t(u, r, c, k, g, s, m)) "
                f"INSERT INTO {DeliveryPlanPending._meta.db_table} "
                "(content_id, recipient_min, recipient_max, created_at) "
                "SELECT c, lo, hi, %s FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS p(c, lo, hi)",
                [
                    list(keys),
                    now,
                    now,
                    now,
                    pg_array([r.uuid for r in rows]),
                    pg_array([r.recipient_id for r in rows]),
                    pg_array([r.content_id for r in rows]),
                    pg_array([r.category_id for r in rows]),
                    pg_array([keys[r.group_key] for r in rows]),
                    pg_array([r.seq for r in rows]),
                    pg_array(["t" if r.muted else "f" for r in rows]),
                    now,
                    pg_array([p[0] for p in plans]),
                    pg_array([p[1] for p in plans]),
                    pg_array([p[2] for p in plans]),
                ],
            )
        else:
            created = connection.ops.adapt_datetimefield_value(now)
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        r.uuid.hex,
                        r.recipient_id,
                        r.content_id,
                        r.category_id,
                        r.group_key,
                        r.seq,
                        created,
                        created if r.muted else None,
                        created if r.muted else None,
                        r.muted,
                    )
                    for r in rows
                ],
            )
            DeliveryPlanPending.objects.bulk_create(
                [
                    DeliveryPlanPending(content_id=c, recipient_min=lo, recipient_max=hi, created_at=now)
                    for c, lo, hi in plans
                ]
            )


def rows_after_insert(sends: Sequence[tuple[Content, Sequence[WrittenRow]]]) -> None:
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
