"""The preferences page (server-rendered; the forms call the same services as the API)."""

import zoneinfo
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from notifications.models import Category, ChannelKind, Priority
from notifications.views import AuthedRequest

from . import selectors, services
from .models import DigestCadence, UserSettings

# Do-not-disturb choices: label and how long. "tomorrow" means 08:00 tomorrow in the user's time zone.
DND_CHOICES = (("1h", "For 1 hour"), ("8h", "For 8 hours"), ("tomorrow", "Until tomorrow"), ("off", "Off"))
MORNING = time(8, 0)
MANDATORY_REASON = "Required: security alerts always reach you in the app and by email."


@lru_cache(maxsize=1)
def timezone_choices() -> list[str]:
    """Canonical Area/City names (plus UTC), sorted: what a person would pick."""
    names = {n for n in zoneinfo.available_timezones() if "/" in n and not n.startswith(("Etc/", "SystemV/"))}
    return ["UTC", *sorted(names)]


def _time_field(value: str) -> str | None:
    """<input type=time> sends HH:MM (or HH:MM:SS with a step); the service takes HH:MM."""
    value = value.strip()
    if not value:
        return None
    return value[:5] if len(value) == 8 and value[5] == ":" else value


def _form_document(request: AuthedRequest, categories: list[Category]) -> dict[str, Any]:
    """The preferences document (contract.md) from the page's form. Locked (mandatory) switches are not sent."""
    post = request.POST
    channels = {
        c.slug: {
            ch: f"channel-{c.slug}-{ch}" in post
            for ch in ChannelKind.values
            if not (c.mandatory and ch in selectors.MANDATORY_CHANNELS)
        }
        for c in categories
    }
    return {
        "channels": channels,
        "quiet_hours": {
            "enabled": "quiet_enabled" in post,
            "start": _time_field(post.get("quiet_start", "")),
            "end": _time_field(post.get("quiet_end", "")),
            "timezone": post.get("timezone", ""),
        },
        "email_digest": post.get("email_digest", ""),
        "email_content": "email_content" in post,
    }


def _local(value: datetime | None, zone_name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return timezone.localtime(value, zoneinfo.ZoneInfo(zone_name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return value


@login_required
def preferences_page(request: AuthedRequest) -> HttpResponse:
    user = request.user
    categories = list(Category.objects.order_by("slug"))
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        document = _form_document(request, categories)
        try:
            services.preferences_update(user=user, **document)
        except ValidationError as exc:
            errors = exc.message_dict
            status = 400
        else:
            messages.success(request, "Preferences saved.")
            return redirect("preferences")

    matrix = selectors.channel_matrix(user=user, categories=categories)
    rows = []
    for category in categories:
        cells = []
        for channel, label in ChannelKind.choices:
            locked = category.mandatory and channel in selectors.MANDATORY_CHANNELS
            if request.method == "POST" and not locked:
                checked = f"channel-{category.slug}-{channel}" in request.POST
            else:
                checked = matrix[category.slug][channel]
            cells.append({"channel": channel, "label": label, "checked": checked, "locked": locked})
        rows.append({"category": category, "cells": cells})

    settings = selectors.user_settings_get(user=user)
    saved = UserSettings.objects.filter(pk=user.pk).exists()
    muted_until = settings.muted_until if settings.muted_until and settings.muted_until > timezone.now() else None
    if request.method == "POST":
        # Show what the user typed, not the stored values, next to the errors.
        form = _form_document(request, categories)
        quiet = form["quiet_hours"]
        email_digest, email_content = form["email_digest"], form["email_content"]
    else:
        quiet = {
            "enabled": settings.quiet_hours_enabled,
            "start": settings.quiet_start.strftime("%H:%M") if settings.quiet_start else "",
            "end": settings.quiet_end.strftime("%H:%M") if settings.quiet_end else "",
            "timezone": settings.timezone,
        }
        email_digest, email_content = settings.email_digest, settings.email_content
    return render(
        request,
        "preferences/preferences.html",
        {
            "rows": rows,
            "channel_kinds": ChannelKind.choices,
            "mandatory_reason": MANDATORY_REASON,
            "quiet": quiet,
            # Never saved: the page preselects the browser's time zone (JS) instead of UTC.
            "timezone_from_browser": not saved,
            "timezones": timezone_choices(),
            "digest_choices": DigestCadence.choices,
            "email_digest": email_digest,
            "email_content": email_content,
            "muted_until": _local(muted_until, settings.timezone),
            "dnd_choices": DND_CHOICES,
            "devices": selectors.device_list(user=user),
            "errors": errors,
            "categories": categories,
            "priorities": Priority.choices,
        },
        status=status,
    )


def _dnd_until(choice: str, zone_name: str) -> datetime | None:
    now = timezone.now()
    if choice == "1h":
        return now + timedelta(hours=1)
    if choice == "8h":
        return now + timedelta(hours=8)
    if choice == "tomorrow":
        try:
            zone = zoneinfo.ZoneInfo(zone_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = zoneinfo.ZoneInfo("UTC")
        tomorrow = timezone.localtime(now, zone).date() + timedelta(days=1)
        return datetime.combine(tomorrow, MORNING, tzinfo=zone)
    return None


@login_required
@require_POST
def do_not_disturb(request: AuthedRequest) -> HttpResponse:
    choice = request.POST.get("dnd", "")
    if choice not in dict(DND_CHOICES):
        return HttpResponse("Unknown do-not-disturb choice.", status=400, content_type="text/plain")
    settings = selectors.user_settings_get(user=request.user)
    until = _dnd_until(choice, settings.timezone)
    services.preferences_update(user=request.user, muted_until=until)
    local = _local(until, settings.timezone)
    if local is None:
        messages.success(request, "Do not disturb is off.")
    else:
        messages.success(request, f"Do not disturb until {local:%a %H:%M} ({settings.timezone}). Urgent still comes.")
    return redirect("preferences")


@login_required
@require_POST
def device_remove(request: AuthedRequest, kind: str, pk: int) -> HttpResponse:
    if not services.device_remove(user=request.user, kind=kind, device_id=pk):
        raise Http404
    messages.success(request, "Device removed.")
    return redirect("preferences")
