"""The send path's single rules: usernames, the send's fields, bulk checks before writes (notifications.sending)."""

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.categories import categories_by_slug
from notifications.models import Content, Notification
from notifications.services import BulkValidationError, notification_send_bulk, notify, usernames_resolve
from notifications.validation import SEND_FIELDS, send_validate
from tests.factories import make_user


def _inserts(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "WITH"))]


def test_usernames_resolve_names_every_unknown_or_inactive_user(alice):
    # given an active alice, an inactive carol and a name nobody has
    make_user("carol", is_active=False)
    # then alice resolves (once, however often she is named) and the others are named in one error
    assert usernames_resolve(["alice", "alice"]) == [alice.pk]
    with pytest.raises(ValidationError) as caught:
        usernames_resolve(["ghost", "alice", "carol"])
    assert caught.value.message_dict == {"recipient_usernames": ["Unknown or inactive users: carol, ghost."]}
    with pytest.raises(ValidationError) as caught:
        usernames_resolve(["alice", 7, ["x"]])  # type: ignore[list-item]
    assert caught.value.message_dict == {"recipient_usernames": ["Not usernames: 7, ['x']."]}


def test_the_notify_command_gives_the_same_username_error(alice):
    with pytest.raises(CommandError) as caught:
        call_command("notify", "--to", "alice,ghost", "--category", "comment", "--title", "Hi")
    assert str(caught.value) == "recipient_usernames: Unknown or inactive users: ghost."
    assert not Content.objects.exists()


def test_bulk_takes_usernames_and_looks_them_up_once_for_all_items(alice, bob):
    # given 2 and then 12 items addressed by username
    def queries(count: int) -> int:
        item = {"recipient_usernames": ["alice", "bob"], "category": "comment"}
        sends = [{**item, "title": f"t{i}"} for i in range(count)]
        with CaptureQueriesContext(connection) as ctx:
            results = notification_send_bulk(sends=sends)
        assert [r.recipient_count for r in results] == [2] * count
        return sum('"username"' in q["sql"] for q in ctx.captured_queries)

    # then each call looks usernames up in one query, whatever the number of items
    assert queries(2) == queries(12) == 1
    assert Notification.objects.filter(recipient=alice).count() == Notification.objects.filter(recipient=bob).count()


def test_bulk_checks_every_item_before_writing_anything(alice):
    # given one good item, one with an unknown username and one with a bad url and unknown recipient ids
    sends = [
        {"recipients": [alice.pk], "category": "comment", "title": "ok"},
        {"recipient_usernames": ["ghost"], "category": "comment", "title": "who"},
        {"recipients": [alice.pk], "category": "comment", "title": "bad", "url": "javascript:x"},
        {"recipients": [alice], "recipient_usernames": ["alice"], "category": "comment", "title": "both"},
    ]
    # when
    with CaptureQueriesContext(connection) as ctx, pytest.raises(BulkValidationError) as caught:
        notification_send_bulk(sends=sends)
    # then every bad item is named and not one row was inserted (and rolled back)
    assert caught.value.errors == {
        1: {"recipient_usernames": ["Unknown or inactive users: ghost."]},
        2: {"url": ["Must be an http(s) URL or a relative path."]},
        3: {"recipients": ["Give exactly one of recipients or recipient_usernames."]},
    }
    assert _inserts(ctx) == []
    assert not Content.objects.exists()


def test_a_field_that_is_no_send_field_is_refused_everywhere(alice):
    # the one list of a send's fields is what notify and the validator accept
    assert SEND_FIELDS == (
        "category",
        "title",
        "body",
        "url",
        "image_url",
        "priority",
        "actions",
        "data",
        "group_key",
        "expires_at",
    )
    with pytest.raises(TypeError, match="colour"):
        notify(recipients=[alice], category="comment", title="Hi", colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="colour"):
        send_validate({"category": "comment", "title": "Hi", "colour": "red"})
    with pytest.raises(BulkValidationError) as caught:
        notification_send_bulk(sends=[{"recipients": [alice.pk], "category": "comment", "title": "Hi", "colour": "x"}])
    assert caught.value.errors == {0: {"non_field_errors": ["Unknown send field(s): colour."]}}
    assert not Content.objects.exists()


