"""S1 and S2 on the cluster (bench/harness/cluster.py): the same open-loop ladder with 1,000 clients connected
straight to the two web hosts, then through `lb` (HAProxy), alternating within each repetition, so the HAProxy hop
is measured beside the direct run under the same machine noise.

Everything shares this machine's two cores (hosts are network namespaces): the numbers are the hop's cost and the
cluster's correctness under load, not added capacity.
"""

import math
import statistics
from typing import Any

from bench import env
from bench.core import Context, Result
from bench.harness.cluster import WEB_HOSTS, Cluster, tools_missing
from bench.scenarios.realtime import ladder, sustained
from bench.worker import Worker

CLIENTS = 1000
# Apart from the tests' cluster (prefix nc, 10.231.0.0/24): both may exist at once.
PREFIX, SUBNET = "nb", "10.232.0"
PATHS = ("direct", "lb")
LOW = 250.0
ROWS = (("throughput", "delivered", "/s"), ("p50_ms", "p50", "ms"), ("p99_ms", "p99", "ms"))


def kept(r: dict[str, Any]) -> bool:
    return r["lost"] == 0 and r["throughput"] >= 0.95 * r["offered"] and r["p99_ms"] <= 1000


def run(ctx: Context) -> list[Result]:
    missing = tools_missing()
    if missing:
        raise RuntimeError(f"the cluster needs {', '.join(missing)}")
    duration = 3.0 if ctx.quick else 4.0
    # 250/s first: far below saturation even on a loaded machine, where the hop's own cost is least hidden by queueing.
    rates = [LOW, 1000.0, 3000.0] if ctx.quick else [LOW, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0, 4000.0, 5000.0]
    reps = min(ctx.reps, 2 if ctx.quick else 3)
    threads = int(ctx.options.get("threads") or 8)
    params = {
        "clients": CLIENTS,
        "web hosts": len(WEB_HOSTS),
        "seconds per rate": duration,
        "repetitions": reps,
        "warm-up": "2 s at 500/s after each connect, not counted",
    }
    s1 = Result("S1-cluster", "S1 on the cluster: direct to the web hosts vs through lb, same run", params=dict(params))
    s2 = Result("S2-cluster", "S2 on the cluster (1,000/s): direct vs through lb, same run", params=dict(params))
    top = {p: s1.metric(f"{p}: highest sustained rate (no loss, p99 <= 100 ms)", "/s") for p in PATHS}
    rate_ratio = s1.metric("lb / direct sustained rate", "%", target=">= 90 %", goal=(">=", 90.0))
    # A loaded box may sustain nothing at p99 <= 100 ms on either path; the ladder's own bound still compares them.
    loose = {p: s1.metric(f"{p}: highest rate kept (no loss, >= 95 % delivered, p99 <= 1 s)", "/s") for p in PATHS}
    loose_ratio = s1.metric("lb / direct, rate kept at p99 <= 1 s", "%", target=">= 90 %", goal=(">=", 90.0))
    p50 = {p: s2.metric(f"{p}: p50", "ms") for p in PATHS}
    p99 = {p: s2.metric(f"{p}: p99", "ms") for p in PATHS}
    lost = {p: s2.metric(f"{p}: lost", "frames", target="0", goal=("<=", 0.0)) for p in PATHS}
    hop50 = s2.metric("lb - direct, p50", "ms", target="<= 1 ms", goal=("<=", 1.0))
    hop99 = s2.metric("lb - direct, p99", "ms")
    low50 = {p: s2.metric(f"{p}: p50 at {LOW:,.0f}/s", "ms") for p in PATHS}
    hop_low = s2.metric(f"lb - direct, p50 at {LOW:,.0f}/s", "ms", target="<= 1 ms", goal=("<=", 1.0))
    runs: list[dict[str, Any]] = []
    admin = f"{ctx.config.pg.rstrip('/')}/postgres"
    with Cluster(postgres=admin, prefix=PREFIX, subnet=SUBNET) as cluster:
        app = cluster.app_env(database_url=cluster.database_direct_url)
        app.pop("DATABASE_POOL")  # the sender holds its connections to PostgreSQL itself (no PgBouncer between)
        urls = {"direct": [cluster.web(h).replace("http://", "ws://") + "/ws/notifications/" for h in WEB_HOSTS]}
        urls["lb"] = [cluster.lb_ws]
        with Worker(env.sys_python(), "-m", "bench.cluster_rt", env=app, cwd=env.ROOT) as driver:
            driver.call("users", clients=CLIENTS)
            for rep in range(reps):
                at_1000: dict[str, dict[str, Any]] = {}
                at_low: dict[str, dict[str, Any]] = {}
                for path in PATHS if rep % 2 == 0 else PATHS[::-1]:
                    c = driver.call("connect", urls=urls[path])
                    ctx.log(f"rep {rep + 1}/{reps} {path}: {c['connected']:,} connected in {c['seconds']:.0f} s")
                    # Not counted: the first sends after a connect pay for cold caches and pools on every host.
                    driver.call("phase", mode="e2e", rate=500.0, duration=2.0, threads=threads)
                    results = ladder(driver, "e2e", rates, duration, ctx)
                    driver.call("close")
                    for r in results:
                        r["path"] = path
                        r["rep"] = rep
                    runs += results
                    top[path].add(max((r["throughput"] for r in results if sustained(r)), default=0))
                    loose[path].add(max((r["throughput"] for r in results if kept(r)), default=0))
                    at_1000[path] = next(r for r in results if r["offered"] == 1000.0)
                    at_low[path] = next(r for r in results if r["offered"] == LOW)
                    low50[path].add(at_low[path]["p50_ms"])
                    p50[path].add(at_1000[path]["p50_ms"])
                    p99[path].add(at_1000[path]["p99_ms"])
                    lost[path].add(at_1000[path]["lost"])
                direct, through = top["direct"].values[-1], top["lb"].values[-1]
                rate_ratio.add(100 * through / direct if direct else math.nan)
                direct, through = loose["direct"].values[-1], loose["lb"].values[-1]
                loose_ratio.add(100 * through / direct if direct else math.nan)
                hop50.add(at_1000["lb"]["p50_ms"] - at_1000["direct"]["p50_ms"])
                hop99.add(at_1000["lb"]["p99_ms"] - at_1000["direct"]["p99_ms"])
                hop_low.add(at_low["lb"]["p50_ms"] - at_low["direct"]["p50_ms"])
    for path in PATHS:
        for rate in rates:
            mine = [r for r in runs if r["path"] == path and r["offered"] == rate]
            if not mine:
                continue
            for key, name, unit in (
                ("throughput", "delivered", "/s"),
                ("p50_ms", "p50", "ms"),
                ("p99_ms", "p99", "ms"),
            ):
                m = s1.metric(f"{path} @ {rate:,.0f}/s: {name}", unit)
                for r in mine:
                    m.add(float(r[key]))
    s1.details["runs"] = s2.details["runs"] = runs
    s1.details["per path medians"] = {p: statistics.median(top[p].values) if top[p].values else math.nan for p in PATHS}
    note = (
        "Two web hosts (the Procfile `web` line in namespaces web1/web2), PostgreSQL, two Redis shards, HAProxy, "
        "RabbitMQ, two workers and beat, all on this machine's two cores, with the load generator and the clients. "
        "The open-loop sender (bench/realtime) writes each notification through the send service and publishes it "
        "to the shards; 1,000 clients connect straight to web1/web2 (round robin), then through lb, within each "
        "repetition (order alternating). Sustained: nothing lost, >= 95 % delivered in the run, p99 <= 100 ms."
    )
    for result in (s1, s2):
        result.notes.append(note)
    return [s1, s2]
