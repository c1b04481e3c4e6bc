"""Saved (starred) notifications: the service, the REST API and the frame other tabs get (issue 13, item 3)."""

import pytest
from django.db import connection

from notifications.models import Notification
from notifications.selectors import Status, notification_list
from notifications.services import notification_save, notification_update_state
from tests.factories import send
from tests.notifications.api.conftest import client_for

LIST = "/api/v1/notifications/"


def detail(uuid) -> str:
    return f"/api/v1/notifications/{uuid}/"


def one(user, **fields) -> Notification:
    return Notification.objects.get(uuid=send([user], **fields).notification_ids[0])


# --- service ------------------------------------------------------------------------------------------------------


def test_saving_keeps_an_item_in_saved_whatever_its_read_and_archive_state(alice):
    # given three notifications, one of them saved, then read and archived
    kept = one(alice, title="kept")
    one(alice, title="other")
    changed = notification_save(user=alice, ids=[kept.uuid])
    notification_update_state(user=alice, ids=[kept.uuid], read=True, archived=True)
    # then it is saved, and the Saved view shows it and only it, although it left the inbox
    kept.refresh_from_db()
    assert changed == [kept.uuid]
    assert kept.saved_at is not None and kept.read_at is not None and kept.archived_at is not None
    assert [n.content.title for n in notification_list(user=alice, status=Status.SAVED)] == ["kept"]
    assert [n.content.title for n in notification_list(user=alice)] == ["other"]


def test_saving_twice_changes_nothing_and_unsaving_removes_it_from_saved(alice):
    n = one(alice)
    assert notification_save(user=alice, ids=[n.uuid]) == [n.uuid]
    first = Notification.objects.get(pk=n.pk).saved_at
    # saving again is no change (the first time is kept)
    assert notification_save(user=alice, ids=[n.uuid]) == []
    assert Notification.objects.get(pk=n.pk).saved_at == first
    # unsaving takes it out, and does not touch read or archived
    assert notification_save(user=alice, ids=[n.uuid], saved=False) == [n.uuid]
    n.refresh_from_db()
    assert (n.saved_at, n.read_at, n.archived_at) == (None, None, None)
    assert list(notification_list(user=alice, status=Status.SAVED)) == []


def test_saving_another_users_notification_is_ignored(alice, bob):
    theirs = one(bob)
    assert notification_save(user=alice, ids=[theirs.uuid]) == []
    theirs.refresh_from_db()
    assert theirs.saved_at is None


def test_saving_publishes_notification_updated_with_saved_after_commit(
    alice, monkeypatch, django_capture_on_commit_callbacks
):
    from notifications import realtime

    published = []
    monkeypatch.setattr(realtime.publishing, "publish", lambda messages: published.extend(messages))
    n = one(alice)
    with django_capture_on_commit_callbacks(execute=True):
        notification_save(user=alice, ids=[n.uuid])
    (group, message), *_ = [m for m in published if m[1]["type"] == realtime.STATE_CHANGED]
    assert group == realtime.user_group(alice.pk)
    assert message["texts"] == [
        f'{{"type":"notification_updated","ids":["{n.uuid}"],"saved":true}}',
        '{"type":"unread_count","count":1,"groups":1}',
    ]


def test_the_saved_view_reads_the_saved_rows_by_their_partial_index(alice):
    one(alice)
    sql, params = notification_list(user=alice, status=Status.SAVED).query.sql_with_params()
    assert '"saved_at" IS NOT NULL' in sql
    with connection.cursor() as cursor:
        explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
        cursor.execute(explain + sql, params)
        plan = " ".join(str(row) for row in cursor.fetchall())
    if connection.vendor == "sqlite":  # PostgreSQL may prefer a scan on a table this small
        assert "notification_saved_idx" in plan


# --- REST ---------------------------------------------------------------------------------------------------------


def test_patch_saved_and_the_saved_filter(alice):
    client = client_for(alice)
    n = one(alice, title="star me")
    one(alice, title="plain")
    response = client.patch(detail(n.uuid), {"saved": True}, format="json")
    assert response.status_code == 200
    assert response.json()["saved_at"] is not None
    # archived too: still in Saved, not in the default list
    assert client.patch(detail(n.uuid), {"archived": True}, format="json").status_code == 200
    assert [x["title"] for x in client.get(LIST, {"status": "saved"}).json()["results"]] == ["star me"]
    assert [x["title"] for x in client.get(LIST).json()["results"]] == ["plain"]
    # and unsaved
    response = client.patch(detail(n.uuid), {"saved": False}, format="json")
    assert response.json()["saved_at"] is None
    assert client.get(LIST, {"status": "saved"}).json()["results"] == []


def test_patch_saved_on_another_users_notification_is_404_and_writes_nothing(alice, bob):
    theirs = one(bob)
    response = client_for(alice).patch(detail(theirs.uuid), {"saved": True}, format="json")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.saved_at is None
    # and bob's saved list never contains anything alice did
    assert client_for(alice).get(LIST, {"status": "saved"}).json()["results"] == []


@pytest.mark.parametrize("payload", [{"saved": "maybe"}, {"saved": None}, {"saved_at": "2030-01-01T00:00:00Z"}])
def test_patch_saved_with_a_bad_value_is_400(alice, payload):
    n = one(alice)
    response = client_for(alice).patch(detail(n.uuid), payload, format="json")
    assert response.status_code == 400
    assert set(response.json()) == set(payload)
    n.refresh_from_db()
    assert n.saved_at is None


# --- the center page (no JavaScript) ------------------------------------------------------------------------------


def test_the_center_star_posts_save_and_the_saved_tab_lists_it(client, alice, bob):
    client.force_login(alice)
    n = one(alice, title="star me")
    theirs = one(bob, title="bobs")
    page = client.get("/notifications/").content.decode()
    assert 'aria-label="Save: star me"' in page and 'aria-pressed="false"' in page
    assert ">Saved</a>" in page
    # when the star is pressed (a plain POST), it is saved and the Saved tab shows it pressed
    back = "/notifications/?status=saved"
    response = client.post(f"/notifications/{n.uuid}/state/", {"action": "save", "next": back})
    assert response.status_code == 302
    saved = client.get("/notifications/?status=saved").content.decode()
    assert "star me" in saved and 'aria-pressed="true"' in saved and 'value="unsave"' in saved
    # the JSON answer of the page's script, and another user's id is a 404
    answer = client.post(f"/notifications/{n.uuid}/state/", {"action": "unsave"}, HTTP_ACCEPT="application/json")
    assert answer.json() == {"changed": [str(n.uuid)], "saved": False, "unread_count": 1, "unread_groups": 1}
    assert client.post(f"/notifications/{theirs.uuid}/state/", {"action": "save"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.saved_at is None
    assert "Nothing saved." in client.get("/notifications/?status=saved").content.decode()
