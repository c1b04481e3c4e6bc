"""Where one HTTP request's CPU goes: the web process's sync path, in process, without the HTTP server.

`python -m bench.request_cpu [send|ceiling] [--calls N]` creates a fresh bench database (`bench_reqcpu`), then in a
child process with production settings (PostgreSQL + Redis, as `bench.env` configures them) runs the request the
way `notifyproject.http.HttpHandler` does after daphne parsed it (`_respond`: `request_started`, middleware, DRF,
view, `close()`), one call after another on one thread, and prints wall and CPU time per request. `send` is S10's
`POST send/` with one recipient; `ceiling` is S10's `GET unread-count/`. Run it under a sampling profiler to see
the split (for example `py-spy record --format raw -- .venv/bin/python -m bench.request_cpu send`, with the child's
environment; docs/performance.md has the split of 2026-12-07). The difference between these numbers and S10's
per-request CPU of a web process is the HTTP server's share (parsing, the event loop, the thread hop).
"""

import argparse
import io
import json
import os
import subprocess
import sys
import time
from typing import Any

CHILD = "BENCH_REQUEST_CPU_CHILD"


def _scope(path: str, method: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
    }


def _child(kind: str, calls: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token

    from notifyproject.heap import heap_settle
    from notifyproject.http import HttpHandler

    users = get_user_model()
    sender, _ = users.objects.get_or_create(username="reqcpu-sender")
    sender.user_permissions.add(Permission.objects.get(codename="send_notification"))
    token = Token.objects.get_or_create(user=sender)[0].key
    recipient, _ = users.objects.get_or_create(username="reqcpu-recipient")
    handler = HttpHandler(1)
    auth = (b"authorization", f"Token {token}".encode())

    def one(n: int) -> None:
        if kind == "send":
            body = json.dumps({"recipients": [recipient.pk], "category": "comment", "title": f"n{n}"}).encode()
            headers = [auth, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            scope = _scope("/api/v1/notifications/send/", "POST", headers)
        else:
            body = b""
            scope = _scope("/api/v1/notifications/unread-count/", "GET", [auth])
        response = handler._respond(scope, io.BytesIO(body))
        if not 200 <= response.status_code < 300:
            raise SystemExit(f"{kind}: HTTP {response.status_code}: {getattr(response, 'content', b'')[:300]!r}")

    for n in range(200):  # warm: connection, caches, prepared statements
        one(n)
    heap_settle()
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(calls):
        one(n)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{kind}: {calls} requests, wall {1000 * wall / calls:.3f} ms and CPU {1000 * cpu / calls:.3f} ms each")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.request_cpu")
    parser.add_argument("kind", choices=("send", "ceiling"), nargs="?", default="send")
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    if os.environ.get(CHILD):
        _child(args.kind, args.calls)
        return
    from bench import env

    config = env.Config()
    env.db_create(config, "reqcpu", fresh=True)
    env.migrate(config, "reqcpu")
    # The limiter still runs (it is part of the request's cost) but never refuses: one thread on a quiet machine
    # sends faster than the production default of 500/s per sender.
    child_env = {**config.django_env("reqcpu"), CHILD: "1", "NOTIFICATIONS_SEND_RATE": "1000000/s"}
    command = [sys.executable, "-m", "bench.request_cpu", args.kind, "--calls", str(args.calls)]
    subprocess.run(command, cwd=env.ROOT, env=child_env, check=True)


if __name__ == "__main__":
    main()
