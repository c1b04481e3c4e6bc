"""Writes of preferences. Validation is all or nothing: a bad field writes nothing."""

import zoneinfo
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from notifications.models import Category, ChannelKind, Delivery, DeliveryStatus, Notification, SkipReason
from notifications.selectors import devices
from notifications.validation import datetime_external

from .models import DigestCadence, GroupMute, Preference, UserSettings
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


# The fatigue budget: per hour, per kind. Null is "no limit"; 0 would be "every push into the digest", which the
# channel switches say better.
BUDGET_FIELDS = ("push_per_hour", "email_per_hour")
BUDGET_MAX = 1000


def _clean_budget(value: Any, errors: dict[str, list[Any]], settings_changes: dict[str, Any]) -> None:
    if not isinstance(value, dict) or set(value) - set(BUDGET_FIELDS):
        errors["budget"] = ["Must be an object with push_per_hour and/or email_per_hour."]
        return
    for key in BUDGET_FIELDS:
        if key not in value:
            continue
        limit = value[key]
        if limit is None or (isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= BUDGET_MAX):
            settings_changes[key] = limit
        else:
            errors.setdefault("budget", []).append(_part_error(key, f"must be null or 1..{BUDGET_MAX}."))


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
    budget: Any = UNSET,
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

    if budget is not UNSET:
        _clean_budget(budget, errors, settings_changes)

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


# --- Group mutes --------------------------------------------------------------------------------------------------

# What the "why" place and the preferences page offer; the API also takes any `until`.
MUTE_DURATIONS = {"8h": timedelta(hours=8), "week": timedelta(days=7), "forever": None}
GROUP_KEY_MAX = 200


def _mute_until(*, until: Any, duration: Any, now: datetime) -> datetime | None:
    if until is not None and duration is not None:
        raise ValidationError({"until": ["Give until or duration, not both."]})
    if duration is not None:
        if not isinstance(duration, str) or duration not in MUTE_DURATIONS:
            raise ValidationError({"duration": [f"Must be one of {', '.join(MUTE_DURATIONS)}."]})
        length = MUTE_DURATIONS[duration]
        return None if length is None else now + length
    if until is None:
        return None
    try:
        at = datetime_external(until, naive_zone=timezone.get_current_timezone())
    except ValueError as exc:
        raise ValidationError({"until": [f"Must be null or: {exc}"]}) from None
    if at <= now:
        raise ValidationError({"until": ["Must be in the future (null: forever)."]})
    return at


@transaction.atomic
def group_mute_create(
    *, user: AbstractBaseUser, group_key: Any, category: Any = None, until: Any = None, duration: Any = None
) -> tuple[GroupMute, bool]:
    """Mute a group (in one category, or in all: `category` None) until a time, for a `duration` of MUTE_DURATIONS,
    or forever. Muting it again replaces the end. Returns (mute, created).

    The group's new notifications are written read and muted from now on (inserts.py); the email and push still
    pending for its notifications so far are cancelled (skipped: muted), so nothing more interrupts about it.
    """
    now = timezone.now()
    if not isinstance(group_key, str) or not group_key or len(group_key) > GROUP_KEY_MAX or "\x00" in group_key:
        raise ValidationError({"group_key": [f"Must be a non-empty group key of at most {GROUP_KEY_MAX} characters."]})
    category_obj: Category | None = None
    if category is not None:
        valid = isinstance(category, str) and "\x00" not in category
        found = Category.objects.filter(slug=category).first() if valid else None
        if found is None:
            raise ValidationError({"category": [f"Unknown category {category!r}."]})
        category_obj = found
    end = _mute_until(until=until, duration=duration, now=now)
    mute, created = GroupMute.objects.select_for_update().get_or_create(
        user_id=user.pk, group_key=group_key, category=category_obj, defaults={"until": end}
    )
    if not created:
        mute.until = end
        mute.save(update_fields=["until"])
    _deliveries_cancel_in_group(user_id=user.pk, group_key=group_key, category=category_obj, now=now)
    return mute, created


def _deliveries_cancel_in_group(*, user_id: int, group_key: str, category: Category | None, now: datetime) -> int:
    """Pending or retrying deliveries of the user's notifications in the group become skipped(muted): one UPDATE.
    (Here rather than in notifications.delivery, which imports this module through the unsubscribe links.)"""
    rows = Notification.objects.filter(recipient_id=user_id, content__group_key=group_key)
    if category is not None:
        rows = rows.filter(category_id=category.pk)
    return Delivery.objects.filter(
        notification__in=rows.values("pk"), status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    ).update(status=DeliveryStatus.SKIPPED, skip_reason=SkipReason.MUTED, updated_at=now)


def group_mute_delete(*, user: AbstractBaseUser, mute_id: Any) -> bool:
    """Unmute. Another user's mute is treated exactly like a missing one."""
    if not isinstance(mute_id, int) or isinstance(mute_id, bool):
        return False
    deleted, _ = GroupMute.objects.filter(user_id=user.pk, pk=mute_id).delete()
    return deleted > 0
