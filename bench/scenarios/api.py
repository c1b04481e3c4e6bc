"""S9 + S10: the fixed cost of one event, as most producers send them (one notification per call).

S9: `notify()` to one recipient, one call after another on one thread, production settings, PostgreSQL.
S10: `POST /api/v1/notifications/send/` with one recipient from 16 and 64 keep-alive clients against two web
processes started by the Procfile's own `web` line; in the same run, the same clients against the cheapest
authenticated endpoint that writes nothing (`GET unread-count/`: token lookup + one index-only count) as the
ceiling of this HTTP stack, and the ratio. Each client is its own producer token (the per-sender limit of
production, NOTIFICATIONS_SEND_RATE, stays on).
"""

import json
import statistics
import sys
from pathlib import Path

from bench import env, http_load
from bench.core import Context, Result, percentile
from bench.web import webs_start, webs_stop
from bench.worker import Worker

CLIENT_LEVELS = (16, 64)
RECIPIENTS = 1000


def _s9(ctx: Context, ours: Worker, recipient_id: int) -> Result:
    result = Result("S9", "notify() to one recipient, one call after another")
    calls = 300 if ctx.quick else 1000
    result.params = {"calls per repetition": calls, "repetitions": ctx.reps}
    median = result.metric("median per call", "ms", target="<= 2 ms", goal=("<=", 2.0))
    p99 = result.metric("p99 per call", "ms")
    rate = result.metric("calls per second (one thread)", "/s", target=">= 500/s", goal=(">=", 500.0))
    queries = result.metric("queries per call", "", target="<= 6", goal=("<=", 6.0))
    for rep in range(ctx.reps):
        r = ours.call("notify_single", recipient_id=recipient_id, calls=calls)
        median.add(statistics.median(r["ms"]))
        p99.add(percentile(r["ms"], 99))
        rate.add(r["per_second"])
        queries.add(r["queries"])
        ctx.log(f"S9 rep {rep + 1}: median {median.values[-1]:.2f} ms, {r['per_second']:.0f}/s")
    return result


def _s10(ctx: Context, tokens: list[str], recipient_ids: list[int], ports: list[int], webs: list) -> Result:
    result = Result("S10", "POST send/ with one recipient vs the stack's ceiling")
    seconds = 3.0 if ctx.quick else 6.0
    result.params = {"web processes": len(ports), "seconds per level": seconds, "repetitions": ctx.reps}
    send_path = "/api/v1/notifications/send/"
    ceiling_path = "/api/v1/notifications/unread-count/"

    def send_request(client: int, n: int) -> bytes:
        body = json.dumps(
            {
                "recipients": [recipient_ids[(client * 7919 + n) % len(recipient_ids)]],
                "category": "comment",
                "title": f"c{client} n{n}",
            }
        ).encode()
        headers = {"Authorization": f"Token {tokens[client]}", "Content-Type": "application/json"}
        return http_load.request_bytes("POST", send_path, headers, body)

    def ceiling_request(client: int, n: int) -> bytes:
        return http_load.request_bytes("GET", ceiling_path, {"Authorization": f"Token {tokens[client]}"})

    for clients in CLIENT_LEVELS:
        sends = result.metric(f"send/ at {clients} clients", "/s", target=">= 1,000/s (floor 500)", goal=(">=", 500.0))
        p50 = result.metric(f"send/ p50 at {clients} clients", "ms")
        p99 = result.metric(f"send/ p99 at {clients} clients", "ms", target="<= 50 ms", goal=("<=", 50.0))
        ceiling = result.metric(f"ceiling (unread-count/) at {clients} clients", "/s")
        ratio = result.metric(f"send/ over ceiling at {clients} clients", "%", target=">= 50 %", goal=(">=", 50.0))
        errors = result.metric(f"non-2xx answers at {clients} clients", "", target="0", goal=("<=", 0.0))
        for rep in range(ctx.reps):
            http_load.run(ports, clients, 1.0, send_request)  # warm: connections, caches, pools
            cpu0 = [w.cpu_seconds() for w in webs]
            load = http_load.run(ports, clients, seconds, send_request)
            cpu = [round(w.cpu_seconds() - c, 2) for w, c in zip(webs, cpu0, strict=True)]
            top = http_load.run(ports, clients, seconds, ceiling_request)
            sends.add(load.per_second)
            p50.add(percentile(load.latencies_ms, 50))
            p99.add(percentile(load.latencies_ms, 99))
            ceiling.add(top.per_second)
            ratio.add(100 * load.per_second / top.per_second if top.per_second else 0.0)
            bad = {s: n for s, n in {**load.statuses, **top.statuses}.items() if not 200 <= s < 300}
            errors.add(sum(bad.values()))
            ctx.log(
                f"S10 {clients} clients rep {rep + 1}: send {load.per_second:.0f}/s p50 {p50.values[-1]:.1f} ms "
                f"p99 {p99.values[-1]:.1f} ms; ceiling {top.per_second:.0f}/s; web CPU s {cpu}; non-2xx {bad}"
            )
    return result


def run(ctx: Context) -> list[Result]:
    config = ctx.config
    ctx.log("fresh database bench_api, migrations")
    env.db_create(config, "api", fresh=True)
    env.migrate(config, "api")
    django_env = config.django_env("api")
    with Worker(env.sys_python(), "-m", "bench.ours", env=django_env, cwd=env.ROOT) as ours:
        setup = ours.call("api_setup", senders=max(CLIENT_LEVELS), recipients=RECIPIENTS)
        s9 = _s9(ctx, ours, setup["recipient_ids"][0])
    webs = webs_start(int(ctx.options.get("web") or 2), django_env, Path(sys.executable).parent)
    try:
        s10 = _s10(ctx, setup["tokens"], setup["recipient_ids"], [w.port for w in webs], webs)
    finally:
        webs_stop(webs)
    return [s9, s10]
