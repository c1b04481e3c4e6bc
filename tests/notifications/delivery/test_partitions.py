"""PostgreSQL time partitioning of the notification table (migration 0012, delivery/partitions.py, retention).

Every test but the last asks for the `postgres` fixture: skipped on a laptop without PostgreSQL, failed in CI
(REQUIRE_SERVICES). The last checks that SQLite, the embedded default, keeps the plain table and the batched purge.
"""

import itertools
import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import grouping, selectors
from notifications.delivery import partitions
from notifications.delivery.partitions import DEFAULT_PARTITION, TABLE, partition_name, period_add, period_start
from notifications.delivery.retention import notifications_purge
from notifications.models import Category, Content, Delivery, DeliveryPlanPending, Notification
from tests.factories import make_user, make_users, send
from tests.migrating import migration_set

PARTITION = ("notifications", "0012_partition")


def _partition_of(notification_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [notification_id])
        return cursor.fetchone()[0]


def _table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def _one(user, *, created_at: datetime, title: str = "x") -> Notification:
    """A notification of `user` (and its content) created at that time, with an email delivery (moved there by an
    UPDATE: PostgreSQL routes the row to the partition of its new created_at)."""
    result = send([user], title=title, plan=False)
    DeliveryPlanPending.objects.filter(content=result.content).delete()  # planned: only the delivery below
    row = Notification.objects.get(content=result.content)
    Notification.objects.filter(pk=row.pk).update(created_at=created_at)
    Content.objects.filter(pk=row.content_id).update(created_at=created_at)
    row.created_at = created_at
    Delivery.objects.create(notification=row, channel="email", target="", due_at=created_at)
    return row


def _one_unmigrated(user, *, created_at: datetime) -> Notification:
    """_one on the schema of 0012's time (the later migrations unapplied with it): the row written in raw SQL that
    names only that schema's columns (the write path names the columns added since), and not read back whole."""
    content = Content.objects.create(category=Category.objects.get(slug="comment"), priority="normal", title="x")
    Content.objects.filter(pk=content.pk).update(created_at=created_at)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH s AS (INSERT INTO notifications_userseq (user_id, last_seq) VALUES (%s, 1) ON CONFLICT (user_id) "
            "DO UPDATE SET last_seq = notifications_userseq.last_seq + 1 RETURNING last_seq) "
            f"INSERT INTO {TABLE} (uuid, recipient_id, content_id, category_id, seq, created_at, muted) "
            "SELECT gen_random_uuid(), %s, %s, %s, s.last_seq, %s, false FROM s RETURNING id, uuid, seq",
            [user.pk, user.pk, content.pk, content.category_id, created_at],
        )
        pk, uuid, seq = cursor.fetchone()
    row = Notification(pk=pk, uuid=uuid, recipient=user, content=content, seq=seq, created_at=created_at)
    Delivery.objects.create(notification=row, channel="email", target="", due_at=created_at)
    return row


def _month_ago(now: datetime, days: int) -> datetime:
    return period_start(now - timedelta(days=days), 1)


def test_table_is_partitioned_by_month_after_migrate_with_the_next_months_and_a_default(postgres, db, settings):
    now = timezone.now()
    first = period_start(now, settings.NOTIFICATIONS_PARTITION_MONTHS)
    names = [p.name for p in partitions.partitions_list()]
    assert partitions.partitioned() is True
    assert {partition_name(first), partition_name(period_add(first, 1)), partition_name(period_add(first, 2))} <= set(
        names
    )
    assert _table_exists(DEFAULT_PARTITION)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            [TABLE],
        )
        assert cursor.fetchone()[0] == "PRIMARY KEY (id, created_at)"


def test_a_send_lands_in_the_current_months_partition_not_in_default(postgres, alice):
    result = send([alice], plan=False)
    row = Notification.objects.get(content=result.content)
    assert _partition_of(row.pk) == partition_name(period_start(row.created_at, 1))
    assert _partition_of(row.pk) != DEFAULT_PARTITION


