"""Producer API throughput: notifications/s through POST send/ (one per request) and send-bulk/ (1,000 per request).

    DATABASE_URL=postgres://... [REDIS_URL=redis://...] python -m bench.api [--runs 3] [--singles 1500] [--bulks 10]

Starts its own daphne processes (`--web`, default 2: one per core, as the Procfile's web process is meant to be
scaled) on free loopback ports against DATABASE_URL (migrated on start), creates a sender token and 1,000
recipients, and drives them from threads with keep-alive connections spread over the processes (what a load
balancer does). Prints the median of the runs. DATABASE_POOL=1 in the environment turns on psycopg's pool.
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPIENTS = 1000
ENDPOINT = "tcp:port=0:interface=127.0.0.1"  # a free loopback port, read back from daphne's log


def setup_data() -> tuple[str, list[int]]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notifyproject.settings.test")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    sender, _ = user_model.objects.get_or_create(username="bench-sender")
    sender.user_permissions.add(Permission.objects.get(codename="send_notification"))
    existing = set(user_model.objects.filter(username__startswith="bench-r").values_list("username", flat=True))
    user_model.objects.bulk_create(
        [user_model(username=f"bench-r{i}") for i in range(RECIPIENTS) if f"bench-r{i}" not in existing]
    )
    ids = list(user_model.objects.filter(username__startswith="bench-r").order_by("pk").values_list("pk", flat=True))
    token, _ = Token.objects.get_or_create(user=sender)
    return token.key, ids[:RECIPIENTS]


def server_start(log_path: Path) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="notifyproject.settings.test", NOTIFICATIONS_SEND_RATE="off")
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "--endpoint", ENDPOINT, "notifyproject.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"Listening on TCP address 127\.0\.0\.1:(\d+)", log_path.read_text())
        if found:
            return process, int(found.group(1))
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"daphne did not start:\n{log_path.read_text()[-2000:]}")


def drive(ports: list[int], token: str, path: str, bodies: list[bytes], concurrency: int) -> float:
    """Post every body, `concurrency` at a time; returns elapsed seconds. Any non-201 aborts the bench."""
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    lock = threading.Lock()
    queue = list(reversed(bodies))
    errors: list[str] = []

    def worker(port: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue or errors:
                    break
                body = queue.pop()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status != 201:
                errors.append(f"{response.status}: {payload[:300]!r}")
        conn.close()

    threads = [threading.Thread(target=worker, args=(ports[i % len(ports)],)) for i in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{path}: {errors[0]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--singles", type=int, default=1500, help="single send requests per run")
    parser.add_argument("--bulks", type=int, default=10, help="send-bulk requests (1,000 items) per run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--web", type=int, default=2, help="daphne processes")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (it is migrated and written to).")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        check=True,
        env=dict(os.environ, DJANGO_SETTINGS_MODULE="notifyproject.settings.test"),
    )
    token, ids = setup_data()
    with tempfile.TemporaryDirectory() as tmp:
        servers = [server_start(Path(tmp) / f"daphne{n}.log") for n in range(args.web)]
        ports = [port for _process, port in servers]
        try:
            single_rates, bulk_rates = [], []
            for run in range(args.runs):
                singles = [
                    json.dumps(
                        {"recipients": [ids[i % len(ids)]], "category": "comment", "title": f"s{run}{i}"}
                    ).encode()
                    for i in range(args.singles)
                ]
                elapsed = drive(ports, token, "/api/v1/notifications/send/", singles, args.concurrency)
                single_rates.append(args.singles / elapsed)
                bulks = [
                    json.dumps(
                        {
                            "notifications": [
                                {"recipients": [ids[i]], "category": "comment", "title": f"b{run}-{b}-{i}"}
                                for i in range(RECIPIENTS)
                            ]
                        }
                    ).encode()
                    for b in range(args.bulks)
                ]
                elapsed = drive(ports, token, "/api/v1/notifications/send-bulk/", bulks, min(2, args.concurrency))
                bulk_rates.append(args.bulks * RECIPIENTS / elapsed)
                print(f"run {run + 1}: send {single_rates[-1]:.0f}/s, send-bulk {bulk_rates[-1]:.0f}/s", flush=True)
        except SystemExit:
            for n in range(args.web):
                print((Path(tmp) / f"daphne{n}.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            for process, _port in servers:
                process.terminate()
                process.wait(timeout=10)
    print(
        f"median of {args.runs}, {args.web} web process(es): "
        f"send {statistics.median(single_rates):.0f} notifications/s "
        f"({args.concurrency} clients, one per request); send-bulk {statistics.median(bulk_rates):.0f} notifications/s "
        f"(1,000 per request, 2 clients)"
    )


if __name__ == "__main__":
    main()
