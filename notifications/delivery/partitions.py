"""PostgreSQL: the per-recipient notification table partitioned by time (RANGE on created_at, migration 0012).

Periods are NOTIFICATIONS_PARTITION_MONTHS calendar months (UTC), one partition each, named after the month they
start (`notifications_notification_p202612`), plus a DEFAULT partition so an insert never fails for want of one.
The daily maintenance creates the current and the next NOTIFICATIONS_PARTITIONS_AHEAD periods; retention drops whole
partitions whose every row is older than the cutoff. On SQLite (and a PostgreSQL table not partitioned) every
function here is a no-op: retention keeps its batched purge.

Rows in DEFAULT (a created_at outside every partition: a clock far off, an update of created_at, a maintenance run
missed for months) are moved into their period's partition when the maintenance creates it; those already older
than the retention cutoff stay in DEFAULT until the batched purge deletes them.
"""

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from ..models import Delivery, Notification, WebhookEventPending

logger = logging.getLogger(__name__)

TABLE = Notification._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")
# DETACH needs a short exclusive lock on the parent: never queue behind a long query (and block everyone behind it).
_LOCK_TIMEOUT = "5s"


class Partition(NamedTuple):
    name: str
    start: datetime
    end: datetime


def partitioned() -> bool:
    """Whether the notification table is a partitioned table here (PostgreSQL after migration 0012)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [TABLE])
        return cursor.fetchone() is not None


def period_start(at: datetime, months: int) -> datetime:
    """The start (UTC midnight, first of a month) of the period holding `at`; periods are aligned to January."""
    at = at.astimezone(UTC)
    index = at.year * 12 + at.month - 1
    index -= index % months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def period_add(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"{TABLE}_p{start:%Y%m}"


def partitions_list() -> list[Partition]:
    """The range partitions (not DEFAULT), oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound)
        if match:  # DEFAULT has no range
            found.append(Partition(name, datetime.fromisoformat(match[1]), datetime.fromisoformat(match[2])))
    return sorted(found, key=lambda p: p.start)


def partition_index_parents() -> dict[str, str]:
    """Each partition's index -> the parent table's index it implements (EXPLAIN names the partition's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_index x ON x.indexrelid = p.oid "
            "WHERE x.indrelid = %s::regclass",
            [TABLE],
        )
        return dict(cursor.fetchall())


def _gaps(start: datetime, end: datetime, existing: list[Partition]) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) no existing partition covers (periods can change length between runs)."""
    gaps, cursor = [], start
    for p in existing:
        if p.end <= cursor or p.start >= end:
            continue
        if p.start > cursor:
            gaps.append((cursor, p.start))
        cursor = max(cursor, p.end)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


def partition_indexes_name(partition: str) -> None:
    """Name each index of a partition after the parent's index it implements (`notification_unread_idx_p202612`):
    PostgreSQL's own names are truncated column lists, and an EXPLAIN should say which index it used."""
    suffix = partition.removeprefix(f"{TABLE}_")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_index x ON x.indexrelid = c.oid "
            "WHERE x.indrelid = %s::regclass",
            [partition],
        )
        for child, parent in cursor.fetchall():
            if child != f"{parent}_{suffix}":
                cursor.execute(f'ALTER INDEX "{child}" RENAME TO "{parent}_{suffix}"')


def bound_literal(at: datetime) -> str:
    """A partition bound as an SQL literal: DDL takes no bound parameters (the server binds them, settings)."""
    return f"'{at.astimezone(UTC).isoformat()}'::timestamptz"


