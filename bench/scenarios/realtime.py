"""S1, S2, S5 (throughput and latency to 1,000 connected clients, and the bare channel-layer ceiling), S6 and the
frame part of S3 (idle connections, one send to all of them), S8 (reconnect replay).

All run against daphne web processes the driver (bench/rt.py) starts on free loopback ports, in production settings
on a bench database and the bench Redis prefix. Load is open loop (bench/realtime's sender): message i is due at
start + i / rate, and its latency counts from that intended time.
"""

import math
from typing import Any

from bench import env
from bench.core import Context, Result
from bench.worker import Worker

DB = "realtime"
CLIENTS = 1000


def _driver(ctx: Context) -> Worker:
    env.db_create(ctx.config, DB)
    return Worker(env.sys_python(), "-m", "bench.rt", env=ctx.config.django_env(DB), cwd=env.ROOT)


def sustained(r: dict[str, Any]) -> bool:
    """A rate is sustained when nothing is lost, delivery keeps up (>= 95 % of offered) and p99 <= 100 ms."""
    return r["lost"] == 0 and r["throughput"] >= 0.95 * r["offered"] and r["p99_ms"] <= 100


def ladder(driver: Worker, mode: str, rates: list[float], duration: float, ctx: Context) -> list[dict[str, Any]]:
    """Climb the rates; stop after the first one that is clearly overloaded (the backlog only grows from there)."""
    out = []
    for rate in rates:
        r = driver.call("phase", mode=mode, rate=rate, duration=duration, threads=int(ctx.options.get("threads") or 8))
        ctx.log(
            f"{mode} {rate:,.0f}/s: delivered {r['throughput']:,}/s p50 {r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} "
            f"p99.9 {r['p999_ms']:.1f} max {r['max_ms']:.0f} ms lost {r['lost']}"
        )
        out.append(r)
        # 1,000/s is always measured (S2); above it, stop at the first clearly overloaded rate.
        if rate >= 1000 and (r["lost"] > 0 or r["p99_ms"] > 1000):
            break
    return out


def _per_rate_rows(per_rate: dict[tuple[str, float], dict[str, Any]], *, e2e: Result, bare: Result) -> None:
    """Per offered rate: one row each for delivered/s and the latency tail (medians over the repetitions)."""
    for (mode, rate), data in sorted(per_rate.items()):
        runs = data["runs"]
        target = e2e if mode == "e2e" else bare
        label = f"{mode} @ {rate:,.0f}/s"
        for key, name, unit in (
            ("throughput", "delivered", "/s"),
            ("p50_ms", "p50", "ms"),
            ("p99_ms", "p99", "ms"),
            ("p999_ms", "p99.9", "ms"),
            ("max_ms", "max", "ms"),
            ("lost", "lost", "frames"),
        ):
            m = target.metric(f"{label}: {name}", unit)
            for r in runs:
                m.add(float(r[key]))


def run_throughput(ctx: Context) -> list[Result]:
    web = int(ctx.options.get("web") or 2)
    duration = 3.0 if ctx.quick else 5.0
    e2e_rates = [1000.0, 5000.0] if ctx.quick else [500.0, 1000.0, 2000.0, 5000.0, 10000.0]
    bare_rates = [1000.0, 5000.0] if ctx.quick else [1000.0, 2000.0, 5000.0, 10000.0]
    reps = min(ctx.reps, 2 if ctx.quick else 3)
    params = {"clients": CLIENTS, "web processes": web, "seconds per rate": duration, "repetitions": reps}
    s1 = Result(
        "S1", "Sustained end-to-end throughput, 1,000 connected clients (persisted + delivered)", params=dict(params)
    )
    s2 = Result("S2", "Latency at a steady 1,000/s, send call to frame received", params=dict(params))
    s5 = Result("S5", "End-to-end vs the bare channel-layer ceiling (same clients, same run)", params=dict(params))
    per_rate: dict[tuple[str, float], dict[str, Any]] = {}
    best_e2e = s1.metric(
        "highest sustained rate (no loss, p99 <= 100 ms)", "/s", target=">= 5,000 /s", goal=(">=", 5000.0)
    )
    s2_p50 = s2.metric("p50", "ms", target="<= 5 ms", goal=("<=", 5.0))
    s2_p99 = s2.metric("p99", "ms", target="<= 25 ms", goal=("<=", 25.0))
    s2_p999 = s2.metric("p99.9", "ms")
    s2_max = s2.metric("max", "ms")
    s2_lost = s2.metric("lost", "frames", target="0", goal=("<=", 0.0))
    ceiling = s5.metric("bare ceiling: highest sustained rate", "/s")
    e2e_best = s5.metric("end-to-end: highest sustained rate", "/s")
    ratio = s5.metric("end-to-end / ceiling", "%", target=">= 50 %", goal=(">=", 50.0))
    with _driver(ctx) as driver:
        ctx.log(f"starting {web} daphne process(es), connecting {CLIENTS:,} clients")
        driver.call("start", web=web)
        c = driver.call("connect", clients=CLIENTS)
        ctx.log(f"{c['connected']:,} connected in {c['seconds']:.0f} s")
        for rep in range(reps):
            ctx.log(f"rep {rep + 1}/{reps}")
            bare = ladder(driver, "bare", bare_rates, duration, ctx)
            e2e = ladder(driver, "e2e", e2e_rates, duration, ctx)
            for r in bare + e2e:
                per_rate.setdefault((r["mode"], r["offered"]), {"runs": []})["runs"].append(r)
            top_bare = max((r["throughput"] for r in bare if sustained(r)), default=0)
            top_e2e = max((r["throughput"] for r in e2e if sustained(r)), default=0)
            best_e2e.add(top_e2e)
            ceiling.add(top_bare)
            e2e_best.add(top_e2e)
            ratio.add(100 * top_e2e / top_bare if top_bare else math.nan)
            at_1000 = next((r for r in e2e if r["offered"] == 1000.0), None)
            if at_1000 is None:
                continue
            s2_p50.add(at_1000["p50_ms"])
            s2_p99.add(at_1000["p99_ms"])
            s2_p999.add(at_1000["p999_ms"])
            s2_max.add(at_1000["max_ms"])
            s2_lost.add(at_1000["lost"])
        driver.call("stop")
    _per_rate_rows(per_rate, e2e=s1, bare=s5)
    s1.details["runs"] = s5.details["runs"] = [r for d in per_rate.values() for r in d["runs"]]
    note = (
        "Open loop from a separate sender process (bench/realtime: threads calling send-bulk with whatever is due); "
        f"{web} daphne process(es); a rate is sustained when nothing is lost, >= 95 % is delivered within the run "
        "and p99 <= 100 ms. The ladder stops at the first rate that loses frames or has p99 > 1 s."
    )
    for result in (s1, s2, s5):
        result.notes.append(note)
    return [s1, s2, s5]


