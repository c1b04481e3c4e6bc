"""Several hosts on one machine: network namespaces joined by veth pairs to a bridge, each host its own address.

    lb      HAProxy: HTTP and WebSocket upgrades, round robin over web1/web2, health check GET /healthz, no affinity
    web1    the Procfile's `web` command                                    (PgBouncer, both Redis shards)
    web2    the same
    redis1  redis-server: cache, rate limits, process-cache announcements, Celery broker, channel-layer shard 0
    redis2  redis-server: channel-layer shard 1 (CHANNEL_LAYER_URLS lists both: channels-redis shards by hash)
    db      PgBouncer in transaction pooling mode, a bounded number of server connections, in front of this
            machine's PostgreSQL (reached through its Unix socket: sockets are not bound to a network namespace)
    broker  RabbitMQ, an instance of its own (node, vhost, data directory in the work directory): Celery's broker
    worker1 the Procfile's `worker` command (broker, PgBouncer, redis1; email to the mail sink)
    worker2 the same
    beat    the Procfile's `beat` command

The mail sink is an SMTP server in the test process (or `make cluster`) on the bridge's first address.

The root namespace owns the bridge's first address, so the test process (and a person running `make cluster`)
talks to every host directly; traffic goes only to the namespaces' own addresses. Everything made carries the
prefix (namespaces, links, the database, the work directory) and `cleanup()` removes all of it: run before a start
(leftovers of a run that was killed) and after a stop, whatever failed in between.

`python -m tests.cluster` (`make cluster`) starts it and keeps it up until Ctrl-C.

Over 400 lines on purpose: the start and the tear-down of every host live side by side, so that what one makes the
other removes (split by host, a new host's clean-up would be easy to forget).
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.harness.servers import SmtpServer, smtp_server_start

ROOT = Path(__file__).resolve().parent.parent.parent
PREFIX = os.environ.get("CLUSTER_PREFIX", "nc")
SUBNET = os.environ.get("CLUSTER_SUBNET", "10.231.0")  # a /24 of this cluster's own
HOSTS = {
    "lb": 10,
    "web1": 11,
    "web2": 12,
    "redis1": 21,
    "redis2": 22,
    "db": 30,
    "broker": 40,
    "worker1": 41,
    "worker2": 42,
    "beat": 43,
}
WEB_HOSTS = ("web1", "web2")
WORKER_HOSTS = ("worker1", "worker2")
LB_PORT = 80
WEB_PORT = 8000
REDIS_PORT = 6379
PGBOUNCER_PORT = 6432
AMQP_PORT = 5672
LB_CHECK = "/healthz?check=database&check=channel_layer"
# Server connections PgBouncer opens to PostgreSQL for this database, whatever the number of clients.
PGBOUNCER_POOL_SIZE = 10
TOOLS = ("ip", "haproxy", "pgbouncer", "redis-server")
# Debian's `rabbitmq-server` on PATH is a wrapper that switches to the rabbitmq user and its fixed directories; the
# script behind it runs a node of our own (as root, with RABBITMQ_* pointing into the work directory).
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
# How often workers and beat look for due deliveries and stuck rows: a fault test waits seconds, not minutes.
# A task claims its whole batch at once and sends it one message after another, so a live task's rows must be done
# well within the sending timeout, else the sweeper hands them to a second worker (production: the task time limit,
# 120 s, is below the 180 s timeout). Here: batches of 4, the test's mail sink holding each message 0.3 s.
DELIVERY_TIMING = {
    "DELIVERY_DISPATCH_INTERVAL": "0.5",
    "DELIVERY_LEASE_SECONDS": "1",
    "DELIVERY_BATCH_SIZE": "4",
    "DELIVERY_SENDING_TIMEOUT": "6",
    "DELIVERY_SWEEP_INTERVAL": "1",
    "DELIVERY_RETRY_BASE": "0.5",
}


def tools_missing() -> list[str]:
    """What this machine lacks to build the cluster (tools, or root for `ip netns`)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not RABBITMQ_SERVER.exists():
        missing.append("rabbitmq-server")
    if os.geteuid() != 0:
        missing.append("root (ip netns)")
    return missing


