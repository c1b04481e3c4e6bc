from datetime import timedelta

from django.utils import timezone

from notifications import selectors
from notifications.models import Notification
from notifications.services import notification_mark_read, notification_update_state
from tests.factories import send


def _titles(qs):
    return [n.content.title for n in qs]


def test_inbox_is_newest_first_and_only_mine(alice, bob):
    send([alice], title="one")
    send([bob], title="bobs")
    send([alice], title="two")
    assert _titles(selectors.notification_list(user=alice)) == ["two", "one"]


def test_status_filters(alice):
    a = send([alice], title="a").notification_ids[0]
    b = send([alice], title="b").notification_ids[0]
    send([alice], title="c")
    notification_mark_read(user=alice, ids=[a])
    notification_update_state(user=alice, ids=[b], archived=True)
    assert _titles(selectors.notification_list(user=alice)) == ["c", "a"]
    assert _titles(selectors.notification_list(user=alice, status="unread")) == ["c"]
    assert _titles(selectors.notification_list(user=alice, status="read")) == ["a"]
    assert _titles(selectors.notification_list(user=alice, status="archived")) == ["b"]
    assert _titles(selectors.notification_list(user=alice, status="all")) == ["c", "b", "a"]


def test_category_and_priority_filters(alice):
    send([alice], title="c1", category="comment")
    send([alice], title="m1", category="mention", priority="urgent")
    send([alice], title="f1", category="follow")
    assert _titles(selectors.notification_list(user=alice, categories=["comment", "follow"])) == ["f1", "c1"]
    assert _titles(selectors.notification_list(user=alice, priorities=["urgent"])) == ["m1"]


def test_since_before_filters(alice):
    old = send([alice], title="old").notification_ids[0]
    send([alice], title="new")
    Notification.objects.filter(uuid=old).update(created_at=timezone.now() - timedelta(days=10))
    cut = timezone.now() - timedelta(days=1)
    assert _titles(selectors.notification_list(user=alice, since=cut)) == ["new"]
    assert _titles(selectors.notification_list(user=alice, before=cut)) == ["old"]


def test_after_seq_is_oldest_first(alice):
    for title in ("1", "2", "3", "4"):
        send([alice], title=title)
    assert _titles(selectors.notification_list(user=alice, after_seq=2)) == ["3", "4"]
    assert [n.seq for n in selectors.notification_replay(user=alice, after_seq=1, limit=2)] == [2, 3]


def test_unread_count_total_and_by_category(alice, bob):
    send([alice], category="comment")
    send([alice], category="comment")
    m = send([alice], category="mention").notification_ids[0]
    f = send([alice], category="follow").notification_ids[0]
    send([bob], category="comment")
    notification_mark_read(user=alice, ids=[m])
    notification_update_state(user=alice, ids=[f], archived=True)
    assert selectors.notification_unread_count(user=alice) == 2
    assert selectors.notification_unread_by_category(user=alice) == {"comment": 2}


def test_another_users_notification_is_not_found(alice, bob):
    theirs = send([bob]).notification_ids[0]
    try:
        selectors.notification_get(user=alice, id=theirs)
    except Notification.DoesNotExist:
        pass
    else:
        raise AssertionError("alice must not see bob's notification")
    assert selectors.notification_get(user=bob, id=theirs).uuid == theirs


def test_last_seq(alice):
    assert selectors.notification_last_seq(user=alice) == 0
    send([alice])
    send([alice])
    assert selectors.notification_last_seq(user=alice) == 2
