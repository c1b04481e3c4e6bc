"""The real-time measuring process: daphne web processes, WebSocket clients and sends, driven over JSON lines.

It reuses bench/realtime (its open-loop sender and client reader) and bench/harness/live.py (daphne on a free
loopback port); what it adds is a persistent driver the harness calls between repetitions, the tail percentiles,
idle connections with RSS, the 10,000-recipient frame time, and the reconnect replay.
"""

import asyncio
import os
import resource
import time
from pathlib import Path
from typing import Any

import django

django.setup()

import orjson  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import close_old_connections, transaction  # noqa: E402

from bench.core import percentile  # noqa: E402
from bench.harness.live import Daphne, WsClient  # noqa: E402
from bench.realtime.__main__ import Clients, phase  # noqa: E402
from bench.tickets import tickets_bulk  # noqa: E402
from bench.users import users_ensure  # noqa: E402
from bench.worker import serve  # noqa: E402
from notifications.services import notification_send_bulk, notify  # noqa: E402

LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(LOOP)
STATE: dict[str, Any] = {"webs": [], "clients": None, "user_ids": [], "idle": []}


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(web: int = 1) -> dict[str, Any]:
    call_command("migrate", verbosity=0)
    database = os.environ["DATABASE_URL"]
    STATE["webs"] = [
        Daphne(
            database=database,
            redis=settings.REDIS_URL,
            prefix=settings.REDIS_PREFIX,
            settings=os.environ["DJANGO_SETTINGS_MODULE"],
        )
        for _ in range(web)
    ]
    return {"pids": [w.proc.pid for w in STATE["webs"]]}


def connect(clients: int) -> dict[str, Any]:
    """1 client per user, users bench000000.., connected to the web processes round robin."""
    user_ids = users_ensure(clients)
    STATE["user_ids"] = user_ids
    c = Clients()
    started = time.monotonic()
    # One connect() call: it starts a reader per connection it holds (tickets live 60 s: 1,000 connect in ~15 s).
    LOOP.run_until_complete(c.connect([w.ws for w in STATE["webs"]], tickets_bulk(user_ids)))
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


def _local_addr(n: int, addresses: int) -> dict[str, Any]:
    """Connection n's source address, spread over 127.0.0.1.. so that many sockets do not run out of ports."""
    return {"local_addr": (f"127.0.0.{1 + n % addresses}", 0)} if addresses > 1 else {}


