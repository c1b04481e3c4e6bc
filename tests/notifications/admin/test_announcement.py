"""The admin's two-step announcement: form, preview (audience counted, nothing written), send, permissions."""

import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notifications import tasks
from notifications.models import Content, Notification
from tests.factories import PASSWORD, make_user

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
