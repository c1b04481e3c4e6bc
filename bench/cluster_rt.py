"""The measuring process of the cluster scenario (bench/scenarios/cluster.py), driven over JSON lines.

It runs in the root namespace with the environment of the cluster's applications (bench/harness/cluster.py), so
its open-loop sender (bench/realtime) writes to the cluster's database and publishes to its channel-layer shards,
exactly as a web host would; its clients connect either straight to the web hosts or through `lb`.
"""

import asyncio
import os
import time
from typing import Any

import django

django.setup()

from bench.core import percentile  # noqa: E402
from bench.realtime.__main__ import Clients, phase  # noqa: E402
from bench.tickets import tickets_bulk  # noqa: E402
from bench.users import users_ensure  # noqa: E402
from bench.worker import serve  # noqa: E402

LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(LOOP)
STATE: dict[str, Any] = {"clients": None, "user_ids": []}


def users(clients: int) -> dict[str, Any]:
    STATE["user_ids"] = users_ensure(clients, prefix="cluster")
    return {"users": len(STATE["user_ids"])}


def connect(urls: list[str]) -> dict[str, Any]:
    """One socket per user, all at once, spread round robin over `urls` (the two web hosts, or lb alone)."""
    c = Clients()
    started = time.monotonic()
    LOOP.run_until_complete(c.connect(urls, tickets_bulk(STATE["user_ids"])))
    STATE["clients"] = c
    return {"connected": len(c.conns), "seconds": time.monotonic() - started}


def run_phase(mode: str, rate: float, duration: float, threads: int = 4) -> dict[str, Any]:
    c: Clients = STATE["clients"]
    r = LOOP.run_until_complete(phase(c, mode, rate, duration, STATE["user_ids"], threads, dict(os.environ)))
    lat = [x * 1000 for x in c.latencies]
    r["p999_ms"] = percentile(lat, 99.9)
    r["p99_ms"] = percentile(lat, 99)
    r["p50_ms"] = percentile(lat, 50)
    r["max_ms"] = max(lat) if lat else float("nan")
    return r


def close() -> dict[str, Any]:
    c: Clients | None = STATE["clients"]
    if c is not None:
        for reader in getattr(c, "readers", []):
            reader.cancel()
        LOOP.run_until_complete(asyncio.gather(*(conn.close() for conn in c.conns), return_exceptions=True))
    STATE["clients"] = None
    return {}


serve({"users": users, "connect": connect, "phase": run_phase, "close": close})
