"""Reads of preferences. A missing Preference row means the category's default channels."""

import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Case, F, Q, QuerySet, Value, When

from notifications.models import Category, ChannelKind
from notifications.selectors import devices as devices_of
from notifications.validation import DATETIME_MAX, DATETIME_MIN

from .models import GroupMute, Preference, UserSettings
from .zones import zone_or_utc

# Mandatory categories cannot be switched off on these channels.
MANDATORY_CHANNELS = (ChannelKind.IN_APP, ChannelKind.EMAIL)


def channel_enabled(*, category: Category, channel: str, explicit: bool | None) -> bool:
    """The one rule: an explicit choice wins over the category default, except that mandatory stays on."""
    if category.mandatory and channel in MANDATORY_CHANNELS:
        return True
    return explicit if explicit is not None else channel in category.default_channels


def preferences_explicit_bulk(
    *, user_ids: Iterable[int] | QuerySet[Any], category_ids: Iterable[int]
) -> dict[tuple[int, int, str], bool]:
    """(user, category, channel) -> enabled for many users at once: one query (user_ids may be a subquery)."""
    rows = Preference.objects.filter(user_id__in=user_ids, category_id__in=list(category_ids)).values_list(
        "user_id", "category_id", "channel", "enabled"
    )
    return {(u, c, ch): enabled for u, c, ch, enabled in rows}


def _settings_rows() -> QuerySet[UserSettings]:
    """UserSettings with `muted_until` read through a range check in SQL: a value outside the range writes are kept
    in (whatever stored it: an old bug, a manual UPDATE) reads as "not muted" instead of failing the driver, so one
    bad row cannot fail a page, a fan-out batch or a planning batch that includes its user."""
    out_of_range = Q(muted_until__gte=DATETIME_MAX) | Q(muted_until__lt=DATETIME_MIN)
    return UserSettings.objects.defer("muted_until").annotate(
        muted_until_checked=Case(When(out_of_range, then=Value(None)), default=F("muted_until"))
    )


def _checked(settings: UserSettings) -> UserSettings:
    settings.muted_until = settings.muted_until_checked  # type: ignore[attr-defined]
    return settings


def user_settings_bulk(*, user_ids: Iterable[int] | QuerySet[Any]) -> dict[int, UserSettings]:
    """user id -> settings for many users at once (one query); users without a row are simply missing."""
    return {s.user_id: _checked(s) for s in _settings_rows().filter(user_id__in=user_ids)}


def user_settings_get(*, user: AbstractBaseUser) -> UserSettings:
    """The user's settings; an unsaved default instance if they never changed anything."""
    row = _settings_rows().filter(user_id=user.pk).first()
    return _checked(row) if row is not None else UserSettings(user=user)


def user_zone(*, user: AbstractBaseUser) -> zoneinfo.ZoneInfo:
    """The user's time zone (UTC for a missing or unknown one): what pages show times in."""
    return zone_or_utc(user_settings_get(user=user).timezone)


def channel_matrix(
    *, user: AbstractBaseUser, categories: Sequence[Category] | None = None
) -> dict[str, dict[str, bool]]:
    """category slug -> channel -> enabled, defaults and mandatory rules applied."""
    if categories is None:
        categories = list(Category.objects.order_by("slug"))
    explicit = {
        (category_id, channel): enabled
        for category_id, channel, enabled in Preference.objects.filter(user=user).values_list(
            "category_id", "channel", "enabled"
        )
    }
    matrix: dict[str, dict[str, bool]] = {}
    for category in categories:
        row = {}
        for channel in ChannelKind.values:
            row[channel] = channel_enabled(
                category=category, channel=channel, explicit=explicit.get((category.pk, channel))
            )
        matrix[category.slug] = row
    return matrix


def preferences_get(*, user: AbstractBaseUser) -> dict[str, Any]:
    """The preferences document of contract.md (GET /api/v1/preferences/)."""
    settings = user_settings_get(user=user)
    return {
        "channels": channel_matrix(user=user),
        "quiet_hours": {
            "enabled": settings.quiet_hours_enabled,
            "start": settings.quiet_start.strftime("%H:%M") if settings.quiet_start else None,
            "end": settings.quiet_end.strftime("%H:%M") if settings.quiet_end else None,
            "timezone": settings.timezone,
        },
        "email_digest": settings.email_digest,
        "muted_until": settings.muted_until.isoformat() if settings.muted_until else None,
        "email_content": settings.email_content,
        "budget": {"push_per_hour": settings.push_per_hour, "email_per_hour": settings.email_per_hour},
    }


def group_mute_active_q(at: Any) -> Q:
    """Mutes in force at `at` (forever, or until later)."""
    return Q(until__isnull=True) | Q(until__gt=at)


def group_mutes_matching(
    *, group_keys: Iterable[str], user_min: int, user_max: int, at: Any
) -> set[tuple[int, str, int | None]]:
    """(user id, group key, category id or None) of the mutes in force at `at` on these group keys, for users in
    the id range: one query for a whole fan-out batch (by group key and id range, never one per recipient)."""
    keys = sorted({k for k in group_keys if k})
    if not keys:
        return set()
    rows = GroupMute.objects.filter(group_mute_active_q(at), group_key__in=keys, user__gte=user_min, user__lte=user_max)
    return set(rows.values_list("user_id", "group_key", "category_id"))


def group_mute_list(*, user: AbstractBaseUser, at: Any) -> list[GroupMute]:
    """The user's mutes in force, newest first (expired ones are not shown; they mute nothing)."""
    return list(
        GroupMute.objects.filter(group_mute_active_q(at), user_id=user.pk)
        .select_related("category")
        .order_by("-created_at", "-pk")
    )


def group_mute_doc(mute: GroupMute) -> dict[str, Any]:
    """A mute as the API, the export and the "why" show it."""
    return {
        "id": mute.pk,
        "group_key": mute.group_key,
        "category": mute.category.slug if mute.category is not None else None,
        "until": mute.until.isoformat() if mute.until else None,
        "created_at": mute.created_at.isoformat(),
    }


def group_mute_find(*, user: AbstractBaseUser, group_key: str, category_id: int | None, at: Any) -> GroupMute | None:
    """The mute in force that covers this group for the user: one of its category, else one of all categories."""
    if not group_key:
        return None
    rows = GroupMute.objects.filter(group_mute_active_q(at), user_id=user.pk, group_key=group_key).filter(
        Q(category__isnull=True) | Q(category_id=category_id)
    )
    return rows.select_related("category").order_by("category_id").first()


# Device kinds as the preferences page names them (delivery channel names), in the order the page lists ties.
DEVICE_KINDS = ("webpush", "fcm", "apns")


def device_list(*, user: AbstractBaseUser) -> list[dict[str, Any]]:
    """Every registered device of the user, newest first, without tokens (they are secrets of the device)."""
    labels = {"webpush": "Browser", "fcm": "Android (FCM)", "apns": "iOS (APNs)"}
    found = []
    for kind in DEVICE_KINDS:
        for device in devices_of(kind).filter(user=user).order_by("-date_created", "-pk"):
            detail = device.get_browser_display() if kind == "webpush" else ""
            found.append(
                {
                    "kind": kind,
                    "id": device.pk,
                    "kind_label": labels[kind],
                    "name": device.name or detail or labels[kind],
                    "active": device.active,
                    "date_created": device.date_created,
                }
            )
    found.sort(key=lambda d: (d["date_created"] is not None, d["date_created"]), reverse=True)
    return found