def _run(*argv: str, check: bool = True, input: str | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def _psql(admin_url: str, sql: str, *, database: str = "postgres") -> str:
    parts = urlsplit(admin_url)
    return _run(
        "psql",
        "-X",
        "-q",
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
        "-d",
        database,
        "-c",
        sql,
    )


def wait_for(
    predicate: Any, what: str, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}\n{tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


class Cluster:
    """The topology above. `start()` builds it (cleaning leftovers first); `stop()` removes everything it made."""

    def __init__(self, *, postgres: str = "", prefix: str = PREFIX, subnet: str = SUBNET) -> None:
        # The machine's PostgreSQL, as the superuser (migrations and the database itself are made there directly).
        self.postgres = postgres or os.environ.get("CLUSTER_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
        self.prefix = prefix
        self.subnet = subnet
        self.bridge = f"{prefix}-br"
        self.database = f"{prefix}_notify_cluster"
        self.workdir = Path(tempfile.gettempdir()) / f"{prefix}-cluster"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.secret_key = secrets.token_urlsafe(32)
        self.vhost = f"{prefix}-notify"
        self.broker_password = secrets.token_urlsafe(16)
        self.smtp: SmtpServer | None = None

    # --- names and addresses ---------------------------------------------------------------------------------------

    def addr(self, host: str) -> str:
        return f"{self.subnet}.{HOSTS[host]}"

    def netns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    @property
    def gateway(self) -> str:
        """The bridge's first address, in the root namespace: the test process, and the mail sink."""
        return f"{self.subnet}.1"

    @property
    def lb(self) -> str:
        return f"http://{self.addr('lb')}"

    @property
    def lb_ws(self) -> str:
        return f"ws://{self.addr('lb')}/ws/notifications/"

    def web(self, host: str) -> str:
        return f"http://{self.addr(host)}:{WEB_PORT}"

    @property
    def database_url(self) -> str:
        """What the web hosts use: PgBouncer on the `db` host."""
        return f"postgres://postgres@{self.addr('db')}:{PGBOUNCER_PORT}/{self.database}"

    @property
    def database_direct_url(self) -> str:
        """The database itself, bypassing PgBouncer (migrations, and tests comparing inboxes with the truth)."""
        parts = urlsplit(self.postgres)
        return parts._replace(path=f"/{self.database}").geturl()

    @property
    def redis_urls(self) -> list[str]:
        return [f"redis://{self.addr(host)}:{REDIS_PORT}/0" for host in ("redis1", "redis2")]

    @property
    def broker_url(self) -> str:
        return f"amqp://notify:{self.broker_password}@{self.addr('broker')}:{AMQP_PORT}/{self.vhost}"

    @property
    def mail(self) -> SmtpServer:
        assert self.smtp is not None, "the cluster is not started"
        return self.smtp

    def app_env(self, *, database_url: str | None = None) -> dict[str, str]:
        """The environment of an application process on this cluster (production settings, plain HTTP)."""
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
        env = {k: v for k, v in os.environ.items() if k in keep}
        hosts = [self.addr(h) for h in ("lb", *WEB_HOSTS)]
        env.update(
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
            DJANGO_SETTINGS_MODULE="notifyproject.settings.base",
            DJANGO_SECRET_KEY=self.secret_key,
            DJANGO_DEBUG="false",
            DJANGO_SECURE_COOKIES="false",
            DJANGO_ALLOWED_HOSTS=",".join(hosts),
            DATABASE_URL=database_url or self.database_url,
            # PgBouncer pools the connections: each request opens a cheap client connection to it and closes it.
            DATABASE_POOL="0",
            # Transaction pooling: the next transaction may run on a server connection that never prepared them.
            DATABASE_PREPARED_STATEMENTS="0",
            # Transaction pooling: no cursor may outlive its transaction.
            DATABASE_SERVER_SIDE_CURSORS="0",
            REDIS_URL=self.redis_urls[0],
            CHANNEL_LAYER_URLS=",".join(self.redis_urls),
            REDIS_PREFIX=f"{self.prefix}cluster",
            CELERY_BROKER_URL=self.broker_url,
            SITE_URL=self.lb,
            LOG_LEVEL="WARNING",
            EMBEDDED_SCHEDULER="0",
            WORKER_CONCURRENCY="2",
            **DELIVERY_TIMING,
        )
        if self.smtp is not None:
            env["EMAIL_URL"] = f"smtp://{self.smtp.host}:{self.smtp.port}"
        return env

    # --- life cycle ------------------------------------------------------------------------------------------------

    def start(self) -> "Cluster":
        self.cleanup()
        try:
            self.workdir.mkdir(mode=0o755)
            self._network()
            self._database()
            self.smtp = smtp_server_start(host=self.gateway)
            for host in ("redis1", "redis2"):
                self.redis_start(host)
            self.pgbouncer_start()
            self.broker_start()
            # Side by side: each imports Django for seconds.
            self.app_start(*WEB_HOSTS, *WORKER_HOSTS, "beat")
            self._haproxy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name)
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None
        self.cleanup()

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cleanup(self) -> None:
        """Remove every namespace (and the processes in it), link, database and directory with this prefix."""
        for line in _run("ip", "netns", "list", check=False).splitlines():
            name = line.split(" ", 1)[0]
            if not name.startswith(f"{self.prefix}-"):
                continue
            for _ in range(50):
                pids = [int(p) for p in _run("ip", "netns", "pids", name, check=False).split()]
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)
            _run("ip", "netns", "del", name, check=False)
        for line in _run("ip", "-o", "link", "show", check=False).splitlines():
            fields = line.split(":", 2)
            if len(fields) < 3:
                continue
            name = fields[1].strip().split("@", 1)[0]
            if name.startswith(f"{self.prefix}-"):
                _run("ip", "link", "del", name, check=False)
        _psql(self.postgres, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- pieces ----------------------------------------------------------------------------------------------------

    def _network(self) -> None:
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for host in HOSTS:
            ns, outside, inside = self.netns(host), f"{self.prefix}-{host}", f"{self.prefix}-{host}-i"
            _run("ip", "netns", "add", ns)
            _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            _run("ip", "link", "set", inside, "netns", ns)
            _run("ip", "link", "set", outside, "master", self.bridge)
            _run("ip", "link", "set", outside, "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", ns, "link", "set", inside, "name", "eth0")
            _run("ip", "-n", ns, "addr", "add", f"{self.addr(host)}/24", "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")

    def _database(self) -> None:
        _psql(self.postgres, f'CREATE DATABASE "{self.database}"')
        # Django sets the session time zone with SET when a connection's differs from UTC; behind transaction
        # pooling that SET would land on whichever server connection ran it. The database's default is UTC instead.
        _psql(self.postgres, f"ALTER DATABASE \"{self.database}\" SET timezone TO 'UTC'")
        env = self.app_env(database_url=self.database_direct_url)
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"migrate failed: {result.stderr[-2000:]}")

    def spawn(self, name: str, host: str, argv: list[str], *, env: dict[str, str] | None = None) -> None:
        log = open(self.workdir / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            ["ip", "netns", "exec", self.netns(host), *argv],
            cwd=ROOT,
            env=env if env is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)

    def _await(self, name: str, predicate: Any, what: str, timeout: float = 30.0) -> None:
        """Wait for a process's readiness; fail at once (with its log) if it exited."""
        wait_for(predicate, what, timeout, proc=self.procs[name], log=self.workdir / f"{name}.log")

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def redis_start(self, host: str) -> None:
        argv = ["redis-server", "--bind", self.addr(host), "--port", str(REDIS_PORT)]
        argv += ["--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", str(self.workdir)]
        self.spawn(host, host, argv)
        self._await(host, lambda: port_open(self.addr(host), REDIS_PORT), f"{host} listening")

    def pgbouncer_start(self) -> None:
        socket_dir = _psql(self.postgres, "SHOW unix_socket_directories").strip().split(",")[0].strip()
        config = self.workdir / "pgbouncer"
        config.mkdir(exist_ok=True)
        (config / "userlist.txt").write_text('"postgres" ""\n')
        (config / "pgbouncer.ini").write_text(
            "\n".join(
                [
                    "[databases]",
                    f"{self.database} = host={socket_dir} dbname={self.database} user=postgres",
                    "[pgbouncer]",
                    f"listen_addr = {self.addr('db')}",
                    f"listen_port = {PGBOUNCER_PORT}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {config / 'userlist.txt'}",
                    "pool_mode = transaction",
                    "max_client_conn = 2000",
                    f"default_pool_size = {PGBOUNCER_POOL_SIZE}",
                    f"max_db_connections = {PGBOUNCER_POOL_SIZE}",
                    "reserve_pool_size = 0",
                    # A client waiting for a free server connection fails after this long instead of hanging.
                    "query_wait_timeout = 10",
                    "ignore_startup_parameters = extra_float_digits",
                    "admin_users = postgres",
                    "",
                ]
            )
        )
        # PgBouncer refuses to run as root; as `postgres` it also passes PostgreSQL's peer authentication.
        shutil.chown(config, "postgres")
        for path in config.iterdir():
            shutil.chown(path, "postgres")
        self.spawn("pgbouncer", "db", ["pgbouncer", "-u", "postgres", str(config / "pgbouncer.ini")])
        self._await("pgbouncer", lambda: port_open(self.addr("db"), PGBOUNCER_PORT), "pgbouncer listening")

    def broker_start(self) -> None:
        """A RabbitMQ node of the cluster's own on the broker host: its own name (epmd and the distribution port
        live in the namespace), vhost, user and data directory. The data directory outlives a stop, so a restarted
        broker still has its durable queue and the persistent messages in it."""
        base = self.workdir / "rabbitmq"
        base.mkdir(exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    f"listeners.tcp.default = {self.addr('broker')}:{AMQP_PORT}",
                    "loopback_users = none",
                    f"default_vhost = {self.vhost}",
                    "default_user = notify",
                    f"default_pass = {self.broker_password}",
                    "default_permissions.configure = .*",
                    "default_permissions.read = .*",
                    "default_permissions.write = .*",
                    "",
                ]
            )
        )
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(base),  # the node's Erlang cookie
            "RABBITMQ_NODENAME": f"{self.prefix}@localhost",
            "RABBITMQ_BASE": str(base),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        }
        self.spawn("broker", "broker", [str(RABBITMQ_SERVER)], env=env)
        self._await("broker", lambda: port_open(self.addr("broker"), AMQP_PORT), "broker listening", 90)

    def procfile_command(self, kind: str, *extra: str) -> list[str]:
        """A Procfile line (`web`, `worker`, `beat`), run by a shell as a platform would, Python being this one."""
        for line in (ROOT / "Procfile").read_text().splitlines():
            if line.startswith(f"{kind}:"):
                command = line.split(":", 1)[1].strip()
                if command.startswith("python "):
                    command = f"{sys.executable} {command[len('python ') :]}"
                elif command.startswith("celery "):
                    command = f"{sys.executable} -m celery {command[len('celery ') :]}"
                return ["sh", "-c", " ".join(["exec", command, *extra])]
        raise RuntimeError(f"Procfile has no {kind} line")

    def web_command(self) -> list[str]:
        return self.procfile_command("web")

    def app_start(self, *hosts: str) -> None:
        """Start web, worker and beat hosts side by side and wait until each is ready: a web host healthy, a worker
        consuming (its log says `ready.`), beat started."""
        for host in hosts:
            env = self.app_env()
            if host in WEB_HOSTS:
                env["PORT"] = str(WEB_PORT)
                self.spawn(host, host, self.web_command(), env=env)
            elif host in WORKER_HOSTS:
                env["LOG_LEVEL"] = "INFO"  # delivery outcomes, and `ready.` to wait for
                self.spawn(host, host, self.procfile_command("worker", "-n", f"{host}@%h"), env=env)
            else:
                env["LOG_LEVEL"] = "INFO"
                schedule = str(self.workdir / "beat-schedule")
                self.spawn(host, host, self.procfile_command("beat", "-s", schedule), env=env)
        for host in hosts:
            self._await(host, lambda host=host: self._ready(host), f"{host} ready", 90)

    def _ready(self, host: str) -> bool:
        if host in WEB_HOSTS:
            return http_status(f"{self.web(host)}/healthz") == 200
        if host in WORKER_HOSTS:
            return " ready." in self.log(host)
        return "beat: Starting..." in self.log(host)

    def web_start(self, *hosts: str) -> None:
        self.app_start(*hosts)

    def _haproxy(self) -> None:
        lb = self.addr("lb")
        error = self.workdir / "haproxy-503.http"
        body = json.dumps({"detail": "No web host is available; retry shortly.", "code": "no_web_host"})
        error.write_bytes(
            (
                "HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-store\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\nRetry-After: 1\r\nContent-Length: {len(body)}\r\n\r\n{body}"
            ).encode()
        )
        servers = [f"    server {host} {self.addr(host)}:{WEB_PORT} check inter 1s fall 2 rise 2" for host in WEB_HOSTS]
        (self.workdir / "haproxy.cfg").write_text(
            "\n".join(
                [
                    "global",
                    "    maxconn 8000",  # two file descriptors each: stays under a default hard limit of 20,000
                    # One thread: this lb shares the box's two cores with every other host. Its default (a thread per
                    # core) added 3.0 ms at p50 per frame at 250/s in one run, one thread -0.5 and +0.5 ms in two
                    # (docs/performance.md, 2026-12-07). A dedicated lb host keeps the default.
                    "    nbthread 1",
                    f"    stats socket {self.workdir / 'haproxy.sock'} mode 600 level admin",
                    "defaults",
                    "    mode http",
                    "    timeout connect 2s",
                    "    timeout client 60s",
                    "    timeout server 60s",
                    # An upgraded WebSocket is a tunnel: idle for minutes between notifications is normal.
                    "    timeout tunnel 1h",
                    "    timeout http-request 15s",
                    # A host that refuses connections (killed, restarting) before checks notice: try the other.
                    "    retries 3",
                    "    option redispatch 1",
                    "    retry-on conn-failure empty-response",
                    "    option forwardfor",
                    f"    errorfile 503 {error}",
                    "frontend web",
                    f"    bind {lb}:{LB_PORT}",
                    "    default_backend web",
                    "backend web",
                    "    balance roundrobin",
                    "    option httpchk",
                    # Not the broker: its outage delays email and push, not what a web host serves (docs/api.md).
                    f"    http-check send meth GET uri {LB_CHECK} ver HTTP/1.1 hdr Host {lb}",
                    "    http-check expect status 200",
                    # Which host answered (tests check both got sockets); no cookie, no affinity.
                    "    http-response set-header X-Served-By %s",
                    *servers,
                    "",
                ]
            )
        )
        self.spawn("haproxy", "lb", ["haproxy", "-W", "-db", "-f", str(self.workdir / "haproxy.cfg")])
        self._await("haproxy", lambda: self.lb_servers_up() == set(WEB_HOSTS), "haproxy sees both web hosts up")

    def wait_lb_up(self, timeout: float = 30.0) -> None:
        """Until HAProxy's checks see both web hosts up again (after a fault a test made)."""
        wait_for(lambda: self.lb_servers_up() == set(WEB_HOSTS), "both web hosts up behind lb", timeout)

    def haproxy_command(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.workdir / "haproxy.sock"))
            s.sendall(f"{command}\n".encode())
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def lb_servers_up(self) -> set[str]:
        """The web hosts HAProxy sends traffic to now (its health checks' view)."""
        try:
            lines = self.haproxy_command("show stat").splitlines()
        except OSError:
            return set()
        if not lines:
            return set()
        header = lines[0].lstrip("# ").split(",")
        up = set()
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "web" and row.get("svname") in WEB_HOSTS and row.get("status") == "UP":
                up.add(row["svname"])
        return up

    # --- application data ------------------------------------------------------------------------------------------

    def manage(self, code: str) -> Any:
        """Run Django code against the cluster's database (directly); what it prints last is JSON, returned."""
        result = subprocess.run(
            [sys.executable, "-c", f"import django\ndjango.setup()\n{code}"],
            cwd=ROOT,
            env=self.app_env(database_url=self.database_direct_url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage failed: {result.stderr[-2000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    missing = tools_missing()
    if missing:
        packages = "haproxy pgbouncer redis-server rabbitmq-server iproute2"
        sys.exit(f"missing: {', '.join(missing)} (apt-get install {packages}; as root)")
    cluster = Cluster()
    stop = False

    def interrupted(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, interrupted)
    try:
        cluster.start()
        print(f"cluster up: {cluster.lb}/ (HAProxy) over {', '.join(cluster.web(h) for h in WEB_HOSTS)}")
        print(f"  channel layer shards: {', '.join(cluster.redis_urls)}")
        print(f"  database through PgBouncer: {cluster.database_url}")
        print(f"  Celery: RabbitMQ {cluster.broker_url}, workers {', '.join(WORKER_HOSTS)}, beat")
        print(f"  mail sink (SMTP, messages counted, not kept on disk): {cluster.mail.host}:{cluster.mail.port}")
        print(f"  logs: {cluster.workdir}/*.log. Ctrl-C tears everything down.")
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        print("cluster removed")
