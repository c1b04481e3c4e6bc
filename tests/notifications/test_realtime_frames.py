"""Live frames of a send are built from text parts made once per send: they must be what the ordinary encoder
gives for the stored rows (the replay and REST shape), whatever the content holds."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import realtime
from notifications.models import Notification
from notifications.payloads import content_payload, notification_payload
from notifications.realtime import publishing
from notifications.services import notification_save, notification_snooze, notifications_wake_due
from tests.factories import make_users, send

pytestmark = pytest.mark.django_db

# Content that could confuse a text template: quotes, escapes, non-ASCII, and the probe values themselves.
TRICKY = {
    "title": 'He said "hi" \\ <b>&</b> — ünïcode 🎉',
    "body": "00000000-0000-0000-0000-000000000000 and -918273645",
    "data": {"seq": -918273645, "id": "00000000-0000-0000-0000-000000000000", "nested": {"a": [1, None, "x"]}},
    "group_key": "post:42",
    "url": "/posts/42?a=1&b=2",
    "actions": [{"label": "Open", "url": "/posts/42", "style": "primary"}],
}


def test_live_frames_of_a_send_equal_the_ordinary_encoding_of_the_stored_rows(
    monkeypatch, django_capture_on_commit_callbacks
):
    # given three recipients and a publish that records what it would send
    users = make_users(3, prefix="frames")
    published: list = []
    monkeypatch.setattr(publishing, "_notifications_publish", published.extend)

    # when one send to them commits
    with django_capture_on_commit_callbacks(execute=True):
        result = send(users, plan=False, **TRICKY)

    # then each recipient's frame is exactly notification_frame of its stored row
    stored = {
        n.recipient_id: n
        for n in Notification.objects.filter(content__uuid=result.id).select_related("content", "category")
    }
    assert len(published) == 3
    for group, message in published:
        row = stored[int(group.removeprefix("user."))]
        assert message["seq"] == row.seq
        expected = realtime.notification_frame(notification_payload(row), replay=False)
        # Equal as JSON and in the frame's field order (PostgreSQL's jsonb orders the keys inside `data` itself).
        assert json.loads(message["text"]) == json.loads(expected)
        assert list(json.loads(message["text"])["notification"]) == list(json.loads(expected)["notification"])
        assert json.loads(message["text"])["notification"]["title"] == TRICKY["title"]


def test_frame_parts_split_at_the_probe_id_and_seq_only():
    # given a content whose fields contain the probe values
    (user,) = make_users(1, prefix="parts")
    result = send([user], plan=False, **TRICKY)
    row = Notification.objects.select_related("content", "category").get(content__uuid=result.id)
    shared = content_payload(row.content, row.category)

    # when the parts are made and filled with the row's id and seq
    head, middle, tail = realtime.new_frame_parts(shared, realtime.frame_state(row))
    text = f"{head}{row.uuid}{middle}{row.seq}{tail}"

    # then the frame carries the row's own id and seq, and the content's values untouched
    frame = json.loads(text)["notification"]
    assert (frame["id"], frame["seq"]) == (str(row.uuid), row.seq)
    assert frame["data"] == TRICKY["data"]
    assert frame["body"] == TRICKY["body"]


def test_the_live_frame_of_a_woken_saved_notification_carries_its_own_state(
    monkeypatch, django_capture_on_commit_callbacks
):
    # given a saved notification that was snoozed
    (user,) = make_users(1, prefix="woken")
    result = send([user], plan=False, title="later")
    until = timezone.now() + timedelta(hours=1)
    notification_save(user=user, ids=result.notification_ids)
    notification_snooze(user=user, ids=result.notification_ids, until=until)
    published: list = []
    monkeypatch.setattr(publishing, "_notifications_publish", published.extend)

    # when its time comes
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_wake_due(now=until) == 1

    # then its frame is the ordinary encoding of the stored row: saved still, no longer snoozed, a new seq
    row = Notification.objects.select_related("content", "category").get(uuid=result.notification_ids[0])
    ((_group, message),) = published
    frame = json.loads(message["text"])["notification"]
    assert frame == json.loads(realtime.notification_frame(notification_payload(row), replay=False))["notification"]
    assert frame["saved_at"] is not None and frame["snoozed_until"] is None
