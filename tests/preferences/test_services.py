from datetime import time

import pytest
from django.core.exceptions import ValidationError

from preferences.models import Preference, UserSettings
from preferences.selectors import channel_matrix, preferences_get
from preferences.services import preferences_update


def test_defaults_come_from_the_category(alice):
    matrix = channel_matrix(user=alice)
    assert matrix["comment"] == {"in_app": True, "email": True, "push": True}
    assert matrix["follow"] == {"in_app": True, "email": True, "push": False}
    assert not Preference.objects.exists()


def test_turning_a_channel_off_and_on(alice):
    preferences_update(user=alice, channels={"comment": {"email": False}})
    assert channel_matrix(user=alice)["comment"]["email"] is False
    preferences_update(user=alice, channels={"comment": {"email": True}})
    assert channel_matrix(user=alice)["comment"]["email"] is True
    assert Preference.objects.filter(user=alice).count() == 1


def test_mandatory_category_cannot_be_turned_off(alice):
    with pytest.raises(ValidationError) as exc:
        preferences_update(user=alice, channels={"security": {"email": False}})
    assert "channels" in exc.value.message_dict
    assert not Preference.objects.exists()
    # push of a mandatory category is the user's choice
    preferences_update(user=alice, channels={"security": {"push": False}})
    assert channel_matrix(user=alice)["security"] == {"in_app": True, "email": True, "push": False}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"channels": {"nope": {"email": False}}}, "channels"),
        ({"channels": {"comment": {"sms": False}}}, "channels"),
        ({"channels": {"comment": {"email": "no"}}}, "channels"),
        ({"quiet_hours": {"timezone": "Mars/Olympus"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "25:00"}}, "quiet_hours"),
        ({"email_digest": "weekly"}, "email_digest"),
        ({"muted_until": "tomorrow"}, "muted_until"),
        ({"email_content": "yes"}, "email_content"),
    ],
)
def test_bad_input_writes_nothing(alice, changes, field):
    # a valid change rides along with the bad one: it must not be written either
    changes = {"channels": {"comment": {"email": False}}, **changes}
    with pytest.raises(ValidationError) as exc:
        preferences_update(user=alice, **changes)
    assert field in exc.value.message_dict
    assert not Preference.objects.exists()
    assert not UserSettings.objects.exists()


def test_quiet_hours_and_settings_round_trip(alice):
    preferences_update(
        user=alice,
        quiet_hours={"enabled": True, "start": "22:00", "end": "07:00", "timezone": "Europe/Paris"},
        email_digest="daily",
        muted_until="2030-01-01T08:00:00+00:00",
        email_content=False,
    )
    prefs = preferences_get(user=alice)
    assert prefs["quiet_hours"] == {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "Europe/Paris"}
    assert prefs["email_digest"] == "daily"
    assert prefs["muted_until"].startswith("2030-01-01T08:00:00")
    assert prefs["email_content"] is False


def test_enabling_quiet_hours_needs_both_ends(alice):
    with pytest.raises(ValidationError):
        preferences_update(user=alice, quiet_hours={"enabled": True, "start": "22:00"})
    assert not UserSettings.objects.exists()


@pytest.mark.parametrize("enabled", [True, False])
def test_quiet_hours_that_start_when_they_end_are_refused(alice, enabled):
    # given alice's quiet hours 22:00-07:00
    preferences_update(user=alice, quiet_hours={"enabled": True, "start": "22:00", "end": "07:00", "timezone": "UTC"})
    # when 09:00-09:00 is set, in one go or one end at a time
    with pytest.raises(ValidationError) as exc:
        preferences_update(user=alice, quiet_hours={"enabled": enabled, "start": "09:00", "end": "09:00"})
    assert exc.value.message_dict == {"quiet_hours": ["Quiet hours must start and end at different times."]}
    preferences_update(user=alice, quiet_hours={"start": "07:00", "end": "09:00"})
    with pytest.raises(ValidationError) as exc:
        preferences_update(user=alice, quiet_hours={"start": "09:00"})
    # then it is refused and nothing of it is written
    assert exc.value.message_dict == {"quiet_hours": ["Quiet hours must start and end at different times."]}
    assert preferences_get(user=alice)["quiet_hours"] == {
        "enabled": True,
        "start": "07:00",
        "end": "09:00",
        "timezone": "UTC",
    }


def test_stored_equal_quiet_hours_do_not_block_other_changes(alice):
    # given a row saved before equal times were refused
    UserSettings.objects.create(user=alice, quiet_start=time(9, 0), quiet_end=time(9, 0))
    # when alice changes only her digest, then that is saved
    preferences_update(user=alice, email_digest="daily")
    assert preferences_get(user=alice)["email_digest"] == "daily"
