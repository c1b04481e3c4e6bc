"""The preferences page: the whole preferences document through one form, do-not-disturb, devices."""

import re
import zoneinfo
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from push_notifications.models import GCMDevice, WebPushDevice

from preferences.models import Preference, UserSettings
from preferences.selectors import channel_matrix, preferences_get


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def full_form(**overrides: str | None) -> dict[str, str]:
    """What the page posts when nothing was changed: every default channel on (category defaults)."""
    form: dict[str, str | None] = {
        f"channel-{slug}-{channel}": "on"
        for slug, channels in {
            "announcement": ["in_app", "email"],
            "comment": ["in_app", "email", "push"],
            "follow": ["in_app", "email"],
            "mention": ["in_app", "email", "push"],
            "security": ["push"],
            "system": ["in_app", "email"],
        }.items()
        for channel in channels
    }
    form.update({"timezone": "UTC", "email_digest": "off", "email_content": "on"})
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def input_attributes(html: str, id: str) -> set[str]:
    tag = re.search(rf'<input[^>]*id="{id}"[^>]*>', html)
    assert tag, id
    return set(re.findall(r'\s([a-z-]+)(?:="[^"]*")?', tag.group(0)))


def test_page_shows_the_matrix_with_mandatory_locked(alice_client):
    response = alice_client.get("/preferences/")
    html = response.content.decode()
    assert response.status_code == 200
    for channel in ("in_app", "email"):
        assert {"checked", "disabled", "aria-describedby"} <= input_attributes(html, f"channel-security-{channel}")
    assert {"checked"} <= input_attributes(html, "channel-security-push")
    assert "disabled" not in input_attributes(html, "channel-security-push")
    assert not {"checked", "disabled"} & input_attributes(html, "channel-follow-push")
    assert {"checked"} <= input_attributes(html, "channel-follow-email")
    assert "Required: security alerts always reach you" in html
    assert 'data-default="browser"' in html


def test_switching_email_off_for_comments_changes_only_that(alice_client, alice):
    response = alice_client.post("/preferences/", full_form(**{"channel-comment-email": None}))
    assert response.status_code == 302
    matrix = channel_matrix(user=alice)
    assert matrix["comment"] == {"in_app": True, "email": False, "push": True}
    assert matrix["mention"] == {"in_app": True, "email": True, "push": True}
    assert matrix["security"] == {"in_app": True, "email": True, "push": True}
    assert 'data-default="browser"' not in alice_client.get("/preferences/").content.decode()


def test_mandatory_channels_cannot_be_switched_off_by_leaving_them_out(alice_client, alice):
    form = full_form(**{"channel-security-push": None})
    alice_client.post("/preferences/", form)
    assert channel_matrix(user=alice)["security"] == {"in_app": True, "email": True, "push": False}
    assert not Preference.objects.filter(user=alice, category__slug="security", channel__in=["in_app", "email"])


def test_quiet_hours_digest_and_content_are_saved_in_the_chosen_zone(alice_client, alice):
    form = full_form(
        quiet_enabled="on",
        quiet_start="22:00",
        quiet_end="07:00:00",
        timezone="Asia/Tokyo",
        email_digest="daily",
        email_content=None,
    )
    assert alice_client.post("/preferences/", form).status_code == 302
    document = preferences_get(user=alice)
    assert document["quiet_hours"] == {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "Asia/Tokyo"}
    assert document["email_digest"] == "daily"
    assert document["email_content"] is False


@pytest.mark.parametrize(
    "overrides",
    [
        {"timezone": "Mars/Olympus"},
        {"quiet_enabled": "on", "quiet_start": "", "quiet_end": ""},
        {"quiet_start": "25:99"},
        {"email_digest": "weekly"},
    ],
)
def test_a_bad_field_saves_nothing_and_says_why(alice_client, alice, overrides):
    form = full_form(**{"channel-comment-email": None, **overrides})
    response = alice_client.post("/preferences/", form)
    assert response.status_code == 400
    assert "Nothing was saved." in response.content.decode()
    assert not Preference.objects.filter(user=alice).exists()
    assert not UserSettings.objects.filter(user=alice).exists()


