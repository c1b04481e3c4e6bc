"""Concurrent lookups of the same kind gathered into one thread hop and one round trip.

A reconnect storm brings hundreds of handshakes into a web process within milliseconds, each needing its session
(a cache read) and its user with the numbers of `hello` (a database query). Done one by one, each pays a thread-pool
hop, a round trip and the per-call overhead of the client libraries: most of a handshake's CPU (docs/performance.md,
S11). A Coalescer answers every caller that asked while the previous batch was running with one call of a
`fetch_many` function: an idle process sends a batch of one at once (no added latency), a storm makes batches grow by
themselves. Callers that went away (cancelled: the client closed its socket) are dropped from the batch before it
runs, so a storm spends nothing on them.
"""

import asyncio
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from channels.db import database_sync_to_async

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """`await get(key)` -> `fetch_many(keys)[key]` (None when absent). `fetch_many` runs in the thread pool (it may
    use the ORM); at most `inflight` batches run at once, each of at most `max_batch` keys. If `fetch_many` raises,
    every caller of that batch gets the exception; the next batch is tried afresh."""

    def __init__(self, fetch_many: Callable[[list[K]], dict[K, V]], *, max_batch: int = 200, inflight: int = 2):
        self._fetch = database_sync_to_async(fetch_many, thread_sensitive=False)
        self.max_batch = max_batch
        self.inflight = inflight
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[K, list[asyncio.Future[V | None]]] = {}
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # state belongs to one event loop (tests start a new loop per test)
            self._loop, self._pending, self._running = loop, {}, 0
        future: asyncio.Future[V | None] = loop.create_future()
        self._pending.setdefault(key, []).append(future)
        if self._running < self.inflight:
            self._running += 1
            task = loop.create_task(self._drain(loop))
            self._tasks.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._tasks.discard)
        return await future

    def _take(self) -> dict[K, list[asyncio.Future[V | None]]]:
        batch: dict[K, list[asyncio.Future[V | None]]] = {}
        while self._pending and len(batch) < self.max_batch:
            key = next(iter(self._pending))
            waiters = [f for f in self._pending.pop(key) if not f.done()]  # done = cancelled: the caller left
            if waiters:
                batch[key] = waiters
        return batch

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self._loop is loop and (batch := self._take()):
                try:
                    found = await self._fetch(list(batch))
                except Exception as exc:
                    for waiters in batch.values():
                        for future in waiters:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for key, waiters in batch.items():
                    for future in waiters:
                        if not future.done():
                            future.set_result(found.get(key))
        finally:
            if self._loop is loop:
                self._running -= 1
