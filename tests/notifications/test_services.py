import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.categories import categories_by_slug
from notifications.delivery.planner import deliveries_plan_pending
from notifications.models import Content, Delivery, Notification
from notifications.services import (
    BulkValidationError,
    IdempotencyConflict,
    notification_mark_all_read,
    notification_mark_read,
    notification_mark_seen,
    notification_send_bulk,
    notification_update_state,
    notify,
)
from tests.factories import make_users, send


def _queries_for(n: int, prefix: str) -> int:
    users = make_users(n, prefix)
    categories_by_slug()  # the per-process category cache is warm in a running server
    with CaptureQueriesContext(connection) as ctx:
        send(users)
    assert Notification.objects.filter(recipient__in=users).count() == n
    return len(ctx.captured_queries)


def test_fan_out_query_count_does_not_grow_with_recipients(db):
    # given two sends, one to 3 users and one to 300
    small = _queries_for(3, "small")
    large = _queries_for(300, "large")
    # then both took the same number of queries
    assert small == large


def test_fan_out_writes_one_content_and_one_row_per_recipient(alice, bob):
    result = send([alice, bob], body="b", url="/x", data={"k": 1}, actions=[{"label": "Open", "url": "/x"}])
    assert Content.objects.count() == 1
    rows = Notification.objects.filter(content=result.content).order_by("recipient_id")
    assert [r.recipient_id for r in rows] == sorted([alice.pk, bob.pk])
    assert all(r.seq == 1 and r.read_at is None for r in rows)
    assert result.recipient_count == 2
    assert set(result.notification_ids) == {r.uuid for r in rows}
    assert result.content.actions == [{"label": "Open", "url": "/x", "style": "secondary"}]


def test_seq_is_per_user_gap_free(alice, bob):
    send([alice])
    send([alice, bob])
    send([bob])
    send([alice])
    assert list(Notification.objects.filter(recipient=alice).order_by("seq").values_list("seq", flat=True)) == [1, 2, 3]
    assert list(Notification.objects.filter(recipient=bob).order_by("seq").values_list("seq", flat=True)) == [1, 2]


def test_priority_defaults_to_the_category(alice):
    assert send([alice], category="mention").content.priority == "high"
    assert send([alice], category="mention", priority="low").content.priority == "low"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category": "nope"}, "category"),
        ({"priority": "critical"}, "priority"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "a\x00b"}, "title"),
        ({"body": "x" * 2001}, "body"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "//evil.example.com/"}, "url"),
        ({"image_url": "//evil.example.com/a.png"}, "image_url"),
        ({"image_url": "ftp://x/y.png"}, "image_url"),
        ({"actions": [{"label": "a", "url": "/a"}] * 4}, "actions"),
        ({"actions": [{"label": "a", "url": "javascript:x"}]}, "actions"),
        ({"actions": [{"label": "a", "url": "/a", "style": "huge"}]}, "actions"),
        ({"data": {"x": "y" * 5000}}, "data"),
        ({"data": ["not", "an", "object"]}, "data"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
    ],
)
def test_validation_errors_write_nothing(alice, overrides, field):
    with pytest.raises(ValidationError) as exc:
        send([alice], **overrides)
    assert field in exc.value.message_dict
    assert Content.objects.count() == 0
    assert Notification.objects.count() == 0


def test_unknown_recipients_are_named_and_nothing_is_written(alice):
    with pytest.raises(ValidationError) as exc:
        send([alice.pk, 999991, 999992])
    assert "999991" in exc.value.message_dict["recipients"][0]
    assert "999992" in exc.value.message_dict["recipients"][0]
    assert Notification.objects.count() == 0


def test_inactive_recipients_are_refused(alice, bob):
    bob.is_active = False
    bob.save()
    with pytest.raises(ValidationError):
        send([alice, bob])
    assert Notification.objects.count() == 0


def test_idempotency_same_key_same_send_returns_the_first(alice, bob):
    first = send([alice, bob], idempotency_key="k1", producer="app")
    again = send([alice, bob], idempotency_key="k1", producer="app")
    assert again.id == first.id and again.replayed
    assert sorted(again.notification_ids) == sorted(first.notification_ids)
    assert Notification.objects.count() == 2


def test_idempotency_same_key_other_content_is_refused(alice):
    send([alice], idempotency_key="k1", producer="app")
    with pytest.raises(IdempotencyConflict):
        send([alice], idempotency_key="k1", producer="app", title="Other")
    assert Notification.objects.count() == 1


