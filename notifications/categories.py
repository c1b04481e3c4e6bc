"""Per-process cache of the categories: every send needs its category, and categories change only when staff edit them.

A change clears this process's copy at once and, after commit, tells every other process through Redis pub/sub
(`categories_changed`); the model's save/delete hooks call it, so admin, shell and migrations all invalidate. A copy
also expires after CATEGORY_CACHE_SECONDS, in case a message was lost while Redis was down, and a slug the copy does
not know is looked up once (a category created a moment ago in another process).

Cached instances are shared by every thread of the process: read them, never modify them.
"""

import logging
import threading
import time
from typing import Any

import redis
from django.conf import settings
from django.db import transaction

from .models import Category

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_by_slug: dict[str, Category] | None = None
_loaded_at = 0.0
_listener_started = False


def _channel() -> str:
    return f"{settings.REDIS_PREFIX}:categories.changed"


def categories_by_slug() -> dict[str, Category]:
    """Every category, by slug, from this process's copy (loaded with one query when missing or expired)."""
    global _by_slug, _loaded_at
    current = _by_slug
    if current is not None and time.monotonic() - _loaded_at < settings.CATEGORY_CACHE_SECONDS:
        return current
    _listener_start()
    loaded = {c.slug: c for c in Category.objects.all()}
    with _lock:
        _by_slug, _loaded_at = loaded, time.monotonic()
    return loaded


def category_get(slug: str) -> Category | None:
    category = categories_by_slug().get(slug)
    if category is None and Category.objects.filter(slug=slug).exists():
        categories_cache_clear()  # created since this copy was loaded
        category = categories_by_slug().get(slug)
    return category


def categories_cache_clear() -> None:
    """Forget this process's copy (the next send loads it again)."""
    global _by_slug
    with _lock:
        _by_slug = None


def categories_changed() -> None:
    """A category was created, changed or deleted: every process forgets its copy (this one at once and after
    commit, the others when the commit is announced)."""
    categories_cache_clear()
    transaction.on_commit(_announce)


def on_category_edited(sender: Any, **kwargs: Any) -> None:
    categories_changed()


def _announce() -> None:
    categories_cache_clear()
    if not settings.REDIS_URL:
        return  # one process: nobody else to tell
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).publish(_channel(), b"1")
    except redis.RedisError as exc:
        logger.warning(
            "could not announce a category change (%s); other processes reload within %ss",
            exc,
            settings.CATEGORY_CACHE_SECONDS,
        )


def _listener_start() -> None:
    """Production only: one daemon thread per process waits for change announcements."""
    global _listener_started
    if _listener_started or not settings.REDIS_URL:
        return
    with _lock:
        if _listener_started:
            return
        _listener_started = True
    threading.Thread(target=_listen, args=(settings.REDIS_URL, _channel()), name="categories", daemon=True).start()


def _listen(url: str, channel: str) -> None:
    delay = 0.5
    while True:
        try:
            pubsub: Any = redis.Redis.from_url(url, health_check_interval=30).pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(channel)
            categories_cache_clear()  # announcements may have been missed while not subscribed
            delay = 0.5
            for message in pubsub.listen():
                if message.get("type") == "message":
                    categories_cache_clear()
        except Exception as exc:  # Redis down or restarting: retry, the TTL bounds staleness meanwhile
            logger.info("category change listener reconnecting (%s)", exc)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
