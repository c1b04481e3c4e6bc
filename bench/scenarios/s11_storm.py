"""S11: a reconnect storm. N browsers whose web processes restarted open their sockets at the same instant
(session cookies, Origin of the site) against two web processes started by the Procfile's `web` line; each socket
counts when its `hello` arrives. Reports the time until the last hello, the dropped sockets, handshakes per second
per process (N / time to the last hello / processes) and the CPU each side spent per handshake. The sockets are
opened by a minimal RFC 6455 client (bench/harness/storm_client.py says why), or by the websockets library's with
`--storm-client websockets`."""

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from bench import env
from bench.core import Context, Result, percentile
from bench.harness.storm_client import storm_connect
from bench.web import webs_start, webs_stop
from bench.worker import Worker


async def _hello_websockets(port: int, key: str) -> tuple[Any, str]:
    ws = await connect(
        f"ws://127.0.0.1:{port}/ws/notifications/",
        additional_headers={"Cookie": f"sessionid={key}"},
        origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
        proxy=None,
        compression=None,
        open_timeout=60,
        ping_interval=None,  # browsers send no keepalive pings
    )
    return ws, str(await asyncio.wait_for(ws.recv(), 60))


async def _hello_lean(port: int, key: str) -> tuple[Any, str]:
    ws = await storm_connect(
        "127.0.0.1", port, "/ws/notifications/", cookie=f"sessionid={key}", origin=f"http://127.0.0.1:{port}"
    )
    return ws, await asyncio.wait_for(ws.recv_text(), 60)


async def _storm(ports: list[int], keys: list[str], client: str = "lean") -> tuple[list[float], list[str]]:
    hello_of = _hello_lean if client == "lean" else _hello_websockets

    async def one(index: int, key: str, started: float):
        try:
            ws, hello = await asyncio.wait_for(hello_of(ports[index % len(ports)], key), 120)
            elapsed = time.perf_counter() - started
            return ws, (elapsed if '"hello"' in hello else None), ""
        except Exception as exc:  # a dropped socket: counted, the storm goes on
            return None, None, f"{type(exc).__name__}: {str(exc)[:60]}" if str(exc) else type(exc).__name__

    started = time.perf_counter()
    results = await asyncio.gather(*(one(i, k, started) for i, k in enumerate(keys)))
    times = [t for _ws, t, _e in results if t is not None]
    errors = [e or "no hello" for _ws, t, e in results if t is None]
    await asyncio.gather(*(ws.close() for ws, _t, _e in results if ws is not None), return_exceptions=True)
    return times, errors


def run(ctx: Context) -> list[Result]:
    config = ctx.config
    sizes = [1000] if ctx.quick else [1000, 10_000]
    ctx.log("fresh database bench_storm, migrations")
    env.db_create(config, "storm", fresh=True)
    env.migrate(config, "storm")
    django_env = config.django_env("storm")
    with Worker(env.sys_python(), "-m", "bench.ours", env=django_env, cwd=env.ROOT) as ours:
        ctx.log(f"{max(sizes)} logged-in sessions")
        keys = ours.call("sessions_create", count=max(sizes))
    processes = int(ctx.options.get("web") or 2)
    client = ctx.options.get("storm_client") or "lean"
    results = []
    for size in sizes:
        goal = 2.0 if size <= 1000 else 15.0
        result = Result("S11", f"Reconnect storm: {size:,} sockets at once, {processes} web processes")
        result.params = {"sockets": size, "web processes": processes, "repetitions": ctx.reps, "client": client}
        last = result.metric("last hello", "s", target=f"<= {goal:g} s", goal=("<=", goal))
        p50 = result.metric("median hello", "s")
        dropped = result.metric("dropped sockets", "", target="0", goal=("<=", 0.0))
        rate = result.metric("handshakes per second per process", "/s", target="goal >= 1,000/s")
        # CPU time per handshake, on each side: what a noisy machine's wall clock hides (the load generator and the
        # web processes share the cores, so a slow storm is either side's cost).
        server_cpu = result.metric("web process CPU per handshake", "ms")
        client_cpu = result.metric("load generator CPU per handshake", "ms")
        for rep in range(ctx.reps):
            webs = webs_start(processes, django_env, Path(sys.executable).parent)  # a restart: fresh processes
            try:
                cpu_before, client_before = sum(w.cpu_seconds() for w in webs), time.process_time()
                times, errors = asyncio.run(_storm([w.port for w in webs], keys[:size], client))
                server_cpu.add((sum(w.cpu_seconds() for w in webs) - cpu_before) * 1000 / size)
                client_cpu.add((time.process_time() - client_before) * 1000 / size)
            finally:
                webs_stop(webs)
            slowest = max(times) if times else float("nan")
            last.add(slowest)
            p50.add(percentile(times, 50))
            dropped.add(len(errors))
            rate.add(len(times) / slowest / processes if times else 0.0)
            ctx.log(
                f"S11 {size} rep {rep + 1}: last hello {slowest:.2f} s, dropped {len(errors)} {sorted(set(errors))}"
            )
        results.append(result)
    return results
