""" "Why did I get this?" as a page (and, for the center's script, as the fragment it shows inside the item)."""

from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from preferences.selectors import user_settings_get
from preferences.zones import zone_or_utc

from . import selectors
from .explain import notification_explain
from .models import DeliveryChannel, Notification

SOURCES = {
    "mandatory": "always on: this category is mandatory",
    "your_setting": "your setting",
    "category_default": "the category's default",
}
HELD = {
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
}


def _when(value: str | None, zone: Any) -> str:
    return f"{datetime.fromisoformat(value).astimezone(zone):%a %-d %b %H:%M}" if value else ""


def _delivery_line(d: dict[str, Any], zone: Any) -> str:
    """One delivery in words, in the user's zone: what happened, or what it waits for."""
    if d["status"] == "sent":
        return f"sent {_when(d['sent_at'], zone)}"
    if d["status"] == "skipped":
        return SKIPPED.get(d["skip_reason"] or "", "not sent")
    if d["status"] == "dead":
        return "could not be delivered"
    held = HELD.get(d["held_by"] or "")
    due = _when(d["due_at"], zone)
    return f"{held}, until {due}" if held else f"due {due}"


def explanation_context(user: Any, notification: Notification) -> dict[str, Any]:
    why = notification_explain(user=user, notification=notification)
    zone = zone_or_utc(user_settings_get(user=user).timezone)
    labels = dict(DeliveryChannel.choices)
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
            {"channel": labels.get(d["channel"], d["channel"]), "text": _delivery_line(d, zone)}
            for d in why["deliveries"]
        ],
    }


@login_required
@require_GET
def notification_why(request: Any, id: str) -> HttpResponse:
    """The explanation of one of the user's own notifications (another user's id: 404). `?fragment=1` gives only
    the part the center shows inside the item."""
    try:
        notification = selectors.notification_get(user=request.user, id=id)
    except Notification.DoesNotExist:
        raise Http404 from None
    context = explanation_context(request.user, notification)
    template = "notifications/_why.html" if request.GET.get("fragment") else "notifications/why.html"
    return render(request, template, context)
