"""The shared rate limit's leases (notifications.api.throttling): never more than the limit across processes, one
Redis round trip per lease instead of per request."""

import uuid

import pytest
import redis

from notifications.api import throttling
from notifications.api.throttling import _Leases, lease_size

DAY = 86400  # a window that never rolls over mid-test


@pytest.fixture
def prefix(settings, redis_url):
    settings.REDIS_PREFIX = f"throttle-test-{uuid.uuid4().hex[:12]}"
    yield settings.REDIS_PREFIX
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{settings.REDIS_PREFIX}:*"):
        client.delete(key)


def _counter(redis_url: str, prefix: str, key: str, index: int) -> int:
    value = redis.Redis.from_url(redis_url).get(f"{prefix}:throttle:{key}:{DAY}:{index}")
    return int(value or 0)


def _hits(leases: _Leases, prefix: str, *, key: str, limit: int, n: int) -> list[bool]:
    return [leases.hit(f"{prefix}:throttle:{key}", limit=limit, window=DAY, index=7) for _ in range(n)]


def test_lease_size():
    assert [lease_size(n) for n in (1, 3, 99, 100, 250, 799, 800, 100_000)] == [1, 1, 1, 1, 2, 7, 8, 8]


def test_a_lease_is_taken_once_and_spent_locally(prefix, redis_url):
    # given one process and a limit that leases 8 hits at a time
    leases = _Leases()
    # when it counts three hits
    assert _hits(leases, prefix, key="send:1", limit=1000, n=3) == [True, True, True]
    # then the shared counter moved once, by a whole lease
    assert _counter(redis_url, prefix, "send:1", 7) == 8


def test_never_more_than_the_limit_across_processes(prefix, redis_url):
    # given two processes sharing a budget of 1,001 (leases of 8; the last one partial)
    first, second = _Leases(), _Leases()
    # when the first takes a lease and the second spends everything it can
    assert _hits(first, prefix, key="send:2", limit=1001, n=1) == [True]
    allowed_second = sum(_hits(second, prefix, key="send:2", limit=1001, n=1100))
    # then the second got the budget minus the first's lease, and the first still spends its own lease
    assert allowed_second == 1001 - 8
    allowed_first = 1 + sum(_hits(first, prefix, key="send:2", limit=1001, n=20))
    assert allowed_first == 8
    assert allowed_first + allowed_second == 1001
    # and once refused, a process stops asking Redis for this window: the counter did not move again
    counter = _counter(redis_url, prefix, "send:2", 7)
    assert _hits(second, prefix, key="send:2", limit=1001, n=50) == [False] * 50
    assert _counter(redis_url, prefix, "send:2", 7) == counter


def test_small_limits_count_every_hit_exactly(prefix, redis_url):
    # given a limit below 100 per window (one hit per lease)
    leases = _Leases()
    assert _hits(leases, prefix, key="ticket:3", limit=5, n=7) == [True] * 5 + [False] * 2
    # then every hit, refused ones too, reached the shared counter (as before leases)
    assert _counter(redis_url, prefix, "ticket:3", 7) == 7


def test_a_new_window_starts_a_new_lease(prefix, redis_url):
    leases = _Leases()
    key = f"{prefix}:throttle:send:4"
    assert [leases.hit(key, limit=200, window=DAY, index=1) for _ in range(201)] == [True] * 200 + [False]
    assert leases.hit(key, limit=200, window=DAY, index=2) is True
    assert _counter(redis_url, prefix, "send:4", 2) == 2


def test_rate_hit_uses_the_process_leases(prefix, redis_url, monkeypatch):
    # given a fresh set of leases for this process
    monkeypatch.setattr(throttling, "_leases", _Leases())
    # when the API's limiter counts hits of a high limit
    results = [throttling.rate_hit(key="send:5", limit=1000, window=DAY)[0] for _ in range(3)]
    # then they are allowed and the shared counter holds one lease
    assert results == [True, True, True]
    index = int(throttling.time.time() // DAY)
    assert _counter(redis_url, prefix, "send:5", index) == 8


def test_threads_of_one_process_never_get_more_than_the_limit(prefix, redis_url):
    # given one process's leases shared by eight request threads, each asking far more than the budget
    from concurrent.futures import ThreadPoolExecutor

    leases = _Leases()
    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = sum(pool.map(lambda _: sum(_hits(leases, prefix, key="send:6", limit=1003, n=300)), range(8)))
    # then exactly the budget was allowed, and the shared counter never granted past it
    assert allowed == 1003
    assert _counter(redis_url, prefix, "send:6", 7) >= 1003
