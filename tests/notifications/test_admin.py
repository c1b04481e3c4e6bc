"""The Django admin as staff use it: lists, the notification page, the two-step announcement, a send's delivery
progress and "Retry dead deliveries"."""

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from notifications import tasks
from notifications.models import Content, Delivery, DeliveryStatus, Notification
from notifyproject.celery import app as celery_app
from tests.factories import PASSWORD, make_user, make_users, send

ADMIN_PAGES = [
    "admin:notifications_category_changelist",
    "admin:notifications_content_changelist",
    "admin:notifications_notification_changelist",
    "admin:notifications_delivery_changelist",
    "admin:notifications_idempotencyrecord_changelist",
    "admin:preferences_preference_changelist",
    "admin:preferences_usersettings_changelist",
    "admin:notifications_announce",
]


class _Table(HTMLParser):
    """The cells' text of one table (by id): header row, then body rows."""

    def __init__(self, table_id: str | None) -> None:
        super().__init__()
        self.table_id, self.depth, self.done = table_id, 0, False
        self.rows: list[list[str]] = []
        self.cell: str | None = None

    def handle_starttag(self, tag, attrs):
        wanted = self.table_id is None or dict(attrs).get("id") == self.table_id
        if tag == "table" and (self.depth or (wanted and not self.done)):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table" and self.depth:
            self.depth -= 1
            self.done = not self.depth
        elif self.depth and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join(self.cell.split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def table(response, table_id: str | None = None, *, after: str = "") -> list[list[str]]:
    """The table with this id (or the first one) in the page, or in the part of it after `after`."""
    page = response.content.decode()
    parser = _Table(table_id)
    parser.feed(page[page.index(after) :] if after else page)
    return parser.rows


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


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
    """Alice: "Fix login" unread (high); bob: "Weekly digest" read, "Old news" archived."""
    send([alice], title="Fix login", category="security", priority="high")
    send([bob], title="Weekly digest")
    send([bob], title="Old news", category="announcement")
    now = timezone.now()
    Notification.objects.filter(content__title="Weekly digest").update(read_at=now)
    Notification.objects.filter(content__title="Old news").update(read_at=now, archived_at=now)


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
        ["Old news", "bob", "Announcements", "Normal", "Archived"],
        ["Weekly digest", "bob", "Comments", "Normal", "Read"],
    ]
    assert all(row[6] for row in rows[1:])  # a created time in every row
    for uuid in Notification.objects.values_list("uuid", flat=True):
        assert str(uuid) not in response.content.decode()