def run_idle(ctx: Context) -> list[Result]:
    want = int(ctx.options.get("idle") or (2000 if ctx.quick else 10000))
    reps = 1  # opening 10,000 sockets takes minutes on 2 cores; one repetition, several samples inside
    params = {"connections wanted": want, "web processes": 1}
    s6 = Result("S6", "Idle WebSocket connections held by one web process", params=dict(params))
    s3 = Result(
        "S3-frame", "One send to every idle-connected user: time until the last one has the frame", params=dict(params)
    )
    opened = s6.metric("connections held", "", target=">= 10,000", goal=(">=", 10000.0))
    per = s6.metric("RSS per connection (web process)", "KiB", target="<= 50 KiB", goal=("<=", 50.0))
    rss = s6.metric("RSS of the web process with them open", "MiB")
    cpu = s6.metric("CPU of the web process while idle", "%")
    connect_s = s6.metric("time to open them (tickets, handshake, hello)", "s")
    commit = s3.metric("rows committed", "ms", target="<= 1,000 ms", goal=("<=", 1000.0))
    last = s3.metric("last online recipient has the frame", "ms", target="<= 2,000 ms", goal=("<=", 2000.0))
    frames = s3.metric("frames received", "")
    with _driver(ctx) as driver:
        driver.call("start", web=1)
        for _rep in range(reps):
            r = driver.call("idle_open", count=want, addresses=1 if want <= 20000 else 4)
            ctx.log(
                f"{r['opened']:,} idle connections ({r['errors']} errors) in {r['connect_seconds']:.0f} s, "
                f"{r['rss_per_connection_kib']:.1f} KiB each"
            )
            opened.add(r["opened"])
            per.add(r["rss_per_connection_kib"])
            rss.add(r["rss_after_kib"] / 1024)
            cpu.add(r["idle_cpu_percent"])
            connect_s.add(r["connect_seconds"])
            s6.details.setdefault("runs", []).append(r)
            for _ in range(3 if not ctx.quick else 2):
                f = driver.call("idle_fanout")
                ctx.log(
                    f"fan-out to {f['recipients']:,}: committed {f['commit_ms']:.0f} ms, "
                    f"last frame {f['last_frame_ms']:.0f} ms ({f['frames']:,} frames)"
                )
                commit.add(f["commit_ms"])
                last.add(f["last_frame_ms"])
                frames.add(f["frames"])
                s3.details.setdefault("runs", []).append(f)
            driver.call("idle_close")
        driver.call("stop")
    s6.params["connections opened"] = int(opened.median)
    s3.params["recipients (all online)"] = int(opened.median)
    s6.notes.append(
        "RSS per connection = (RSS with the sockets open and settled - RSS before) / sockets; CPU over 10 s idle. "
        f"The harness lifts the open-files limit to the hard limit ({r['fd_limit']:,} here)."
    )
    s3.notes.append("Each recipient has exactly one socket on the single web process; times from the notify() call.")
    return [s6, s3]


def run_replay(ctx: Context) -> list[Result]:
    missed = 1000
    s8 = Result(
        "S8",
        "Reconnect with 1,000 missed notifications: resume until replay_done",
        params={"missed": missed, "repetitions": ctx.reps},
    )
    seconds = s8.metric("connect + resume -> replay_done", "ms", target="<= 1,000 ms", goal=("<=", 1000.0))
    replayed = s8.metric("notifications replayed", "")
    ok = s8.metric("in order and gap-free (1 = yes)", "")
    with _driver(ctx) as driver:
        driver.call("start", web=1)
        for rep in range(ctx.reps):
            r = driver.call("replay", missed=missed)
            ctx.log(f"rep {rep + 1}: {r['replayed']} replayed in {r['seconds'] * 1000:.0f} ms")
            seconds.add(r["seconds"] * 1000)
            replayed.add(r["replayed"])
            ok.add(1.0 if r["in_order"] and r["gap_free"] else 0.0)
        driver.call("stop")
    s8.notes.append("Timed from opening the socket (ticket, handshake, hello) to the replay_done frame.")
    return [s8]