@transaction.atomic
def _partition_create(start: datetime, end: datetime) -> int:
    """Create the partition [start, end), moving into it the rows DEFAULT holds for that range. Returns how many.

    Built apart and attached: ATTACH takes only a SHARE UPDATE EXCLUSIVE lock on the parent (reads and writes go on)
    and creates the parent's indexes and foreign keys on it. DEFAULT is locked first (ATTACH needs that lock anyway)
    so no row can land in it for this range between the move and the attach."""
    name = partition_name(start)
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE ONLY {TABLE} IN SHARE UPDATE EXCLUSIVE MODE")
        cursor.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING STORAGE)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE created_at >= %s AND created_at < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [start, end],
        )
        moved = cursor.rowcount
        # A matching CHECK lets ATTACH skip scanning the new table; it is redundant afterwards.
        lo, hi = bound_literal(start), bound_literal(end)
        cursor.execute(
            f"ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK (created_at >= {lo} AND created_at < {hi})"
        )
        cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})")
        cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range")
    partition_indexes_name(name)
    return moved


def partitions_maintain(*, now: datetime | None = None, since: datetime | None = None) -> list[str]:
    """Create the partitions of the current period and the next NOTIFICATIONS_PARTITIONS_AHEAD ones (from the period
    of `since` on, when given: before loading history), and of every period (within retention) that rows in
    DEFAULT belong to. Idempotent; returns the names created."""
    if not partitioned():
        return []
    now = now or timezone.now()
    months = settings.NOTIFICATIONS_PARTITION_MONTHS
    cutoff = now - timedelta(days=max(30, settings.NOTIFICATIONS_RETENTION_DAYS))
    first = period_start(min(since or now, now), months)
    last = period_add(period_start(now, months), settings.NOTIFICATIONS_PARTITIONS_AHEAD * months)
    starts = set()
    while first <= last:
        starts.add(first)
        first = period_add(first, months)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') FROM {DEFAULT_PARTITION} "
            "WHERE created_at >= %s",
            [cutoff],
        )
        starts |= {period_start(m.replace(tzinfo=UTC), months) for (m,) in cursor.fetchall()}
    created = []
    for start in sorted(starts):
        for lo, hi in _gaps(start, period_add(start, months), partitions_list()):
            moved = _partition_create(lo, hi)
            created.append(partition_name(lo))
            logger.info("partitions: %s created (%d rows moved from DEFAULT)", partition_name(lo), moved)
    return created


def _detached_tables() -> list[str]:
    """Partitions detached by a drop that did not finish (the process died between its transactions)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname ~ %s "
            "AND NOT c.relispartition AND pg_table_is_visible(c.oid)",
            [f"^{TABLE}_p[0-9]{{6}}$"],
        )
        return [name for (name,) in cursor.fetchall()]


def _references_delete(table: str) -> None:
    """Set-based: the deliveries and pending webhook events of every row in `table` (they have no foreign key to
    the partitioned table, so nothing else removes them)."""
    with connection.cursor() as cursor:
        for model in (Delivery, WebhookEventPending):
            cursor.execute(f"DELETE FROM {model._meta.db_table} r USING {table} n WHERE r.notification_id = n.id")


def partitions_drop(*, cutoff: datetime) -> int:
    """Detach and drop every partition whose whole range is older than `cutoff`, with their deliveries and pending
    webhook events first. Returns how many notifications went.

    Three short transactions per partition: references deleted (set-based, through their notification_id indexes),
    DETACH (a brief exclusive lock on the parent, under a lock timeout: a busy table is retried the next day), then
    the references that appeared meanwhile, the count and DROP on the detached table, which nobody else sees."""
    if not partitioned():
        return 0
    dropped = 0
    for p in partitions_list():
        if p.end > cutoff:
            continue
        with transaction.atomic():
            _references_delete(p.name)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
                cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {p.name}")
        except OperationalError as exc:  # the lock timeout: the next run detaches it
            logger.warning("partitions: %s not detached this time: %s", p.name, exc)
    for name in _detached_tables():
        with transaction.atomic(), connection.cursor() as cursor:
            _references_delete(name)
            cursor.execute(f"SELECT count(*) FROM {name}")
            count = cursor.fetchone()[0]
            cursor.execute(f"DROP TABLE {name}")
        dropped += count
        logger.info("partitions: %s dropped (%d notifications)", name, count)
    return dropped