def test_maintenance_creates_a_future_months_partition_and_moves_its_rows_out_of_default(postgres, alice):
    # given a row in a month no partition covers yet: it is in DEFAULT (an insert never fails)
    future = period_add(period_start(timezone.now(), 1), 5) + timedelta(days=3)
    row = _one(alice, created_at=future)
    assert _partition_of(row.pk) == DEFAULT_PARTITION
    # when the maintenance runs in that month
    created = partitions.partitions_maintain(now=future)
    # then that month and the next two have partitions, and the row moved into its own, with its delivery intact
    month = period_start(future, 1)
    assert created == [
        partition_name(month),
        partition_name(period_add(month, 1)),
        partition_name(period_add(month, 2)),
    ]
    assert _partition_of(row.pk) == partition_name(month)
    assert Notification.objects.get(pk=row.pk).uuid == row.uuid
    assert Delivery.objects.filter(notification_id=row.pk).count() == 1
    # and a later row of that month goes straight to the new partition
    later = _one(alice, created_at=future + timedelta(days=1))
    assert _partition_of(later.pk) == partition_name(month)
    # and the new partition carries the parent's indexes
    parents = partitions.partition_index_parents()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass",
            [partition_name(month)],
        )
        own = [name for (name,) in cursor.fetchall()]
    suffix = partition_name(month).removeprefix(f"{TABLE}_")
    assert {parents[i] for i in own if i == f"{parents[i]}_{suffix}"} >= {
        "notification_unread_idx",
        "notification_recipient_seq_unique",
        "notification_created_idx",
        f"{TABLE}_pkey",
    }


def test_maintenance_is_idempotent(postgres, db):
    partitions.partitions_maintain()
    before = partitions.partitions_list()
    assert partitions.partitions_maintain() == []
    assert partitions.partitions_list() == before


def test_maintenance_with_longer_periods_fills_only_the_gaps(postgres, db, settings):
    # given monthly partitions for this month and the next two, then periods of 3 months
    settings.NOTIFICATIONS_PARTITION_MONTHS = 3
    now = timezone.now()
    before = partitions.partitions_list()
    # when the maintenance runs
    partitions.partitions_maintain(now=now)
    # then the ranges are contiguous from this month on, with no overlap, to at least 3 periods of 3 months ahead
    after = [p for p in partitions.partitions_list() if p.end > now]
    assert all(a.end == b.start for a, b in itertools.pairwise(after))
    assert after[-1].end >= period_add(period_start(now, 3), 9)
    assert set(before) <= set(partitions.partitions_list())


def test_rows_in_default_older_than_retention_get_no_partition_and_are_purged(postgres, alice, settings):
    settings.NOTIFICATIONS_RETENTION_DAYS = 30
    old = _one(alice, created_at=timezone.now() - timedelta(days=200))
    assert partitions.partitions_maintain() == []
    assert _partition_of(old.pk) == DEFAULT_PARTITION
    assert notifications_purge() == 1
    assert not Notification.objects.filter(pk=old.pk).exists()
    assert not Delivery.objects.filter(notification_id=old.pk).exists()


def test_retention_drops_whole_old_partitions_with_their_deliveries_and_keeps_30_days(postgres, alice, bob, settings):
    # given retention at its floor (30 days) and rows 200 days old (in a partition of their own), 31 days old
    # and 29 days old
    settings.NOTIFICATIONS_RETENTION_DAYS = 30
    now = timezone.now()
    ancient = _one(alice, created_at=now - timedelta(days=200), title="ancient")
    ancient_bob = _one(bob, created_at=now - timedelta(days=200) + timedelta(hours=1), title="ancient")
    partitions.partitions_maintain(now=now - timedelta(days=200))
    old_partition = partition_name(_month_ago(now, 200))
    assert _partition_of(ancient.pk) == old_partition
    stale = _one(alice, created_at=now - timedelta(days=31), title="stale")
    kept = _one(alice, created_at=now - timedelta(days=29), title="kept")
    # when retention runs
    purged = notifications_purge(now=now)
    # then the old partition is gone as a table, with its deliveries; the 31-day row went by the batched purge
    assert purged == 3
    assert old_partition not in [p.name for p in partitions.partitions_list()]
    assert not _table_exists(old_partition)
    assert not Delivery.objects.filter(notification_id__in=[ancient.pk, ancient_bob.pk, stale.pk]).exists()
    assert list(Notification.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not Content.objects.filter(pk__in=[ancient.content_id, ancient_bob.content_id]).exists()
    # and 29 days of history stay, with their delivery, and the partitions of this month and ahead
    assert Delivery.objects.filter(notification_id=kept.pk).count() == 1
    assert partition_name(period_start(now, 1)) in [p.name for p in partitions.partitions_list()]
    assert selectors.notification_oldest_seq(user=alice) == kept.seq


def test_retention_finishes_a_drop_a_dead_process_left_detached(postgres, alice, settings):
    # given an old partition detached but not dropped (a crash between the two transactions)
    settings.NOTIFICATIONS_RETENTION_DAYS = 30
    now = timezone.now()
    ancient = _one(alice, created_at=now - timedelta(days=300))
    partitions.partitions_maintain(now=now - timedelta(days=300))
    name = partition_name(_month_ago(now, 300))
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name}")
    assert not Notification.objects.filter(pk=ancient.pk).exists()
    # when retention runs
    assert notifications_purge(now=now) == 1
    # then the leftover table and the deliveries of its rows are gone
    assert not _table_exists(name)
    assert not Delivery.objects.filter(notification_id=ancient.pk).exists()


