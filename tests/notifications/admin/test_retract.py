"""Staff's update and retraction of a send in the admin: the "Update content" page (checked as a send is) and the
"Retract" action; both only with notifications.manage_any_notification."""

import json

from django.urls import reverse

from notifications.models import Content, Notification
from tests.factories import make_user, send


def test_update_content_page_changes_the_send_for_every_recipient(client, staff, alice, bob):
    result = send([alice, bob], title="Typo titel", data={"a": 1})
    client.force_login(staff)
    url = reverse("admin:notifications_content_update", args=[result.content.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "title": "Typo title",
            "body": "",
            "url": "/posts/1",
            "image_url": "",
            "actions": json.dumps([{"label": "Open", "url": "/posts/1"}]),
            "data": json.dumps({"a": 2}),
        },
    )
    assert response.status_code == 302
    content = Content.objects.get(pk=result.content.pk)
    assert (content.title, content.url, content.data, content.actions[0]["label"]) == (
        "Typo title",
        "/posts/1",
        {"a": 2},
        "Open",
    )
    assert content.updated_at is not None


def test_a_bad_update_shows_the_sends_own_errors_and_changes_nothing(client, staff, alice):
    result = send([alice], title="Keep me")
    client.force_login(staff)
    url = reverse("admin:notifications_content_update", args=[result.content.pk])
    response = client.post(url, {"title": "Keep me", "url": "javascript:alert(1)", "actions": "[1, 2, 3, 4]"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Must be an http(s) URL or a relative path." in page and "At most 3 actions." in page
    content = Content.objects.get(pk=result.content.pk)
    assert (content.url, content.actions, content.updated_at) == ("", [], None)


def test_without_manage_any_notification_there_is_no_update_page_and_no_retract_action(client, alice):
    viewer = make_user("viewer", is_staff=True, perms=["view_content"])
    result = send([alice], title="Stays")
    client.force_login(viewer)
    url = reverse("admin:notifications_content_update", args=[result.content.pk])
    assert client.post(url, {"title": "Changed"}).status_code == 403
    changelist = reverse("admin:notifications_content_changelist")
    response = client.post(changelist, {"action": "retract", "_selected_action": [result.content.pk]})
    assert response.status_code in (200, 302)
    content = Content.objects.get(pk=result.content.pk)
    assert (content.title, content.retracted_at) == ("Stays", None)
    assert 'value="retract"' not in client.get(changelist).content.decode()


def test_the_retract_action_takes_the_selected_sends_out_of_every_inbox(client, staff, alice, bob):
    gone = send([alice, bob], title="Gone")
    kept = send([alice], title="Kept")
    client.force_login(staff)
    changelist = reverse("admin:notifications_content_changelist")
    assert 'value="retract"' in client.get(changelist).content.decode()
    response = client.post(changelist, {"action": "retract", "_selected_action": [gone.content.pk]}, follow=True)
    assert "1 send retracted: out of 2 inboxes" in response.content.decode()
    assert Content.objects.get(pk=gone.content.pk).retracted_at is not None
    assert Content.objects.get(pk=kept.content.pk).retracted_at is None
    assert Notification.objects.filter(content=gone.content, archived_at__isnull=True).count() == 0
    # and the update page says it can no longer change
    page = client.get(reverse("admin:notifications_content_update", args=[gone.content.pk])).content.decode()
    assert "it can no longer be updated" in page and "content_update_form" not in page