@pytest.mark.parametrize(
    "query,titles",
    [
        ("q=alice", ["Fix login"]),
        ("q=bob", ["Old news", "Weekly digest"]),
        ("q=digest", ["Weekly digest"]),
        ("q=nobody-matches-this", []),
        ("status=unread", ["Fix login"]),
        ("status=read", ["Weekly digest"]),
        ("status=archived", ["Old news"]),
        ("status=bogus", ["Fix login", "Old news", "Weekly digest"]),
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
    few = _queries(client, url)
    send(make_users(40, prefix="many"), title="Many more", priority="urgent")

    # when the list is loaded with all of them on one page
    many = _queries(client, url)

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


# --- Send announcement ------------------------------------------------------------------------------------------

ANNOUNCEMENT = {
    "audience": "all",
    "category": "announcement",
    "priority": "",
    "title": "Hello all",
    "body": "",
    "url": "",
}


def _preview(client, data):
    response = client.post(reverse("admin:notifications_announce"), {**data, "_preview": "Preview"})
    assert response.status_code == 200
    assert "spec" in response.context, response.context["form"].errors
    return response


def _confirmed(response) -> dict[str, str]:
    """The preview's hidden fields, as the browser posts them back with Send."""
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', response.content.decode()))
    fields.pop("csrfmiddlewaretoken", None)
    return {**fields, "_send": "Send"}


def test_announcement_form_is_an_admin_page_with_one_heading_and_only_a_preview_button(client, staff):
    client.force_login(staff)
    response = client.get(reverse("admin:notifications_announce"))
    page = response.content.decode()
    assert page.count("<h1") == 1
    assert "<h1>Send announcement</h1>" in page
    assert 'id="site-name"' in page and 'class="breadcrumbs"' in page  # the admin's base_site
    assert '<fieldset class="module aligned">' in page and 'class="submit-row"' in page
    assert 'name="_preview"' in page
    assert 'name="_send"' not in page
    assert 'aria-describedby="id_url_helptext"' in page and 'id="id_url_helptext"' in page


def test_announcement_preview_renders_it_and_counts_the_audience_with_one_query_writing_nothing(
    client, staff, alice, bob, django_capture_on_commit_callbacks
):
    # given three active users and one inactive
    make_user("gone", is_active=False)
    client.force_login(staff)
    data = {**ANNOUNCEMENT, "body": "<b>Maintenance</b>\ntonight", "url": "/status/"}

    # when staff preview an announcement to everyone
    with CaptureQueriesContext(connection) as ctx, django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _preview(client, data)

    # then it shows as it will read (escaped), with its reach counted by one COUNT query over users
    page = response.content.decode()
    assert '<div class="readonly" id="preview-title">Hello all</div>' in page
    assert '<div class="readonly" id="preview-body">&lt;b&gt;Maintenance&lt;/b&gt;<br>tonight</div>' in page
    assert '<a href="/status/" rel="noopener noreferrer">/status/</a>' in page
    assert '<div class="readonly" id="preview-audience">All active users</div>' in page
    assert "This will reach 3 users." in page
    user_queries = [q["sql"] for q in ctx.captured_queries if 'FROM "auth_user"' in q["sql"]]
    assert len([sql for sql in user_queries if "COUNT(" in sql]) == 1
    assert len(user_queries) == 2  # the session's user, and the count: no user rows fetched
    # and a Send button carries the values back; nothing was written or queued
    assert 'name="_send"' in page and page.count("<h1") == 1
    assert _confirmed(response)["title"] == "Hello all"
    assert not Content.objects.exists()
    assert callbacks == []


def test_announcement_preview_of_a_group_counts_its_active_members(client, staff, alice, bob):
    group = Group.objects.create(name="beta")
    alice.groups.add(group)
    make_user("sleeper", is_active=False).groups.add(group)
    client.force_login(staff)
    response = _preview(client, {**ANNOUNCEMENT, "audience": "group:beta"})
    assert "This will reach 1 user." in response.content.decode()


def test_announcement_send_after_preview_queues_it_once_and_redirects_to_its_progress(
    client, staff, alice, bob, django_capture_on_commit_callbacks
):
    # given a previewed announcement
    client.force_login(staff)
    confirmed = _confirmed(_preview(client, ANNOUNCEMENT))

    # when staff press Send (twice, as a double click would)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = client.post(reverse("admin:notifications_announce"), confirmed)
        second = client.post(reverse("admin:notifications_announce"), confirmed)

    # then one content is stored, its fan-out queued once, nothing written in the request, and both land on its progress
    content = Content.objects.get()
    progress = reverse("admin:notifications_content_fan_out", args=[content.pk])
    assert (first.status_code, first["Location"]) == (302, progress)
    assert (second.status_code, second["Location"]) == (302, progress)
    assert len(callbacks) == 1
    assert not Notification.objects.exists()
    # and the worker's fan-out reaches every active user
    tasks.notification_broadcast_fan_out(content.pk, "all")
    recipients = set(Notification.objects.filter(content=content).values_list("recipient_id", flat=True))
    assert recipients == {staff.pk, alice.pk, bob.pk}


def test_announcement_send_without_a_preview_only_previews(client, staff, django_capture_on_commit_callbacks):
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("admin:notifications_announce"), {**ANNOUNCEMENT, "_send": "Send"})
    assert response.status_code == 200
    assert "This will reach 1 user." in response.content.decode()
    assert not Content.objects.exists()
    assert callbacks == []


def test_announcement_edit_goes_back_to_the_form_with_its_values(client, staff):
    client.force_login(staff)
    edit = {**_confirmed(_preview(client, ANNOUNCEMENT)), "_edit": "Edit"}
    del edit["_send"]
    response = client.post(reverse("admin:notifications_announce"), edit)
    page = response.content.decode()
    assert 'name="_preview"' in page and 'name="_send"' not in page
    assert 'value="Hello all"' in page
    assert not Content.objects.exists()


def test_announcement_needs_broadcast_permission(client, db):
    make_user("clerk", is_staff=True)
    client.login(username="clerk", password=PASSWORD)
    response = client.post(
        reverse("admin:notifications_announce"), {"audience": "all", "category": "announcement", "title": "No"}
    )
    assert response.status_code == 302
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "change,message",
    [
        ({"url": "javascript:alert(1)"}, "Must be an http(s) URL or a relative path"),
        ({"audience": "group:nope"}, "Select a valid choice."),
        ({"title": ""}, "This field is required."),
        ({"category": "no-such-category"}, "Select a valid choice."),
        ({"priority": "extreme"}, "Select a valid choice."),
        ({"token": "not-a-uuid", "_send": "Send"}, "Enter a valid UUID."),
    ],
)
def test_announcement_validation_error_is_shown_on_the_form(client, staff, change, message):
    client.force_login(staff)
    response = client.post(reverse("admin:notifications_announce"), {**ANNOUNCEMENT, **change, "_preview": "Preview"})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert 'name="_send"' not in response.content.decode()
    assert not Content.objects.exists()


