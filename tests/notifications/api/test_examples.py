"""The schema's request body examples are requests the server accepts: "Try it out" in /api/v1/docs/ works."""

import socket
from urllib.parse import quote

from push_notifications.models import APNSDevice, GCMDevice, WebPushDevice

from notifications import outbound
from notifications.models import Content, Notification, WebhookEndpoint
from notifications.services import notify
from preferences.selectors import preferences_get
from tests.factories import send
from tests.notifications.api.conftest import client_for

SCHEMA = "/api/v1/schema/?format=json"
# Every operation with a JSON body; each must carry examples (a new one without examples fails here).
EXPECTED = {
    "devices_apns_create",
    "devices_apns_partial_update",
    "devices_apns_update",
    "devices_fcm_create",
    "devices_fcm_partial_update",
    "devices_fcm_update",
    "devices_webpush_create",
    "devices_webpush_partial_update",
    "devices_webpush_update",
    "notifications_mark_all_read",
    "notifications_mark_seen",
    "notifications_partial_update",
    "notifications_retract_group",
    "notifications_send",
    "notifications_send_bulk",
    "preferences_partial_update",
    "sends_by_key_partial_update",
    "sends_partial_update",
    "webhooks_create",
    "webhooks_partial_update",
}


def body_examples(schema):
    """(path, method, operationId, example name, value) for every request body example, creates first."""
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                continue
            examples = content.get("examples", {})
            assert examples, f"{operation['operationId']} has no request body example"
            for name, example in examples.items():
                found.append((path, method, operation["operationId"], name, example["value"]))
    return sorted(found, key=lambda item: "{" in item[0])


def _public_example_host(monkeypatch):
    """The webhook example names a public host; this machine may have no DNS: it resolves to a public address."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "hooks.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(outbound.socket, "getaddrinfo", getaddrinfo)


def test_every_request_body_example_is_accepted_as_is(staff, monkeypatch):
    # given a staff member with a token reading the schema, and a notification of theirs to patch
    _public_example_host(monkeypatch)
    client = client_for(staff)
    send([staff], title="Mine")
    mine = Notification.objects.get(recipient=staff)
    # and a send of theirs to update (by id and by its Idempotency-Key)
    own = notify(recipients=[staff], category="comment", title="Own", actor=staff, idempotency_key="example-key")
    response = client.get(SCHEMA)
    assert response.status_code == 200
    examples = body_examples(response.json())
    assert {operation for _, _, operation, _, _ in examples} == EXPECTED
    tokens = {}
    # when each example is sent as it stands (path ids: the notification, the device the example registered)
    for path, method, operation, name, value in examples:
        if path.startswith("/api/v1/devices/") and method == "post":
            tokens[path.split("/")[4]] = value["registration_id"]
        url = path.replace("{id}", str(mine.uuid))
        if path == "/api/v1/notifications/sends/{id}/":
            url = path.replace("{id}", str(own.id))
        if path == "/api/v1/notifications/sends/by-key/":
            url = f"{path}?idempotency_key=example-key"
        if path == "/api/v1/webhooks/{id}/":
            url = path.replace("{id}", str(WebhookEndpoint.objects.get().uuid))
        if "{registration_id}" in url:
            url = url.replace("{registration_id}", quote(tokens[path.split("/")[4]], safe=""))
        answer = getattr(client, method)(url, value, format="json")
        # then it is accepted
        assert 200 <= answer.status_code < 300, (operation, name, answer.status_code, answer.content)
    # and the sends reached only the staff member, with the seeded category
    assert Content.objects.get(pk=own.content.pk).title == "Bob edited his reply"
    contents = Content.objects.exclude(title="Mine").exclude(pk=own.content.pk)
    assert sorted(contents.values_list("title", flat=True)) == [
        "Bob replied to your post",
        "Bob replied to your post",
        "Carol liked your post",
    ]
    assert set(contents.values_list("category__slug", flat=True)) == {"comment"}
    assert set(Notification.objects.values_list("recipient_id", flat=True)) == {staff.pk}
    assert preferences_get(user=staff)["channels"]["comment"]["email"] is False
    assert (WebPushDevice.objects.count(), GCMDevice.objects.count(), APNSDevice.objects.count()) == (1, 1, 1)
    assert list(WebhookEndpoint.objects.values_list("url", "events", "producer_id")) == [
        ("https://hooks.example.com/notifications", ["notification.read"], staff.pk)
    ]
    assert set(GCMDevice.objects.values_list("name", flat=True)) == {"Work phone"}


def test_mark_seen_example_fits_a_javascript_number(alice):
    # given the schema as the docs page reads it
    schema = client_for(alice).get(SCHEMA).json()
    operation = schema["paths"]["/api/v1/notifications/mark-seen/"]["post"]
    (example,) = operation["requestBody"]["content"]["application/json"]["examples"].values()
    # then its number is exact in a double (2^53), unlike the field's maximum
    assert example["value"] == {"up_to_seq": 57}
    assert example["value"]["up_to_seq"] < 2**53
