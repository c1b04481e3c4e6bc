"""The admin's webhook pages: registering an endpoint (URL checked after DNS, secret shown once), its batches as the
delivery states left them (dead ones visible and retried), a disabled endpoint saying why."""

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.factories import make_user

ADD = "admin:notifications_webhookendpoint_add"


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _form(producer, url, events=("notification.read",)) -> dict:
    return {"producer": producer.pk, "url": url, "description": "", "events": list(events), "active": "on"}


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://[::1]/", "http://localhost/hooks"])
def test_the_add_form_refuses_private_loopback_and_link_local_urls(staff_client, sender, settings, url):
    settings.WEBHOOK_REQUIRE_HTTPS = False
    response = staff_client.post(reverse(ADD), _form(sender, url))
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["url"]
    assert "private, loopback or link-local address" in errors["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_adding_an_endpoint_shows_its_secret_once(staff_client, sender, settings):
    settings.WEBHOOK_REQUIRE_HTTPS = False
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    response = staff_client.post(reverse(ADD), _form(sender, "http://127.0.0.1:9/hooks"), follow=True)
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.producer_id, endpoint.events, endpoint.active) == (sender.pk, ["notification.read"], True)
    # the page after saving shows the secret, once
    assert response.content.decode().count(endpoint.secret) == 1
    # then the change page and the list show it masked, never in full
    page = staff_client.get(reverse("admin:notifications_webhookendpoint_change", args=[endpoint.pk]))
    assert page.status_code == 200
    assert endpoint.secret not in page.content.decode()
    assert endpoint.secret_masked in page.content.decode()
    listing = staff_client.get(reverse("admin:notifications_webhookendpoint_changelist"))
    assert endpoint.secret not in listing.content.decode()


def test_dead_webhook_deliveries_are_listed_and_retried(staff_client, sender, settings):
    endpoint = WebhookEndpoint.objects.create(
        producer=sender, url="https://hooks.example.com/x", events=["notification.read"], secret="whsec_s"
    )
    dead = WebhookDelivery.objects.create(
        endpoint=endpoint, body="{}", event_count=3, status=DeliveryStatus.DEAD, due_at=timezone.now(), attempts=8
    )
    sent = WebhookDelivery.objects.create(
        endpoint=endpoint, body="{}", event_count=1, status=DeliveryStatus.SENT, due_at=timezone.now(), attempts=1
    )
    changelist = reverse("admin:notifications_webhookdelivery_changelist")
    listing = staff_client.get(changelist, {"status__exact": "dead"})
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [dead]
    response = staff_client.post(
        changelist, {"action": "retry_dead", "_selected_action": [dead.pk, sent.pk]}, follow=True
    )
    assert response.status_code == 200
    dead.refresh_from_db()
    sent.refresh_from_db()
    assert (dead.status, dead.attempts) == (DeliveryStatus.PENDING, 0)
    assert (sent.status, sent.attempts) == (DeliveryStatus.SENT, 1)


def test_a_disabled_endpoint_shows_why_in_the_list(staff_client, sender):
    WebhookEndpoint.objects.create(
        producer=sender,
        url="https://hooks.example.com/x",
        events=["notification.read"],
        secret="whsec_s",
        active=False,
        disabled_reason="20 failed posts in a row since 2026-12-06 10:00 UTC",
    )
    listing = staff_client.get(reverse("admin:notifications_webhookendpoint_changelist"), {"active__exact": "0"})
    assert listing.status_code == 200
    assert "20 failed posts in a row since 2026-12-06 10:00 UTC" in listing.content.decode()


def test_webhook_pages_are_for_staff_only(client, db):
    client.force_login(make_user("plain"))
    response = client.get(reverse("admin:notifications_webhookendpoint_changelist"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]
