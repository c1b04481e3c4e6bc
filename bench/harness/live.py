"""Real processes for the WebSocket integration tests and the benchmarks: daphne, a private redis-server,
and a WebSocket client that keeps what it receives."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_wait(port: int, proc: subprocess.Popen[Any], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port}")
            time.sleep(0.1)


def database_url(settings_dict: dict[str, Any]) -> str:
    """The URL of the database the tests use (the test database, not the configured one)."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


class Daphne:
    """One daphne web process on a free loopback port, started as the Procfile starts it (`limits=False`: bare daphne,
    as the Channels docs start it)."""

    def __init__(
        self,
        *,
        database: str,
        redis: str,
        prefix: str,
        settings: str = "notifyproject.settings.test",
        limits: bool = True,
        extra_env: dict[str, str] | None = None,
    ):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="daphne-", suffix=".log")
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            DJANGO_SETTINGS_MODULE=settings,
            DATABASE_URL=database,
            REDIS_URL=redis,
            REDIS_PREFIX=prefix,
            LOG_LEVEL="WARNING",
            DATABASE_POOL="1",  # production's default (the test process itself runs without it)
        )
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "notifyproject.serve" if limits else "daphne",
                "-e",
                f"tcp:port={self.port}:interface=127.0.0.1:backlog=4096",
                "--websocket_connect_timeout",
                "30",
                *(["--websocket-max-message-size", "65536", "--websocket-max-frame-size", "65536"] if limits else []),
                "notifyproject.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        port_wait(self.port, self.proc, "daphne")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/notifications/"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace") if Path(self.log.name).exists() else ""

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


class RedisServer:
    """A private redis-server on a free port: the only Redis a test may kill and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_wait(self.port, self.proc, "redis-server")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class WsClient:
    """A real WebSocket client that collects frames in the background: notifications by id, other frames in order."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None, origin: str | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.origin = origin
        self.conn: ClientConnection | None = None
        self.hello: dict[str, Any] = {}
        self.notifications: dict[str, dict[str, Any]] = {}
        self.frames: list[dict[str, Any]] = []
        self.received_at: dict[str, float] = {}
        self.last_seq = 0
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, *, resume: int | None = None) -> dict[str, Any]:
        self.closed = asyncio.Event()
        self.close_code = None
        self.conn = await connect(
            self.url,
            additional_headers=self.headers,
            origin=Origin(self.origin) if self.origin is not None else None,
            proxy=None,
            compression=None,  # type: ignore[arg-type]
            open_timeout=10,
            max_size=None,
        )
        self.hello = orjson.loads(await self.conn.recv())
        self._task = asyncio.ensure_future(self._read())
        if resume is not None:
            await self.send({"type": "resume", "last_seq": resume})
        return self.hello

    async def send(self, frame: Any) -> None:
        assert self.conn is not None
        await self.conn.send(frame if isinstance(frame, str | bytes) else orjson.dumps(frame).decode())

    async def _read(self) -> None:
        assert self.conn is not None
        try:
            async for raw in self.conn:
                frame = orjson.loads(raw)
                if frame["type"] == "notification":
                    n = frame["notification"]
                    self.notifications.setdefault(n["id"], n)
                    self.received_at.setdefault(n["id"], time.monotonic())
                    self.last_seq = max(self.last_seq, n["seq"])
                else:
                    self.frames.append(frame)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.conn.close_code
            self.closed.set()

    async def frame(self, type_: str, timeout: float = 5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, f in enumerate(self.frames):
                if f["type"] == type_:
                    return self.frames.pop(i)
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {type_} frame within {timeout}s; got {self.frames}")

    async def wait_for(self, predicate: Any, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.02)
        return predicate()

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        if self._task is not None:
            await self._task
