"""Concurrent senders to overlapping users on PostgreSQL: seqs stay unique, gap-free and deadlock-free."""

import threading

from django.db import connection

from notifications.models import Notification
from notifications.services import notification_send_bulk
from tests.factories import make_users, send


def run_concurrently(work, per_thread_args) -> None:
    """Run work(args) on one thread per entry, each on its own database connection; re-raise what any raised."""
    errors: list[BaseException] = []

    def worker(args):
        try:
            work(args)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(a,)) for a in per_thread_args]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors


def assert_seqs_gap_free(user, expected: int) -> None:
    seqs = list(Notification.objects.filter(recipient=user).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, expected + 1)), user.username


def test_concurrent_overlapping_sends_keep_seq_gap_free(postgres, transactional_db):
    users = make_users(6, "conc")
    # Overlapping recipient sets in different orders: a lock-order bug would deadlock here.
    sets = [users[0:4], list(reversed(users[2:6])), users[1:5], [users[5], users[0], users[3]]]
    per_thread = 15

    def sends(recipients):
        for i in range(per_thread):
            send(recipients, title=f"t{i}")

    run_concurrently(sends, sets)
    for user in users:
        assert_seqs_gap_free(user, sum(per_thread for s in sets if user in s))


def test_concurrent_small_bulks_to_overlapping_users_keep_seq_gap_free(postgres, transactional_db):
    users = make_users(6, "bulk")
    ids = [u.pk for u in users]
    # Each call carries several items whose recipients overlap, listed high to low in some: the one statement must
    # still lock every counter in ascending id order, or two such calls would deadlock.
    calls = [
        [[ids[5], ids[0]], [ids[3]], [ids[0], ids[1], ids[2]]],
        [[ids[2], ids[3], ids[4], ids[5]], [ids[0]]],
        [[ids[4]], [ids[1], ids[5]], [ids[3], ids[0]], [ids[2]]],
        [[ids[0], ids[5]], [ids[5]], [ids[0]]],
    ]
    per_thread = 15

    def bulks(items):
        for i in range(per_thread):
            notification_send_bulk(
                sends=[{"recipients": r, "category": "comment", "title": f"t{i}.{k}"} for k, r in enumerate(items)]
            )

    run_concurrently(bulks, calls)
    for user in users:
        assert_seqs_gap_free(user, per_thread * sum(1 for items in calls for r in items if user.pk in r))
