"""The center's server side: tabs, search, several categories, messages for bad filters, day headers, the end of
history, and the bulk endpoint used by selection, undo and keyboard shortcuts."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Notification
from tests.factories import send

pytestmark = pytest.mark.django_db


def titles(response) -> list[str]:
    return re.findall(
        r'class="n-title" id="n-[^"]+-title"><a href="[^"]*" data-open="[^"]*">([^<]*)<', response.content.decode()
    )


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_search_matches_every_word_as_a_prefix_in_title_or_body_of_own_notifications(alice_client, alice, bob):
    send([alice], title="Fix login page", body="the button is broken")
    send([alice], title="Deploy finished", body="login service v2")
    send([alice], title="Lunch", body="tacos")
    send([bob], title="Fix login for bob")
    assert titles(alice_client.get("/notifications/", {"q": "logi"})) == ["Deploy finished", "Fix login page"]
    assert titles(alice_client.get("/notifications/", {"q": "fix brok"})) == ["Fix login page"]
    assert titles(alice_client.get("/notifications/", {"q": "nothing-like-this"})) == []
    # Punctuation is not syntax: no error, the words are what counts.
    assert titles(alice_client.get("/notifications/", {"q": "login & | ! :* ('"})) == [
        "Deploy finished",
        "Fix login page",
    ]


def test_several_categories_at_once(alice_client, alice):
    send([alice], category="comment", title="c")
    send([alice], category="mention", title="m")
    send([alice], category="security", title="s")
    response = alice_client.get("/notifications/", {"category": ["comment", "security"]})
    assert titles(response) == ["s", "c"]


def test_tabs_unread_all_archived_mark_the_current_view(alice_client, alice):
    first, second = (send([alice], title=t).notification_ids[0] for t in ("one", "two"))
    Notification.objects.filter(uuid=first).update(read_at=timezone.now())
    Notification.objects.filter(uuid=second).update(archived_at=timezone.now())
    send([alice], title="three")
    unread = alice_client.get("/notifications/", {"status": "unread"})
    assert titles(unread) == ["three"]
    assert '<a class="tab" href="?status=unread" aria-current="page">Unread</a>' in unread.content.decode()
    assert titles(alice_client.get("/notifications/")) == ["three", "one"]
    assert titles(alice_client.get("/notifications/", {"status": "archived"})) == ["two"]


def test_bad_filter_values_get_a_message_not_an_error(alice_client, alice):
    send([alice], title="kept")
    response = alice_client.get(
        "/notifications/", {"since": "2026-13-01", "until": "tomorrow", "category": "nope", "status": "weird"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "“2026-13-01” is not a date" in html
    assert "“tomorrow” is not a date" in html
    assert "Some categories or priorities in the address do not exist" in html
    assert "Unknown status “weird”" in html
    assert titles(response) == ["kept"]


def test_reversed_date_range_says_so_and_shows_nothing(alice_client, alice):
    send([alice], title="today")
    response = alice_client.get("/notifications/", {"since": "2026-05-10", "until": "2026-05-01"})
    assert "is after “To” (2026-05-01)" in response.content.decode()
    assert titles(response) == []


def test_day_headers_in_the_users_zone_and_the_end_of_history(alice_client, alice):
    old = send([alice], title="old").notification_ids[0]
    Notification.objects.filter(uuid=old).update(created_at=timezone.now() - timedelta(days=1))
    send([alice], title="new")
    html = alice_client.get("/notifications/").content.decode()
    headers = re.findall(r'<li class="n-day" aria-hidden="true">([^<]*)</li>', html)
    assert headers == ["Today", "Yesterday"]
    assert "You've reached the end of your history." in html
    assert 'id="load-more"' not in html


def test_bulk_state_changes_only_own_ids_and_reports_them(alice_client, alice, bob):
    mine = send([alice, bob], title="both").notification_ids
    alice_ids = [str(n.uuid) for n in Notification.objects.filter(recipient=alice)]
    bob_id = str(Notification.objects.get(recipient=bob).uuid)
    response = alice_client.post(
        "/notifications/bulk/",
        {"action": "archive", "ids": [*alice_ids, bob_id, "not-a-uuid"]},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"changed": alice_ids, "archived": True, "unread_count": 0, "unread_groups": 0}
    assert Notification.objects.get(uuid=bob_id).archived_at is None
    assert len(mine) == 2


def test_bulk_state_refuses_bad_requests_with_400_and_changes_nothing(alice_client, alice):
    ids = [str(i) for i in send([alice], title="x").notification_ids]
    for data in ({"action": "explode", "ids": ids}, {"action": "read"}, {"action": "read", "ids": ids * 501}):
        response = alice_client.post("/notifications/bulk/", data, headers={"Accept": "application/json"})
        assert response.status_code == 400
        assert "errors" in response.json()
    assert Notification.objects.get(uuid=ids[0]).read_at is None


def test_bulk_state_without_javascript_redirects_back_with_a_message(alice_client, alice):
    ids = [str(i) for i in send([alice], title="x").notification_ids]
    response = alice_client.post(
        "/notifications/bulk/", {"action": "read", "ids": ids, "next": "/notifications/?status=unread"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/notifications/?status=unread"
    assert Notification.objects.get(uuid=ids[0]).read_at is not None


def test_the_badge_renders_the_unseen_count_and_the_bell_name_the_unread_count(alice_client, alice):
    first = send([alice], title="seen already").notification_ids[0]
    Notification.objects.filter(uuid=first).update(seen_at=timezone.now())
    send([alice], title="new 1")
    send([alice], title="new 2")
    html = alice_client.get("/notifications/").content.decode()
    assert 'aria-label="Notifications, 3 unread"' in html
    assert re.search(r'id="bell-badge"[^>]*>2</span>', html)
    assert 'data-unseen="2"' in html