def idle_open(count: int, addresses: int = 1) -> dict[str, Any]:
    """Open `count` more idle sockets (users idle000000..), as many as the box allows; RSS/CPU of web process 0."""
    web = STATE["webs"][0]
    before = _rss_kib(web.proc.pid)
    user_ids = users_ensure(count, prefix="idle")
    opened: list[Any] = STATE["idle"]
    errors: list[str] = []
    started = time.monotonic()

    async def one(user_id: int, ticket: str, n: int) -> None:
        from websockets.asyncio.client import connect as ws_connect

        try:
            conn = await ws_connect(
                f"{web.ws}?ticket={ticket}",
                proxy=None,
                compression=None,
                open_timeout=120,
                ping_interval=None,
                max_queue=None,
                **_local_addr(n, addresses),
            )
            hello = orjson.loads(await conn.recv())
            assert hello["type"] == "hello", hello
            opened.append((user_id, conn))
        except Exception as exc:
            errors.append(repr(exc)[:200])

    async def batch(ids: list[int], tickets: list[str], offset: int) -> None:
        sem = asyncio.Semaphore(200)

        async def guarded(k: int) -> None:
            async with sem:
                await one(ids[k], tickets[k], offset + k)

        await asyncio.gather(*(guarded(k) for k in range(len(ids))))

    for i in range(0, count, 1000):
        ids = user_ids[i : i + 1000]
        LOOP.run_until_complete(batch(ids, tickets_bulk(ids), i))
        if len(errors) > 50:
            break
    connect_seconds = time.monotonic() - started
    LOOP.run_until_complete(asyncio.sleep(3))  # settle
    after = _rss_kib(web.proc.pid)
    cpu0 = _cpu_seconds(web.proc.pid)
    LOOP.run_until_complete(asyncio.sleep(10))
    idle_cpu = (_cpu_seconds(web.proc.pid) - cpu0) / 10
    return {
        "opened": len(opened),
        "errors": len(errors),
        "first_errors": errors[:3],
        "connect_seconds": connect_seconds,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_per_connection_kib": (after - before) / max(1, len(opened)),
        "idle_cpu_percent": idle_cpu * 100,
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def idle_fanout() -> dict[str, Any]:
    """One notify() to every idle-connected user: commit time and the time until the last of them has its frame."""
    opened: list[Any] = STATE["idle"]
    user_ids = [u for u, _ in opened]
    marks: dict[str, float] = {}
    received: list[float] = []

    async def read(conn: Any) -> None:
        while orjson.loads(await conn.recv())["type"] != "notification":
            pass  # the unread_count that followed an earlier repetition's notification
        received.append(time.monotonic())

    readers = [LOOP.create_task(read(conn)) for _, conn in opened]
    close_old_connections()
    start_t = time.monotonic()
    with transaction.atomic():
        transaction.on_commit(lambda: marks.setdefault("commit", time.monotonic()))
        notify(recipients=user_ids, category="comment", title="fan-out")
    returned = time.monotonic()
    LOOP.run_until_complete(asyncio.wait(readers, timeout=30))
    for task in readers:
        task.cancel()
    return {
        "recipients": len(user_ids),
        "commit_ms": (marks["commit"] - start_t) * 1000,
        "returned_ms": (returned - start_t) * 1000,
        "last_frame_ms": (max(received) - start_t) * 1000 if received else float("nan"),
        "frames": len(received),
    }


def idle_close() -> dict[str, Any]:
    async def close_all() -> None:
        await asyncio.gather(*(conn.close() for _, conn in STATE["idle"]), return_exceptions=True)

    LOOP.run_until_complete(close_all())
    n = len(STATE["idle"])
    STATE["idle"] = []
    return {"closed": n}


def replay(missed: int) -> dict[str, Any]:
    """A user misses `missed` notifications while offline, reconnects with resume: time to replay_done."""
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=f"replay{time.time_ns()}")
    web = STATE["webs"][0]
    client = WsClient(f"{web.ws}?ticket={tickets_bulk([user.pk])[0]}")
    hello = LOOP.run_until_complete(client.open())
    last_seq = hello["last_seq"]
    LOOP.run_until_complete(client.close())
    for i in range(0, missed, 100):
        notification_send_bulk(
            sends=[
                {"recipients": [user.pk], "category": "comment", "title": f"missed {k}"}
                for k in range(i, min(missed, i + 100))
            ]
        )
    client = WsClient(f"{web.ws}?ticket={tickets_bulk([user.pk])[0]}")
    started = time.monotonic()
    LOOP.run_until_complete(client.open(resume=last_seq))
    done = LOOP.run_until_complete(client.frame("replay_done", timeout=30))
    elapsed = time.monotonic() - started
    seqs = sorted(n["seq"] for n in client.notifications.values())
    in_order = [n["seq"] for n in client.notifications.values()] == seqs
    LOOP.run_until_complete(client.close())
    return {
        "seconds": elapsed,
        "replayed": len(client.notifications),
        "replay_done_count": done.get("count"),
        "in_order": in_order,
        "gap_free": seqs == list(range(last_seq + 1, last_seq + 1 + missed)),
    }


def stop() -> dict[str, Any]:
    c = STATE.get("clients")
    if c is not None:
        LOOP.run_until_complete(asyncio.gather(*(conn.close() for conn in c.conns), return_exceptions=True))
    idle_close()
    for web in STATE["webs"]:
        web.stop()
    STATE["webs"] = []
    return {}


try:
    serve(
        {
            "start": start,
            "connect": connect,
            "phase": run_phase,
            "idle_open": idle_open,
            "idle_fanout": idle_fanout,
            "idle_close": idle_close,
            "replay": replay,
            "stop": stop,
        }
    )
finally:
    for w in STATE["webs"]:
        w.kill()
