"""S7: unread count (total, by category) and the first inbox page with 10 M notification rows.

The table is generated in SQL (INSERT ... SELECT generate_series, indexes built after the load) into its own
database and kept between runs while its layout is unchanged (the load takes minutes; the measurement seconds).
Two kinds of users are measured through the ORM, with the selectors' own queries: typical users (200
notifications, 20 unread) and heavy users (100,000 notifications, 10,000 unread: the worst case for a count).
EXPLAIN ANALYZE of each query is kept in the JSON and checked for the intended index.

On PostgreSQL the table is partitioned by month (migration 0012): the periods of the generated rows are created
before the load (`manage.py partitions_maintain --since`), so no row lands in DEFAULT, and the check asks for the
intended index on every partition (each partition's index is named after the parent's) and no Seq Scan on any.
"""

import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import env
from bench.core import Context, Result, percentile
from bench.worker import Worker

DB = "inbox"
LAYOUT = 3  # bump when the generated data changes shape (3: partitioned by month, history spread over SPAN_DAYS)
TYPICAL_ROWS, TYPICAL_UNREAD, TYPICAL_ARCHIVED = 200, 20, 5
HEAVY_USERS, HEAVY_ROWS = 2, 100_000
CONTENTS = 10_000
SPAN_DAYS = 85  # within the default retention (90 days)
PAGE_SIZE = 50
TABLE = "notifications_notification"
EXPECTED_INDEX = {
    "unread_count": "notification_unread_idx",
    "unread_by_category": "notification_unread_idx",
    "unread_totals": "notification_unread_idx",
    "inbox_first_page": "notification_recipient_seq_unique",
    "replay": "notification_recipient_seq_unique",
}


def _layout(rows: int) -> dict[str, int]:
    heavy_rows = min(HEAVY_ROWS, rows // 20)
    typical_users = (rows - HEAVY_USERS * heavy_rows) // TYPICAL_ROWS
    return {
        "layout": LAYOUT,
        "rows": typical_users * TYPICAL_ROWS + HEAVY_USERS * heavy_rows,
        "typical_users": typical_users,
        "heavy_users": HEAVY_USERS,
        "heavy_rows": heavy_rows,
        "heavy_unread": heavy_rows // 10,
    }


def _signature(layout: dict[str, int]) -> str:
    return ";".join(f"{k}={v}" for k, v in sorted(layout.items()))


def _loaded(conn: Any) -> str | None:
    """The signature of the generated data, if a load completed (indexes included)."""
    conn.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text NOT NULL)")
    row = conn.execute("SELECT value FROM bench_meta WHERE key = 'signature'").fetchone()
    present = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [TABLE])}
    if row is None or not set(EXPECTED_INDEX.values()) <= present:
        return None
    return row[0]


