"""Prometheus metrics (prometheus-client), served at /metrics to staff or with the METRICS_TOKEN bearer token.

With PROMETHEUS_MULTIPROC_DIR set (several web and worker processes), every process writes its samples to files in
that directory and /metrics aggregates them. The directory must exist and be emptied when the service (re)starts.
Other modules report through the small functions below, never through the metric objects.
"""

import os
import time
from datetime import datetime

from django.db import transaction
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

NOTIFICATIONS_SENT = Counter(
    "notifications_sent",
    "Notifications stored (one per recipient), by category and priority.",
    ["category", "priority"],
)
DELIVERIES = Counter(
    "notification_deliveries", "External deliveries finished, by delivery channel and status.", ["channel", "status"]
)
WEBSOCKET_CONNECTIONS = Gauge("websocket_connections_open", "Open WebSocket connections.", multiprocess_mode="livesum")
PUBLISH_LATENCY = Histogram(
    "notification_publish_latency_seconds",
    "From the send (content created) to the realtime publish after commit.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def notifications_sent_on_commit(*, category: str, priority: str, count: int, created_at: datetime | None) -> None:
    """Count a send once it is committed (a rolled-back send was never sent), and time send -> publish.

    Registered after the realtime publish of the same send, so it runs right after that publish.
    """

    def observe() -> None:
        NOTIFICATIONS_SENT.labels(category=category, priority=priority).inc(count)
        if created_at is not None:
            PUBLISH_LATENCY.observe(max(0.0, time.time() - created_at.timestamp()))

    transaction.on_commit(observe)


def delivery_observe(*, channel: str, status: str, count: int = 1) -> None:
    """For the delivery workers: one email/push reached a final or retry state."""
    DELIVERIES.labels(channel=channel, status=status).inc(count)


def websocket_connected() -> None:
    WEBSOCKET_CONNECTIONS.inc()


def websocket_disconnected() -> None:
    WEBSOCKET_CONNECTIONS.dec()


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics_render() -> tuple[bytes, str]:
    """The exposition text; aggregated over every process in multiprocess mode."""
    return generate_latest(_registry()), CONTENT_TYPE_LATEST


def metrics_snapshot() -> dict[str, float | None]:
    """For the staff dashboard: open WebSocket connections, and how many publishes were timed with the bucket
    bounds their median and p99 fall in (seconds; None before the first). Every process in multiprocess mode,
    else this process only."""
    connections = 0.0
    buckets: list[tuple[float, float]] = []
    count = 0.0
    for metric in _registry().collect():
        for sample in metric.samples:
            if sample.name == "websocket_connections_open":
                connections += sample.value
            elif sample.name == "notification_publish_latency_seconds_bucket":
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name == "notification_publish_latency_seconds_count":
                count += sample.value
    totals: dict[float, float] = {}
    for bound, value in buckets:
        totals[bound] = totals.get(bound, 0.0) + value

    def quantile(q: float) -> float | None:
        if not count:
            return None
        return next((bound for bound, total in sorted(totals.items()) if total >= q * count), None)

    return {
        "websocket_connections": connections,
        "publishes": count,
        "publish_p50": quantile(0.5),
        "publish_p99": quantile(0.99),
    }
