"""The producer's update and retraction services (notifications/retraction.py): lookups, validation, what leaves
which view, the counts, webhooks, broadcasts, and what a retracted row can no longer become."""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import grouping, realtime, selectors
from notifications.models import (
    Category,
    Content,
    DeliveryPlanPending,
    Notification,
    WebhookEndpoint,
    WebhookEventPending,
)
from notifications.payloads import notification_payload
from notifications.realtime import publishing
from notifications.services import (
    SendRetracted,
    notification_archive,
    notification_broadcast_batch,
    notification_mark_all_read,
    notification_mark_unread,
    notification_retract,
    notification_snooze,
    notification_update,
    notifications_retract_group,
    notify,
)
from tests.factories import make_user, make_users, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def crm():
    return make_user("crm", perms=["send_notification"])


def test_update_changes_the_content_once_for_every_recipient(crm, alice, bob):
    # given a producer's send to two users
    sent = notify(recipients=[alice, bob], category="comment", title="Draft", body="v1", actor=crm)
    # when it updates title, body, url, image, actions and data
    content = notification_update(
        send_id=sent.id,
        actor=crm,
        title=" Final ",
        body="v2",
        url="/posts/43",
        image_url="https://cdn.example.com/b.png",
        actions=[{"label": "Open", "url": "/posts/43"}],
        data={"post_id": 43},
    )
    # then the one content row says so (normalized as a send would be), with its update time
    content = Content.objects.get(pk=sent.content.pk)
    assert (content.title, content.body, content.url, content.image_url) == (
        "Final",
        "v2",
        "/posts/43",
        "https://cdn.example.com/b.png",
    )
    assert content.actions == [{"label": "Open", "url": "/posts/43", "style": "secondary"}]
    assert content.data == {"post_id": 43} and content.updated_at is not None
    # and both users see it; category, priority and group_key did not change
    for user in (alice, bob):
        (n,) = selectors.notification_list(user=user)
        assert n.content.title == "Final" and n.category.slug == "comment" and n.content.priority == "normal"


def test_update_is_validated_exactly_as_a_send_and_a_refused_one_changes_nothing(crm, alice):
    sent = notify(recipients=[alice], category="comment", title="Draft", actor=crm)
    with pytest.raises(ValidationError) as refused:
        notification_update(send_id=sent.id, actor=crm, title="", url="javascript:alert(1)", data={"x": "y" * 5000})
    assert set(refused.value.message_dict) == {"title", "url", "data"}
    with pytest.raises(TypeError):
        notification_update(send_id=sent.id, actor=crm, category="security")  # type: ignore[call-arg]
    content = Content.objects.get(pk=sent.content.pk)
    assert (content.title, content.url, content.data, content.updated_at) == ("Draft", "", {}, None)


def test_update_and_retract_by_idempotency_key_find_only_the_producers_own_send(crm, alice):
    # given two producers that used the same key
    other = make_user("shop", perms=["send_notification"])
    mine = notify(recipients=[alice], category="comment", title="Mine", actor=crm, idempotency_key="k1")
    theirs = notify(recipients=[alice], category="comment", title="Theirs", actor=other, idempotency_key="k1")
    # when one updates and retracts by key
    notification_update(idempotency_key="k1", actor=crm, title="Mine, edited")
    assert notification_retract(idempotency_key="k1", actor=crm).sends == 1
    # then only its own send changed
    assert Content.objects.get(pk=mine.content.pk).retracted_at is not None
    assert Content.objects.get(pk=mine.content.pk).title == "Mine, edited"
    untouched = Content.objects.get(pk=theirs.content.pk)
    assert (untouched.title, untouched.retracted_at) == ("Theirs", None)


def test_another_producer_finds_nothing_by_id(crm, alice):
    sent = notify(recipients=[alice], category="comment", title="Mine", actor=crm)
    other = make_user("shop", perms=["send_notification"])
    with pytest.raises(Content.DoesNotExist):
        notification_update(send_id=sent.id, actor=other, title="Hijacked")
    with pytest.raises(Content.DoesNotExist):
        notification_retract(send_id=sent.id, actor=other)
    content = Content.objects.get(pk=sent.content.pk)
    assert (content.title, content.retracted_at) == ("Mine", None)


