"""The Django admin as staff use it: every page loads for staff only, the notification and delivery lists, the
notification page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import Content, Delivery, DeliveryStatus, Notification
from tests.factories import make_users, send
from tests.notifications.admin.helpers import ADMIN_PAGES, queries, table


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_pages_load_for_staff(client, staff, alice, name):
    send([alice], title="Visible in admin")
    client.force_login(staff)
    response = client.get(reverse(name))
    assert response.status_code == 200


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_pages_refused_to_non_staff(client, alice, name):
    client.force_login(alice)
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_notification_content_is_read_only(client, staff, alice):
    result = send([alice], title="History")
    client.force_login(staff)
    url = reverse("admin:notifications_content_change", args=[result.content.pk])
    response = client.post(url, {"title": "Rewritten"})
    assert response.status_code == 403
    assert Content.objects.get(pk=result.content.pk).title == "History"


# --- Notification list and page -----------------------------------------------------------------------------------


def _three_states(alice, bob):
    """Alice: "Fix login" unread (high), "Later" snoozed; bob: "Weekly digest" read, "Old news" archived."""
    send([alice], title="Fix login", category="security", priority="high")
    send([bob], title="Weekly digest")
    send([bob], title="Old news", category="announcement")
    send([alice], title="Later")
    now = timezone.now()
    Notification.objects.filter(content__title="Weekly digest").update(read_at=now)
    Notification.objects.filter(content__title="Old news").update(read_at=now, archived_at=now)
    Notification.objects.filter(content__title="Later").update(snoozed_until=now + timedelta(hours=3))


def test_notification_list_shows_title_recipient_category_priority_status_and_time_not_the_uuid(
    client, staff, alice, bob
):
    # given one unread, one read and one archived notification
    _three_states(alice, bob)
    client.force_login(staff)

    # when staff open the list
    response = client.get(reverse("admin:notifications_notification_changelist") + "?o=1")

    # then every row names the send, the person, category, priority and status; no uuid anywhere in the table
    rows = table(response, "result_list")
    assert rows[0][1:] == ["Title", "Recipient", "Category", "Priority", "Status", "Created at"]
    assert [row[1:6] for row in rows[1:]] == [
        ["Fix login", "alice", "Security alerts", "High", "Unread"],
        ["Later", "alice", "Comments", "Normal", "Snoozed"],
        ["Old news", "bob", "Announcements", "Normal", "Archived"],
        ["Weekly digest", "bob", "Comments", "Normal", "Read"],
    ]
    assert all(row[6] for row in rows[1:])  # a created time in every row
    for uuid in Notification.objects.values_list("uuid", flat=True):
        assert str(uuid) not in response.content.decode()


@pytest.mark.parametrize(
    "query,titles",
    [
        ("q=alice", ["Fix login", "Later"]),
        ("q=bob", ["Old news", "Weekly digest"]),
        ("q=digest", ["Weekly digest"]),
        ("q=nobody-matches-this", []),
        ("status=unread", ["Fix login"]),  # not the snoozed one: it is out of the inbox until it wakes
        ("status=read", ["Weekly digest"]),
        ("status=snoozed", ["Later"]),
        ("status=archived", ["Old news"]),
        ("status=bogus", ["Fix login", "Later", "Old news", "Weekly digest"]),
    ],
)
def test_notification_list_searches_by_recipient_and_title_and_filters_by_status(
    client, staff, alice, bob, query, titles
):
    _three_states(alice, bob)
    client.force_login(staff)
    response = client.get(reverse("admin:notifications_notification_changelist") + f"?o=1&{query}")
    assert response.status_code == 200
    assert [row[1] for row in table(response, "result_list")[1:]] == titles


@pytest.mark.parametrize("name", ["notification", "delivery"])
def test_notification_and_delivery_lists_are_a_fixed_number_of_queries_whatever_the_page_size(client, staff, name):
    # given two recipients' rows, and the same page measured again with forty more
    url = reverse(f"admin:notifications_{name}_changelist")
    send(make_users(2, prefix="few"), title="A few", priority="urgent")
    client.force_login(staff)
    few = queries(client, url)
    send(make_users(40, prefix="many"), title="Many more", priority="urgent")

    # when the list is loaded with all of them on one page
    many = queries(client, url)

    # then it took exactly as many queries (no query per row), and few of them
    assert Delivery.objects.count() >= 42 if name == "delivery" else Notification.objects.count() == 42
    assert many == few
    assert many <= 8


def test_notification_page_names_the_recipient_and_shows_its_deliveries_read_only(client, staff, alice):
    # given a notification to alice whose email delivery failed for good
    result = send([alice], title="Fix login", category="security", priority="urgent")
    notification = Notification.objects.get(content=result.content)
    Delivery.objects.filter(notification=notification, channel="email").update(
        status=DeliveryStatus.DEAD, attempts=5, last_error="550 5.1.1 no such user"
    )
    client.force_login(staff)

    # when staff open it
    response = client.get(reverse("admin:notifications_notification_change", args=[notification.pk]))

    # then the page is named after the send and the person, not an id
    page = response.content.decode()
    assert str(notification) == "Fix login → alice"
    assert "<h2>Fix login → alice</h2>" in page
    assert f"#{notification.seq} for" not in page
    # and its delivery is listed with channel, status, attempts, last error and sent at, nothing editable
    inline = table(response, after='id="deliveries-group"')
    assert inline[0] == ["", "Channel", "Status", "Attempts", "Last error", "Skip reason", "Due at", "Sent at", ""]
    assert [row[1:6] + row[7:8] for row in inline[1:]] == [["Email", "Dead", "5", "550 5.1.1 no such user", "-", "-"]]
    assert 'name="deliveries-0-status"' not in page and 'name="deliveries-0-last_error"' not in page
    assert 'name="deliveries-MAX_NUM_FORMS" value="0"' in page  # no row can be added
