from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Notification
from tests.factories import send

LIST = "/api/v1/notifications/"


def detail(n) -> str:
    return f"/api/v1/notifications/{n.uuid}/"


def test_list_is_newest_first_and_cursor_paginated(alice_client, alice):
    for i in range(5):
        send([alice], title=f"t{i}")
    first = alice_client.get(LIST, {"page_size": 2}).json()
    assert [n["seq"] for n in first["results"]] == [5, 4]
    assert first["previous"] is None
    second = alice_client.get(first["next"]).json()
    assert [n["seq"] for n in second["results"]] == [3, 2]
    third = alice_client.get(second["next"]).json()
    assert [n["seq"] for n in third["results"]] == [1]
    assert third["next"] is None
    back = alice_client.get(third["previous"]).json()
    assert [n["seq"] for n in back["results"]] == [3, 2]


def test_after_seq_replays_oldest_first(alice_client, alice):
    for i in range(4):
        send([alice], title=f"t{i}")
    page = alice_client.get(LIST, {"after_seq": 1, "page_size": 2}).json()
    assert [n["seq"] for n in page["results"]] == [2, 3]
    assert [n["seq"] for n in alice_client.get(page["next"]).json()["results"]] == [4]


def test_list_returns_the_contract_object(alice_client, alice):
    result = send([alice], body="b", url="/x", data={"k": 1}, actions=[{"label": "Open", "url": "/x"}], group_key="g")
    item = alice_client.get(LIST).json()["results"][0]
    assert item == {
        "id": str(result.notification_ids[0]),
        "seq": 1,
        "category": "comment",
        "category_label": item["category_label"],
        "priority": result.content.priority,
        "title": "Hello",
        "body": "b",
        "url": "/x",
        "image_url": "",
        "actions": [{"label": "Open", "url": "/x", "style": "secondary"}],
        "data": {"k": 1},
        "group_key": "g",
        "actor": None,
        "actor_name": None,
        "expires_at": None,
        "created_at": item["created_at"],
        "seen_at": None,
        "read_at": None,
        "archived_at": None,
        "is_read": False,
        "saved_at": None,
        "snoozed_until": None,
        "muted": False,
    }


def test_filters(alice_client, alice):
    send([alice], category="comment", priority="low", title="c-low")
    send([alice], category="mention", priority="urgent", title="m-urgent")
    read = send([alice], category="comment", title="read")
    archived = send([alice], category="comment", title="archived")
    Notification.objects.filter(uuid=read.notification_ids[0]).update(read_at=timezone.now())
    Notification.objects.filter(uuid=archived.notification_ids[0]).update(archived_at=timezone.now())

    def titles(**params):
        response = alice_client.get(LIST, params)
        assert response.status_code == 200, response.content
        return [n["title"] for n in response.json()["results"]]

    assert titles() == ["read", "m-urgent", "c-low"]
    assert titles(status="all") == ["archived", "read", "m-urgent", "c-low"]
    assert titles(status="unread") == ["m-urgent", "c-low"]
    assert titles(status="read") == ["read"]
    assert titles(status="archived") == ["archived"]
    assert titles(category="mention") == ["m-urgent"]
    assert titles(category=["mention", "comment"]) == ["read", "m-urgent", "c-low"]
    assert titles(priority="urgent") == ["m-urgent"]
    assert titles(priority=["urgent", "low"]) == ["m-urgent", "c-low"]
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert titles(since=future) == []
    assert titles(before=future) == ["read", "m-urgent", "c-low"]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "nope"},
        {"category": "no-such-category"},
        {"priority": "critical"},
        {"since": "yesterday"},
        {"before": "2020-13-45"},
        {"after_seq": "-1"},
        {"after_seq": "abc"},
        {"after_seq": str(2**70)},
        {"page_size": "0"},
        {"page_size": "101"},
        {"cursor": "garbage"},
        {"cursor": "cD1hYmM="},  # base64 of "p=abc": a position that is not a seq
    ],
)
def test_bad_filter_values_are_400(alice_client, alice, params):
    send([alice])
    response = alice_client.get(LIST, params)
    assert response.status_code == 400, response.content
    assert set(response.json()) == set(params)


def test_detail_is_own_only(alice_client, bob_client, alice):
    n = Notification.objects.get(uuid=send([alice]).notification_ids[0])
    assert alice_client.get(detail(n)).json()["id"] == str(n.uuid)
    assert bob_client.get(detail(n)).status_code == 404
    assert bob_client.patch(detail(n), {"read": True}, format="json").status_code == 404
    assert alice_client.get("/api/v1/notifications/not-a-uuid/").status_code == 404
    n.refresh_from_db()
    assert n.read_at is None