def test_a_retracted_send_leaves_every_view_count_and_lookup(crm, alice):
    # given alice with a kept notification and one from the producer, saved, in every state a view can show
    kept = send([alice], title="kept")
    sent = notify(recipients=[alice], category="comment", title="gone", actor=crm)
    (gone,) = sent.notification_ids
    Notification.objects.filter(uuid=gone).update(saved_at=timezone.now())
    assert selectors.notification_unread_count(user=alice) == 2
    # when the producer retracts it
    result = notification_retract(send_id=sent.id, actor=crm)
    # then it is in no list, no count, no detail, no replay
    assert (result.sends, result.notifications) == (1, 1)
    for status in (*selectors.STATUS_FILTERS, selectors.Status.INBOX):
        titles = [n.content.title for n in selectors.notification_list(user=alice, status=status)]
        assert "gone" not in titles, status
    assert grouping.notification_unread_totals(user=alice) == {"count": 1, "by_category": {"comment": 1}, "groups": 1}
    assert selectors.notification_unseen_count(user=alice) == 1
    assert selectors.user_socket_state(user_id=alice.pk).socket_unread == 1
    with pytest.raises(Notification.DoesNotExist):
        selectors.notification_get(user=alice, id=gone)
    assert [n.uuid for n in selectors.notification_replay(user=alice, after_seq=0)] == kept.notification_ids
    # and its row is kept (archived, for the record), the content marked once
    row = Notification.objects.get(uuid=gone)
    assert row.archived_at is not None and row.read_at is None
    assert Content.objects.get(pk=sent.content.pk).retracted_at is not None


def test_a_retracted_row_cannot_come_back_by_unarchive_unread_snooze_or_mark_all_read(crm, alice):
    sent = notify(recipients=[alice], category="comment", title="gone", actor=crm)
    (gone,) = sent.notification_ids
    notification_retract(send_id=sent.id, actor=crm)
    archived_at = Notification.objects.get(uuid=gone).archived_at
    # when alice's clients try every state change on it
    assert notification_archive(user=alice, ids=[gone], archived=False) == []
    assert notification_mark_unread(user=alice, ids=[gone]) == []
    assert notification_snooze(user=alice, ids=[gone], until=timezone.now() + timedelta(hours=1)) == []
    assert notification_mark_all_read(user=alice) == 0
    # then nothing changed and nothing counts it
    row = Notification.objects.get(uuid=gone)
    assert (row.archived_at, row.read_at, row.snoozed_until) == (archived_at, None, None)
    assert selectors.notification_unread_count(user=alice) == 0


def test_a_snoozed_row_retracted_never_wakes(crm, alice):
    sent = notify(recipients=[alice], category="comment", title="later", actor=crm)
    (n,) = sent.notification_ids
    notification_snooze(user=alice, ids=[n], until=timezone.now() + timedelta(hours=1))
    notification_retract(send_id=sent.id, actor=crm)
    row = Notification.objects.get(uuid=n)
    assert row.snoozed_until is None and row.archived_at is not None
    assert list(selectors.notification_list(user=alice, status=selectors.Status.SNOOZED)) == []


def test_retracting_again_changes_nothing_and_an_update_after_it_is_refused(crm, alice):
    sent = notify(recipients=[alice], category="comment", title="gone", actor=crm)
    first = notification_retract(send_id=sent.id, actor=crm)
    retracted_at = Content.objects.get(pk=sent.content.pk).retracted_at
    again = notification_retract(send_id=sent.id, actor=crm)
    assert (first.sends, again.sends, again.notifications) == (1, 0, 0)
    assert Content.objects.get(pk=sent.content.pk).retracted_at == retracted_at
    with pytest.raises(SendRetracted):
        notification_update(send_id=sent.id, actor=crm, title="back?")
    assert Content.objects.get(pk=sent.content.pk).title == "gone"


def test_retract_by_group_key_takes_only_the_producers_sends_with_that_key(crm, alice, bob):
    other = make_user("shop", perms=["send_notification"])
    a = notify(recipients=[alice], category="comment", title="c1", group_key="post:42", actor=crm)
    b = notify(recipients=[alice, bob], category="comment", title="c2", group_key="post:42", actor=crm)
    other_key = notify(recipients=[alice], category="comment", title="c3", group_key="post:43", actor=crm)
    other_producer = notify(recipients=[alice], category="comment", title="c4", group_key="post:42", actor=other)
    # when the producer retracts post:42
    result = notifications_retract_group(group_key="post:42", actor=crm)
    # then its two sends (three rows) are gone, the rest stay
    assert (result.sends, result.notifications) == (2, 3)
    retracted = set(Content.objects.filter(retracted_at__isnull=False).values_list("pk", flat=True))
    assert retracted == {a.content.pk, b.content.pk}
    assert {n.content.title for n in selectors.notification_list(user=alice)} == {"c3", "c4"}
    assert other_key.content.pk not in retracted and other_producer.content.pk not in retracted
    assert notifications_retract_group(group_key="", actor=crm).sends == 0