def test_do_not_disturb_choices(alice_client, alice):
    alice_client.post("/preferences/", full_form(timezone="Europe/Paris"))
    before = timezone.now()
    alice_client.post("/preferences/do-not-disturb/", {"dnd": "1h"})
    until = UserSettings.objects.get(user=alice).muted_until
    assert until is not None
    assert before + timedelta(minutes=59) < until <= timezone.now() + timedelta(hours=1)

    alice_client.post("/preferences/do-not-disturb/", {"dnd": "tomorrow"})
    until = UserSettings.objects.get(user=alice).muted_until
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    expected_day = timezone.localtime(timezone.now(), paris).date() + timedelta(days=1)
    assert until == datetime.combine(expected_day, time(8, 0), tzinfo=paris)

    alice_client.post("/preferences/do-not-disturb/", {"dnd": "off"})
    assert UserSettings.objects.get(user=alice).muted_until is None
    assert alice_client.post("/preferences/do-not-disturb/", {"dnd": "forever"}).status_code == 400


def test_devices_are_listed_and_removed_only_for_their_owner(alice_client, alice, bob):
    mine = WebPushDevice.objects.create(
        user=alice, registration_id="https://push.example/a", p256dh="k", auth="a", browser="FIREFOX"
    )
    phone = GCMDevice.objects.create(user=alice, registration_id="fcm-token", cloud_message_type="FCM", name="Pixel")
    theirs = WebPushDevice.objects.create(user=bob, registration_id="https://push.example/b", p256dh="k", auth="a")

    html = alice_client.get("/preferences/").content.decode()
    assert "Pixel" in html and "Firefox" in html
    assert "fcm-token" not in html and "push.example" not in html

    assert alice_client.post(f"/preferences/devices/webpush/{theirs.pk}/remove/").status_code == 404
    assert alice_client.post(f"/preferences/devices/nope/{mine.pk}/remove/").status_code == 404
    assert alice_client.post(f"/preferences/devices/webpush/{mine.pk}/remove/").status_code == 302
    assert list(WebPushDevice.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert GCMDevice.objects.filter(pk=phone.pk).exists()


def dnd_card(html: str) -> str:
    match = re.search(r'<p id="dnd-status"[^>]*>([^<]*)</p>', html)
    assert match, "no do-not-disturb card"
    return match.group(1)


def save(client, form: dict[str, str]) -> None:
    """Save through the page and read the page once, so its "Preferences saved." is not left for the next one."""
    response = client.post("/preferences/", form, follow=True)
    assert flash_texts(response.content.decode()) == ["Preferences saved."]


def flash_texts(html: str) -> list[str]:
    return re.findall(r'<p class="flash-success">([^<]*)</p>', html)


def test_do_not_disturb_card_and_flash_show_the_same_local_time(alice_client, alice):
    # given alice in Tokyo, nine hours from the server's UTC
    save(alice_client, full_form(timezone="Asia/Tokyo"))
    # when she turns do-not-disturb on for an hour
    response = alice_client.post("/preferences/do-not-disturb/", {"dnd": "1h"}, follow=True)
    # then the flash and the card both say the same Tokyo time, and neither says the UTC time
    until = UserSettings.objects.get(user=alice).muted_until
    tokyo = timezone.localtime(until, zoneinfo.ZoneInfo("Asia/Tokyo")).strftime("%a %H:%M")
    utc = timezone.localtime(until, zoneinfo.ZoneInfo("UTC")).strftime("%a %H:%M")
    html = response.content.decode()
    assert flash_texts(html) == [f"Do not disturb until {tokyo} (Asia/Tokyo). Urgent still comes."]
    assert dnd_card(html) == f"On until {tokyo} (Asia/Tokyo). Urgent notifications still come through."
    assert utc not in html


def test_do_not_disturb_answers_json_without_a_flash_for_the_page_script(alice_client, alice):
    # given alice in Tokyo
    save(alice_client, full_form(timezone="Asia/Tokyo"))
    # when the page's script asks for JSON
    response = alice_client.post("/preferences/do-not-disturb/", {"dnd": "8h"}, HTTP_ACCEPT="application/json")
    # then it gets the card's new text and no redirect, and no flash waits for the next page
    until = UserSettings.objects.get(user=alice).muted_until
    assert until is not None
    tokyo = timezone.localtime(until, zoneinfo.ZoneInfo("Asia/Tokyo")).strftime("%a %H:%M")
    assert response.status_code == 200
    assert response.json() == {
        "muted_until": until.isoformat(),
        "status": f"On until {tokyo} (Asia/Tokyo). Urgent notifications still come through.",
        "message": f"Do not disturb until {tokyo} (Asia/Tokyo). Urgent still comes.",
    }
    assert flash_texts(alice_client.get("/preferences/").content.decode()) == []
    off = alice_client.post("/preferences/do-not-disturb/", {"dnd": "off"}, HTTP_ACCEPT="application/json")
    assert off.json() == {"muted_until": None, "status": "Off.", "message": "Do not disturb is off."}
    bad = alice_client.post("/preferences/do-not-disturb/", {"dnd": "forever"}, HTTP_ACCEPT="application/json")
    assert bad.status_code == 400
    assert bad.json() == {"dnd": ["Unknown do-not-disturb choice."]}
    assert UserSettings.objects.get(user=alice).muted_until is None


def test_equal_quiet_hours_are_refused_on_the_page_and_nothing_is_saved(alice_client, alice):
    # given alice's saved quiet hours 22:00-07:00
    save(alice_client, full_form(quiet_enabled="on", quiet_start="22:00", quiet_end="07:00"))
    # when she posts 09:00-09:00
    form = full_form(quiet_enabled="on", quiet_start="09:00", quiet_end="09:00", email_digest="daily")
    response = alice_client.post("/preferences/", form)
    # then the page refuses it next to the quiet hours, and nothing changed
    html = response.content.decode()
    assert response.status_code == 400
    assert "Preferences saved." not in html
    error = re.search(r'<p class="field-error" id="error-quiet_hours">([^<]*)</p>', html)
    assert error and error.group(1) == "Quiet hours must start and end at different times."
    assert 'aria-describedby="error-quiet_hours"' in html
    document = preferences_get(user=alice)
    assert document["quiet_hours"] == {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "UTC"}
    assert document["email_digest"] == "off"


def test_errors_name_the_field_by_its_label_next_to_it_and_in_the_summary(alice_client, alice):
    # when alice posts an unknown time zone and a start that is not a time
    response = alice_client.post("/preferences/", full_form(timezone="Mars/Olympus", quiet_start="25:99"))
    html = response.content.decode()
    # then each error says the field's label, not the document's key, in the summary and next to the field
    assert response.status_code == 400
    summary = re.search(r'<div class="alert alert-error"[^>]*>.*?</div>', html, re.S)
    assert summary
    assert re.findall(r'<li><a href="#([a-z_]+)">([^<]*)</a></li>', summary.group(0)) == [
        ("quiet_start", "From: must be HH:MM."),
        ("timezone", "Time zone: unknown time zone."),
    ]
    assert re.search(r'<p class="field-error" id="error-timezone">Time zone: unknown time zone.</p>', html)
    assert re.search(r'<select id="timezone"[^>]*aria-invalid="true" aria-describedby="error-timezone"', html)
    assert re.search(r'<input type="time" id="quiet_start"[^>]*aria-describedby="error-quiet_start"', html)
    assert "timezone: unknown time zone." not in html
    assert "start: must be HH:MM." not in html
    assert 'id="error-quiet_end"' not in html
    assert not UserSettings.objects.filter(user=alice).exists()


def test_do_not_disturb_answers_json_when_json_is_among_the_accepted_types(alice_client, alice):
    # the same rule as the center's actions: application/json anywhere in Accept
    accept = "text/html, application/json"
    response = alice_client.post("/preferences/do-not-disturb/", {"dnd": "1h"}, HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"muted_until", "status", "message"}
