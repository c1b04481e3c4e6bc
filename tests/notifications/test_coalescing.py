"""The Coalescer: lookups asked at the same time share one fetch; callers that left are not fetched for."""

import asyncio
import threading

import pytest

from notifications.coalescing import Coalescer
from tests.notifications.realtime_helpers import async_test


class Recorder:
    """A fetch_many that records its batches and can be held (to let callers queue behind a running batch)."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.release.set()
        self.fail_on = fail_on

    def __call__(self, keys: list[str]) -> dict[str, str]:
        self.batches.append(list(keys))
        self.release.wait(5)
        if self.fail_on in keys:
            raise RuntimeError("the store is away")
        return {k: k.upper() for k in keys if not k.startswith("missing")}


async def _until(condition) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


@async_test
async def test_callers_that_ask_together_share_one_fetch():
    fetch = Recorder()
    coalescer = Coalescer(fetch, inflight=1)
    fetch.release.clear()
    first = asyncio.ensure_future(coalescer.get("a"))
    await _until(lambda: fetch.batches)  # the first batch (of one) runs at once: no added latency when idle
    rest = [asyncio.ensure_future(coalescer.get(k)) for k in ("b", "c", "b", "missing-d")]
    await asyncio.sleep(0.05)
    fetch.release.set()
    assert await first == "A"
    assert await asyncio.gather(*rest) == ["B", "C", "B", None]
    assert fetch.batches == [["a"], ["b", "c", "missing-d"]]  # "b" asked twice, fetched once


@async_test
async def test_a_batch_holds_at_most_max_batch_keys():
    fetch = Recorder()
    coalescer = Coalescer(fetch, max_batch=2, inflight=1)
    fetch.release.clear()
    calls = [asyncio.ensure_future(coalescer.get(k)) for k in ("a", "b", "c", "d", "e")]
    await asyncio.sleep(0.05)
    fetch.release.set()
    assert await asyncio.gather(*calls) == ["A", "B", "C", "D", "E"]
    assert fetch.batches == [["a", "b"], ["c", "d"], ["e"]]


@async_test
async def test_callers_that_went_away_are_not_fetched_for():
    fetch = Recorder()
    coalescer = Coalescer(fetch, inflight=1)
    fetch.release.clear()
    running = asyncio.ensure_future(coalescer.get("a"))
    await _until(lambda: fetch.batches)
    gone = asyncio.ensure_future(coalescer.get("gone"))
    staying = asyncio.ensure_future(coalescer.get("b"))
    await asyncio.sleep(0.01)
    gone.cancel()  # the client closed its socket while waiting
    fetch.release.set()
    assert (await running, await staying) == ("A", "B")
    assert fetch.batches == [["a"], ["b"]]
    with pytest.raises(asyncio.CancelledError):
        await gone


@async_test
async def test_a_failed_fetch_fails_only_its_own_batch():
    fetch = Recorder(fail_on="bad")
    coalescer = Coalescer(fetch, inflight=1)
    fetch.release.clear()
    failing = asyncio.ensure_future(coalescer.get("bad"))
    await _until(lambda: fetch.batches)
    later = asyncio.ensure_future(coalescer.get("b"))
    await asyncio.sleep(0.01)
    fetch.release.set()
    with pytest.raises(RuntimeError, match="the store is away"):
        await failing
    assert await later == "B"  # the next batch is tried afresh
    assert fetch.batches == [["bad"], ["b"]]


def test_a_coalescer_works_again_on_a_new_event_loop():
    fetch = Recorder()
    coalescer = Coalescer(fetch)
    assert asyncio.run(coalescer.get("a")) == "A"
    assert asyncio.run(coalescer.get("b")) == "B"  # no state left over from the first loop
    assert fetch.batches == [["a"], ["b"]]
