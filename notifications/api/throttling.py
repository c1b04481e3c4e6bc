"""Per-sender rate limit for producers (setting NOTIFICATIONS_SEND_RATE, e.g. "6000/min"; empty = off).

Fixed windows counted atomically: with REDIS_URL a counter in Redis shared by every web process; without it the
local-memory cache (one process, the embedded default).

With Redis a process takes the budget in small leases (INCRBY n, `lease_size`) and spends them locally, so a
producer sending hundreds of requests a second costs one Redis round trip per lease, not per request (the round trip
was ~8 % of a `POST send/`'s CPU). The shared counter never grants more than the limit in a window; a lease one
process has not spent yet when the budget runs out is refused to the others, so a sender at its limit may get up to
(processes - 1) x lease_size fewer requests in that window, ~1 % of the limit per process. Limits below 100 per window
lease one hit at a time: exact.
"""

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def rate_parse(rate: str) -> tuple[int, int] | None:
    """ "<n>/<period>" -> (n, seconds); period may carry a multiplier ("100/10s"). Empty or "off": no limit."""
    rate = (rate or "").strip().lower()
    if rate in ("", "off", "none"):
        return None
    count, _, period = rate.partition("/")
    digits = "".join(ch for ch in period if ch.isdigit())
    unit = period[len(digits) :]
    if unit not in PERIODS or not count.isdigit() or int(count) < 1:
        raise ValueError(f"Bad rate {rate!r}: expected '<n>/<s|m|h|d>'.")
    return int(count), PERIODS[unit] * (int(digits) if digits else 1)


@lru_cache(maxsize=4)
def _redis(url: str) -> "redis.Redis":
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def lease_size(limit: int) -> int:
    """Hits taken from the shared counter at once: 1 below 100 per window, at most 8 (see the module docstring)."""
    return max(1, min(limit // 100, 8))


def _incr(full_key: str, amount: int, window: int) -> int:
    pipe = _redis(settings.REDIS_URL).pipeline(transaction=True)
    pipe.incrby(full_key, amount)
    pipe.expire(full_key, window + 1)
    total, _ = pipe.execute()
    return int(total)


@dataclass
class _Lease:
    index: int  # the window it was taken in
    left: int = 0  # hits taken from the shared counter and not spent yet
    exhausted: bool = False  # the window's budget is gone: refuse without asking Redis again


class _Leases:
    """This process's leases, one per key (the current window's), shared by its request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: dict[tuple[str, int, int], _Lease] = {}
        self._pid = os.getpid()

    def hit(self, key: str, *, limit: int, window: int, index: int) -> bool:
        full_key = f"{key}:{window}:{index}"
        size = lease_size(limit)
        if size == 1:
            return _incr(full_key, 1, window) <= limit
        with self._lock:
            if self._pid != os.getpid():  # a fork must not spend its parent's leases
                self._leases, self._pid = {}, os.getpid()
            lease = self._leases.get((key, limit, window))
            if lease is None or lease.index != index:
                lease = self._leases[(key, limit, window)] = _Lease(index=index)
            if lease.left > 0:
                lease.left -= 1
                return True
            if lease.exhausted:
                return False
        # The round trip outside the lock: a slow Redis must not stall every other key's requests. Threads that
        # refill at the same moment each take a lease; what they do not spend stays in `left` (or is dropped with
        # the lease when the key moves to the next window meanwhile: fewer requests, never more).
        granted = max(0, min(size, limit - (_incr(full_key, size, window) - size)))
        with self._lock:
            if granted < size:
                lease.exhausted = True
            lease.left += granted
            if lease.left == 0:
                return False
            lease.left -= 1
            return True


_leases = _Leases()


def rate_hit(*, key: str, limit: int, window: int) -> tuple[bool, float]:
    """Count one hit in the current window. Returns (allowed, seconds until the window ends)."""
    now = time.time()
    index = int(now // window)
    wait = (index + 1) * window - now
    if settings.REDIS_URL:
        return _leases.hit(f"{settings.REDIS_PREFIX}:throttle:{key}", limit=limit, window=window, index=index), wait
    full_key = f"{settings.REDIS_PREFIX}:throttle:{key}:{window}:{index}"
    cache.add(full_key, 0, timeout=window + 1)
    try:
        count = cache.incr(full_key)
    except ValueError:  # expired between add and incr
        cache.set(full_key, 1, timeout=window + 1)
        count = 1
    return int(count) <= limit, wait


class UserRateThrottle(BaseThrottle):
    """One budget per user and `scope`, from the setting named by `rate_setting`; 429 with Retry-After when spent."""

    scope = ""
    rate_setting = ""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        parsed = rate_parse(getattr(settings, self.rate_setting, ""))
        if parsed is None or not request.user or not request.user.is_authenticated:
            return True
        limit, window = parsed
        try:
            allowed, wait = rate_hit(key=f"{self.scope}:{request.user.pk}", limit=limit, window=window)
        except redis.RedisError:
            # The limiter protects the database; losing it must not turn every request into a 500.
            logger.warning("%s throttle unavailable (Redis error); letting the request through", self.scope)
            return True
        if not allowed:
            self._wait = wait
        return allowed

    def wait(self) -> float | None:
        return math.ceil(self._wait) if self._wait is not None else None


class SenderRateThrottle(UserRateThrottle):
    """One budget per sending user across all send endpoints."""

    scope, rate_setting = "send", "NOTIFICATIONS_SEND_RATE"


class WsTicketRateThrottle(UserRateThrottle):
    """Tickets are cheap to ask for and each is a database row: a client loop must not fill the table."""

    scope, rate_setting = "ws-ticket", "WS_TICKET_RATE"


class ExportRateThrottle(UserRateThrottle):
    """An export reads the user's whole history."""

    scope, rate_setting = "export", "EXPORT_RATE"
