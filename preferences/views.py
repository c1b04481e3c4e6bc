"""The preferences page (server-rendered; the forms call the same services as the API)."""

import zoneinfo
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from notifications.models import Category, ChannelKind, Priority
from notifications.views import AuthedRequest, wants_json

from . import selectors, services
from .models import DigestCadence, UserSettings
from .zones import zone_or_utc

# Do-not-disturb choices: label and how long. "tomorrow" means 08:00 tomorrow in the user's time zone.
DND_CHOICES = (("1h", "For 1 hour"), ("8h", "For 8 hours"), ("tomorrow", "Until tomorrow"), ("off", "Off"))
MORNING = time(8, 0)
DND_OFF = "Off."
MANDATORY_REASON = "Required: security alerts always reach you in the app and by email."

# Errors are shown with the label of the field they are about, next to it and in the summary (docs/ui.md).
# Page field -> its label; the service's errors are keyed by document field and, inside quiet_hours, by part.
FIELD_LABELS = {
    "channels": "Channels",
    "quiet_hours": "Quiet hours",
    "quiet_enabled": "Pause email and push during quiet hours",
    "quiet_start": "From",
    "quiet_end": "To",
    "timezone": "Time zone",
    "email_digest": "Digest",
    "email_content": "Include the notification's text in emails",
    "muted_until": "Do not disturb",
    "budget": "Limits",
    "push_per_hour": "Pushes per hour",
    "email_per_hour": "Emails per hour",
}
QUIET_PART_FIELDS = {"enabled": "quiet_enabled", "start": "quiet_start", "end": "quiet_end", "timezone": "timezone"}
# Where the summary's link for a field's error goes: the control itself, or the first control of a group.
FIELD_ANCHORS = {"channels": "matrix-title", "quiet_hours": "quiet_start", "email_digest": "digest-off"}
# The controls an error describes (aria-describedby), when it is not about one control of the same name.
ERROR_TARGETS = {"quiet_hours": ("quiet_enabled", "quiet_start", "quiet_end"), "channels": ("matrix",)}


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
        # Only the boxes the form sent: a form without them (an older page) leaves the limits as they are.
        "budget": {key: _limit_field(post[key]) for key in services.BUDGET_FIELDS if key in post},
    }


def _limit_field(value: str) -> Any:
    """A budget box: empty is "no limit"; digits are the number; anything else goes to the service as typed, which
    refuses it with the field's label."""
    value = value.strip()
    if not value:
        return None
    return int(value) if value.isascii() and value.isdigit() and len(value) < 6 else value


def _error_text(field: str, message: str) -> str:
    label = FIELD_LABELS.get(field, field)
    if message.startswith(label) or (field == "quiet_hours" and message.startswith("Quiet hours")):
        return message
    return f"{label}: {message[:1].lower()}{message[1:]}"


def page_errors(exc: ValidationError) -> list[dict[str, str]]:
    """The service's errors as the page shows them: [{field, anchor, text}] with the field's label, never the
    document's key ("Time zone: unknown time zone.", not "timezone: unknown time zone.")."""
    by_key = exc.error_dict if hasattr(exc, "error_dict") else {"__all__": exc.error_list}
    shown = []
    for key, errors in by_key.items():
        for error in errors:
            field = key
            if key == "quiet_hours" and error.code in QUIET_PART_FIELDS:
                field = QUIET_PART_FIELDS[error.code]
                text = str(error.message) % {**(error.params or {}), "part": FIELD_LABELS[field]}
            elif key == "budget" and error.code in services.BUDGET_FIELDS:
                field = str(error.code)
                text = str(error.message) % {**(error.params or {}), "part": FIELD_LABELS[field]}
            else:
                message = str(error.message)
                text = _error_text(key, message % error.params if error.params else message)
            shown.append({"field": field, "anchor": FIELD_ANCHORS.get(field, field), "text": text})
    return shown


def _local(value: datetime | None, zone_name: str) -> datetime | None:
    if value is None:
        return None
    return timezone.localtime(value, zone_or_utc(zone_name))


def dnd_until_label(until: datetime, zone_name: str) -> str:
    """ "Fri 13:09 (Asia/Tokyo)": the one rendering of a do-not-disturb end, for the card and the flash alike.
    Formatted here because the template's date filter would convert it back to the active (server) zone."""
    local = _local(until, zone_name) or until
    return f"{local:%a %H:%M} ({zone_name})"


def dnd_status(until: datetime | None, zone_name: str) -> str:
    if until is None or until <= timezone.now():
        return DND_OFF
    return f"On until {dnd_until_label(until, zone_name)}. Urgent notifications still come through."


def _matrix_rows(request: AuthedRequest, categories: list[Category]) -> list[dict[str, Any]]:
    """The channel matrix: after a refused POST, the switches as the user left them, else as stored."""
    matrix = selectors.channel_matrix(user=request.user, categories=categories)
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
    return rows


