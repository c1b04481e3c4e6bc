"""Real-time bench (targets.md S2, S5): send -> frame latency with 1,000 connected WebSocket clients.

    DATABASE_URL=postgres://.../db REDIS_URL=redis://.../n REDIS_PREFIX=p python -m bench.realtime [--clients 1000]

Runs daphne web process(es) on free loopback ports against that database (migrated here) and Redis, connects the
clients (tickets), then, open loop, at fixed offered rates:
  * e2e:  each notification persisted through the send service (send-bulk of whatever is due, like a busy producer)
          and delivered to its one online recipient;
  * bare: the same frames published straight to the channel layer (no database): the Channels ceiling.
Latency is measured from each message's *intended* send time (no coordinated omission), on one machine clock.
"""

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from bench.core import percentile

ROOT = Path(__file__).resolve().parent.parent.parent


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notifyproject.settings.test")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- sender process -----------------------------------------------------------------------------------------------


def _batch_send(mode: str, batch: list[int], user_ids: list[int], start_at: float, rate: float) -> None:
    """Send messages `batch` (indexes into the open loop): straight to the channel layer (bare) or as sends (e2e).
    Each carries its due time in `data.t`, from which the client measures latency."""
    from notifications import realtime
    from notifications.services import notification_send_bulk

    if mode == "bare":
        messages = [
            (
                realtime.user_group(user_ids[i % len(user_ids)]),
                {
                    "type": realtime.NOTIFICATION_CREATED,
                    "seq": 0,
                    "text": realtime.frame_encode(
                        {
                            "type": "notification",
                            "replay": False,
                            "notification": {"id": f"b{i}", "seq": 0, "data": {"t": start_at + i / rate}},
                        }
                    ),
                },
            )
            for i in batch
        ]
        realtime.publish(messages)
        return
    notification_send_bulk(
        sends=[
            {
                "recipients": [user_ids[i % len(user_ids)]],
                "category": "comment",
                "title": f"bench {i}",
                "data": {"t": start_at + i / rate},
            }
            for i in batch
        ]
    )


def sender(mode: str, rate: float, duration: float, user_ids: list[int], threads: int) -> None:
    """Open loop: message i is due at start_at + i / rate; whatever is due is sent at once (late ones included).
    start_at comes on stdin once every thread is ready, so start-up time is not counted as latency."""
    django_setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from notifications.services import notification_send_bulk
    from notifyproject.heap import heap_settle

    total = int(rate * duration)
    ready = threading.Barrier(threads + 1)
    go = threading.Event()
    start: dict[str, float] = {}

    warm_user = get_user_model().objects.get_or_create(username="rtbench-warm-up")[0].pk if mode == "e2e" else 0

    def warm_up() -> None:
        """Sends of one and of two items on this thread's own connections (Django's database connection is per
        thread), committed so that their after-commit publish and planner wake-up run too, to a user with no socket:
        their connects, type lookups and first statements would otherwise be counted as latency of the first
        messages. A producer's web process sends on persistent connections that are long warm."""
        if mode == "e2e":
            item = {"recipients": [warm_user], "category": "comment", "title": "warm-up"}
            notification_send_bulk(sends=[item])
            notification_send_bulk(sends=[item, item])

    def run(k: int) -> None:
        try:
            warm_up()
            ready.wait()
            go.wait()
            start_at = start["at"]
            mine = list(range(k, total, threads))
            pos = 0
            while pos < len(mine):
                now = time.monotonic()
                due_at = start_at + mine[pos] / rate
                if due_at > now:
                    time.sleep(min(due_at - now, 0.05))
                    continue
                batch = []
                while pos < len(mine) and start_at + mine[pos] / rate <= now:
                    batch.append(mine[pos])
                    pos += 1
                _batch_send(mode, batch, user_ids, start_at, rate)
        except BaseException:
            ready.abort()  # a thread that failed before the barrier must not leave the others (and main) waiting
            raise
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    ready.wait()
    heap_settle()  # as the project's own processes do once started
    print("ready", flush=True)
    start["at"] = float(sys.stdin.readline())
    go.set()
    for w in workers:
        w.join()


# --- clients ------------------------------------------------------------------------------------------------------