def test_retraction_records_the_retracted_webhook_event_for_the_producers_endpoints_only(crm, alice, bob):
    # given the producer's endpoint subscribed to retractions, and another producer's
    other = make_user("shop", perms=["send_notification"])
    mine = WebhookEndpoint.objects.create(
        producer=crm, url="https://h.example.com/", events=["notification.retracted"], secret="s"
    )
    WebhookEndpoint.objects.create(
        producer=other, url="https://o.example.com/", events=["notification.retracted"], secret="s"
    )
    sent = notify(recipients=[alice, bob], category="comment", title="gone", actor=crm)
    # when it is retracted
    notification_retract(send_id=sent.id, actor=crm)
    # then one event per recipient row, for the producer's endpoint only
    events = WebhookEventPending.objects.order_by("notification_id")
    assert [(e.endpoint_id, e.event) for e in events] == [(mine.pk, "notification.retracted")] * 2
    assert {e.notification.uuid for e in events} == set(sent.notification_ids)


def test_retraction_drops_the_sends_delivery_plan_that_was_not_run_yet(crm, alice):
    sent = notify(recipients=[alice], category="comment", title="gone", actor=crm)
    assert DeliveryPlanPending.objects.filter(content=sent.content).count() == 1
    notification_retract(send_id=sent.id, actor=crm)
    assert DeliveryPlanPending.objects.filter(content=sent.content).count() == 0


def test_a_broadcast_retracted_midway_writes_no_further_batch(alice, bob):
    staff = make_user("ops", is_staff=True)
    comment = Category.objects.get(slug="comment")
    content = Content.objects.create(category=comment, priority="normal", title="all", producer=f"user:{staff.pk}")
    assert notification_broadcast_batch(content_id=content.pk, audience="all", batch_size=1) == 1
    notification_retract(send_id=content.uuid, actor=staff)
    assert notification_broadcast_batch(content_id=content.pk, audience="all", batch_size=1) == 0
    assert Notification.objects.filter(content=content).count() == 1


# Content that could confuse the text parts: quotes, escapes, and the probe id and seq themselves.
TRICKY: dict[str, Any] = {
    "title": 'He said "hi" \\ — 00000000-0000-0000-0000-000000000000',
    "body": "-918273645",
    "data": {"seq": -918273645, "id": "00000000-0000-0000-0000-000000000000"},
}


def test_update_frames_equal_the_ordinary_encoding_of_each_stored_row(
    crm, monkeypatch, django_capture_on_commit_callbacks
):
    # given a send to three users, one of whom read it (another row state)
    users = make_users(3, prefix="upd")
    sent = notify(recipients=users, category="comment", title="Draft", actor=crm)
    Notification.objects.filter(uuid=sent.notification_ids[0]).update(read_at=timezone.now())
    published: list = []
    monkeypatch.setattr(publishing, "publish", published.extend)
    # when it is updated with tricky content
    with django_capture_on_commit_callbacks(execute=True):
        notification_update(send_id=sent.id, actor=crm, **TRICKY)
    # then each recipient's frame is notification_updated with exactly its stored row's payload
    rows = Notification.objects.filter(content=sent.content).select_related("content", "category")
    stored = {n.recipient_id: n for n in rows}
    assert len(published) == 3
    for group, message in published:
        row = stored[int(group.removeprefix("user."))]
        assert message["type"] == realtime.CONTENT_CHANGED
        frame = json.loads(message["text"])
        expected = {"type": "notification_updated", "ids": [str(row.uuid)], "notification": notification_payload(row)}
        assert frame == expected
        assert list(frame["notification"]) == list(notification_payload(row))


def test_retraction_costs_the_same_queries_for_one_recipient_as_for_fifty(crm):
    # given two sends, to one user and to fifty (and a first retraction: per-process caches are loaded by then)
    notification_retract(send_id=notify(recipients=[crm], category="comment", title="warm", actor=crm).id, actor=crm)
    one = notify(recipients=make_users(1, prefix="one"), category="comment", title="one", actor=crm)
    many = notify(recipients=make_users(50, prefix="many"), category="comment", title="many", actor=crm)
    # when each is retracted, then the second costs no more queries than the first: no per-recipient round trip
    with CaptureQueriesContext(connection) as small:
        notification_retract(send_id=one.id, actor=crm)
    with CaptureQueriesContext(connection) as large:
        notification_retract(send_id=many.id, actor=crm)
    assert len(large.captured_queries) == len(small.captured_queries)
    assert Notification.objects.filter(content=many.content, archived_at__isnull=True).count() == 0
