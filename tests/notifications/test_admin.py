import pytest
from django.urls import reverse

from notifications import tasks
from notifications.models import Content, Notification
from tests.factories import PASSWORD, make_user, send

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


def _announce(client, capture, data):
    """Post the announcement form; then run the fan-out task it queued after commit, as a worker would."""
    with capture(execute=False) as callbacks:
        response = client.post(reverse("admin:notifications_announce"), data)
    assert response.status_code == 302
    assert len(callbacks) == 1
    assert not Notification.objects.exists()  # nothing written in the request
    content = Content.objects.get(title=data["title"])
    tasks.notification_broadcast_fan_out(content.pk, data["audience"])


def test_announcement_to_all_users(client, staff, alice, bob, django_capture_on_commit_callbacks):
    client.force_login(staff)
    _announce(
        client,
        django_capture_on_commit_callbacks,
        {"audience": "all", "category": "announcement", "priority": "", "title": "Hello all", "body": "", "url": ""},
    )
    recipients = set(Notification.objects.filter(content__title="Hello all").values_list("recipient_id", flat=True))
    assert recipients == {staff.pk, alice.pk, bob.pk}


def test_announcement_to_a_group(client, staff, alice, bob, django_capture_on_commit_callbacks):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="beta")
    alice.groups.add(group)
    client.force_login(staff)
    _announce(
        client,
        django_capture_on_commit_callbacks,
        {"audience": "group:beta", "category": "announcement", "priority": "", "title": "Beta news"},
    )
    assert list(Notification.objects.filter(content__title="Beta news").values_list("recipient_id", flat=True)) == [
        alice.pk
    ]


def test_announcement_needs_broadcast_permission(client, db):
    make_user("clerk", is_staff=True)
    client.login(username="clerk", password=PASSWORD)
    response = client.post(
        reverse("admin:notifications_announce"), {"audience": "all", "category": "announcement", "title": "No"}
    )
    assert response.status_code == 302
    assert not Notification.objects.exists()


def test_announcement_validation_error_is_shown(client, staff):
    client.force_login(staff)
    response = client.post(
        reverse("admin:notifications_announce"),
        {"audience": "all", "category": "announcement", "title": "x", "url": "javascript:alert(1)"},
    )
    assert response.status_code == 200
    assert b"Must be an http(s) URL or a relative path" in response.content
    assert not Notification.objects.exists()