# --- A send's delivery progress and retrying dead deliveries ---------------------------------------------------


def _progress_fixture(alice, bob):
    """A send to alice, bob and carol: alice read it; emails: alice's sent, bob's dead, carol's pending."""
    carol = make_user("carol")
    result = send([alice, bob, carol], title="Fix login", priority="urgent")
    Notification.objects.filter(content=result.content, recipient=alice).update(read_at=timezone.now())
    emails = Delivery.objects.filter(notification__content=result.content, channel="email")
    emails.filter(notification__recipient=alice).update(status=DeliveryStatus.SENT, sent_at=timezone.now())
    emails.filter(notification__recipient=bob).update(status=DeliveryStatus.DEAD, attempts=5, last_error="550")
    emails.filter(notification__recipient=carol).update(due_at=timezone.now() + timedelta(hours=1))
    return result.content


def test_progress_page_shows_recipients_read_share_and_deliveries_by_channel_and_status(client, staff, alice, bob):
    content = _progress_fixture(alice, bob)
    client.force_login(staff)
    url = reverse("admin:notifications_content_fan_out", args=[content.pk])

    response = client.get(url)

    page = response.content.decode()
    assert page.count("<h1") == 1 and "<h1>Delivery progress</h1>" in page and "<h2>Fix login</h2>" in page
    assert table(response, "fan-out-summary")[2:] == [["Recipients", "3"], ["Read", "1 (33.3%)"]]
    assert table(response, "fan-out-deliveries") == [
        ["Channel", "Pending", "Sending", "Sent", "Skipped", "Failed (will retry)", "Dead", "Total"],
        ["Email", "1", "0", "1", "0", "0", "1", "3"],
    ]
    assert 'value="Retry 1 dead delivery"' in page
    # and the dead count links to exactly those rows in the delivery list, which accepts the filter
    link = f"?notification__content__id__exact={content.pk}&amp;channel__exact=email&amp;status__exact=dead"
    assert link in page
    listed = client.get(reverse("admin:notifications_delivery_changelist") + link.replace("&amp;", "&"))
    assert [row[2] for row in table(listed, "result_list")[1:]] == ["Fix login → bob"]
    # and the recipients count links to that send's notifications only
    send([alice], title="Another send")
    changelist = reverse("admin:notifications_notification_changelist")
    recipients = client.get(f"{changelist}?content__id__exact={content.pk}")
    assert sorted(row[2] for row in table(recipients, "result_list")[1:]) == ["alice", "bob", "carol"]


def test_progress_page_is_a_fixed_number_of_queries_whatever_the_audience(client, staff):
    few = send(make_users(2, prefix="few"), title="Few", priority="urgent").content
    many = send(make_users(40, prefix="many"), title="Many", priority="urgent").content
    client.force_login(staff)
    counts = [_queries(client, reverse("admin:notifications_content_fan_out", args=[c.pk])) for c in (few, many)]
    assert counts[0] == counts[1]


def test_progress_page_is_linked_from_the_content_list_and_page(client, staff, alice):
    content = send([alice], title="Linked").content
    client.force_login(staff)
    url = reverse("admin:notifications_content_fan_out", args=[content.pk])
    assert f'href="{url}"' in client.get(reverse("admin:notifications_content_changelist")).content.decode()
    page = client.get(reverse("admin:notifications_content_change", args=[content.pk])).content.decode()
    assert f'<a href="{url}">Delivery progress</a>' in page


