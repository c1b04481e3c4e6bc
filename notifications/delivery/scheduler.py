"""Embedded mode (no REDIS_URL): the web process runs the periodic tasks itself, in one daemon thread.

Celery is eager there (tasks run in the calling thread), so the same beat schedule (CELERY_BEAT_SCHEDULE) drives
the same tasks: due deliveries (escalations, quiet-hours deferrals, digests, retries), the stuck-row sweeper,
retention and the idempotency purge. One process only: SQLite has no SKIP LOCKED and needs none here.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from .. import jobs

logger = logging.getLogger(__name__)

_started = threading.Event()


def _run_due(next_run: dict[str, float]) -> None:
    now = time.monotonic()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        if next_run.get(name, 0.0) > now:
            continue
        next_run[name] = now + float(entry["schedule"])
        jobs.enqueue(entry["task"])  # eager here: runs in this thread, failures logged, never raised


def _loop(tick: float) -> None:
    next_run: dict[str, float] = {}
    while True:
        close_old_connections()  # this thread's own connection: drop it if broken or too old, as requests do
        _run_due(next_run)
        close_old_connections()
        time.sleep(tick)


def scheduler_start() -> bool:
    """Start the scheduler thread once per process when embedded mode wants it. Returns whether it runs."""
    if settings.REDIS_URL or not settings.EMBEDDED_SCHEDULER:
        return False
    if _started.is_set():
        return True
    _started.set()
    tick = max(0.2, min(1.0, settings.DELIVERY_DISPATCH_INTERVAL))
    threading.Thread(target=_loop, args=(tick,), name="embedded-scheduler", daemon=True).start()
    logger.info("embedded scheduler started (no REDIS_URL): delayed and periodic work runs in this process")
    return True
