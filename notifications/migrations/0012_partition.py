"""PostgreSQL: the notification table becomes a table partitioned by RANGE (created_at); a no-op on SQLite.

Self-contained SQL (no app code: migrations must not change when the code does). Forward, under an exclusive lock:
a partitioned copy with one partition per period holding rows (plus the current and the next
NOTIFICATIONS_PARTITIONS_AHEAD, plus DEFAULT), every row copied, the names swapped; the primary key becomes
(id, created_at), each unique constraint gets created_at appended (a unique index on a partitioned table must hold
the partition key; seq uniqueness comes from the UserSeq counter, uuid uniqueness from random UUIDs), the other
indexes and the foreign keys from the table are recreated under their names, ids keep coming from a sequence that
continues where the old one was. The foreign keys TO the table (Delivery, WebhookEventPending) are dropped: they
would need a unique index on id alone. Backward does the reverse (a plain table, constraints without created_at,
an identity id, those foreign keys back). Copying takes minutes for tens of millions of rows: docs/operations.md.
"""

import re
from datetime import UTC, datetime

from django.conf import settings
from django.db import migrations, models

TABLE = "notifications_notification"
NEW = f"{TABLE}_partitioned"
PLAIN = f"{TABLE}_plain"
REFERRERS = (("Delivery", "notification"), ("WebhookEventPending", "notification"))


def _month_index(at: datetime) -> int:
    return at.year * 12 + at.month - 1


def _month(index: int) -> datetime:
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _table_definition(cursor, table):
    """What Django created on the table, to recreate under the same names: (unique constraints, foreign keys,
    other indexes), each as (name, SQL definition)."""
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY conname",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary AND NOT x.indisunique ORDER BY i.relname",
        [table],
    )
    indexes = cursor.fetchall()
    uniques = [(n, d) for n, t, d in constraints if t == "u"]
    fks = [(n, d) for n, t, d in constraints if t == "f"]
    return uniques, fks, indexes


def _is_partitioned(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [TABLE])
    return cursor.fetchone() is not None


def _last_id(cursor) -> int:
    cursor.execute(f"SELECT pg_get_serial_sequence('{TABLE}', 'id')")
    sequence = cursor.fetchone()[0]
    cursor.execute(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}")
    used = cursor.fetchone()[0]
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {TABLE}")
    return max(used, cursor.fetchone()[0])


def _sequence_continue(cursor, last: int) -> None:
    cursor.execute(f"SELECT pg_get_serial_sequence('{TABLE}', 'id')")
    sequence = cursor.fetchone()[0]
    if last:
        cursor.execute("SELECT setval(%s, %s, true)", [sequence, last])
    else:
        cursor.execute("SELECT setval(%s, 1, false)", [sequence])


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    months = settings.NOTIFICATIONS_PARTITION_MONTHS
    ahead = settings.NOTIFICATIONS_PARTITIONS_AHEAD
    with schema_editor.connection.cursor() as cursor:
        if _is_partitioned(cursor):
            return
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        uniques, fks, indexes = _table_definition(cursor, TABLE)
        cursor.execute(
            "SELECT conname, conrelid::regclass::text FROM pg_constraint WHERE confrelid = %s::regclass "
            "AND contype = 'f'",
            [TABLE],
        )
        referrers = cursor.fetchall()
        last = _last_id(cursor)
        cursor.execute(f"SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') FROM {TABLE}")
        used = {_month_index(m) for (m,) in cursor.fetchall()}
        now = _month_index(datetime.now(UTC))
        used |= set(range(now, now + (ahead + 1) * months))
        starts = sorted({i - i % months for i in used})

        cursor.execute(
            f"CREATE TABLE {NEW} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING STORAGE) PARTITION BY RANGE (created_at)"
        )
        for start in starts:
            lo, hi = _month(start), _month(start + months)
            # Literals: DDL takes no bound parameters (with server-side binding, settings).
            bounds = f"'{lo.isoformat()}'::timestamptz) TO ('{hi.isoformat()}'::timestamptz"
            cursor.execute(f"CREATE TABLE {TABLE}_p{lo:%Y%m} PARTITION OF {NEW} FOR VALUES FROM ({bounds})")
        cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {NEW} DEFAULT")
        cursor.execute(f"INSERT INTO {NEW} SELECT * FROM {TABLE}")
        for name, table in referrers:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cursor.execute(f"DROP TABLE {TABLE}")
        cursor.execute(f"ALTER TABLE {NEW} RENAME TO {TABLE}")

        cursor.execute(f"CREATE SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")
        _sequence_continue(cursor, last)
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, created_at)")
        for name, definition in uniques:
            widened = re.sub(r"\)$", ", created_at)", definition)
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {widened}')
        for name, definition in fks:
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
        for _name, definition in indexes:
            cursor.execute(definition)
        # Each partition's index named after the parent's (`notification_unread_idx_p202612`), so plans say which.
        cursor.execute(
            "SELECT c.relname, p.relname, t.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_index x ON x.indexrelid = c.oid "
            "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_index px ON px.indexrelid = p.oid "
            "WHERE px.indrelid = %s::regclass",
            [TABLE],
        )
        for child, parent, partition_table in cursor.fetchall():
            cursor.execute(f'ALTER INDEX "{child}" RENAME TO "{parent}_{partition_table.removeprefix(TABLE + "_")}"')


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        if not _is_partitioned(cursor):
            return
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        uniques, fks, indexes = _table_definition(cursor, TABLE)
        last = _last_id(cursor)
        # Column defaults too (db_default columns: raw INSERTs rely on them), but not id's: its sequence goes with
        # the partitioned table, and the identity below replaces it.
        cursor.execute(f"CREATE TABLE {PLAIN} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING STORAGE)")
        cursor.execute(f"ALTER TABLE {PLAIN} ALTER COLUMN id DROP DEFAULT")
        cursor.execute(f"INSERT INTO {PLAIN} SELECT * FROM {TABLE}")
        cursor.execute(f"DROP TABLE {TABLE}")  # its partitions and its sequence with it
        cursor.execute(f"ALTER TABLE {PLAIN} RENAME TO {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
        _sequence_continue(cursor, last)
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        for name, definition in uniques:
            narrowed = re.sub(r", created_at\)$", ")", definition)
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {narrowed}')
        for name, definition in fks:
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
        for _name, definition in indexes:
            cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))
    for model_name, field_name in REFERRERS:
        model = apps.get_model("notifications", model_name)
        field = model._meta.get_field(field_name)
        schema_editor.execute(schema_editor._create_fk_sql(model, field, "_fk_%(to_table)s_%(to_column)s"))


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0011_merge_0010_saved_snooze_0010_webhooks"),
    ]

    operations = [
        # Django's state only: the database side is the PostgreSQL-only step below (SQLite keeps its constraints).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="notification",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="deliveries",
                        to="notifications.notification",
                    ),
                ),
                migrations.AlterField(
                    model_name="webhookeventpending",
                    name="notification",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="+",
                        to="notifications.notification",
                    ),
                ),
            ],
        ),
        migrations.RunPython(partition, unpartition),
    ]
