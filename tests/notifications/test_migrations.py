"""Migrations that move data: applied to a populated table on the database under test (SQLite or PostgreSQL)."""

import re
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from django.db import connection
from django.db.models import ProtectedError

from notifications import grouping
from notifications.delivery import partitions
from notifications.models import Category, Content, Notification
from notifications.services import notify
from tests.factories import make_user
from tests.migrating import migration_set

TABLE = Notification._meta.db_table
GROUP_KEY = ("notifications", "0016_notification_group_key")
CATEGORY_UNCHECKED = ("notifications", "0017_notification_category_unchecked")
CONTENT_UNCHECKED = ("notifications", "0018_notification_content_unchecked")


def _row_unmigrated(user, content: Content, seq: int, *, read: bool = False) -> None:
    """A row as the schema before the migration has it (raw SQL: the model names the column the migration adds)."""
    uuid, created = Notification._meta.get_field("uuid"), Notification._meta.get_field("created_at")
    at = created.get_db_prep_value(datetime.now(UTC) - timedelta(minutes=seq), connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (uuid, recipient_id, content_id, category_id, seq, created_at, read_at, muted) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                uuid.get_db_prep_value(uuid4(), connection),
                user.pk,
                content.pk,
                content.category_id,
                seq,
                at,
                at if read else None,
                False,
            ],
        )


def _misnamed_partition_indexes() -> list[str]:
    """Partition indexes not named `<parent index>_<partition suffix>` (the convention of 0012 and partitions.py)."""
    parents = partitions.partition_index_parents()
    return [c for c, p in parents.items() if not re.fullmatch(rf"{re.escape(p)}_(p[0-9]{{6}}|default)", c)]


def _index_columns(name: str) -> list[str]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, TABLE)[name]["columns"]


@pytest.mark.django_db(transaction=True)
def test_the_group_key_migration_copies_each_rows_key_from_its_content_and_indexes_it():
    try:
        # given the table before the migration, with rows of sends with and without a key, read and unread
        migration_set(GROUP_KEY, forwards=False)
        assert "group_key" not in {
            c.name for c in connection.introspection.get_table_description(connection.cursor(), TABLE)
        }
        alice, bob = make_user("alice"), make_user("bob")
        comment, mention = Category.objects.get(slug="comment"), Category.objects.get(slug="mention")
        keyed = Content.objects.create(category=comment, priority="normal", title="k", group_key="post:1")
        other = Content.objects.create(category=mention, priority="normal", title="m", group_key="post:1")
        plain = Content.objects.create(category=comment, priority="normal", title="p")
        _row_unmigrated(alice, keyed, 1)
        _row_unmigrated(bob, keyed, 1)
        _row_unmigrated(alice, other, 2)
        _row_unmigrated(alice, plain, 3)
        _row_unmigrated(alice, keyed, 4, read=True)
        # when the migration runs
        migration_set(GROUP_KEY, forwards=True)
        # then every row carries its content's key (and "" without one), and the unread index covers it
        keys = set(Notification.objects.values_list("recipient__username", "content__title", "seq", "group_key"))
        assert keys == {
            ("alice", "k", 1, "post:1"),
            ("bob", "k", 1, "post:1"),
            ("alice", "m", 2, "post:1"),
            ("alice", "p", 3, ""),
            ("alice", "k", 4, "post:1"),
        }
        assert _index_columns("notification_unread_idx") == ["recipient_id", "category_id", "group_key"]
        assert grouping.notification_unread_counts(user=alice) == {"rows": 3, "groups": 3}
    finally:
        migration_set(GROUP_KEY, forwards=True)


@pytest.mark.django_db(transaction=True)
def test_the_group_key_migration_names_each_partitions_index_after_the_parents(postgres):
    try:
        # given the migration unapplied and applied again
        migration_set(GROUP_KEY, forwards=False)
        migration_set(GROUP_KEY, forwards=True)
        # then every partition's index has the parent's name with the partition's suffix (the new unread index too)
        parents = partitions.partition_index_parents()
        suffixes = {child.removeprefix(f"{parent}_") for child, parent in parents.items()}
        unread = [child for child, parent in parents.items() if parent == "notification_unread_idx"]
        assert unread and len(unread) == len(suffixes)
        assert _misnamed_partition_indexes() == []
    finally:
        migration_set(GROUP_KEY, forwards=True)


