"""The one time-zone fallback (preferences.zones): a stored zone name that no longer exists means UTC everywhere."""

import zoneinfo
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from notifications.delivery.policy import quiet_hours_end
from preferences.models import UserSettings
from preferences.zones import zone_or_utc
from tests.factories import send

GONE = "Mars/Olympus"  # what a row may hold from before names were checked, or after the tz database dropped one


def test_zone_or_utc():
    assert zone_or_utc("Asia/Tokyo") == zoneinfo.ZoneInfo("Asia/Tokyo")
    assert zone_or_utc(GONE) == zoneinfo.ZoneInfo("UTC")
    assert zone_or_utc("") == zoneinfo.ZoneInfo("UTC")
    assert zone_or_utc("../etc/passwd") == zoneinfo.ZoneInfo("UTC")


def _stored_zone(user, name: str) -> None:
    # written past the service's check, as an old row would be
    UserSettings.objects.update_or_create(user=user, defaults={"timezone": name})


def test_quiet_hours_of_an_unusable_zone_are_kept_in_utc():
    settings = UserSettings(quiet_hours_enabled=True, quiet_start=time(22), quiet_end=time(7), timezone=GONE)
    at = datetime(2030, 1, 1, 23, 30, tzinfo=UTC)
    assert quiet_hours_end(at, settings) == datetime(2030, 1, 2, 7, 0, tzinfo=UTC)


def test_pages_of_a_user_with_an_unusable_zone_work_in_utc(client, alice):
    # given alice's stored zone is gone and she has a notification
    _stored_zone(alice, GONE)
    send([alice], title="still here")
    client.force_login(alice)
    # then the center shows it, with days in UTC
    center = client.get("/notifications/")
    assert center.status_code == 200
    assert "still here" in center.content.decode()
    # and do-not-disturb "until tomorrow" means 08:00 UTC tomorrow
    assert client.post("/preferences/do-not-disturb/", {"dnd": "tomorrow"}).status_code == 302
    tomorrow = timezone.now().astimezone(UTC).date() + timedelta(days=1)
    assert UserSettings.objects.get(user=alice).muted_until == datetime.combine(tomorrow, time(8), tzinfo=UTC)
    page = client.get("/preferences/")
    assert page.status_code == 200