def test_a_send_without_category_or_title_names_both(alice):
    with pytest.raises(ValidationError) as caught:
        send_validate({})
    assert caught.value.message_dict == {"category": ["This field is required."], "title": ["This field is required."]}


def _one_statement_ran(ctx: CaptureQueriesContext) -> bool:
    return any(q["sql"].startswith("WITH r AS (SELECT u.") for q in ctx.captured_queries)


def test_a_bulk_of_one_is_written_in_one_statement_like_notify(postgres, alice, bob):
    # given bob muted the group
    from preferences.services import group_mute_create

    group_mute_create(user=bob, group_key="post:1")
    categories_by_slug()  # warm, as in a running process
    # when a bulk call carries one item (a producer flushing the one event that was due)
    with CaptureQueriesContext(connection) as ctx:
        (result,) = notification_send_bulk(
            sends=[{"recipients": [bob.pk, alice.pk], "category": "comment", "title": "one", "group_key": "post:1"}]
        )
    # then one statement wrote everything (no recipients query, no BEGIN/COMMIT), as the general path would have
    assert _one_statement_ran(ctx)
    statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]  # the test's transaction
    assert len(statements) == 1
    rows = dict(Notification.objects.filter(content=result.content).values_list("recipient__username", "muted"))
    assert rows == {"alice": False, "bob": True}
    assert result.recipient_count == 2 and len(result.notification_ids) == 2
    assert Content.objects.get().idempotency_key == "" and Content.objects.get().title == "one"


def test_a_small_bulk_is_written_in_one_statement_with_seqs_in_item_order(postgres, alice, bob):
    # given bob muted one group, and both users already have a notification
    from notifications.models import DeliveryPlanPending
    from preferences.services import group_mute_create

    group_mute_create(user=bob, group_key="post:1")
    notify(recipients=[alice, bob], category="comment", title="before")
    categories_by_slug()  # warm, as in a running process
    items: list[dict[str, Any]] = [
        {"recipients": [bob.pk, alice.pk], "category": "comment", "title": "first", "group_key": "post:1"},
        {"recipients": [alice.pk], "category": "security", "title": "second", "priority": "urgent"},
        {"recipients": [bob.pk], "category": "comment", "title": "third", "group_key": "post:2", "data": {"n": 3}},
    ]
    # when a producer flushes the three events that were due in one bulk call
    with CaptureQueriesContext(connection) as ctx:
        results = notification_send_bulk(sends=items)
    # then one statement wrote them all (no recipients query, no BEGIN/COMMIT)
    assert _one_statement_ran(ctx)
    assert len([q for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]) == 1
    # and each user's seqs continue gap-free in item order, each row muted only where its group was muted
    rows = list(
        Notification.objects.filter(content__in=[r.content for r in results])
        .order_by("recipient__username", "seq")
        .values_list("recipient__username", "seq", "content__title", "muted", "content__category__slug")
    )
    assert rows == [
        ("alice", 2, "first", False, "comment"),
        ("alice", 3, "second", False, "security"),
        ("bob", 2, "first", True, "comment"),
        ("bob", 3, "third", False, "comment"),
    ]
    # and the results are the items' own, in order, with their row ids
    assert [r.content.title for r in results] == ["first", "second", "third"]
    assert [r.recipient_count for r in results] == [2, 1, 1]
    for result in results:
        assert sorted(result.notification_ids) == sorted(
            Notification.objects.filter(content=result.content).values_list("uuid", flat=True)
        )
    third = Content.objects.get(title="third")
    assert (third.priority, third.data, third.group_key) == ("normal", {"n": 3}, "post:2")
    # and each send left its outbox row for the planner, with its recipients' id range
    plans = set(DeliveryPlanPending.objects.values_list("content__title", "recipient_min", "recipient_max"))
    assert {p for p in plans if p[0] != "before"} == {
        ("first", min(alice.pk, bob.pk), max(alice.pk, bob.pk)),
        ("second", alice.pk, alice.pk),
        ("third", bob.pk, bob.pk),
    }


