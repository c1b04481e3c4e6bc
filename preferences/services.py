"""Writes of preferences. Validation is all or nothing: a bad field writes nothing."""

import zoneinfo
from datetime import time
from functools import lru_cache
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from notifications.models import Category, ChannelKind
from notifications.selectors import devices
from notifications.validation import datetime_external

from .models import DigestCadence, Preference, UserSettings
from .selectors import DEVICE_KINDS, MANDATORY_CHANNELS

UNSET: Any = object()
QUIET_EQUAL = "Quiet hours must start and end at different times."
QUIET_REQUIRED = "start and end are required when enabled."
# The parts of quiet_hours, for errors about one of them: the code names the part, and "%(part)s" in the message is
# the part's name in the API ("timezone: unknown time zone.") and its label on the page ("Time zone: ...").
QUIET_PARTS = ("enabled", "start", "end", "timezone")


@lru_cache(maxsize=1)
def timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _parse_time(value: Any) -> time | None:
    if value is None:
        return None
    if isinstance(value, time):
        return value
    if isinstance(value, str) and len(value) == 5 and value[2] == ":":
        if value[:2].isdigit() and value[3:].isdigit():
            return time(int(value[:2]), int(value[3:]))  # ValueError when out of range: a 400, never a silent null
    raise ValueError


def _clean_channels(value: Any, errors: dict[str, list[Any]]) -> list[tuple[Category, str, bool]]:
    if not isinstance(value, dict):
        errors["channels"] = ["Must be an object: category -> channel -> bool."]
        return []
    # NUL cannot be in a slug, and PostgreSQL rejects it in a query (a 500): leave such keys to "unknown category".
    slugs = [k for k in value if isinstance(k, str) and "\x00" not in k]
    categories = {c.slug: c for c in Category.objects.filter(slug__in=slugs)}
    changes = []
    for slug, row in value.items():
        category = categories.get(slug)
        if category is None:
            errors.setdefault("channels", []).append(f"Unknown category {slug!r}.")
            continue
        if not isinstance(row, dict):
            errors.setdefault("channels", []).append(f"{slug}: must be an object channel -> bool.")
            continue
        for channel, enabled in row.items():
            if channel not in ChannelKind.values:
                errors.setdefault("channels", []).append(f"{slug}: unknown channel {channel!r}.")
            elif not isinstance(enabled, bool):
                errors.setdefault("channels", []).append(f"{slug}.{channel}: must be true or false.")
            elif category.mandatory and channel in MANDATORY_CHANNELS and not enabled:
                errors.setdefault("channels", []).append(f"{slug} is mandatory: {channel} cannot be turned off.")
            else:
                changes.append((category, channel, enabled))
    return changes


def _part_error(part: str, message: str) -> ValidationError:
    return ValidationError(f"%(part)s: {message}", code=part, params={"part": part})


def quiet_times_check(start: time | None, end: time | None) -> None:
    """Equal ends would be quiet hours that never hold anything back (delivery.policy ignores them): refuse them
    wherever quiet hours are written (API, page, admin, Python) instead of saving something that does nothing."""
    if start is not None and start == end:
        raise ValidationError(QUIET_EQUAL, code="equal")


def _clean_quiet_hours(value: Any, errors: dict[str, list[Any]], settings_changes: dict[str, Any]) -> None:
    if not isinstance(value, dict) or set(value) - set(QUIET_PARTS):
        errors["quiet_hours"] = ["Must be an object with enabled, start, end and timezone."]
        return
    if "enabled" in value:
        if not isinstance(value["enabled"], bool):
            errors.setdefault("quiet_hours", []).append(_part_error("enabled", "must be true or false."))
        else:
            settings_changes["quiet_hours_enabled"] = value["enabled"]
    for key, field in (("start", "quiet_start"), ("end", "quiet_end")):
        if key in value:
            try:
                settings_changes[field] = _parse_time(value[key])
            except ValueError:
                errors.setdefault("quiet_hours", []).append(_part_error(key, "must be HH:MM."))
    if "timezone" in value:
        tz = value["timezone"]
        if not isinstance(tz, str) or tz not in timezone_names():
            errors.setdefault("quiet_hours", []).append(_part_error("timezone", "unknown time zone."))
        else:
            settings_changes["timezone"] = tz


def _merged_quiet_hours_check(settings: UserSettings) -> None:
    """Checked after merging with stored values: a PATCH may send one end only."""
    if settings.quiet_hours_enabled and (settings.quiet_start is None or settings.quiet_end is None):
        raise ValidationError({"quiet_hours": [ValidationError(QUIET_REQUIRED, code="required")]})
    try:
        quiet_times_check(settings.quiet_start, settings.quiet_end)
    except ValidationError as exc:
        raise ValidationError({"quiet_hours": exc.error_list}) from None


def preferences_update(
    *,
    user: AbstractBaseUser,
    channels: Any = UNSET,
    quiet_hours: Any = UNSET,
    email_digest: Any = UNSET,
    muted_until: Any = UNSET,
    email_content: Any = UNSET,
) -> None:
    """PATCH semantics: only the given parts change. Raises ValidationError keyed by field; writes nothing then."""
    errors: dict[str, list[Any]] = {}
    changes = _clean_channels(channels, errors) if channels is not UNSET else []
    settings_changes: dict[str, Any] = {}

    if quiet_hours is not UNSET:
        _clean_quiet_hours(quiet_hours, errors, settings_changes)

    if email_digest is not UNSET:
        if email_digest not in DigestCadence.values:
            errors["email_digest"] = [f"Must be one of {', '.join(DigestCadence.values)}."]
        else:
            settings_changes["email_digest"] = email_digest

    if muted_until is not UNSET:
        try:
            zone = timezone.get_current_timezone()
            settings_changes["muted_until"] = (
                None if muted_until is None else datetime_external(muted_until, naive_zone=zone)
            )
        except ValueError as exc:
            errors["muted_until"] = [f"Must be null or: {exc}"]

    if email_content is not UNSET:
        if not isinstance(email_content, bool):
            errors["email_content"] = ["Must be true or false."]
        else:
            settings_changes["email_content"] = email_content

    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        for category, channel, enabled in changes:
            Preference.objects.update_or_create(
                user=user, category=category, channel=channel, defaults={"enabled": enabled}
            )
        if settings_changes:
            # muted_until deferred: a stored value no driver can read must not stop the user replacing it
            rows = UserSettings.objects.defer("muted_until").select_for_update()
            settings, _ = rows.get_or_create(user=user)
            for field, value in settings_changes.items():
                setattr(settings, field, value)
            if quiet_hours is not UNSET:
                try:
                    _merged_quiet_hours_check(settings)
                except ValidationError:
                    transaction.set_rollback(True)
                    raise
            settings.save(update_fields=list(settings_changes))


def preference_set(*, user: AbstractBaseUser, category: str, channel: str, enabled: bool) -> None:
    preferences_update(user=user, channels={category: {channel: enabled}})


def device_remove(*, user: AbstractBaseUser, kind: str, device_id: int) -> bool:
    """Delete one of the user's own push devices. Another user's device is treated exactly like a missing one."""
    if kind not in DEVICE_KINDS:
        return False
    deleted, _ = devices(kind).filter(user=user, pk=device_id).delete()
    return deleted > 0