def test_idempotency_keys_are_per_producer(alice):
    send([alice], idempotency_key="k1", producer="app-a")
    send([alice], idempotency_key="k1", producer="app-b")
    assert Notification.objects.count() == 2


def test_notify_rolls_back_with_the_callers_transaction(alice):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        send([alice])
        raise RuntimeError
    assert Notification.objects.count() == 0


def test_send_bulk_is_all_or_nothing(alice, bob):
    with pytest.raises(BulkValidationError) as exc:
        notification_send_bulk(
            sends=[
                {"recipients": [alice.pk], "category": "comment", "title": "ok"},
                {"recipients": [bob.pk], "category": "comment", "title": ""},
            ]
        )
    assert list(exc.value.errors) == [1]
    assert "title" in exc.value.errors[1]
    assert Notification.objects.count() == 0


def test_send_bulk_allocates_consecutive_seqs(alice, bob):
    results = notification_send_bulk(
        sends=[
            {"recipients": [alice.pk, bob.pk], "category": "comment", "title": "one"},
            {"recipients": [alice.pk], "category": "mention", "title": "two"},
            {"recipients": [alice.pk], "category": "follow", "title": "three"},
        ]
    )
    assert [r.recipient_count for r in results] == [2, 1, 1]
    seqs = list(Notification.objects.filter(recipient=alice).order_by("seq").values_list("seq", "content__title"))
    assert seqs == [(1, "one"), (2, "two"), (3, "three")]


def test_mark_read_only_touches_own_notifications(alice, bob):
    mine = send([alice]).notification_ids[0]
    theirs = send([bob]).notification_ids[0]
    changed = notification_mark_read(user=alice, ids=[mine, theirs, "not-a-uuid"])
    assert changed == [mine]
    assert Notification.objects.get(uuid=theirs).read_at is None
    # again: nothing changes
    assert notification_mark_read(user=alice, ids=[mine]) == []


def test_archive_and_unarchive(alice):
    nid = send([alice]).notification_ids[0]
    assert notification_update_state(user=alice, ids=[nid], archived=True) == [nid]
    assert Notification.objects.get(uuid=nid).archived_at is not None
    assert notification_update_state(user=alice, ids=[nid], archived=False) == [nid]
    assert Notification.objects.get(uuid=nid).archived_at is None


def test_mark_all_read_up_to_seq_leaves_later_ones_unread(alice):
    for _ in range(5):
        send([alice])
    assert notification_mark_all_read(user=alice, up_to_seq=3) == 3
    unread = list(Notification.objects.filter(recipient=alice, read_at__isnull=True).values_list("seq", flat=True))
    assert sorted(unread) == [4, 5]


def test_mark_all_read_per_category(alice):
    send([alice], category="comment")
    send([alice], category="mention")
    assert notification_mark_all_read(user=alice, category="mention") == 1
    assert Notification.objects.get(recipient=alice, category__slug="comment").read_at is None


def test_mark_seen_up_to_seq(alice):
    for _ in range(3):
        send([alice])
    assert notification_mark_seen(user=alice, up_to_seq=2) == 2
    assert Notification.objects.get(recipient=alice, seq=3).seen_at is None
    assert Notification.objects.get(recipient=alice, seq=3).read_at is None


def test_actor_and_python_api(alice, bob):
    result = notify(recipients=[alice], category="comment", title="Hi", actor=bob)
    assert result.content.actor_id == bob.pk
    assert result.content.producer == f"user:{bob.pk}"


def _bulk_queries(items: int, prefix: str) -> int:
    users = make_users(5, prefix)
    sends = [
        {"recipients": [u.pk for u in users], "category": "comment" if i % 2 else "mention", "title": f"t{i}"}
        for i in range(items)
    ]
    categories_by_slug()  # warm, as in a running process
    with CaptureQueriesContext(connection) as ctx:
        notification_send_bulk(sends=sends)
        deliveries_plan_pending()  # what the planner worker does after commit
    assert Notification.objects.filter(recipient__in=users).count() == 5 * items
    assert Delivery.objects.filter(notification__recipient__in=users, channel="email").count() == 5 * items
    return len(ctx.captured_queries)


def test_send_bulk_query_count_does_not_grow_with_items(db):
    # given bulk sends of 2 and of 40 items (with email deliveries planned for every recipient)
    # then both take the same number of queries: planning and publishing run once per call, not per item
    assert _bulk_queries(2, "few") == _bulk_queries(40, "many")