def _secondary_indexes(conn: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Unique constraints and plain indexes of the notification table (not the primary key), with their DDL."""
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u'",
        [TABLE],
    ).fetchall()
    names = {c for c, _ in constraints}
    indexes = conn.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary",
        [TABLE],
    ).fetchall()
    return constraints, [(n, d) for n, d in indexes if n not in names]


def _load_users_and_contents(conn: Any, users: int) -> list[int]:
    """Empty the tables, then `users` users and CONTENTS contents; returns the category ids."""
    conn.execute(
        "TRUNCATE notifications_notification, notifications_content, notifications_userseq, auth_user "
        "RESTART IDENTITY CASCADE"
    )
    conn.execute("DELETE FROM bench_meta")
    conn.execute(
        "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, "
        "is_active, date_joined) SELECT g, '!', false, 'inbox' || lpad(g::text, 7, '0'), '', '', '', false, true, "
        "now() FROM generate_series(1, %s) AS g",
        [users],
    )
    conn.execute("SELECT setval(pg_get_serial_sequence('auth_user', 'id'), %s)", [users])
    categories = [r[0] for r in conn.execute("SELECT id FROM notifications_category ORDER BY id").fetchall()]
    conn.execute(
        "INSERT INTO notifications_content (id, uuid, category_id, priority, title, body, url, image_url, actions, "
        "data, group_key, producer, idempotency_key, fingerprint, recipient_count, created_at) "
        "SELECT g, gen_random_uuid(), (%s::bigint[])[1 + g %% %s], 'normal', 'Generated notification ' || g, "
        "'A body of moderate length, as a comment notification would have.', '/items/' || g, '', '[]', '{}', '', "
        "'system', '', '', 1, now() - interval '30 days' "
        "FROM generate_series(1, %s) AS g",
        [categories, len(categories), CONTENTS],
    )
    conn.execute("SELECT setval(pg_get_serial_sequence('notifications_content', 'id'), %s)", [CONTENTS])
    return categories


# One statement per user class: recipient and seq derive from the series; the newest `unread` are unread, the
# oldest `archived` archived, spread evenly over the last SPAN_DAYS (so over the months' partitions, as real history).
_ROWS_INSERT = (
    f"INSERT INTO {TABLE} (uuid, recipient_id, content_id, category_id, seq, created_at, seen_at, read_at, "
    "archived_at) "
    "SELECT gen_random_uuid(), u, c, (%(cats)s::bigint[])[1 + c %% %(ncat)s], s, t, "
    "CASE WHEN s <= %(per)s - %(unread)s THEN t + interval '1 minute' END, "
    "CASE WHEN s <= %(per)s - %(unread)s THEN t + interval '1 minute' END, "
    "CASE WHEN s <= %(archived)s THEN t + interval '2 minutes' END "
    "FROM (SELECT %(first)s + g / %(per)s AS u, 1 + (g * 7919) %% %(contents)s AS c, 1 + g %% %(per)s AS s, "
    "now() - (%(per)s - g %% %(per)s) * make_interval(secs => %(step)s) AS t "
    "FROM generate_series(0::bigint, %(n)s - 1) AS g) AS x"
)


def _load_rows(conn: Any, layout: dict[str, int], categories: list[int]) -> None:
    typical, heavy, heavy_rows = layout["typical_users"], layout["heavy_users"], layout["heavy_rows"]
    common = {"cats": categories, "ncat": len(categories), "contents": CONTENTS}
    span = SPAN_DAYS * 86400.0
    typical_class = {
        "first": 1,
        "per": TYPICAL_ROWS,
        "unread": TYPICAL_UNREAD,
        "archived": TYPICAL_ARCHIVED,
        "step": span / TYPICAL_ROWS,
    }
    heavy_class = {
        "first": typical + 1,
        "per": heavy_rows,
        "unread": layout["heavy_unread"],
        "archived": heavy_rows // 100,
        "step": span / heavy_rows,
    }
    conn.execute(_ROWS_INSERT, {**common, **typical_class, "n": typical * TYPICAL_ROWS})
    conn.execute(_ROWS_INSERT, {**common, **heavy_class, "n": heavy * heavy_rows})
    conn.execute(
        "INSERT INTO notifications_userseq (user_id, last_seq) "
        "SELECT recipient_id, max(seq) FROM notifications_notification GROUP BY recipient_id"
    )


def _partitions_create(ctx: Context, layout: dict[str, int]) -> None:
    """The partitions of every month the generated rows fall in (the last SPAN_DAYS), so none lands in DEFAULT."""
    since = datetime.now(UTC) - timedelta(days=SPAN_DAYS + 1)
    subprocess.run(
        [sys.executable, "manage.py", "partitions_maintain", f"--since={since:%Y-%m-%d}"],
        cwd=env.ROOT,
        env=ctx.config.django_env(DB),
        check=True,
    )


def _partition_indexes_name(conn: Any) -> None:
    """Indexes rebuilt on the parent get PostgreSQL's names on each partition: name them after the parent's index
    again (as the migration and the maintenance do), so the plans say which index they used."""
    rows = conn.execute(
        "SELECT c.relname, p.relname, t.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_index x ON x.indexrelid = c.oid "
        "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_index px ON px.indexrelid = p.oid "
        "WHERE px.indrelid = %s::regclass",
        [TABLE],
    ).fetchall()
    for child, parent, partition in rows:
        wanted = f"{parent}_{partition.removeprefix(TABLE + '_')}"
        if child != wanted:
            conn.execute(f'ALTER INDEX "{child}" RENAME TO "{wanted}"')


def _load(ctx: Context, conn: Any, layout: dict[str, int]) -> float:
    """Generate the table in SQL (no FK triggers, secondary indexes dropped and rebuilt after), then analyze it."""
    started = time.monotonic()
    typical, heavy = layout["typical_users"], layout["heavy_users"]
    ctx.log(f"generating {layout['rows']:,} rows ({typical:,} typical users, {heavy} heavy users)")
    conn.execute("SET session_replication_role = replica")  # no FK triggers during the load
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute("SET max_parallel_maintenance_workers = 2")
    categories = _load_users_and_contents(conn, typical + heavy)
    _partitions_create(ctx, layout)
    constraints, indexes = _secondary_indexes(conn)
    for name, _ddl in constraints:
        conn.execute(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{name}"')
    for name, _ddl in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    _load_rows(conn, layout, categories)
    ctx.log(f"rows in {time.monotonic() - started:.0f} s; building {len(constraints) + len(indexes)} indexes")
    for name, ddl in constraints:
        conn.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {ddl}')
    for _name, ddl in indexes:
        conn.execute(ddl.replace(" ON ONLY ", " ON ", 1))  # a partitioned table's index: build it on every partition
    _partition_indexes_name(conn)
    conn.execute("SET session_replication_role = DEFAULT")
    ctx.log("VACUUM ANALYZE")
    for table in (TABLE, "notifications_content", "auth_user"):
        conn.execute(f"VACUUM (ANALYZE) {table}")
    conn.execute("INSERT INTO bench_meta VALUES ('signature', %s)", [_signature(layout)])
    return time.monotonic() - started


def _check_plans(plans: dict[str, list[str]], filled: set[str]) -> dict[str, bool]:
    """The intended index is used, and no table holding rows is read by a Seq Scan. An empty partition (the months
    ahead, DEFAULT) may be: it has no page to read, and PostgreSQL knows it."""
    text = {name: "\n".join(lines) for name, lines in plans.items()}
    return {
        name: EXPECTED_INDEX[name] in text[name]
        and not any(t in filled or t == TABLE for t in re.findall(r"Seq Scan on (\S+)", text[name]))
        for name in text
    }


def _prepare(ctx: Context, layout: dict[str, int], result: Result) -> None:
    """The generated table: kept from an earlier run of the same layout, else loaded into a fresh database."""
    config = ctx.config
    env.db_create(config, DB)
    with env.pg_connect(config, config.db_name(DB)) as conn:
        reuse = _loaded(conn) == _signature(layout)
    if reuse:
        ctx.log(f"reusing the generated table ({layout['rows']:,} rows)")
        env.migrate(config, DB)  # a new index migration applies to the kept data
    else:
        # A fresh database each load: an interrupted load leaves dropped indexes behind.
        env.db_create(config, DB, fresh=True)
        env.migrate(config, DB)
    with env.pg_connect(config, config.db_name(DB)) as conn:
        if not reuse:
            _loaded(conn)
            result.details["load_seconds"] = round(_load(ctx, conn, layout), 1)
        conn.execute(f"ANALYZE {TABLE}")
        # Summed over the partitions (a partitioned table has no storage of its own).
        size = conn.execute(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(relid))), pg_size_pretty(sum(pg_relation_size(relid))) "
            "FROM pg_partition_tree(%s)",
            [TABLE],
        ).fetchone()
        result.details["table_size"] = {"total_with_indexes": size[0], "heap": size[1]}
        result.details["partitions"] = {
            name: count
            for name, count in conn.execute(
                f"SELECT tableoid::regclass::text, count(*) FROM {TABLE} GROUP BY 1 ORDER BY 1"
            ).fetchall()
        }


def run(ctx: Context) -> Result:
    rows = ctx.options.get("rows") or (1_000_000 if ctx.quick else 10_000_000)
    layout = _layout(rows)
    iterations = 100 if ctx.quick else 300
    result = Result("S7", f"Unread count and first inbox page, {layout['rows']:,} rows in the table")
    result.params = {
        "rows": layout["rows"],
        "repetitions": ctx.reps,
        "iterations_per_user": iterations,
        "page_size": PAGE_SIZE,
    }
    _prepare(ctx, layout, result)
    typical_ids = [1 + i * (layout["typical_users"] // 3) for i in range(3)]
    heavy_ids = [layout["typical_users"] + 1 + i for i in range(layout["heavy_users"])]
    metrics = {}
    for name, label in (
        ("unread_count", "unread count"),
        ("unread_by_category", "unread by category"),
        ("unread_totals", "unread-count/ (rows, by category, groups)"),
        ("inbox_first_page", f"first inbox page ({PAGE_SIZE})"),
    ):
        metrics[name] = (
            result.metric(f"{label}: p50", "ms"),
            result.metric(f"{label}: p99", "ms", target="<= 5 ms", goal=("<=", 5.0)),
            result.metric(f"{label}: p99 typical user", "ms"),
            result.metric(f"{label}: p99 PostgreSQL execution", "ms"),
        )
    per_class: dict[str, list[dict[str, Any]]] = {"typical": [], "heavy": []}
    with Worker(env.sys_python(), "-m", "bench.ours", env=ctx.config.django_env(DB), cwd=env.ROOT) as ours:
        plans = ours.call("inbox_explain", user_id=heavy_ids[0], page_size=PAGE_SIZE)
        result.details["explain_heavy_user"] = plans
        result.details["explain_typical_user"] = ours.call("inbox_explain", user_id=typical_ids[0], page_size=PAGE_SIZE)
        used = _check_plans(plans, set(result.details["partitions"]))
        result.details["intended_index_used"] = used
        for rep in range(ctx.reps):
            ctx.log(f"rep {rep + 1}/{ctx.reps}")
            both = ours.call(
                "inbox_measure", user_ids=typical_ids + heavy_ids, iterations=iterations, page_size=PAGE_SIZE
            )
            typical = ours.call("inbox_measure", user_ids=typical_ids, iterations=iterations // 3, page_size=PAGE_SIZE)
            server = ours.call(
                "inbox_server_ms", user_ids=typical_ids + heavy_ids, iterations=iterations // 6, page_size=PAGE_SIZE
            )
            per_class["typical"].append(typical)
            for name, (p50, p99, p99_typical, p99_server) in metrics.items():
                p50.add(both["p50"][name])
                p99.add(both["p99"][name])
                p99_typical.add(typical["p99"][name])
                p99_server.add(percentile(server[name], 99))
        result.details["answers"] = both["answers"]
    result.notes.append(
        f"{len(typical_ids)} typical users ({TYPICAL_ROWS} notifications, {TYPICAL_UNREAD} unread) and "
        f"{len(heavy_ids)} heavy users ({layout['heavy_rows']:,} notifications, {layout['heavy_unread']:,} unread), "
        f"{iterations} calls each per repetition, through the selectors on a warm connection. p50/p99 are the "
        "client's view (ORM included); PostgreSQL execution is EXPLAIN ANALYZE's execution time of the same SQL."
    )
    filled = result.details.get("partitions", {})
    per_partition = ", ".join(f"{name.removeprefix(TABLE + '_')}: {count:,}" for name, count in filled.items())
    result.notes.append(
        f"The table is partitioned by month: {len(filled)} partitions hold the rows ({per_partition}), plus the "
        f"empty ones ahead and DEFAULT; {result.details['table_size']['total_with_indexes']} with indexes."
    )
    result.notes.append(
        "EXPLAIN: "
        + ", ".join(f"{name} uses {EXPECTED_INDEX[name]}: {'yes' if ok else 'NO'}" for name, ok in used.items())
        + " (plans in the JSON)."
    )
    return result
