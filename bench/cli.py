"""`python -m bench [scenario ...]`: run scenarios, print tables, write JSON and docs/performance.md."""

import argparse
import importlib
import os
import resource
import sys
import time
import traceback
from datetime import UTC, datetime

from bench import env, report
from bench.core import Context, Result

# name -> ("module[:function]", one line). Order = the order of a full run. A function returns a Result or a list.
SCENARIOS = {
    "api": ("bench.scenarios.api", "S9 + S10: notify() for one recipient; POST send/ at 16 and 64 clients vs ceiling"),
    "s4": ("bench.scenarios.s4_peer", "one send to 1,000 recipients, ours vs django-notifications-hq"),
    "s3": ("bench.scenarios.s3_fanout", "one send to 10,000 recipients: rows committed"),
    "s7": ("bench.scenarios.s7_inbox", "unread count and first inbox page with 10 M rows"),
    "s8": ("bench.scenarios.realtime:run_replay", "reconnect with 1,000 missed notifications: time to replay_done"),
    "s1": ("bench.scenarios.realtime:run_throughput", "S1 + S2 + S5: rates to 1,000 clients, latency, bare ceiling"),
    "s11": ("bench.scenarios.s11_storm", "reconnect storm: 1,000 and 10,000 sockets opened at once"),
    "cluster": ("bench.scenarios.cluster", "S1 + S2 on the cluster: direct to two web hosts vs through HAProxy (root)"),
    "s6": ("bench.scenarios.realtime:run_idle", "S6 + S3 frame: idle connections, RSS, one send to all of them"),
}
ALIASES = {"s2": "s1", "s5": "s1", "s9": "api", "s10": "api", "s1-cluster": "cluster", "s2-cluster": "cluster"}


def _raise_fd_limit() -> None:
    """Many sockets per process (S6): lift the soft limit to the hard one; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _services_check(config: env.Config) -> None:
    try:
        with env.pg_connect(config) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        sys.exit(f"bench: PostgreSQL not reachable at BENCH_PG={config.pg}: {exc}")
    try:
        import redis

        redis.Redis.from_url(config.redis_url).ping()
    except Exception as exc:
        sys.exit(f"bench: Redis not reachable at BENCH_REDIS_URL={config.redis_url}: {exc}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and smaller data (about 5 minutes)")
    parser.add_argument("--reps", type=int, help="repetitions per scenario (default 5, quick 3)")
    parser.add_argument("--rows", type=int, help="S7 table size (default 10,000,000, quick 1,000,000)")
    parser.add_argument("--web", type=int, help="daphne processes for S1/S2/S5 (default 2)")
    parser.add_argument("--threads", type=int, help="S1/S2/S5 sender threads (default 8)")
    parser.add_argument(
        "--storm-client",
        choices=("lean", "websockets"),
        help="S11's load generator: a minimal RFC 6455 client (default) or the websockets library's",
    )
    parser.add_argument("--idle", type=int, help="S6 idle connections to open (default 10,000, quick 2,000)")
    parser.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rewrite the tables in docs/performance.md (default: on, off with --quick)",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.list:
        for name, (_module, line) in SCENARIOS.items():
            print(f"{name}  {line}")
        return
    names = list(dict.fromkeys(ALIASES.get(n.lower(), n.lower()) for n in args.scenarios)) or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        sys.exit(f"bench: unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    write_docs = (not args.quick) if args.docs is None else args.docs

    _raise_fd_limit()
    config = env.Config()
    _services_check(config)
    reps = args.reps or (3 if args.quick else 5)
    options = {"rows": args.rows, "web": args.web, "idle": args.idle, "threads": args.threads}
    options["storm_client"] = args.storm_client
    ctx = Context(config=config, quick=args.quick, reps=reps, options=options)
    run = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else argv,
        "quick": args.quick,
        "reps": reps,
        "machine": env.machine(config),
        "results": [],
        "failures": {},
    }
    results: list[Result] = []
    for name in names:
        module_name, line = SCENARIOS[name]
        print(f"\n== {name.upper()}: {line}", flush=True)
        started = time.monotonic()
        module_path, _, function = module_name.partition(":")
        try:
            produced = getattr(importlib.import_module(module_path), function or "run")(ctx)
        except Exception:
            run["failures"][name] = traceback.format_exc()
            print(f"!! {name} failed:\n{run['failures'][name]}", flush=True)
            continue
        for result in produced if isinstance(produced, list) else [produced]:
            result.seconds = time.monotonic() - started
            result.details["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
            results.append(result)
            run["results"].append(result.to_json())
            report.print_result(result)

    path = report.write_json(run)
    print(f"\nresults: {path.relative_to(env.ROOT)}")
    if write_docs and results:
        report.docs_update(run, results)
        print(f"tables: {report.DOC.relative_to(env.ROOT)}")
    if run["failures"]:
        sys.exit(1)