def test_deleting_a_user_still_cascades_to_their_notifications_and_deliveries(postgres, alice, bob):
    # given notifications and deliveries of two users (no foreign key from Delivery to the partitioned table)
    mine = _one(alice, created_at=timezone.now())
    theirs = _one(bob, created_at=timezone.now())
    # when alice is deleted
    alice.delete()
    # then the ORM's collector removed her rows and their deliveries, and nothing of bob's
    assert not Notification.objects.filter(pk=mine.pk).exists()
    assert not Delivery.objects.filter(notification_id=mine.pk).exists()
    assert Notification.objects.filter(pk=theirs.pk).exists()
    assert Delivery.objects.filter(notification_id=theirs.pk).count() == 1


def _plans(queries) -> dict[str, str]:
    """EXPLAIN of every statement each selector runs, as the ORM sends it."""
    plans = {}
    with connection.cursor() as cursor:
        for name, query in queries.items():
            with CaptureQueriesContext(connection) as captured:
                query()
            lines = []
            for q in captured.captured_queries:
                cursor.execute("EXPLAIN (COSTS OFF) " + q["sql"])
                lines += [row[0] for row in cursor.fetchall()]
            plans[name] = "\n".join(lines)
    return plans


def test_unread_count_inbox_page_and_replay_use_the_indexes_on_every_partition(postgres, db):
    # given 200 users with 5 notifications each (half unread) in each of three months: two back, last, this one
    now = timezone.now()
    partitions.partitions_maintain(since=now - timedelta(days=65))
    users = make_users(200, "part")
    content = send([users[0]], plan=False).content
    DeliveryPlanPending.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (uuid, recipient_id, content_id, category_id, seq, created_at, read_at) "
            "SELECT gen_random_uuid(), u, %s, %s, 100 + g, %s - make_interval(days => (ARRAY[65, 35, 0])[1 + g / 5]), "
            "CASE WHEN g %% 2 = 0 THEN %s END "
            "FROM unnest(%s::int[]) AS u, generate_series(0, 14) AS g",
            [content.pk, content.category_id, now, now, [u.pk for u in users]],
        )
        cursor.execute(f"SELECT count(*) FROM {DEFAULT_PARTITION}")
        assert cursor.fetchone()[0] == 0
        cursor.execute(f"ANALYZE {TABLE}")
    user = users[0]
    # when the selectors' queries are explained
    plans = _plans(
        {
            "unread_count": lambda: selectors.notification_unread_count(user=user),
            "unread_totals": lambda: grouping.notification_unread_totals(user=user),
            "inbox_page": lambda: list(selectors.notification_list(user=user)[:50]),
            "replay": lambda: selectors.notification_replay(user=user, after_seq=105),
        }
    )
    # then each partition holding rows is read through the intended index, never scanned whole (an empty one, the
    # months ahead or DEFAULT, may be: it has no page to read)
    parents = partitions.partition_index_parents()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.relname, t.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_class t ON t.oid = x.indrelid WHERE t.relname LIKE %s",
            [f"{TABLE}_%"],
        )
        table_of = dict(cursor.fetchall())
    filled = {partition_name(period_start(now - timedelta(days=d), 1)) for d in (65, 35, 0)}
    expected = {
        "unread_count": "notification_unread_idx",
        "unread_totals": "notification_unread_idx",
        "inbox_page": "notification_recipient_seq_unique",
        "replay": "notification_recipient_seq_unique",
    }
    for name, plan in plans.items():
        used = [
            i
            for i in re.findall(r"(?:Index (?:Only )?Scan(?: Backward)? using|Bitmap Index Scan on) (\S+)", plan)
            if table_of.get(i) in filled
        ]
        assert not set(re.findall(r"Seq Scan on (\S+)", plan)) & (filled | {TABLE}), plan
        assert {table_of[i] for i in used} == filled, plan
        assert {parents[i] for i in used} == {expected[name]}, plan


