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
