"""The delivery policy (docs/architecture.md): when, if at all, a notification goes out by push and by email.

Pure functions of (now, priority, category, the user's settings): the planner uses them when a notification is sent
and the state machine uses them again right before sending, because settings may have changed in between.
"""

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings as django_settings

from preferences.models import DigestCadence, UserSettings
from preferences.zones import zone_or_utc

from ..models import Category, Priority


@dataclass(frozen=True)
class Plan:
    """Due times per external delivery channel kind; None = not sent that way."""

    push_due: datetime | None
    email_due: datetime | None
    email_digest: bool = False


def _local_at(day: date, at: time, tz: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def quiet_hours_end(at: datetime, user_settings: UserSettings) -> datetime | None:
    """If `at` falls in the user's quiet hours (in their time zone, possibly across midnight): when they end."""
    start, end = user_settings.quiet_start, user_settings.quiet_end
    # Equal ends hold nothing back. Writes refuse them (preferences.services.quiet_times_check); a row stored before
    # that still plans as "no quiet hours" rather than as a whole day.
    if not user_settings.quiet_hours_enabled or start is None or end is None or start == end:
        return None
    tz = zone_or_utc(user_settings.timezone)
    local = at.astimezone(tz)
    now_t = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= now_t < end
        end_day = local.date()
    else:  # across midnight, e.g. 22:00-07:00
        inside = now_t >= start or now_t < end
        end_day = local.date() if now_t < end else local.date() + timedelta(days=1)
    if not inside:
        return None
    return _local_at(end_day, end, tz)


def quiet_until(at: datetime, priority: str, user_settings: UserSettings) -> datetime | None:
    """When a non-urgent delivery due at `at` may go out instead, if do-not-disturb or quiet hours hold it back."""
    if priority == Priority.URGENT:
        return None
    due = at
    for _ in range(4):  # DND may end inside quiet hours and the other way round
        moved = False
        if user_settings.muted_until is not None and due < user_settings.muted_until:
            due, moved = user_settings.muted_until, True
        end = quiet_hours_end(due, user_settings)
        if end is not None:
            due, moved = end, True
        if not moved:
            break
    return due if due != at else None


def digest_slot(now: datetime, user_settings: UserSettings) -> datetime:
    """The next digest email of the user: the next full hour, or the next digest hour in their time zone."""
    if user_settings.email_digest == DigestCadence.HOURLY:
        return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    tz = zone_or_utc(user_settings.timezone)
    local = now.astimezone(tz)
    at = time(django_settings.DELIVERY_DIGEST_HOUR)
    slot = _local_at(local.date(), at, tz)
    if slot <= now:
        slot = _local_at(local.date() + timedelta(days=1), at, tz)
    return slot


def delivery_plan(*, now: datetime, priority: str, category: Category, user_settings: UserSettings) -> Plan:
    """The policy table: urgent now; high push now, email on escalation; normal push on escalation, email by digest
    or escalation; low digest only. Quiet hours and do-not-disturb defer everything but urgent."""
    if priority == Priority.URGENT:
        return Plan(push_due=now, email_due=now)
    escalated = now + timedelta(seconds=category.escalate_after)
    digest = user_settings.email_digest != DigestCadence.OFF and category.digestible
    push_due: datetime | None
    email_due: datetime | None
    if priority == Priority.HIGH:
        push_due, email_due = now, escalated
    elif priority == Priority.NORMAL:
        push_due = escalated
        email_due = digest_slot(now, user_settings) if digest else escalated
    else:
        push_due = None
        email_due = digest_slot(now, user_settings) if digest else None
    if push_due is not None:
        push_due = quiet_until(push_due, priority, user_settings) or push_due
    if email_due is not None:
        email_due = quiet_until(email_due, priority, user_settings) or email_due
    return Plan(push_due=push_due, email_due=email_due, email_digest=digest and email_due is not None)