def _referrers() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text FROM pg_constraint WHERE confrelid = %s::regclass AND contype = 'f'",
            [TABLE],
        )
        return {t for (t,) in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_migration_converts_a_populated_table_and_back(postgres):
    try:
        # given the table before 0012 (plain, foreign keys to it) with rows from several months and deliveries
        migration_set(PARTITION, forwards=False)
        assert partitions.partitioned() is False
        assert _referrers() == {"notifications_delivery", "notifications_webhookeventpending"}
        alice, bob = make_user("alice"), make_user("bob")
        now = datetime.now(UTC)
        rows = [_one_unmigrated(u, created_at=now - timedelta(days=d)) for u in (alice, bob) for d in (150, 40, 0)]
        deleted_id = rows[0].pk
        rows[0].delete()  # a gap in the ids: the sequence must continue past the highest id ever handed out
        snapshot = set(Notification.objects.values_list("pk", "uuid", "recipient_id", "seq", "created_at"))
        deliveries = set(Delivery.objects.values_list("pk", "notification_id"))
        # when 0012 runs
        migration_set(PARTITION, forwards=True)
        # then the table is partitioned, each row in its month's partition, nothing lost or changed
        assert partitions.partitioned() is True
        assert set(Notification.objects.values_list("pk", "uuid", "recipient_id", "seq", "created_at")) == snapshot
        assert set(Delivery.objects.values_list("pk", "notification_id")) == deliveries
        for row in rows[1:]:
            assert _partition_of(row.pk) == partition_name(period_start(row.created_at, 1))
        assert _referrers() == set()
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [TABLE])
            indexes = {name for (name,) in cursor.fetchall()}
        assert {
            "notification_unread_idx",
            "notification_recipient_seq_unique",
            "notification_created_idx",
            "notification_saved_idx",
            "notification_snoozed_idx",
            "notification_wake_idx",
            "notifications_notification_uuid_key",
            f"{TABLE}_pkey",
        } <= indexes
        assert selectors.notification_unread_count(user=alice) == 2
        # and new rows get ids above every id handed out before
        fresh = _one(alice, created_at=now)
        assert fresh.pk > max(pk for pk, *_ in snapshot) and fresh.pk > deleted_id
        snapshot.add((fresh.pk, fresh.uuid, alice.pk, fresh.seq, now))
        # and partitions the maintenance attached later (built apart, not by the migration) go back with the rest
        later = _one(bob, created_at=now + timedelta(days=150))
        assert len(partitions.partitions_maintain(now=now + timedelta(days=150))) == 3
        snapshot.add((later.pk, later.uuid, bob.pk, later.seq, later.created_at))
        # when it is reversed
        migration_set(PARTITION, forwards=False)
        # then the plain table is back with the same rows and the foreign keys to it
        assert partitions.partitioned() is False
        assert {r[0] for r in Notification.objects.values_list("pk", "uuid")} == {r[0] for r in snapshot}
        assert _referrers() == {"notifications_delivery", "notifications_webhookeventpending"}
        assert _one_unmigrated(bob, created_at=now).pk > fresh.pk
        # and the columns keep their database defaults (a raw INSERT that does not name muted still works)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT column_default FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
                [TABLE, "muted"],
            )
            assert cursor.fetchone() == ("false",)
    finally:
        migration_set(PARTITION, forwards=True)
    assert partitions.partitioned() is True


def test_command_creates_the_periods_since_a_date_before_history_is_loaded(postgres, db):
    # given no partition for 4 months back
    back = period_start(timezone.now(), 1)
    for _ in range(4):
        back = period_start(back - timedelta(days=1), 1)
    assert partition_name(back) not in [p.name for p in partitions.partitions_list()]
    # when the command runs with --since that month
    out = StringIO()
    call_command("partitions_maintain", since=f"{back:%Y-%m-%d}", stdout=out)
    # then that month and every one up to this month have partitions
    names = [p.name for p in partitions.partitions_list()]
    month = back
    while month <= timezone.now():
        assert partition_name(month) in names
        month = period_add(month, 1)
    assert out.getvalue().startswith("4 partitions created: ")


def test_command_refuses_a_malformed_date_and_creates_nothing(postgres, db):
    before = partitions.partitions_list()
    with pytest.raises(CommandError, match="--since must be YYYY-MM-DD"):
        call_command("partitions_maintain", since="last year")
    assert partitions.partitions_list() == before


def test_on_sqlite_partitioning_is_a_no_op_and_retention_purges_in_batches(alice, settings):
    if connection.vendor != "sqlite":
        pytest.skip("the embedded default (SQLite) only")
    settings.NOTIFICATIONS_RETENTION_DAYS = 30
    old = _one(alice, created_at=timezone.now() - timedelta(days=200))
    assert partitions.partitioned() is False
    assert partitions.partitions_maintain() == []
    assert partitions.partitions_drop(cutoff=timezone.now()) == 0
    assert Notification.objects.filter(pk=old.pk).exists()
    assert notifications_purge() == 1
    assert not Notification.objects.filter(pk=old.pk).exists()
