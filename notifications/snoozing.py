"""The snooze menu's choices as the center shows and reads them: presets with their times in the user's zone, a
chosen wall-clock time, or "off"."""

import zoneinfo
from datetime import datetime

from django.http import QueryDict
from django.utils import timezone

from . import services

# The snooze menu: preset, label. Their times are shown in the user's zone (services.snooze_preset_until).
SNOOZE_CHOICES = (("1h", "1 hour"), ("3h", "3 hours"), ("tomorrow", "Tomorrow morning"), ("next_week", "Next week"))
SNOOZE_CUSTOM = "custom"
SNOOZE_OFF = "off"


def snooze_label(until: datetime, zone: zoneinfo.ZoneInfo) -> str:
    """ "Mon 30 Mar 08:00": a snooze end in the user's zone (the template's date filter would use the server's)."""
    return f"{until.astimezone(zone):%a %-d %b %H:%M}"


def snooze_menu(zone: zoneinfo.ZoneInfo) -> dict[str, object]:
    """What every item's snooze menu shows: the presets with their times, the bounds of "choose a time"."""
    now = timezone.now()
    local = now.astimezone(zone)
    return {
        "snooze_choices": [
            (value, label, snooze_label(services.snooze_preset_until(choice=value, now=now, zone=zone), zone))
            for value, label in SNOOZE_CHOICES
        ],
        "snooze_min": f"{local:%Y-%m-%dT%H:%M}",
        "snooze_max": f"{(now + services.SNOOZE_MAX).astimezone(zone):%Y-%m-%dT%H:%M}",
        # The menu of items the page's script adds (live ones): it fills in the id and the title.
        "snooze_placeholder": {"id": "__id__", "title": ""},
    }


def snooze_until_asked(form: QueryDict, zone: zoneinfo.ZoneInfo) -> tuple[datetime | None, str]:
    """The snooze end the menu asked for (None: un-snooze now), or an error message."""
    choice = form.get("until") or ""
    if choice == SNOOZE_OFF:
        return None, ""
    if choice in dict(SNOOZE_CHOICES):
        return services.snooze_preset_until(choice=choice, now=timezone.now(), zone=zone), ""
    if choice != SNOOZE_CUSTOM:
        return None, "Choose how long to snooze it."
    value = (form.get("at") or "").strip()
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        return None, "Choose a date and time to snooze it until."
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)  # what the person typed is their own zone's wall clock
    return local, ""
