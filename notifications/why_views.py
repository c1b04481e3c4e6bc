""" "Why did I get this?" as a page (and, for the center's script, as the fragment it shows inside the item)."""

from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from preferences.selectors import user_zone
from preferences.services import MUTE_DURATIONS, group_mute_create, group_mute_delete, preference_set

from . import selectors
from .explain import notification_explain
from .models import ChannelKind, DeliveryChannel, Notification

SOURCES = {
    "mandatory": "always on: this category is mandatory",
    "your_setting": "your setting",
    "category_default": "the category's default",
}
HELD = {
    "budget": "held back by your budget: in the digest",
    "digest": "waits for your digest",
    "escalation": "waits in case you read it first",
    "do_not_disturb": "held by do not disturb",
    "quiet_hours": "held by your quiet hours",
    "deferred": "held by a setting you have changed since",
}
SKIPPED = {
    "read": "not sent: you read it first",
    "archived": "not sent: you archived it",
    "expired": "not sent: it expired",
    "preference_off": "not sent: you turned this off",
    "user_inactive": "not sent: the account is inactive",
    "no_address": "not sent: no email address",
    "muted": "not sent: you muted this group",
    "budget": "not sent: past your budget for pushes",
}
MUTE_CHOICES = [("8h", "for 8 hours"), ("week", "for a week"), ("forever", "forever")]
CHANNEL_NAMES = {ChannelKind.IN_APP: "in-app", ChannelKind.EMAIL: "email", ChannelKind.PUSH: "push"}


def _when(value: str | None, zone: Any) -> str:
    return f"{datetime.fromisoformat(value).astimezone(zone):%a %-d %b %H:%M}" if value else ""


def _delivery_line(d: dict[str, Any], zone: Any, digest_at: str | None = None) -> str:
    """One delivery in words, in the user's zone: what happened, or what it waits for."""
    if d["status"] == "sent":
        return f"sent {_when(d['sent_at'], zone)}"
    if d["status"] == "skipped":
        if d["skip_reason"] == "budget" and digest_at:
            return f"held back by your budget: in the digest at {_when(digest_at, zone)}"
        return SKIPPED.get(d["skip_reason"] or "", "not sent")
    if d["held_by"] == "budget":
        return f"held back by your budget: in the digest at {_when(d['due_at'], zone)}"
    if d["status"] == "dead":
        return "could not be delivered"
    held = HELD.get(d["held_by"] or "")
    due = _when(d["due_at"], zone)
    return f"{held}, until {due}" if held else f"due {due}"


def explanation_context(user: Any, notification: Notification) -> dict[str, Any]:
    why = notification_explain(user=user, notification=notification)
    zone = user_zone(user=user)
    labels = dict(DeliveryChannel.choices)
    digest_at = next((d["due_at"] for d in why["deliveries"] if d["held_by"] == "budget"), None)
    mute = why["mute"]
    return {
        "n": notification,
        "why": why,
        "channels": [
            {"name": name, "enabled": c["enabled"], "source": SOURCES[c["source"]]}
            for name, c in (
                ("In-app", why["channels"]["in_app"]),
                ("Email", why["channels"]["email"]),
                ("Push", why["channels"]["push"]),
            )
        ],
        "deliveries": [
            {"channel": labels.get(d["channel"], d["channel"]), "text": _delivery_line(d, zone, digest_at)}
            for d in why["deliveries"]
        ],
        "mute_choices": MUTE_CHOICES if why["group_key"] and mute is None else [],
        "mute": mute,
        "mute_until": _when(mute["until"], zone) if mute else "",
        # "Turn this category off for a channel": the channels that are on and may be turned off.
        "channels_off": [
            {"value": channel, "name": CHANNEL_NAMES[channel]}
            for channel, c in why["channels"].items()
            if c["enabled"] and c["source"] != "mandatory"
        ],
    }


@login_required
@require_GET
def notification_why(request: Any, id: str) -> HttpResponse:
    """The explanation of one of the user's own notifications (another user's id: 404). `?fragment=1` gives only
    the part the center shows inside the item."""
    notification = _own(request, id)
    context = explanation_context(request.user, notification)
    template = "notifications/_why.html" if request.GET.get("fragment") else "notifications/why.html"
    return render(request, template, context)


def _after_change(request: Any, notification: Notification) -> HttpResponse:
    """The center's script asked for the fragment (it swaps it in place); without a script: the why page again."""
    if request.GET.get("fragment"):
        return render(request, "notifications/_why.html", explanation_context(request.user, notification))
    return redirect("notifications:why", id=notification.uuid)


def _own(request: Any, id: str) -> Notification:
    try:
        return selectors.notification_get(user=request.user, id=id)
    except Notification.DoesNotExist:
        raise Http404 from None


@login_required
@require_POST
def notification_mute(request: Any, id: str) -> HttpResponse:
    """Mute the notification's group (every category) for 8 hours, a week or forever."""
    notification = _own(request, id)
    duration = request.POST.get("duration", "")
    if not notification.content.group_key or duration not in MUTE_DURATIONS:
        return HttpResponseBadRequest("Choose 8h, week or forever for a notification that has a group.")
    group_mute_create(user=request.user, group_key=notification.content.group_key, duration=duration)
    return _after_change(request, notification)


@login_required
@require_POST
def notification_unmute(request: Any, id: str) -> HttpResponse:
    """Remove the mute that covers the notification's group (the one the "why" shows)."""
    notification = _own(request, id)
    mute = notification_explain(user=request.user, notification=notification)["mute"]
    if mute is not None:
        group_mute_delete(user=request.user, mute_id=mute["id"])
    return _after_change(request, notification)


@login_required
@require_POST
def notification_channel_off(request: Any, id: str) -> HttpResponse:
    """Turn the notification's category off for one channel (the preference service refuses mandatory ones)."""
    notification = _own(request, id)
    channel = request.POST.get("channel", "")
    if channel not in ChannelKind.values:
        return HttpResponseBadRequest("Unknown channel.")
    try:
        preference_set(user=request.user, category=notification.category.slug, channel=channel, enabled=False)
    except ValidationError as exc:
        return HttpResponseBadRequest(" ".join(exc.messages))
    return _after_change(request, notification)
