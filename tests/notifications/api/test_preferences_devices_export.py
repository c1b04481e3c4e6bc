import pytest
from push_notifications.models import APNSDevice, GCMDevice, WebPushDevice

from preferences.models import Preference, UserSettings
from tests.factories import send
from tests.notifications.api.conftest import client_for

PREFS = "/api/v1/preferences/"


def test_categories_list(alice_client):
    items = alice_client.get("/api/v1/categories/").json()
    slugs = [c["slug"] for c in items]
    assert slugs == sorted(slugs) and "comment" in slugs
    assert set(items[0]) == {"slug", "label", "description", "default_channels", "default_priority", "mandatory"}


PREFERENCE_KEYS = {"channels", "quiet_hours", "email_digest", "muted_until", "email_content", "budget"}


def test_preferences_get_and_patch(alice_client, alice):
    doc = alice_client.get(PREFS).json()
    assert set(doc) == PREFERENCE_KEYS
    response = alice_client.patch(
        PREFS,
        {
            "channels": {"comment": {"email": False}},
            "quiet_hours": {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "Europe/Paris"},
            "email_digest": "daily",
            "muted_until": "2030-01-01T00:00:00Z",
            "email_content": False,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    doc = response.json()
    assert doc["channels"]["comment"]["email"] is False
    assert doc["quiet_hours"] == {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "Europe/Paris"}
    assert (doc["email_digest"], doc["email_content"]) == ("daily", False)
    assert doc["muted_until"].startswith("2030-01-01T00:00:00")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"channels": {"security": {"email": False}}}, "channels"),
        ({"channels": {"security": {"in_app": False}}}, "channels"),
        ({"channels": {"nope": {"email": False}}}, "channels"),
        ({"channels": {"comment": {"fax": True}}}, "channels"),
        ({"channels": {"comment": {"email": "yes"}}}, "channels"),
        ({"quiet_hours": {"timezone": "Mars/Olympus"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "25:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "ab:cd"}}, "quiet_hours"),
        ({"quiet_hours": {"enabled": True}}, "quiet_hours"),
        ({"email_digest": "weekly"}, "email_digest"),
        ({"muted_until": "soon"}, "muted_until"),
        ({"email_content": "no"}, "email_content"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
        ({"email_digest": "daily", "channels": {"nope": {"email": False}}}, "channels"),
    ],
)
def test_bad_preferences_are_400_and_write_nothing(alice_client, alice, payload, field):
    response = alice_client.patch(PREFS, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Preference.objects.filter(user=alice).exists()
    assert not UserSettings.objects.filter(user=alice).exists()


def test_device_register_list_delete_own(alice_client, bob_client, alice):
    response = alice_client.post(
        "/api/v1/devices/fcm/", {"registration_id": "fcm-token-1", "device_id": "0x1f"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["device_id"] in ("0x1f", 31)
    assert [d["registration_id"] for d in alice_client.get("/api/v1/devices/fcm/").json()] == ["fcm-token-1"]
    assert bob_client.get("/api/v1/devices/fcm/").json() == []
    assert bob_client.delete("/api/v1/devices/fcm/fcm-token-1/").status_code == 404
    assert alice_client.delete("/api/v1/devices/fcm/fcm-token-1/").status_code == 204
    assert not GCMDevice.objects.exists()


def test_token_registered_by_another_user_moves_never_duplicates(alice_client, bob_client, alice, bob):
    alice_client.post("/api/v1/devices/apns/", {"registration_id": "abcdef0123"}, format="json")
    response = bob_client.post("/api/v1/devices/apns/", {"registration_id": "abcdef0123"}, format="json")
    assert response.status_code == 200, response.content
    assert list(APNSDevice.objects.values_list("user_id", flat=True)) == [bob.pk]
    assert alice_client.get("/api/v1/devices/apns/").json() == []


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/api/v1/devices/fcm/", {"registration_id": "t", "device_id": 1.5}),
        ("/api/v1/devices/fcm/", {"registration_id": "t", "device_id": [1]}),
        ("/api/v1/devices/fcm/", {"registration_id": "t", "device_id": "zz"}),
        ("/api/v1/devices/fcm/", {"registration_id": "t", "device_id": "-1"}),
        ("/api/v1/devices/fcm/", {"registration_id": "t", "device_id": hex(2**64)}),
        ("/api/v1/devices/apns/", {"registration_id": "not hex"}),
        # text fields take JSON strings only (DRF would store 6.2e16 or true as text)
        ("/api/v1/devices/apns/", {"registration_id": "ab12", "application_id": 6.262624722593869e16}),
        ("/api/v1/devices/apns/", {"registration_id": "ab12", "name": True}),
        ("/api/v1/devices/fcm/", {"registration_id": 12345}),
        ("/api/v1/devices/fcm/", {"registration_id": "t", "device_id": False}),
        (
            "/api/v1/devices/webpush/",
            {"registration_id": "https://push.example/x", "p256dh": "k", "auth": "a", "browser": "NETSCAPE"},
        ),
    ],
)
def test_bad_device_registrations_are_400(alice_client, path, payload):
    response = alice_client.post(path, payload, format="json")
    assert response.status_code == 400, response.content
    assert not (GCMDevice.objects.exists() or APNSDevice.objects.exists() or WebPushDevice.objects.exists())


def test_device_id_cannot_be_mass_assigned(alice_client, bob):
    theirs = GCMDevice.objects.create(user=bob, registration_id="bob-token")
    response = alice_client.post(
        "/api/v1/devices/fcm/", {"id": theirs.pk, "registration_id": "alice-token"}, format="json"
    )
    assert response.status_code == 201
    theirs.refresh_from_db()
    assert (theirs.user_id, theirs.registration_id) == (bob.pk, "bob-token")


def test_export_has_own_data_with_masked_tokens(alice, bob):
    send([alice], title="mine")
    send([bob], title="not mine")
    WebPushDevice.objects.create(
        user=alice, registration_id="https://push.example/secret-endpoint-9876", p256dh="k", auth="a"
    )
    data = client_for(alice).get("/api/v1/me/export/").json()
    assert data["user"] == {"id": alice.pk, "username": "alice", "email": "alice@example.com"}
    assert [n["title"] for n in data["notifications"]] == ["mine"]
    assert data["devices"]["webpush"][0]["registration_id"] == "…9876"
    assert "secret-endpoint" not in str(data)
    assert set(data["preferences"]) == PREFERENCE_KEYS


def test_patch_refuses_quiet_hours_that_start_when_they_end(alice_client, alice):
    # given alice's quiet hours 22:00-07:00
    quiet = {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "UTC"}
    assert alice_client.patch(PREFS, {"quiet_hours": quiet}, format="json").status_code == 200
    # when she sets 09:00-09:00 along with a digest
    body = {"quiet_hours": {**quiet, "start": "09:00", "end": "09:00"}, "email_digest": "daily"}
    response = alice_client.patch(PREFS, body, format="json")
    # then 400 naming quiet_hours, and neither change is written
    assert response.status_code == 400
    assert response.json() == {"quiet_hours": ["Quiet hours must start and end at different times."]}
    doc = alice_client.get(PREFS).json()
    assert doc["quiet_hours"] == quiet
    assert doc["email_digest"] == "off"


def test_fcm_devices_are_the_same_rows_everywhere(alice_client, alice):
    from notifications.selectors import devices
    from preferences.selectors import device_list

    # given alice's FCM device and a legacy GCM-type row of hers (the library's, never sent to)
    fcm = GCMDevice.objects.create(user=alice, registration_id="fcm-token", cloud_message_type="FCM")
    GCMDevice.objects.create(user=alice, registration_id="gcm-token", cloud_message_type="GCM")
    # then delivery (planning and sending look devices up here), the devices API, the export and the preferences
    # page all see the FCM one only
    assert list(devices("fcm").filter(user=alice)) == [fcm]
    assert [d["registration_id"] for d in alice_client.get("/api/v1/devices/fcm/").json()] == ["fcm-token"]
    assert [d["id"] for d in alice_client.get("/api/v1/me/export/").json()["devices"]["fcm"]] == [fcm.pk]
    assert [d["id"] for d in device_list(user=alice) if d["kind"] == "fcm"] == [fcm.pk]
    # and the legacy token registered again through the FCM endpoint becomes an FCM device (not a duplicate)
    response = alice_client.post("/api/v1/devices/fcm/", {"registration_id": "gcm-token"}, format="json")
    assert response.status_code == 200, response.content
    assert GCMDevice.objects.get(registration_id="gcm-token").cloud_message_type == "FCM"
    assert sorted(d["registration_id"] for d in alice_client.get("/api/v1/devices/fcm/").json()) == [
        "fcm-token",
        "gcm-token",
    ]
