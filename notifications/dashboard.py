"""The staff dashboard's reads: what was sent, what happened to its email and push, how fast it was read.

Each is one aggregate query over a bounded range of an index, so the page stays cheap on a table of 10 M rows:
sends from the content table (one row per send, indexed by created_at), the funnel from deliveries created in the
window (delivery_created_idx), read rate and time-to-read from the latest SAMPLE notifications of the window (by
content id, newest first), the slowest deliveries among the latest SAMPLE sent ones.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Trunc

from .delivery.webhooks import url_origin
from .models import Content, Delivery, DeliveryStatus, Notification, WebhookEndpoint

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
SAMPLE = 10_000
SLOWEST = 10


@dataclass
class SendsByHour:
    hours: list[datetime]
    sends: list[int]  # contents created per hour
    notifications: list[int]  # rows written per hour (recipients)
    by_category: dict[str, int] = field(default_factory=dict)  # sends per category slug over the window


def dashboard_sends(*, since: datetime, now: datetime) -> SendsByHour:
    rows = (
        Content.objects.filter(created_at__gte=since, created_at__lt=now)
        .annotate(hour=Trunc("created_at", "hour", tzinfo=UTC))
        .values("hour", "category__slug")
        .annotate(sends=Count("id"), rows=Sum("recipient_count"))
        .order_by()
    )
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while start < now:
        hours.append(start)
        start += timedelta(hours=1)
    sends = dict.fromkeys(hours, 0)
    notifications = dict.fromkeys(hours, 0)
    by_category: dict[str, int] = {}
    for row in rows:
        hour = row["hour"]
        sends[hour] = sends.get(hour, 0) + row["sends"]
        notifications[hour] = notifications.get(hour, 0) + (row["rows"] or 0)
        by_category[row["category__slug"]] = by_category.get(row["category__slug"], 0) + row["sends"]
    return SendsByHour(
        hours=hours,
        sends=[sends[h] for h in hours],
        notifications=[notifications[h] for h in hours],
        by_category=dict(sorted(by_category.items(), key=lambda item: (-item[1], item[0]))),
    )


def dashboard_funnel(*, since: datetime) -> dict[str, dict[str, int]]:
    """channel -> {"planned": n, "sent": n, "pending": n, "failed": n, "dead": n, "skipped:<reason>": n}."""
    rows = (
        Delivery.objects.filter(created_at__gte=since)
        .values("channel", "status", "skip_reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    funnel: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = funnel.setdefault(row["channel"], {"planned": 0})
        counts["planned"] += row["n"]
        status = row["status"]
        if status == DeliveryStatus.SENDING:
            status = DeliveryStatus.PENDING
        key = f"skipped:{row['skip_reason'] or 'unknown'}" if status == DeliveryStatus.SKIPPED else status
        counts[key] = counts.get(key, 0) + row["n"]
    return dict(sorted(funnel.items()))


@dataclass
class ReadStats:
    category: str
    notifications: int
    read: int
    median_seconds_to_read: float | None

    @property
    def read_rate(self) -> float:
        return self.read / self.notifications if self.notifications else 0.0


def dashboard_reads(*, since: datetime) -> list[ReadStats]:
    """Per category, over the latest SAMPLE notifications of the window: how many were read, and how fast.

    The window is found on the content table (its created_at index; content ids grow with time), then the rows are
    read by content id (an index every notification has) newest first: no index on the notification table's
    created_at is needed, and what is read stays bounded by the window and SAMPLE."""
    first = Content.objects.filter(created_at__gte=since).order_by("created_at").values_list("id", flat=True)[:1]
    sample = list(
        # Rows of muted groups are written read at once: they would pass for instant reads.
        Notification.objects.filter(content_id__gte=first, created_at__gte=since, muted=False)
        .order_by("-content_id")
        .values_list("category__slug", "created_at", "read_at")[:SAMPLE]
    )
    per: dict[str, list[Any]] = {}
    for slug, created, read in sample:
        per.setdefault(slug, []).append(None if read is None else max(0.0, (read - created).total_seconds()))
    stats = []
    for slug, delays in sorted(per.items()):
        done = [d for d in delays if d is not None]
        stats.append(ReadStats(slug, len(delays), len(done), median(done) if done else None))
    return stats


def dashboard_slowest(*, since: datetime) -> list[dict[str, Any]]:
    """The SLOWEST sent deliveries (due -> sent) among the latest SAMPLE sent in the window."""
    recent = (
        Delivery.objects.filter(created_at__gte=since, status=DeliveryStatus.SENT, sent_at__isnull=False)
        .order_by("-created_at")
        .values("id", "channel", "due_at", "sent_at", "attempts")[:SAMPLE]
    )
    rows: list[dict[str, Any]] = [dict(row) for row in recent]
    for row in rows:
        row["seconds"] = max(0.0, (row["sent_at"] - row["due_at"]).total_seconds())
    rows.sort(key=lambda row: -float(row["seconds"]))
    return rows[:SLOWEST]


def dashboard_failing(*, limit: int = 20) -> list[dict[str, Any]]:
    """Targets failing now: deliveries waiting for a retry (on the dispatcher's partial index), per delivery channel
    and target (a device id; email goes to the account's address), with how many and one of their errors."""
    rows = (
        Delivery.objects.filter(status=DeliveryStatus.FAILED, due_at__isnull=False)
        .values("channel", "target")
        .annotate(n=Count("id"), error=Max("last_error"))
        .order_by("-n", "channel", "target")[:limit]
    )
    return [{**row, "target": f"device {row['target']}" if row["target"] else "account email"} for row in rows]


def dashboard_webhooks_failing(*, limit: int = 20) -> list[dict[str, Any]]:
    """Webhook endpoints failing now (failed posts in a row) or disabled after sustained failure, longest failing
    first. Only scheme and host are shown: a URL's path can hold the receiver's own token."""
    rows = WebhookEndpoint.objects.filter(Q(consecutive_failures__gt=0) | Q(active=False, disabled_at__isnull=False))
    rows = rows.select_related("producer").order_by("failing_since", "pk")[:limit]
    return [
        {
            "origin": url_origin(e.url),
            "producer": e.producer.get_username(),
            "failures": e.consecutive_failures,
            "since": e.failing_since,
            "state": "disabled" if not e.active else "failing",
            "reason": e.disabled_reason,
        }
        for e in rows
    ]