def test_patch_read_and_archived(alice_client, alice, django_capture_on_commit_callbacks):
    n = Notification.objects.get(uuid=send([alice]).notification_ids[0])
    response = alice_client.patch(detail(n), {"read": True}, format="json")
    assert response.status_code == 200
    assert response.json()["is_read"] is True
    assert alice_client.get("/api/v1/notifications/unread-count/").json() == {
        "count": 0,
        "by_category": {},
        "groups": 0,
    }
    response = alice_client.patch(detail(n), {"read": False, "archived": True}, format="json")
    body = response.json()
    assert (body["is_read"], body["archived_at"] is not None) == (False, True)


@pytest.mark.parametrize(
    "payload",
    [
        {"recipient": 99},
        {"seq": 1000},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"category": "security"},
        {"title": "changed"},
        {"read": True, "seq": 5},
        {"read": "maybe"},
        ["read"],
    ],
)
def test_patch_of_anything_else_is_400_and_writes_nothing(alice_client, alice, payload):
    n = Notification.objects.get(uuid=send([alice]).notification_ids[0])
    before = Notification.objects.filter(pk=n.pk).values().get()
    response = alice_client.patch(detail(n), payload, format="json")
    assert response.status_code == 400
    assert Notification.objects.filter(pk=n.pk).values().get() == before
    if isinstance(payload, dict):
        bad = [key for key in payload if key != "read" or payload[key] == "maybe"]
        assert set(response.json()) == set(bad)


def test_mark_all_read_up_to_seq_and_category(alice_client, alice):
    send([alice], category="comment")
    send([alice], category="mention")
    send([alice], category="comment")
    response = alice_client.post(
        "/api/v1/notifications/mark-all-read/", {"up_to_seq": 2, "category": "comment"}, format="json"
    )
    assert response.json() == {"updated": 1}
    unread = set(Notification.objects.filter(recipient=alice, read_at__isnull=True).values_list("seq", flat=True))
    assert unread == {2, 3}
    assert alice_client.post("/api/v1/notifications/mark-all-read/", {}, format="json").json() == {"updated": 2}
    bad = alice_client.post("/api/v1/notifications/mark-all-read/", {"category": "nope"}, format="json")
    assert bad.status_code == 400


def test_mark_seen(alice_client, alice):
    send([alice])
    send([alice])
    response = alice_client.post("/api/v1/notifications/mark-seen/", {"up_to_seq": 1}, format="json")
    assert response.json() == {"updated": 1}
    assert list(Notification.objects.filter(seen_at__isnull=False).values_list("seq", flat=True)) == [1]
    assert alice_client.post("/api/v1/notifications/mark-seen/", {}, format="json").status_code == 400


def test_unread_count_by_category(alice_client, bob_client, alice, bob):
    send([alice], category="comment")
    send([alice, bob], category="mention")
    assert alice_client.get("/api/v1/notifications/unread-count/").json() == {
        "count": 2,
        "by_category": {"comment": 1, "mention": 1},
        "groups": 2,
    }
    assert bob_client.get("/api/v1/notifications/unread-count/").json() == {
        "count": 1,
        "by_category": {"mention": 1},
        "groups": 1,
    }


def test_unread_count_is_one_query_with_groups_and_categories(alice_client, alice, django_assert_num_queries):
    # given two groups (one key in two categories) and a row without a key
    send([alice], category="comment", group_key="post:1")
    send([alice], category="comment", group_key="post:1")
    send([alice], category="mention", group_key="post:1")
    send([alice], category="mention")
    unread_count = "/api/v1/notifications/unread-count/"
    alice_client.get(unread_count)  # the token and the categories are read once per process, not per request
    # when the counts are asked for
    with django_assert_num_queries(1) as ctx:
        body = alice_client.get(unread_count).json()
    # then one query over the unread rows answers all three, without a join to the contents
    assert body == {"count": 4, "by_category": {"comment": 2, "mention": 2}, "groups": 3}
    assert "notifications_content" not in ctx.captured_queries[0]["sql"]


def test_list_never_shows_other_users(alice_client, alice, bob):
    send([bob], title="for bob")
    send([alice], title="for alice")
    assert [n["title"] for n in alice_client.get(LIST, {"status": "all"}).json()["results"]] == ["for alice"]
