"""The server-rendered notification center, its POST actions and the self-test send (no JavaScript involved)."""

import re
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from notifications.models import Content, Notification
from notifications.views import PAGE_SIZE, SELF_TEST_LIMIT
from tests.factories import send


def titles(response) -> list[str]:
    html = response.content.decode()
    return re.findall(r'class="n-title" id="n-[^"]+-title"><a href="[^"]*" data-open="[^"]*">([^<]*)<', html)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_center_needs_login(client, db):
    response = client.get("/notifications/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_home_sends_people_where_they_belong(client, alice):
    assert client.get("/")["Location"] == "/accounts/login/"
    client.force_login(alice)
    assert client.get("/")["Location"] == "/notifications/"


def test_center_shows_only_own_notifications_newest_first_escaped(alice_client, alice, bob):
    send([alice], title="first")
    send([bob], title="for bob only")
    send([alice], title="<script>alert(1)</script>", body="<b>bold?</b>")

    response = alice_client.get("/notifications/")

    assert response.status_code == 200
    html = response.content.decode()
    assert titles(response) == ["&lt;script&gt;alert(1)&lt;/script&gt;", "first"]
    assert "<script>alert(1)" not in html
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html
    assert "for bob only" not in html
    assert 'aria-label="Notifications, 2 unread"' in html
    assert "<title>(2) Notification center · Notify</title>" in html


def test_load_more_pages_by_seq_and_keeps_the_filters(alice_client, alice):
    for i in range(PAGE_SIZE + 5):
        send([alice], title=f"c{i}", category="comment")
        send([alice], title=f"m{i}", category="mention")

    first = alice_client.get("/notifications/?category=comment")
    assert titles(first) == [f"c{i}" for i in range(PAGE_SIZE + 4, 4, -1)]
    next_url = first.context["next_url"]
    assert "category=comment" in next_url and "before_seq=" in next_url

    second = alice_client.get(f"/notifications/{next_url}")
    assert titles(second) == ["c4", "c3", "c2", "c1", "c0"]
    assert second.context["next_url"] is None
    assert second.context["newest_url"] == "?category=comment"


def test_filters_by_status_priority_and_date(alice_client, alice):
    old = send([alice], title="old", priority="high")
    send([alice], title="read one", priority="low")
    send([alice], title="archived one")
    send([alice], title="fresh urgent", priority="urgent")
    Notification.objects.filter(content=old.content).update(created_at=timezone.now() - timedelta(days=40))
    Notification.objects.filter(content__title="read one").update(read_at=timezone.now())
    Notification.objects.filter(content__title="archived one").update(archived_at=timezone.now())

    assert titles(alice_client.get("/notifications/")) == ["fresh urgent", "read one", "old"]
    assert titles(alice_client.get("/notifications/?status=unread")) == ["fresh urgent", "old"]
    assert titles(alice_client.get("/notifications/?status=read")) == ["read one"]
    assert titles(alice_client.get("/notifications/?status=archived")) == ["archived one"]
    assert titles(alice_client.get("/notifications/?status=all")) == ["fresh urgent", "archived one", "read one", "old"]
    assert titles(alice_client.get("/notifications/?priority=urgent&priority=high")) == ["fresh urgent", "old"]
    day = (timezone.now() - timedelta(days=40)).date().isoformat()
    assert titles(alice_client.get(f"/notifications/?since={day}&until={day}")) == ["old"]


@pytest.mark.parametrize(
    "query", ["status=bogus", "before_seq=abc", "since=notadate&until=2020-13-45", "category=nope", "priority=x"]
)
def test_bad_filter_values_are_ignored_not_errors(alice_client, alice, query):
    send([alice], title="still here")
    response = alice_client.get(f"/notifications/?{query}")
    assert response.status_code == 200
    assert titles(response) == ["still here"]


def test_state_actions_change_only_own_notifications(alice_client, alice, bob):
    mine = send([alice], title="mine").notification_ids[0]
    theirs = send([bob], title="theirs").notification_ids[0]

    response = alice_client.post(f"/notifications/{mine}/state/", {"action": "read", "next": "/notifications/?x=1"})
    assert response.status_code == 302 and response["Location"] == "/notifications/?x=1"
    assert Notification.objects.get(uuid=mine).read_at is not None

    response = alice_client.post(f"/notifications/{theirs}/state/", {"action": "read"})
    assert response.status_code == 404
    assert Notification.objects.get(uuid=theirs).read_at is None

    alice_client.post(f"/notifications/{mine}/state/", {"action": "archive"})
    assert Notification.objects.get(uuid=mine).archived_at is not None
    alice_client.post(f"/notifications/{mine}/state/", {"action": "unread"})
    assert Notification.objects.get(uuid=mine).read_at is None


def test_state_answers_json_for_the_js_module(alice_client, alice):
    first, second = (send([alice], title=t).notification_ids[0] for t in ("a", "b"))
    response = alice_client.post(
        f"/notifications/{first}/state/", {"action": "read"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"changed": [str(first)], "read": True, "unread_count": 1, "unread_groups": 1}
    assert Notification.objects.get(uuid=second).read_at is None


def test_state_rejects_bad_requests_without_changing_anything(alice_client, alice):
    mine = send([alice], title="mine").notification_ids[0]
    assert alice_client.post(f"/notifications/{mine}/state/", {"action": "explode"}).status_code == 400
    assert alice_client.get(f"/notifications/{mine}/state/").status_code == 405
    evil = alice_client.post(f"/notifications/{mine}/state/", {"action": "read", "next": "https://evil.example/"})
    assert evil["Location"] == "/notifications/"
    n = Notification.objects.get(uuid=mine)
    assert n.archived_at is None


def test_state_post_needs_csrf(alice, db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    mine = send([alice], title="mine").notification_ids[0]
    assert client.post(f"/notifications/{mine}/state/", {"action": "read"}).status_code == 403
    assert Notification.objects.get(uuid=mine).read_at is None


def test_mark_all_read_only_touches_own(alice_client, alice, bob):
    send([alice, bob], title="both")
    send([alice], title="alice")
    response = alice_client.post("/notifications/mark-all-read/", headers={"Accept": "application/json"})
    mine = {str(u) for u in Notification.objects.filter(recipient=alice).values_list("uuid", flat=True)}
    body = response.json()
    assert {k: v for k, v in body.items() if k != "ids"} == {"updated": 2, "unread_count": 0, "unread_groups": 0}
    assert set(body["ids"]) == mine  # what "Undo" marks unread again: alice's two, none of bob's
    assert Notification.objects.filter(recipient=alice, read_at__isnull=True).count() == 0
    assert Notification.objects.filter(recipient=bob, read_at__isnull=True).count() == 1


def test_send_test_goes_only_to_the_user_with_chosen_category_and_priority(alice_client, alice, bob):
    response = alice_client.post(
        "/notifications/test/",
        {"category": "mention", "priority": "urgent", "title": "Hi me"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 201
    n = Notification.objects.select_related("content", "category").get(recipient=alice)
    assert (n.category.slug, n.content.priority, n.content.title) == ("mention", "urgent", "Hi me")
    assert not Notification.objects.filter(recipient=bob).exists()


def test_send_test_default_title_and_bad_category(alice_client, alice):
    alice_client.post("/notifications/test/", {"category": "comment"})
    assert Notification.objects.get(recipient=alice).content.title == "Test: Comments"
    response = alice_client.post("/notifications/test/", {"category": "nope"}, headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert Notification.objects.filter(recipient=alice).count() == 1


def test_send_test_is_rate_limited(alice_client, alice):
    for _ in range(SELF_TEST_LIMIT):
        alice_client.post("/notifications/test/", {"category": "comment"})
    response = alice_client.post(
        "/notifications/test/", {"category": "comment"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 429
    assert "per minute" in response.json()["errors"]["__all__"][0]
    assert Notification.objects.filter(recipient=alice).count() == SELF_TEST_LIMIT
    # the window slides: older sends no longer count
    Content.objects.update(created_at=timezone.now() - timedelta(minutes=2))
    assert alice_client.post("/notifications/test/", {"category": "comment"}).status_code == 302
    assert Notification.objects.filter(recipient=alice).count() == SELF_TEST_LIMIT + 1


def test_send_test_needs_login(client, db):
    response = client.post("/notifications/test/", {"category": "comment"})
    assert response.status_code == 302
    assert not Notification.objects.exists()


def test_service_worker_is_served_from_the_root(client, db):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert b'addEventListener("push"' in b"".join(response.streaming_content)


def test_bell_dropdown_lists_the_latest_eight(alice_client, alice):
    for i in range(10):
        send([alice], title=f"n{i}")
    html = alice_client.get("/preferences/").content.decode()
    dropdown = re.findall(r'<span class="dd-title">([^<]*)</span>', html)
    assert dropdown == [f"n{i}" for i in range(9, 1, -1)]
    assert 'data-last-seq="10"' in html and 'data-unread="10"' in html


def test_every_page_carries_the_time_its_bell_was_rendered_for_the_first_changed_since(alice_client, alice):
    # given a notification of alice's
    send([alice], title="n")
    before = timezone.now()
    # when a page renders
    html = alice_client.get("/preferences/").content.decode()
    after = timezone.now()
    # then <body> carries the render time with its zone, taken while rendering, as resume's changed_since takes it
    (rendered,) = re.findall(r'data-rendered-at="([^"]+)"', html)
    at = datetime.fromisoformat(rendered)
    assert at.tzinfo is not None and before <= at <= after
