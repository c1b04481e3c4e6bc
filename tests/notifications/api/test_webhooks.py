"""/api/v1/webhooks/: staff with notifications.manage_webhooks register their own endpoints; everyone else 403;
another producer's endpoint 404; bad input 400, never 5xx; the secret in the creation answer only."""

import pytest

from notifications.models import WebhookEndpoint
from tests.factories import make_user
from tests.notifications.api.conftest import client_for
from tests.notifications.webhook_receiver import receiver_start

LIST = "/api/v1/webhooks/"
READ = "notification.read"


@pytest.fixture
def receiver():
    server = receiver_start()
    yield server
    server.stop()


@pytest.fixture
def loopback(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOK_REQUIRE_HTTPS = False


@pytest.fixture
def manager(db):
    return make_user("hooks-manager", is_staff=True, perms=["manage_webhooks", "send_notification"])


def detail(endpoint_id) -> str:
    return f"{LIST}{endpoint_id}/"


def test_staff_with_the_permission_register_an_endpoint_and_see_its_secret_once(manager, receiver, loopback):
    client = client_for(manager)
    # when the manager registers an endpoint
    created = client.post(
        LIST, {"url": receiver.url, "events": [READ, "notification.retracted"], "description": "CRM"}, format="json"
    )
    # then 201 with the full secret, and the endpoint is theirs
    assert created.status_code == 201, created.content
    body = created.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret
    assert body["secret"].startswith("whsec_")
    assert (body["id"], body["url"], body["events"]) == (
        str(endpoint.uuid),
        receiver.url,
        [READ, "notification.retracted"],
    )
    assert (body["active"], body["description"], body["consecutive_failures"]) == (True, "CRM", 0)
    assert endpoint.producer_id == manager.pk
    # and every later answer shows it masked only
    listed = client.get(LIST)
    assert listed.status_code == 200
    (item,) = listed.json()["results"]
    assert item["secret"] == endpoint.secret_masked
    assert endpoint.secret not in listed.content.decode()
    one = client.get(detail(endpoint.uuid))
    assert one.status_code == 200
    assert endpoint.secret not in one.content.decode()


@pytest.mark.parametrize("who", ["plain", "sender", "staff_without_permission"])
def test_anyone_but_staff_with_the_permission_gets_403_and_nothing_is_created(db, who, receiver, loopback):
    users = {
        "plain": lambda: make_user("plain"),
        "sender": lambda: make_user("producer", perms=["send_notification", "manage_webhooks"]),
        "staff_without_permission": lambda: make_user("staff-only", is_staff=True),
    }
    client = client_for(users[who]())
    assert client.get(LIST).status_code == 403
    assert client.post(LIST, {"url": receiver.url, "events": [READ]}, format="json").status_code == 403
    assert not WebhookEndpoint.objects.exists()


def test_anonymous_gets_401(db):
    assert client_for(None).get(LIST).status_code == 401


def test_another_producers_endpoint_is_404_and_stays_as_it_was(manager, receiver, loopback):
    # given an endpoint of another staff producer
    other = make_user("other-manager", is_staff=True, perms=["manage_webhooks"])
    created = client_for(other).post(LIST, {"url": receiver.url, "events": [READ]}, format="json")
    theirs = created.json()["id"]
    client = client_for(manager)
    # then the manager neither sees, changes nor deletes it
    assert client.get(LIST).json() == {"results": []}
    assert client.get(detail(theirs)).status_code == 404
    assert client.patch(detail(theirs), {"active": False}, format="json").status_code == 404
    assert client.delete(detail(theirs)).status_code == 404
    assert WebhookEndpoint.objects.get().active is True


def test_a_malformed_or_unknown_id_is_404(manager):
    client = client_for(manager)
    assert client.get(detail("not-a-uuid")).status_code == 404
    assert client.get(detail("6f1c1f52-3f0e-4d35-9a55-3b8a1c3c0c77")).status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"events": [READ]}, "url"),
        ({"url": 5, "events": [READ]}, "url"),
        ({"url": "http://169.254.169.254/", "events": [READ]}, "url"),
        ({"url": "http://[::1]/", "events": [READ]}, "url"),
        ({"url": "http://localhost/hooks", "events": [READ]}, "url"),
        ({"url": "https://hooks.invalid/x", "events": [READ]}, "url"),
        ({"url": "https://x.invalid/\u0000", "events": [READ]}, "url"),
        ({"url": "https://" + "a" * 2000 + ".com/", "events": [READ]}, "url"),
        ({"url": "RECEIVER", "events": []}, "events"),
        ({"url": "RECEIVER", "events": ["notification.exploded"]}, "events"),
        ({"url": "RECEIVER", "events": "notification.read"}, "events"),
        ({"url": "RECEIVER", "events": [READ], "description": "x" * 201}, "description"),
        ({"url": "RECEIVER", "events": [READ], "description": 7}, "description"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_created(manager, receiver, settings, payload, field):
    # given plain http allowed (the address rule alone refuses loopback and link-local), private addresses not
    settings.WEBHOOK_REQUIRE_HTTPS = False
    payload = {k: receiver.url if v == "RECEIVER" else v for k, v in payload.items()}
    response = client_for(manager).post(LIST, payload, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert not WebhookEndpoint.objects.exists()


def test_ssrf_urls_are_refused_with_the_reason(manager, settings):
    settings.WEBHOOK_REQUIRE_HTTPS = False
    client = client_for(manager)
    for url in ("http://169.254.169.254/", "http://[::1]/", "http://localhost/hooks"):
        response = client.post(LIST, {"url": url, "events": [READ]}, format="json")
        assert response.status_code == 400
        (message,) = response.json()["url"]
        assert "private, loopback or link-local address" in message


def test_patch_changes_only_what_it_names_and_bad_values_are_400(manager, receiver, loopback, settings):
    client = client_for(manager)
    endpoint_id = client.post(LIST, {"url": receiver.url, "events": [READ]}, format="json").json()["id"]
    changed = client.patch(detail(endpoint_id), {"events": ["notification.archived"], "active": False}, format="json")
    assert changed.status_code == 200
    body = changed.json()
    assert (body["events"], body["active"], body["url"]) == (["notification.archived"], False, receiver.url)
    # private addresses no longer allowed: a link-local URL is refused like any bad value
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    bads: list[dict[str, object]] = [
        {"active": "yes"},
        {"events": []},
        {"url": "http://169.254.169.254/"},
        {"url": None},
    ]
    for bad in bads:
        response = client.patch(detail(endpoint_id), bad, format="json")
        assert response.status_code == 400, (bad, response.content)
        assert list(response.json()) == list(bad)
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.events, endpoint.active, endpoint.url) == (["notification.archived"], False, receiver.url)


def test_delete_removes_it(manager, receiver, loopback):
    client = client_for(manager)
    endpoint_id = client.post(LIST, {"url": receiver.url, "events": [READ]}, format="json").json()["id"]
    assert client.delete(detail(endpoint_id)).status_code == 204
    assert client.get(detail(endpoint_id)).status_code == 404
    assert not WebhookEndpoint.objects.exists()


def test_the_schema_documents_the_webhook_operations(manager):
    schema = client_for(manager).get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert set(paths["/api/v1/webhooks/"]) == {"get", "post"}
    assert set(paths["/api/v1/webhooks/{id}/"]) == {"get", "patch", "delete"}
    assert {"401", "403"} <= set(paths["/api/v1/webhooks/"]["get"]["responses"])
    assert "404" in paths["/api/v1/webhooks/{id}/"]["get"]["responses"]
