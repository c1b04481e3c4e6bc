"""Our measuring process: the project's own services and selectors, production settings, a bench database."""

import time
from typing import Any

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench.core import percentile  # noqa: E402
from bench.users import actor_ensure, users_ensure  # noqa: E402
from bench.worker import serve  # noqa: E402
from notifications import grouping, selectors  # noqa: E402
from notifications.services import notify  # noqa: E402

User = get_user_model()


def send(recipient_ids: list[int], title: str = "bench", mark_commit: bool = False) -> dict[str, float]:
    """One notify() to the recipients. With mark_commit also the moment the rows were committed (the send then runs
    as a savepoint of an outer transaction whose first on_commit callback marks the time, before the publish)."""
    actor = actor_ensure()
    marks: dict[str, float] = {}
    start = time.perf_counter()
    if mark_commit:
        with transaction.atomic():
            transaction.on_commit(lambda: marks.setdefault("commit", time.perf_counter()))
            result = notify(recipients=recipient_ids, category="comment", title=title, actor=actor)
    else:
        result = notify(recipients=recipient_ids, category="comment", title=title, actor=actor)
    end = time.perf_counter()
    out = {"seconds": end - start, "rows": result.recipient_count}
    if "commit" in marks:
        out["commit_seconds"] = marks["commit"] - start
    return out


def notify_single(recipient_id: int, calls: int, warm: int = 50) -> dict[str, Any]:
    """S9: notify() to one recipient, one call after another on this thread (a producer's request handler).
    Returns per-call ms and the queries of one call (the categories cache is warm, as in a running process)."""
    actor = actor_ensure()
    for i in range(warm):
        notify(recipients=[recipient_id], category="comment", title=f"warm {i}", actor=actor)
    with CaptureQueriesContext(connection) as captured:
        notify(recipients=[recipient_id], category="comment", title="counted", actor=actor)
    samples = []
    started = time.perf_counter()
    for i in range(calls):
        t0 = time.perf_counter()
        notify(recipients=[recipient_id], category="comment", title=f"single {i}", actor=actor)
        samples.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    return {"ms": samples, "per_second": calls / elapsed, "queries": len(captured.captured_queries)}


def api_setup(senders: int, recipients: int) -> dict[str, Any]:
    """Producer tokens (with the send permission) and recipients for S10; one reader token for the ceiling."""
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token

    permission = Permission.objects.get(codename="send_notification")
    tokens = []
    for i in range(senders):
        user, _ = User.objects.get_or_create(username=f"bench-sender{i}")
        user.user_permissions.add(permission)
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return {"tokens": tokens, "recipient_ids": users_ensure(recipients, prefix="benchapi")}


def sessions_create(count: int) -> list[str]:
    """Logged-in sessions of `count` users, written through the configured engine (cache and database), as
    browsers hold them when their web process restarts."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore
    users = User.objects.filter(pk__in=users_ensure(count, prefix="benchstorm")).order_by("pk")
    keys = []
    for user in users:
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    return keys


def _inbox_queries(user: Any, page_size: int) -> dict[str, Any]:
    return {
        "unread_count": lambda: selectors.notification_unread_count(user=user),
        "unread_by_category": lambda: selectors.notification_unread_by_category(user=user),
        # What GET unread-count/ and the bell run: rows, by category and groups in one statement.
        "unread_totals": lambda: grouping.notification_unread_totals(user=user),
        "inbox_first_page": lambda: list(selectors.notification_list(user=user)[:page_size]),
    }


def inbox_measure(user_ids: list[int], iterations: int, page_size: int = 50) -> dict[str, Any]:
    """Latency in ms of each selector, per user, through the ORM (a warm connection, as in a web process)."""
    users = list(User.objects.filter(pk__in=user_ids).order_by("pk"))
    timings: dict[str, list[float]] = {}
    answers: dict[str, dict[str, Any]] = {}
    for user in users:
        for name, query in _inbox_queries(user, page_size).items():
            query()  # warm
            samples = timings.setdefault(name, [])
            for _ in range(iterations):
                t0 = time.perf_counter()
                value = query()
                samples.append((time.perf_counter() - t0) * 1000)
            answers.setdefault(name, {})[str(user.pk)] = value if not isinstance(value, list) else len(value)
    return {
        "p50": {name: percentile(s, 50) for name, s in timings.items()},
        "p99": {name: percentile(s, 99) for name, s in timings.items()},
        "max": {name: max(s) for name, s in timings.items()},
        "samples": {name: len(s) for name, s in timings.items()},
        "answers": answers,
    }


def inbox_server_ms(user_ids: list[int], iterations: int, page_size: int = 50) -> dict[str, list[float]]:
    """PostgreSQL's own execution time (EXPLAIN ANALYZE "Execution Time", summed over the selector's statements):
    what the database costs, without the ORM and without the scheduling noise of a busy client."""
    samples: dict[str, list[float]] = {}
    with connection.cursor() as cursor:
        for user in User.objects.filter(pk__in=user_ids):
            for name, query in _inbox_queries(user, page_size).items():
                with CaptureQueriesContext(connection) as captured:
                    query()
                for _ in range(iterations):
                    total = 0.0
                    for q in captured.captured_queries:
                        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + q["sql"])
                        total += cursor.fetchone()[0][0]["Execution Time"]
                    samples.setdefault(name, []).append(total)
    return samples


def inbox_explain(user_id: int, page_size: int = 50) -> dict[str, list[str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of every SQL statement each selector runs, as the ORM sends it."""
    user = User.objects.get(pk=user_id)
    plans: dict[str, list[str]] = {}
    # Plus the replay of a reconnect that missed 1,000 (explained, not timed: S8 measures replay end to end).
    after = max(0, selectors.notification_last_seq(user=user) - 1000)
    queries = {
        **_inbox_queries(user, page_size),
        "replay": lambda: selectors.notification_replay(user=user, after_seq=after),
    }
    for name, query in queries.items():
        with CaptureQueriesContext(connection) as captured:
            query()
        lines: list[str] = []
        with connection.cursor() as cursor:
            for q in captured.captured_queries:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + q["sql"])
                lines += [row[0] for row in cursor.fetchall()]
                lines.append("")
        plans[name] = lines
    return plans


serve(
    {
        "users_ensure": users_ensure,
        "send": send,
        "notify_single": notify_single,
        "api_setup": api_setup,
        "sessions_create": sessions_create,
        "inbox_measure": inbox_measure,
        "inbox_server_ms": inbox_server_ms,
        "inbox_explain": inbox_explain,
    }
)