class Clients:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.first: float | None = None
        self.last: float = 0.0
        self.conns: list[Any] = []

    async def connect(self, urls: list[str], tickets: list[str]) -> None:
        from websockets.asyncio.client import connect

        async def one(i: int, ticket: str) -> None:
            conn = await connect(
                f"{urls[i % len(urls)]}?ticket={ticket}",
                proxy=None,
                compression=None,
                open_timeout=60,
                ping_interval=None,
                max_queue=None,
            )
            await conn.recv()  # hello
            self.conns.append(conn)

        # All at once, as after a restart (targets.md: no staged ramp).
        await asyncio.gather(*(one(i, t) for i, t in enumerate(tickets)))
        self.readers = [asyncio.ensure_future(self._read(conn)) for conn in self.conns]

    async def _read(self, conn: Any) -> None:
        async for raw in conn:
            now = time.monotonic()
            frame = orjson.loads(raw)
            if frame["type"] != "notification":
                continue  # unread_count follows each notification
            t = frame["notification"]["data"]["t"]
            self.latencies.append(now - t)
            self.last = now

    def reset(self) -> None:
        self.latencies = []
        self.last = 0.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def phase(
    clients: Clients, mode: str, rate: float, duration: float, user_ids: list[int], threads: int, env: dict[str, str]
) -> dict[str, Any]:
    clients.reset()
    ids_file = Path(tempfile.gettempdir()) / f"bench-realtime-users-{os.getpid()}.json"
    ids_file.write_bytes(orjson.dumps(user_ids))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.realtime",
        "--role",
        "send",
        "--mode",
        mode,
        "--rate",
        str(rate),
        "--duration",
        str(duration),
        "--threads",
        str(threads),
        "--users-file",
        str(ids_file),
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert (await proc.stdout.readline()).strip() == b"ready"
    start_at = time.monotonic() + 0.2
    proc.stdin.write(f"{start_at!r}\n".encode())
    await proc.stdin.drain()
    await proc.wait()
    expected = int(rate * duration)
    deadline = time.monotonic() + 10
    while len(clients.latencies) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    got = len(clients.latencies)
    span = max(clients.last - start_at, duration) if got else duration
    return {
        "mode": mode,
        "offered": rate,
        "received": got,
        "expected": expected,
        "lost": expected - got,
        "throughput": round(got / span),
        "p50_ms": round(pct(clients.latencies, 50), 2),
        "p99_ms": round(pct(clients.latencies, 99), 2),
        "max_ms": round(pct(clients.latencies, 100), 2),
    }


async def phase_measured(
    clients: Clients, mode: str, rate: float, duration: float, user_ids: list[int], threads: int, env: dict[str, str]
) -> dict[str, Any]:
    """`phase`, with the latency percentiles of the frames the clients received (ms)."""
    r = await phase(clients, mode, rate, duration, user_ids, threads, env)
    lat = [x * 1000 for x in clients.latencies]
    r["p999_ms"] = percentile(lat, 99.9)
    r["p99_ms"] = percentile(lat, 99)
    r["p50_ms"] = percentile(lat, 50)
    r["max_ms"] = max(lat) if lat else float("nan")
    return r


def setup(args: argparse.Namespace) -> tuple[list[int], list[str], list[Any]]:
    """Migrate, create the users and their tickets, start the web processes (synchronous Django work)."""
    django_setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from bench.harness.live import Daphne
    from notifications.tickets import ws_ticket_create

    assert settings.REDIS_URL and "postgres" in settings.DATABASES["default"]["ENGINE"], "needs PostgreSQL + Redis"
    call_command("migrate", verbosity=0)
    User = get_user_model()
    names = [f"rtbench{i}" for i in range(args.clients)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create([User(username=n) for n in names if n not in existing])
    user_ids = list(User.objects.filter(username__in=names).order_by("pk").values_list("pk", flat=True))
    tickets = [ws_ticket_create(user_id=u) for u in user_ids]
    database = os.environ["DATABASE_URL"]
    webs = [Daphne(database=database, redis=settings.REDIS_URL, prefix=settings.REDIS_PREFIX) for _ in range(args.web)]
    return user_ids, tickets, webs


async def main(args: argparse.Namespace, user_ids: list[int], tickets: list[str], webs: list[Any]) -> None:
    env = dict(os.environ)
    clients = Clients()
    t0 = time.monotonic()
    await clients.connect([w.ws for w in webs], tickets)
    print(f"{len(clients.conns)} clients connected to {args.web} web process(es) in {time.monotonic() - t0:.1f}s")
    results = []
    for mode in ("bare", "e2e"):
        for rate in args.rates:
            r = await phase(clients, mode, rate, args.duration, user_ids, args.threads, env)
            results.append(r)
            print(orjson.dumps(r).decode(), flush=True)
    ceiling = max((r["throughput"] for r in results if r["mode"] == "bare" and r["lost"] == 0), default=0)
    e2e = max((r["throughput"] for r in results if r["mode"] == "e2e" and r["lost"] == 0), default=0)
    summary = {
        "bare_ceiling": ceiling,
        "e2e_max_without_loss": e2e,
        "ratio": round(e2e / ceiling, 2) if ceiling else None,
    }
    print(orjson.dumps(summary).decode())
    for conn in clients.conns:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.realtime")
    parser.add_argument("--role", default="main", choices=["main", "send"])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--web", type=int, default=1, help="daphne processes")
    parser.add_argument("--rates", type=float, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4, help="sender threads")
    parser.add_argument("--mode", default="e2e")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--users-file", default="")
    cli = parser.parse_args()
    if cli.role == "send":
        user_ids = orjson.loads(Path(cli.users_file).read_bytes())
        sender(cli.mode, cli.rate, cli.duration, user_ids, cli.threads)
    else:
        users, tickets, webs = setup(cli)
        try:
            asyncio.run(main(cli, users, tickets, webs))
        finally:
            for web in webs:
                web.stop()