def _rows_keys_and_category_indexes() -> dict[str, list[str]]:
    """PostgreSQL: per table (the parent and each partition), its foreign keys (any column) and its single-column
    indexes on category_id."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH t AS (SELECT to_regclass(%s) AS oid UNION ALL SELECT inhrelid FROM pg_inherits "
            "WHERE inhparent = to_regclass(%s)) "
            "SELECT c.relname, 'fk ' || a.attname FROM pg_constraint k JOIN t ON k.conrelid = t.oid "
            "JOIN pg_class c ON c.oid = t.oid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.conkey[1] "
            "WHERE k.contype = 'f' "
            "UNION ALL SELECT c.relname, 'index ' || a.attname FROM pg_index x JOIN t ON x.indrelid = t.oid "
            "JOIN pg_class c ON c.oid = t.oid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] "
            "WHERE x.indnatts = 1 AND a.attname = 'category_id'",
            [TABLE, TABLE],
        )
        checks: dict[str, list[str]] = {}
        for table, check in cursor.fetchall():
            checks.setdefault(table, []).append(check)
        return {table: sorted(found) for table, found in checks.items()}


@pytest.mark.django_db
def test_the_rows_category_has_no_constraint_or_index_of_its_own_on_the_parent_or_any_partition(postgres):
    # given the migrated schema, then every table of the notification rows keeps its recipient key (0018 dropped the
    # content's) and has neither a foreign key nor a single-column index on category_id
    checks = _rows_keys_and_category_indexes()
    assert TABLE in checks and len(checks) >= 2  # the parent and its partitions
    assert set(map(tuple, checks.values())) == {("fk recipient_id",)}


@pytest.mark.django_db(transaction=True)
def test_the_category_migration_backwards_restores_the_key_and_index_and_forwards_drops_them(postgres):
    try:
        # given the migration unapplied (and 0018 after it)
        migration_set(CATEGORY_UNCHECKED, forwards=False)
        # then every table has its category key and index again, the partitions' indexes named by convention
        restored = _rows_keys_and_category_indexes()
        assert set(map(tuple, restored.values())) == {
            ("fk category_id", "fk content_id", "fk recipient_id", "index category_id")
        }
        assert _misnamed_partition_indexes() == []
        # when it is applied again (0018 too), then both are gone from every table
        migration_set(CATEGORY_UNCHECKED, forwards=True)
        assert set(map(tuple, _rows_keys_and_category_indexes().values())) == {("fk recipient_id",)}
    finally:
        migration_set(CATEGORY_UNCHECKED, forwards=True)


@pytest.mark.django_db
def test_a_category_with_notifications_still_cannot_be_deleted():
    # given a send in a category
    alice = make_user("alice")
    category = Category.objects.get(slug="comment")
    notify(recipients=[alice], category="comment", title="Hi")
    # when staff try to delete the category, then the content's protection refuses it and nothing is deleted
    with pytest.raises(ProtectedError):
        category.delete()
    assert Category.objects.filter(pk=category.pk).exists()
    assert Notification.objects.filter(recipient=alice, category=category).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_content_migration_drops_the_rows_content_key_everywhere_and_backwards_restores_it(postgres):
    # given the migrated schema: the parent and its partitions, none with a key on content_id
    migrated = _rows_keys_and_category_indexes()
    assert TABLE in migrated and len(migrated) >= 2
    assert set(map(tuple, migrated.values())) == {("fk recipient_id",)}
    try:
        # when it is unapplied, then the parent and every partition have it again
        migration_set(CONTENT_UNCHECKED, forwards=False)
        restored = _rows_keys_and_category_indexes()
        assert set(restored) == set(migrated)
        assert set(map(tuple, restored.values())) == {("fk content_id", "fk recipient_id")}
        # when applied again, then it is gone everywhere
        migration_set(CONTENT_UNCHECKED, forwards=True)
        assert set(map(tuple, _rows_keys_and_category_indexes().values())) == {("fk recipient_id",)}
    finally:
        migration_set(CONTENT_UNCHECKED, forwards=True)


@pytest.mark.django_db
def test_deleting_a_content_still_deletes_its_rows_and_only_its_rows():
    # given two sends to alice and bob
    alice, bob = make_user("alice"), make_user("bob")
    gone = notify(recipients=[alice, bob], category="comment", title="gone")
    kept = notify(recipients=[alice, bob], category="comment", title="kept")
    # when staff delete one content through the ORM (the admin's delete)
    gone.content.delete()
    # then its rows went with it (Django's CASCADE), the other send's rows are untouched, no row points at nothing
    assert not Notification.objects.filter(content_id=gone.content.pk).exists()
    assert Notification.objects.filter(content=kept.content).count() == 2
    assert not Notification.objects.exclude(content_id__in=Content.objects.values("pk")).exists()


@pytest.mark.django_db
def test_a_broadcast_whose_content_was_deleted_midway_writes_no_further_batch():
    from notifications.broadcasts import notification_broadcast_batch

    # given a broadcast to three users that wrote its first batch
    make_user("alice"), make_user("bob"), make_user("carol")
    staff = make_user("ops", is_staff=True)
    content = Content.objects.create(
        category=Category.objects.get(slug="comment"), priority="normal", title="all", producer=f"user:{staff.pk}"
    )
    assert notification_broadcast_batch(content_id=content.pk, audience="all", batch_size=1) == 1
    # when its content is deleted, then the next batch writes nothing: no row without its content
    pk = content.pk
    content.delete()
    assert notification_broadcast_batch(content_id=pk, audience="all", batch_size=1) == 0
    assert not Notification.objects.filter(content_id=pk).exists()
