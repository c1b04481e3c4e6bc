"""Where the bench runs: services, databases, the peer's venv, the machine it records.

Everything is configurable by environment so `make bench` can share a PostgreSQL and a Redis with other users:
BENCH_PG (server URL without database), BENCH_DB_PREFIX (databases it creates and drops), BENCH_REDIS_URL,
BENCH_REDIS_PREFIX.
"""

import os
import platform
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
PEER_VENV = Path(os.environ.get("BENCH_PEER_VENV", BENCH_DIR / ".peer-venv"))
PEER_DIR = BENCH_DIR / "peer"
PEER_REQUIREMENTS = PEER_DIR / "requirements.txt"


@dataclass
class Config:
    pg: str = field(default_factory=lambda: os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432"))
    db_prefix: str = field(default_factory=lambda: os.environ.get("BENCH_DB_PREFIX", "bench_"))
    redis_url: str = field(default_factory=lambda: os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5"))
    redis_prefix: str = field(default_factory=lambda: os.environ.get("BENCH_REDIS_PREFIX", "bench"))

    def db_name(self, suffix: str) -> str:
        return f"{self.db_prefix}{suffix}"

    def db_url(self, suffix: str) -> str:
        parts = urlsplit(self.pg)
        return urlunsplit((parts.scheme, parts.netloc, "/" + self.db_name(suffix), parts.query, ""))

    def django_env(self, db_suffix: str, **extra: str) -> dict[str, str]:
        """Environment of a process running our project in production mode against a bench database."""
        env = dict(os.environ)
        for key in ("DJANGO_DEBUG", "REQUIRE_SERVICES", "PYTEST_ADDOPTS"):
            env.pop(key, None)
        env.update(
            DJANGO_SETTINGS_MODULE="notifyproject.settings.base",
            DATABASE_URL=self.db_url(db_suffix),
            REDIS_URL=self.redis_url,
            REDIS_PREFIX=self.redis_prefix,
            DJANGO_SECRET_KEY="bench-only-secret-key-not-for-production-use-0123456789",
            DJANGO_DEBUG="0",
            LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),
        )
        env.update(extra)
        return env


def pg_connect(config: Config, dbname: str = "postgres") -> Any:
    import psycopg

    parts = urlsplit(config.pg)
    return psycopg.connect(urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, "")), autocommit=True)


def db_create(config: Config, suffix: str, *, fresh: bool = False) -> str:
    """Create the bench database (dropping it first when fresh). Only ever touches names with the bench prefix."""
    name = config.db_name(suffix)
    assert name.startswith(config.db_prefix)
    with pg_connect(config) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = False
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return name


def migrate(config: Config, suffix: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=config.django_env(suffix),
        check=True,
    )


def sys_python() -> str:
    """Our interpreter (the project's venv): the harness runs under it."""
    return sys.executable


def peer_python() -> Path:
    """The peer's interpreter, creating its venv on first use (it must never share ours: app label clash)."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".installed"
    wanted = PEER_REQUIREMENTS.read_text()
    if not python.exists():
        venv.create(PEER_VENV, with_pip=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(PEER_REQUIREMENTS)],
            check=True,
        )
        stamp.write_text(wanted)
    return python


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("Django", "channels", "channels_redis", "daphne", "redis", "psycopg", "orjson", "websockets"):
        try:
            out[f"{dist}-py" if dist == "redis" else dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _server_version(config: Config) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with pg_connect(config) as conn:
            out["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
            for setting in ("shared_buffers", "work_mem", "synchronous_commit", "max_connections"):
                out[f"pg.{setting}"] = conn.execute(f"SHOW {setting}").fetchone()[0]
    except Exception as exc:  # the record still says why
        out["postgresql"] = f"unreachable: {exc}"
    try:
        import redis

        info = redis.Redis.from_url(config.redis_url).info("server")
        out["redis-server"] = info.get("redis_version", "?")
    except Exception as exc:
        out["redis-server"] = f"unreachable: {exc}"
    return out


def machine(config: Config) -> dict[str, Any]:
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model,
        "memory_mib": mem_kib // 1024,
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "versions": {**_versions(), **_server_version(config)},
        "settings": {
            "pg": config.pg,
            "db_prefix": config.db_prefix,
            "redis_url": config.redis_url,
            "redis_prefix": config.redis_prefix,
        },
    }
