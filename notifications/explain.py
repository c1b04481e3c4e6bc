"""The "why did I get this?" of a notification, explained to its recipient from stored facts only.

What let it through (the category and the user's channel settings as they are now, and whether each is the user's
own choice, the category default or a mandatory category), who sent it (producer and actor, as the payload already
shows them), and what happened to its email and push (the Delivery rows: status, when due, why held back, sent
when, skipped why). Planning runs off the send path, so a fresh notification may still say `planning: pending`.

Why a delivery was held is mostly not stored; it is read back from the due time: the digest flag, the category's
escalation delay, or a later time that the user's do-not-disturb or quiet hours explain (checked against the
settings as they are now; `deferred` when they no longer do). The fatigue budget is the exception: planning stores
it (`Delivery.held_by = "budget"`, and a push past it is skipped with reason `budget`), since a digest due time
cannot tell "your digest cadence" from "past your budget". A notification of a muted group says `muted` (stored on
the row); `mute` is the mute that covers its group now, if any.
"""

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from preferences.models import Preference, UserSettings
from preferences.selectors import (
    MANDATORY_CHANNELS,
    channel_enabled,
    group_mute_doc,
    group_mute_find,
    user_settings_get,
)

from .delivery.policy import quiet_hours_end
from .models import Category, ChannelKind, Delivery, DeliveryPlanPending, Notification

# Two due times closer than this are the same instant (planning takes a moment after the send).
_SAME_INSTANT = timedelta(seconds=5)


def _channel_reasons(user: AbstractBaseUser, category: Category) -> dict[str, dict[str, Any]]:
    explicit = dict(Preference.objects.filter(user_id=user.pk, category=category).values_list("channel", "enabled"))
    out: dict[str, dict[str, Any]] = {}
    for channel in ChannelKind.values:
        choice = explicit.get(channel)
        if category.mandatory and channel in MANDATORY_CHANNELS:
            source = "mandatory"
        elif choice is not None:
            source = "your_setting"
        else:
            source = "category_default"
        out[channel] = {
            "enabled": channel_enabled(category=category, channel=channel, explicit=choice),
            "source": source,
        }
    return out


def _near(a: datetime, b: datetime | None) -> bool:
    return b is not None and abs(a - b) <= _SAME_INSTANT


def held_by(delivery: Delivery, *, sent_at: datetime, category: Category, settings: UserSettings) -> str | None:
    """Why the delivery was due later than its notification: budget (stored by planning), digest, escalation,
    do_not_disturb, quiet_hours, deferred (by settings that have changed since); None when it was due at once."""
    if delivery.held_by:
        return delivery.held_by
    if delivery.digest:
        return "digest"
    if _near(delivery.due_at, sent_at) or delivery.due_at < sent_at:
        return None
    escalated = sent_at + timedelta(seconds=category.escalate_after)
    if _near(delivery.due_at, escalated):
        return "escalation"
    if _near(delivery.due_at, settings.muted_until):
        return "do_not_disturb"
    for start in (sent_at, escalated):
        if _near(delivery.due_at, quiet_hours_end(start, settings)):
            return "quiet_hours"
    return "deferred"


def _planning(notification: Notification) -> str:
    waiting = DeliveryPlanPending.objects.filter(
        content_id=notification.content_id,
        recipient_min__lte=notification.recipient_id,
        recipient_max__gte=notification.recipient_id,
    ).exists()
    return "pending" if waiting else "done"


def notification_explain(*, user: AbstractBaseUser, notification: Notification) -> dict[str, Any]:
    """The explanation of one of the user's own notifications (the caller has checked ownership)."""
    content, category = notification.content, notification.category
    settings = user_settings_get(user=user)
    deliveries = Delivery.objects.filter(notification=notification).order_by("due_at", "pk")
    mute = group_mute_find(
        user=user, group_key=content.group_key, category_id=notification.category_id, at=timezone.now()
    )
    return {
        "id": str(notification.uuid),
        "category": {
            "slug": category.slug,
            "label": category.label,
            "mandatory": category.mandatory,
            "private": category.is_private,
        },
        "priority": content.priority,
        "sender": {"producer": content.producer, "actor": content.actor_id},
        "channels": _channel_reasons(user, category),
        "planning": _planning(notification),
        "group_key": content.group_key,
        "muted": notification.muted,
        "mute": group_mute_doc(mute) if mute is not None else None,
        "deliveries": [
            {
                "channel": d.channel,
                "status": d.status,
                "due_at": d.due_at.isoformat(),
                "held_by": held_by(d, sent_at=notification.created_at, category=category, settings=settings),
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
                "skip_reason": d.skip_reason or None,
                "attempts": d.attempts,
            }
            for d in deliveries
        ],
    }
