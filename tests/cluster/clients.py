"""Clients of the cluster, all through `lb` as a browser or producer would: WebSocket clients that keep every frame
in arrival order (duplicates included), and HTTP calls that retry what a load balancer may answer during a fault."""

import asyncio
import time
import uuid
from typing import Any

import orjson
import psycopg
import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.harness.cluster import Cluster

RETRYABLE = {502, 503, 504}


def api(
    cluster: Cluster, method: str, path: str, token: str, *, json: Any = None, base: str | None = None, **kw: Any
) -> requests.Response:
    return requests.request(
        method,
        f"{base or cluster.lb}{path}",
        headers={"Authorization": f"Token {token}", **kw.pop("headers", {})},
        json=json,
        timeout=10,
        **kw,
    )


def api_retrying(
    cluster: Cluster,
    method: str,
    path: str,
    token: str,
    *,
    timeout: float = 30,
    seen: list[tuple[int | str, str]] | None = None,
    **kw: Any,
) -> Any:
    """A producer's call: retried on 502/503/504 and refused connections, with one Idempotency-Key for a POST so a
    retried send is written once. Returns the first answer that is not retryable; each retried one is appended to
    `seen` as (status, body) or ("refused", "")."""
    headers = {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else {}
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = api(cluster, method, path, token, headers=headers, **kw)
            if response.status_code not in RETRYABLE:
                return response
            if seen is not None:
                seen.append((response.status_code, response.text))
        except requests.ConnectionError:
            if seen is not None:
                seen.append(("refused", ""))
        if time.monotonic() > deadline:
            raise AssertionError(f"{method} {path}: no answer but 5xx/refused for {timeout} s")
        time.sleep(0.1)


class Socket:
    """One user's WebSocket through `lb` (ticket authentication), reconnectable with resume."""

    def __init__(self, cluster: Cluster, token: str) -> None:
        self.cluster = cluster
        self.token = token
        self.conn: ClientConnection | None = None
        self.host = ""  # the web host that answered the handshake (HAProxy's X-Served-By)
        self.hosts: list[str] = []  # every connection's host, in order
        self.hello: dict[str, Any] = {}
        self.arrivals: list[dict[str, Any]] = []  # notification frames' payloads in arrival order, duplicates kept
        self.frames: list[dict[str, Any]] = []  # every other frame
        self.last_seq = 0
        self.closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def ticket(self) -> str:
        response = await asyncio.to_thread(api, self.cluster, "POST", "/api/v1/ws-tickets/", self.token)
        if response.status_code != 201:
            raise OSError(f"ticket: {response.status_code}")
        return str(response.json()["ticket"])

    async def open(self, *, resume: int | None = None, ticket: str | None = None) -> "Socket":
        ticket = ticket or await self.ticket()
        self.closed = asyncio.Event()
        self.conn = await connect(
            f"{self.cluster.lb_ws}?ticket={ticket}",
            proxy=None,
            compression=None,  # type: ignore[arg-type]
            open_timeout=10,
            max_size=None,
        )
        assert self.conn.response is not None
        self.host = self.conn.response.headers.get("X-Served-By", "")
        self.hosts.append(self.host)
        self.hello = orjson.loads(await self.conn.recv())
        self._task = asyncio.ensure_future(self._read(self.conn))
        if resume is not None:
            await self.send({"type": "resume", "last_seq": resume})
        return self

    async def reconnect(self, timeout: float = 30) -> None:
        """What the browser module does after a drop: connect again (anywhere) and resume from the last seq seen."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self.open(resume=self.last_seq)
                return
            except (TimeoutError, OSError, InvalidHandshake):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.conn is not None
        await self.conn.send(orjson.dumps(frame).decode())

    async def _read(self, conn: ClientConnection) -> None:
        try:
            async for raw in conn:
                frame = orjson.loads(raw)
                if frame["type"] == "notification":
                    self.arrivals.append(frame["notification"])
                    self.last_seq = max(self.last_seq, frame["notification"]["seq"])
                else:
                    self.frames.append(frame)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    @property
    def ids(self) -> set[str]:
        return {n["id"] for n in self.arrivals}

    async def frame(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, f in enumerate(self.frames):
                if predicate(f):
                    return self.frames.pop(i)
            await asyncio.sleep(0.02)
        raise AssertionError(f"no such frame within {timeout} s; got {self.frames}")

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        if self._task is not None:
            await self._task


async def wait_until(predicate: Any, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


def inbox(cluster: Cluster, user_id: int) -> dict[str, int]:
    """The truth: the user's notifications in the database (read directly, not through PgBouncer)."""
    with psycopg.connect(cluster.database_direct_url) as conn:
        rows = conn.execute(
            "SELECT uuid::text, seq FROM notifications_notification WHERE recipient_id = %s", [user_id]
        ).fetchall()
    return {u: s for u, s in rows}


async def open_on_both(cluster: Cluster, token: str, tries: int = 6) -> dict[str, Socket]:
    """One socket of the user on each web host, both through `lb`. Round robin alternates per request, and a ticket
    request sits before each handshake: so both tickets first, then both handshakes (retried if they still met one
    host). Returns host -> socket."""
    placed: dict[str, Socket] = {}
    for _ in range(tries):
        sockets = [Socket(cluster, token), Socket(cluster, token)]
        tickets = [await s.ticket() for s in sockets]
        for socket, ticket in zip(sockets, tickets, strict=True):
            await socket.open(ticket=ticket)
            if socket.host in placed:
                await socket.close()
            else:
                placed[socket.host] = socket
        if len(placed) == 2:
            return placed
    raise AssertionError(f"round robin put every socket on {sorted(placed)}")
