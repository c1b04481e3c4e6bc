"""Concurrent senders to overlapping users on PostgreSQL: seqs stay unique, gap-free and deadlock-free."""

import threading

from django.db import connection

from notifications.models import Notification
from tests.factories import make_users, send


def test_concurrent_overlapping_sends_keep_seq_gap_free(postgres, transactional_db):
    users = make_users(6, "conc")
    # Overlapping recipient sets in different orders: a lock-order bug would deadlock here.
    sets = [users[0:4], list(reversed(users[2:6])), users[1:5], [users[5], users[0], users[3]]]
    per_thread = 15
    errors: list[BaseException] = []

    def worker(recipients):
        try:
            for i in range(per_thread):
                send(recipients, title=f"t{i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(s,)) for s in sets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for user in users:
        expected = sum(per_thread for s in sets if user in s)
        seqs = list(Notification.objects.filter(recipient=user).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, expected + 1)), user.username