def test_progress_page_of_an_unknown_send_is_404(client, staff):
    client.force_login(staff)
    assert client.get(reverse("admin:notifications_content_fan_out", args=[999999])).status_code == 404
    assert client.get("/admin/notifications/content/abc/fan-out/").status_code in (302, 404)


def test_retry_button_puts_dead_deliveries_back_and_the_dispatcher_sends_them(
    client, staff, alice, bob, monkeypatch, django_capture_on_commit_callbacks
):
    # given a send with one dead, one sent and one pending email, in embedded mode
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    content = _progress_fixture(alice, bob)
    before = {d.pk: (d.status, d.updated_at) for d in Delivery.objects.exclude(status=DeliveryStatus.DEAD)}
    mail.outbox.clear()
    client.force_login(staff)
    url = reverse("admin:notifications_content_fan_out", args=[content.pk])

    # when staff press "Retry 1 dead delivery" and the request commits
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)

    # then bob's email went out, and the other rows are exactly as they were
    assert (response.status_code, response["Location"]) == (302, url)
    bobs = Delivery.objects.get(notification__content=content, notification__recipient=bob, channel="email")
    assert bobs.status == DeliveryStatus.SENT
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]
    assert {d.pk: (d.status, d.updated_at) for d in Delivery.objects.exclude(pk=bobs.pk)} == before
    assert "1 dead delivery queued again" in client.get(url).content.decode()


def test_retry_needs_the_change_delivery_permission(client, alice, bob):
    content = _progress_fixture(alice, bob)
    clerk = make_user("clerk", is_staff=True, perms=["view_content", "view_delivery"])
    client.force_login(clerk)
    url = reverse("admin:notifications_content_fan_out", args=[content.pk])
    assert "Retry 1 dead delivery" not in client.get(url).content.decode()
    assert client.post(url).status_code == 403
    changelist = client.get(reverse("admin:notifications_content_changelist")).content.decode()
    assert 'value="retry_dead"' not in changelist
    assert Delivery.objects.filter(status=DeliveryStatus.DEAD).count() == 1


def test_retry_dead_action_on_the_delivery_list_touches_only_dead_rows(client, staff, alice, bob):
    # given one dead, one sent and one pending email, all three selected
    content = _progress_fixture(alice, bob)
    rows = Delivery.objects.filter(notification__content=content, channel="email")
    before = {d.pk: (d.status, d.updated_at) for d in rows.exclude(status=DeliveryStatus.DEAD)}
    client.force_login(staff)

    # when staff run "Retry dead deliveries" on them
    response = client.post(
        reverse("admin:notifications_delivery_changelist"),
        {"action": "retry_dead", "_selected_action": [d.pk for d in rows]},
        follow=True,
    )

    # then the dead one is pending and due now with a fresh budget; the others were not touched
    assert "1 dead delivery queued again" in response.content.decode()
    dead = rows.get(notification__recipient=bob)
    assert (dead.status, dead.attempts, dead.last_error) == (DeliveryStatus.PENDING, 0, "550")
    assert dead.due_at <= timezone.now()
    assert {d.pk: (d.status, d.updated_at) for d in rows.exclude(pk=dead.pk)} == before


def test_retry_dead_action_on_the_content_list_retries_only_the_selected_sends(client, staff, alice, bob):
    content = _progress_fixture(alice, bob)
    other = send([bob], title="Other send", priority="urgent").content
    Delivery.objects.filter(notification__content=other).update(status=DeliveryStatus.DEAD)
    client.force_login(staff)
    response = client.post(
        reverse("admin:notifications_content_changelist"),
        {"action": "retry_dead", "_selected_action": [content.pk]},
        follow=True,
    )
    assert "1 dead delivery queued again" in response.content.decode()
    assert list(
        Delivery.objects.filter(notification__content=content, channel="email")
        .values_list("status", flat=True)
        .order_by("notification__recipient__username")
    ) == ["sent", "pending", "pending"]
    assert set(Delivery.objects.filter(notification__content=other).values_list("status", flat=True)) == {"dead"}