def _shown_values(
    request: AuthedRequest, categories: list[Category], settings: UserSettings
) -> tuple[dict[str, Any], str, bool]:
    """Quiet hours, digest and content as shown: what the user typed next to the errors, else the stored values."""
    if request.method == "POST":
        form = _form_document(request, categories)
        return form["quiet_hours"], form["email_digest"], form["email_content"]
    quiet = {
        "enabled": settings.quiet_hours_enabled,
        "start": settings.quiet_start.strftime("%H:%M") if settings.quiet_start else "",
        "end": settings.quiet_end.strftime("%H:%M") if settings.quiet_end else "",
        "timezone": settings.timezone,
    }
    return quiet, settings.email_digest, settings.email_content


@login_required
def preferences_page(request: AuthedRequest) -> HttpResponse:
    user = request.user
    categories = list(Category.objects.order_by("slug"))
    errors: list[dict[str, str]] = []
    status = 200
    if request.method == "POST":
        document = _form_document(request, categories)
        try:
            services.preferences_update(user=user, **document)
        except ValidationError as exc:
            errors = page_errors(exc)
            status = 400
        else:
            messages.success(request, "Preferences saved.")
            return redirect("preferences")

    rows = _matrix_rows(request, categories)
    settings = selectors.user_settings_get(user=user)
    saved = UserSettings.objects.filter(pk=user.pk).exists()
    quiet, email_digest, email_content = _shown_values(request, categories, settings)
    if request.method == "POST":
        budget = {key: request.POST.get(key, "") for key in services.BUDGET_FIELDS}
    else:
        budget = {key: getattr(settings, key) for key in services.BUDGET_FIELDS}
    field_errors: dict[str, list[str]] = {}
    described: dict[str, str] = {}
    for error in errors:
        if error["field"] not in field_errors:
            for target in ERROR_TARGETS.get(error["field"], (error["field"],)):
                described[target] = f"{described.get(target, '')} error-{error['field']}".strip()
        field_errors.setdefault(error["field"], []).append(error["text"])
    shown_dnd = dnd_status(settings.muted_until, settings.timezone)
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
            "dnd_status": shown_dnd,
            "dnd_on": shown_dnd != DND_OFF,
            "dnd_choices": DND_CHOICES,
            "devices": selectors.device_list(user=user),
            "budget_rows": [
                {
                    "key": key,
                    "label": FIELD_LABELS[key],
                    "value": budget[key],
                    "errors": field_errors.get(key, []),
                    "described": described.get(key, ""),
                }
                for key in services.BUDGET_FIELDS
            ],
            "mutes": [_mute_row(m, settings.timezone) for m in selectors.group_mute_list(user=user, at=timezone.now())],
            "errors": errors,
            "field_errors": field_errors,
            "described": described,
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
        zone = zone_or_utc(zone_name)
        tomorrow = timezone.localtime(now, zone).date() + timedelta(days=1)
        return datetime.combine(tomorrow, MORNING, tzinfo=zone)
    return None


@login_required
@require_POST
def do_not_disturb(request: AuthedRequest) -> HttpResponse:
    choice = request.POST.get("dnd", "")
    if choice not in dict(DND_CHOICES):
        if wants_json(request):
            return JsonResponse({"dnd": ["Unknown do-not-disturb choice."]}, status=400)
        return HttpResponse("Unknown do-not-disturb choice.", status=400, content_type="text/plain")
    settings = selectors.user_settings_get(user=request.user)
    until = _dnd_until(choice, settings.timezone)
    services.preferences_update(user=request.user, muted_until=until)
    if until is None:
        message = "Do not disturb is off."
    else:
        message = f"Do not disturb until {dnd_until_label(until, settings.timezone)}. Urgent still comes."
    if wants_json(request):
        # preferences.js: the page stays as it is, unsaved edits in the other form included.
        return JsonResponse(
            {
                "muted_until": until.isoformat() if until else None,
                "status": dnd_status(until, settings.timezone),
                "message": message,
            }
        )
    messages.success(request, message)
    return redirect("preferences")


@login_required
@require_POST
def device_remove(request: AuthedRequest, kind: str, pk: int) -> HttpResponse:
    if not services.device_remove(user=request.user, kind=kind, device_id=pk):
        raise Http404
    messages.success(request, "Device removed.")
    return redirect("preferences")


def _mute_row(mute: Any, zone_name: str) -> dict[str, Any]:
    until = f"until {dnd_until_label(mute.until, zone_name)}" if mute.until else "forever"
    return {"id": mute.pk, "group_key": mute.group_key, "category": mute.category, "until": until}


@login_required
@require_POST
def mute_remove(request: AuthedRequest, pk: int) -> HttpResponse:
    """Unmute from the preferences page. Another user's mute: 404, like a missing one."""
    if not services.group_mute_delete(user=request.user, mute_id=pk):
        raise Http404
    messages.success(request, "Unmuted.")
    return redirect("preferences")
