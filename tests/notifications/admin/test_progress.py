"""A send's delivery progress in the admin and "Retry dead deliveries"."""

from datetime import timedelta

from django.core import mail
from django.urls import reverse
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus, Notification
from notifyproject.celery import app as celery_app
from tests.factories import make_user, make_users, send
from tests.notifications.admin.helpers import queries, table

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
    counts = [queries(client, reverse("admin:notifications_content_fan_out", args=[c.pk])) for c in (few, many)]
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