def test_a_small_bulk_in_one_statement_writes_every_content_field(postgres, alice, bob):
    # given two items, one with every field a send can carry, from a user actor
    from datetime import timedelta

    from django.utils import timezone

    expires = timezone.now() + timedelta(days=2)
    full = {
        "recipients": [alice.pk],
        "category": "mention",
        "priority": "high",
        "title": "Bob mentioned you",
        "body": 'Line one\nline "two" {with} [brackets], commas and \\ backslashes',
        "url": "/posts/42",
        "image_url": "https://cdn.example.com/a.png",
        "actions": [{"label": "Open", "url": "/posts/42", "style": "primary"}],
        "data": {"post_id": 42, "nested": {"list": [1, "two", None]}},
        "group_key": "post:42",
        "expires_at": expires,
    }
    plain = {"recipients": [bob.pk], "category": "comment", "title": "plain"}
    # when
    with CaptureQueriesContext(connection) as ctx:
        first, second = notification_send_bulk(sends=[full, plain], actor=bob)
    # then both went through the one statement and each content holds exactly its own fields
    assert _one_statement_ran(ctx)
    got = Content.objects.get(pk=first.content.pk)
    assert (got.category.slug, got.priority, got.title, got.body) == (
        "mention",
        "high",
        full["title"],
        full["body"],
    )
    assert (got.url, got.image_url, got.actions, got.data) == (
        full["url"],
        full["image_url"],
        full["actions"],
        full["data"],
    )
    assert (got.group_key, got.expires_at, got.actor_id, got.producer) == ("post:42", expires, bob.pk, f"user:{bob.pk}")
    assert (got.uuid, got.recipient_count) == (first.id, 1)
    other = Content.objects.get(pk=second.content.pk)
    assert (other.title, other.body, other.actions, other.data, other.expires_at) == ("plain", "", [], {}, None)
    assert other.priority == other.category.default_priority


def test_a_small_bulk_with_one_bad_recipient_writes_nothing_and_names_that_item(alice, bob):
    # given three items, the middle one naming an inactive user
    carol = make_user("carol", is_active=False)
    items = [{"recipients": [r], "category": "comment", "title": "x"} for r in (alice.pk, carol.pk, bob.pk)]
    # when
    with pytest.raises(BulkValidationError) as caught:
        notification_send_bulk(sends=items)
    # then the error names item 1 only, and no item was written
    assert list(caught.value.errors) == [1]
    assert "Unknown or inactive user ids" in caught.value.errors[1]["recipients"][0]
    assert not Content.objects.exists() and not Notification.objects.exists()


def test_a_bulk_of_one_with_an_unknown_recipient_is_named_like_any_bulk_and_writes_nothing(alice):
    # given a recipient id nobody has, and an inactive user
    carol = make_user("carol", is_active=False)
    for recipients in ([alice.pk, 999_999], [carol.pk]):
        # when sent as a bulk of one
        with pytest.raises(BulkValidationError) as caught:
            notification_send_bulk(sends=[{"recipients": recipients, "category": "comment", "title": "x"}])
        # then the error is the bulk's, on item 0, naming the id; nothing was written
        assert list(caught.value.errors) == [0]
        assert "Unknown or inactive user ids" in caught.value.errors[0]["recipients"][0]
    assert not Content.objects.exists() and not Notification.objects.exists()


def test_a_bulk_of_one_with_bad_fields_gets_the_bulk_errors(alice):
    cases = [
        ({"recipients": [alice.pk], "category": "nope", "title": "x"}, "category"),
        ({"recipients": ["alice"], "category": "comment", "title": "x"}, "recipients"),
        ({"recipients": [alice.pk], "category": "comment", "title": "x", "colour": "red"}, "non_field_errors"),
        ({"recipients": [alice.pk], "category": "comment", "title": "x", "url": "javascript:x"}, "url"),
    ]
    for item, field in cases:
        with pytest.raises(BulkValidationError) as caught:
            notification_send_bulk(sends=[item])
        assert list(caught.value.errors) == [0] and field in caught.value.errors[0], item
    assert not Content.objects.exists()


def test_a_small_bulk_inside_a_rolled_back_transaction_leaves_nothing(alice, bob):
    from django.db import transaction

    for recipients in ([[alice.pk]], [[alice.pk], [alice.pk, bob.pk]]):
        with transaction.atomic():
            notification_send_bulk(sends=[{"recipients": r, "category": "comment", "title": "x"} for r in recipients])
            assert Notification.objects.filter(recipient=alice).count() == len(recipients)
            transaction.set_rollback(True)
    assert not Notification.objects.exists() and not Content.objects.exists()
