"""The per-recipient row carries its content's group_key, and the partial unread index covers it.

Every grouped unread count ("Bob and 3 others") joined each unread row to its content for the key; with the key on
the row and in the index, (recipient, category, group_key) where unread, the counts are index-only scans.

Existing rows get their content's key in one set-based UPDATE (before the index exists, so it maintains nothing).
On PostgreSQL the notification table is partitioned (0012): the column and the index on the parent reach every
partition, and each partition's index is renamed after the parent's (`notification_unread_idx_p202612`), the
convention of 0012 and delivery/partitions.py, which PostgreSQL's own child names do not follow. Self-contained SQL
(no app code: migrations must not change when the code does).
"""

from django.db import migrations, models

TABLE = "notifications_notification"
CONTENT = "notifications_content"


def group_key_backfill(apps, schema_editor):
    """Each row's group_key from its content, one statement (rows of sends without a key keep the default "")."""
    if schema_editor.connection.vendor == "postgresql":
        sql = (
            f"UPDATE {TABLE} n SET group_key = c.group_key FROM {CONTENT} c "
            "WHERE c.id = n.content_id AND c.group_key <> ''"
        )
    else:
        sql = (
            f"UPDATE {TABLE} SET group_key = (SELECT c.group_key FROM {CONTENT} c WHERE c.id = {TABLE}.content_id) "
            f"WHERE content_id IN (SELECT id FROM {CONTENT} WHERE group_key <> '')"
        )
    schema_editor.execute(sql)


def partition_indexes_name(apps, schema_editor):
    """PostgreSQL, partitioned: name each partition's index after the parent's index it implements."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, p.relname, t.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_index x ON x.indexrelid = c.oid "
            "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_index px ON px.indexrelid = p.oid "
            "WHERE px.indrelid = to_regclass(%s)",
            [TABLE],
        )
        for child, parent, partition_table in cursor.fetchall():
            name = f"{parent}_{partition_table.removeprefix(TABLE + '_')}"
            if child != name:
                cursor.execute(f'ALTER INDEX "{child}" RENAME TO "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0015_content_changed_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="group_key",
            field=models.CharField(blank=True, db_default="", default="", max_length=200),
        ),
        migrations.RunPython(group_key_backfill, migrations.RunPython.noop),
        # Backwards: the old index's partition indexes get the project's names again.
        migrations.RunPython(migrations.RunPython.noop, partition_indexes_name),
        migrations.RemoveIndex(
            model_name="notification",
            name="notification_unread_idx",
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("archived_at__isnull", True), ("read_at__isnull", True), ("snoozed_until__isnull", True)),
                fields=["recipient", "category", "group_key"],
                name="notification_unread_idx",
            ),
        ),
        migrations.RunPython(partition_indexes_name, migrations.RunPython.noop),
    ]
