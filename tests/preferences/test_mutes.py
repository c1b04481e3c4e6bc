"""Group mutes: a muted group's new notifications are stored (and read, marked muted) but raise no badge, toast,
email or push; mutes are validated, replaced, listed and removed."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.categories import categories_by_slug
from notifications.models import Delivery, DeliveryStatus, Notification
from notifications.selectors import notification_unread_count
from notifications.services import notification_send_bulk, notify
from preferences.models import GroupMute
from preferences.selectors import group_mute_list
from preferences.services import group_mute_create, group_mute_delete
from tests.factories import make_user, send

pytestmark = pytest.mark.django_db


def _row(result, user) -> Notification:
    return Notification.objects.get(content__uuid=result.id, recipient=user)


def test_a_muted_groups_new_member_is_stored_read_and_muted_with_no_email_or_push(alice):
    # given alice muted the group post:42 (every category), and bob did not
    bob = make_user("bob")
    group_mute_create(user=alice, group_key="post:42", duration="8h")

    # when a high-priority comment (push now, email on escalation) in that group reaches both, and is planned
    result = send([alice, bob], group_key="post:42", priority="high")

    # then alice's row is stored (history complete), read, seen and muted: not in her unread count, no delivery
    row = _row(result, alice)
    assert row.muted is True
    assert row.read_at == row.created_at and row.seen_at == row.created_at
    assert notification_unread_count(user=alice) == 0
    assert not Delivery.objects.filter(notification=row).exists()
    # and bob's row is an ordinary unread one with its email planned
    other = _row(result, bob)
    assert (other.muted, other.read_at, other.seen_at) == (False, None, None)
    assert notification_unread_count(user=bob) == 1
    assert list(Delivery.objects.filter(notification=other).values_list("channel", "status")) == [
        ("email", DeliveryStatus.PENDING)
    ]


def test_a_mute_of_one_category_leaves_the_group_in_other_categories_alone(alice):
    # given alice muted post:42 only for comments
    group_mute_create(user=alice, group_key="post:42", category="comment")

    # when a comment and a follow of that group reach her, and a comment of another group
    comment = send([alice], group_key="post:42", category="comment")
    follow = send([alice], group_key="post:42", category="follow")
    elsewhere = send([alice], group_key="post:43", category="comment")

    # then only the comment of post:42 is muted
    assert [_row(r, alice).muted for r in (comment, follow, elsewhere)] == [True, False, False]
    assert notification_unread_count(user=alice) == 2


def test_an_expired_mute_mutes_nothing_and_is_not_listed(alice):
    # given a mute whose end has passed (stored directly: writes refuse a past end)
    mute, _ = group_mute_create(user=alice, group_key="post:42", duration="8h")
    GroupMute.objects.filter(pk=mute.pk).update(until=timezone.now() - timedelta(seconds=1))

    # when a notification of that group arrives
    result = send([alice], group_key="post:42")

    # then it is an ordinary unread notification, and the expired mute is not listed
    assert _row(result, alice).muted is False
    assert notification_unread_count(user=alice) == 1
    assert group_mute_list(user=alice, at=timezone.now()) == []


def test_a_bulk_send_mutes_exactly_the_rows_of_muted_recipients(alice):
    # given alice muted post:42 and bob muted post:7
    bob = make_user("bob")
    group_mute_create(user=alice, group_key="post:42")
    group_mute_create(user=bob, group_key="post:7")

    # when one bulk send carries a post:42 item and a post:7 item to both
    results = notification_send_bulk(
        sends=[
            {"recipients": [alice.pk, bob.pk], "category": "comment", "title": "a", "group_key": "post:42"},
            {"recipients": [alice.pk, bob.pk], "category": "comment", "title": "b", "group_key": "post:7"},
        ]
    )

    # then each muted recipient's row of their group is muted, and only those
    assert [(_row(r, alice).muted, _row(r, bob).muted) for r in results] == [(True, False), (False, True)]


def test_muting_again_replaces_the_end_and_keeps_one_mute(alice):
    # given a mute for 8 hours
    first, created = group_mute_create(user=alice, group_key="post:42", duration="8h")
    assert created is True

    # when the same group is muted forever
    again, created_again = group_mute_create(user=alice, group_key="post:42", duration="forever")

    # then it is the same mute, now without an end
    assert (again.pk, created_again, again.until) == (first.pk, False, None)
    assert GroupMute.objects.filter(user=alice).count() == 1


def test_muting_cancels_the_pending_email_and_push_of_the_group_so_far(alice):
    # given a comment of post:42 whose email waits for the escalation delay, and one of another group
    muted = send([alice], group_key="post:42")
    other = send([alice], group_key="post:43")

    # when alice mutes post:42
    group_mute_create(user=alice, group_key="post:42")

    # then the waiting email of post:42 is skipped as muted; the other one still waits
    assert list(Delivery.objects.filter(notification=_row(muted, alice)).values_list("status", "skip_reason")) == [
        (DeliveryStatus.SKIPPED, "muted")
    ]
    assert list(Delivery.objects.filter(notification=_row(other, alice)).values_list("status", "skip_reason")) == [
        (DeliveryStatus.PENDING, "")
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"group_key": ""}, "group_key"),
        ({"group_key": "x" * 201}, "group_key"),
        ({"group_key": 42}, "group_key"),
        ({"group_key": "post:42", "category": "no-such"}, "category"),
        ({"group_key": "post:42", "duration": "1y"}, "duration"),
        ({"group_key": "post:42", "until": "2001-01-01T00:00:00Z"}, "until"),
        ({"group_key": "post:42", "until": "not a time"}, "until"),
        ({"group_key": "post:42", "until": "2099-01-01T00:00:00Z", "duration": "8h"}, "until"),
    ],
)
def test_a_bad_mute_is_refused_naming_the_field_and_writes_nothing(alice, kwargs, field):
    with pytest.raises(ValidationError) as exc:
        group_mute_create(user=alice, **kwargs)
    assert list(exc.value.message_dict) == [field]
    assert not GroupMute.objects.exists()


def test_unmuting_removes_only_ones_own_mute(alice):
    # given alice's mute and bob's
    bob = make_user("bob")
    mine, _ = group_mute_create(user=alice, group_key="post:42")
    theirs, _ = group_mute_create(user=bob, group_key="post:42")

    # when alice removes bob's and then her own
    removed_theirs = group_mute_delete(user=alice, mute_id=theirs.pk)
    removed_mine = group_mute_delete(user=alice, mute_id=mine.pk)

    # then bob's is still there, hers is gone, and the group reaches her normally again
    assert (removed_theirs, removed_mine) == (False, True)
    assert list(GroupMute.objects.values_list("user_id", flat=True)) == [bob.pk]
    assert _row(send([alice], group_key="post:42"), alice).muted is False


def test_notify_to_one_muted_recipient_stays_one_statement_on_postgresql(alice):
    # given alice muted post:42 and a warm category cache
    group_mute_create(user=alice, group_key="post:42")
    categories_by_slug()

    # when one notification of that group is sent to her
    with CaptureQueriesContext(connection) as ctx:
        result = notify(recipients=[alice], category="comment", title="Hi", group_key="post:42")

    # then PostgreSQL wrote it in one statement (savepoint, statement, release), the mute checked inside it;
    # elsewhere the general path looks the batch's mutes up in one query
    expected = 3 if connection.vendor == "postgresql" else 8
    assert len(ctx.captured_queries) == expected
    assert _row(result, alice).muted is True
