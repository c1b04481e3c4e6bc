"""The garbage collector's settings for every long-lived process of the project: web processes, Celery workers, and
any producer process that sends through the services at a high rate (bench/realtime's sender is one)."""

import gc


def heap_settle() -> None:
    """Freeze what start-up loaded and make full collections rare. Call once, after start-up, before serving.

    Everything loaded by then (Django, the URLconf, the apps: ~150,000 objects) lives as long as the process. Frozen,
    the collector stops re-scanning it: a full collection under load went from ~100 ms, every request of the process
    stalled behind it, to ~20 ms, and a request's CPU fell ~10 % (docs/performance.md). A producer process sending
    1,000 notifications/s stalled ~60 ms per full collection, every few seconds, without it (S1's p99).
    Each socket keeps ~1,000 container objects alive, so a reconnect storm grows the heap by millions of objects in
    seconds; at the default thresholds (700, 10, 10) the collector re-scanned that growing heap over and over (a
    3,000-socket storm: 8 full collections, several seconds of the process's ~16 s of CPU). Young garbage is still
    collected every 20,000 allocations; full collections become rare (docs/performance.md, S11).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
