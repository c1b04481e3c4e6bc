"""Per-process copies of data read on every request but changed rarely (categories, API principals), kept
consistent across web and worker processes.

A change clears this process's copy at once and, after commit, tells every other process through Redis pub/sub;
one daemon thread per process listens for those announcements. Each entry also expires after the cache's TTL, which
bounds how stale a copy can get if an announcement is lost (Redis down, a change that bypassed the hooks). In the
embedded default (no REDIS_URL) there is one process, so clearing the local copy is enough.

Cached values are shared by every thread of the process: read them, never modify them.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import redis
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

V = TypeVar("V")

_registry: dict[str, "ProcessCache[Any]"] = {}
_listener_lock = threading.Lock()
_listener_started = False
_subscribed = threading.Event()


class ProcessCache(Generic[V]):
    """A dict of values with a TTL per entry and at most `max_entries` entries, cleared everywhere by `changed()`."""

    def __init__(self, name: str, *, ttl: Callable[[], float], max_entries: int = 10_000) -> None:
        self.name = name
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[Any, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._cleared_at = 0.0
        _registry[name] = self

    def get(self, key: Any) -> V | None:
        _listener_start()
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] >= self._ttl():
            return None
        return entry[1]

    def put(self, key: Any, value: V, *, loaded_at: float) -> None:
        """Store a value loaded at `loaded_at` (time.monotonic() taken before the load), unless the cache was cleared
        since then: a load that raced a change must not bring the old value back."""
        with self._lock:
            if loaded_at < self._cleared_at:
                return
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (loaded_at, value)

    def clear(self) -> None:
        """Forget this process's copy."""
        with self._lock:
            self._entries = {}
            self._cleared_at = time.monotonic()

    def changed(self) -> None:
        """The data changed: clear this process's copy now and, once the change commits, every process's copy."""
        self.clear()
        name = self.name
        transaction.on_commit(lambda: _announce(name))


def _channel() -> str:
    return f"{settings.REDIS_PREFIX}:process-cache.changed"


def _announce(name: str) -> None:
    cache = _registry.get(name)
    if cache is not None:
        cache.clear()  # also here: a load that ran between the change and its commit read the old row
    if not settings.REDIS_URL:
        return  # one process: nobody else to tell
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).publish(_channel(), name.encode())
    except redis.RedisError as exc:
        logger.warning("could not announce a change of %s (%s); other processes reload within its TTL", name, exc)


def _clear(name: bytes | str | None) -> None:
    if name is None:
        for cache in list(_registry.values()):
            cache.clear()
        return
    named = _registry.get(name.decode() if isinstance(name, bytes) else name)
    if named is not None:
        named.clear()


def listener_wait(timeout: float = 10.0) -> bool:
    """Wait until this process listens for announcements (production); at once in the embedded default. The
    listener's start clears every copy, so a copy loaded before it is loaded again once (tests wait for it)."""
    if not settings.REDIS_URL:
        return True
    _listener_start()
    return _subscribed.wait(timeout)


def _listener_start() -> None:
    """Production only: one daemon thread per process waits for change announcements."""
    global _listener_started
    if _listener_started or not settings.REDIS_URL:
        return
    with _listener_lock:
        if _listener_started:
            return
        _listener_started = True
    thread = threading.Thread(target=_listen, args=(settings.REDIS_URL, _channel()), name="process-cache", daemon=True)
    thread.start()


def _listen(url: str, channel: str) -> None:
    delay = 0.5
    while True:
        try:
            pubsub: Any = redis.Redis.from_url(url, health_check_interval=30).pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(channel)
            _clear(None)  # announcements may have been missed while not subscribed
            _subscribed.set()
            delay = 0.5
            for message in pubsub.listen():
                if message.get("type") == "message":
                    _clear(message.get("data"))
        except Exception as exc:  # Redis down or restarting: retry, the TTL bounds staleness meanwhile
            logger.info("process cache listener reconnecting (%s)", exc)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
