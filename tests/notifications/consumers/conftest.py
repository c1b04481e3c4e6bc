"""Shared by the WebSocket protocol tests (contract.md) through WebsocketCommunicator, with the real routing and
handshake guard: every test here connects a socket the way a browser tab does.

Runs on the embedded default (in-memory layer) and, with REDIS_URL set, on the Redis pub/sub layer.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from notifications.routing import websocket_application
from tests.factories import make_user

ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture(autouse=True)
def _thread_connections_closed(monkeypatch):
    # Consumers' database threads close their connections after each use, so the next flush is never blocked.
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    yield
    # The consumers' database thread keeps its connection (CONN_MAX_AGE): close it before the next flush.
    asyncio.run(database_sync_to_async(connections.close_all)())


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def bob():
    return make_user("bob")


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(
    cookie: bytes | None = None, *, origin=ORIGIN, query: str = "", host: bytes = b"testserver"
) -> WebsocketCommunicator:
    headers = [h for h in ((b"host", host), origin, (b"cookie", cookie) if cookie else None) if h]
    return WebsocketCommunicator(websocket_application, "/ws/notifications/" + query, headers=headers)


async def connect(user, **kwargs) -> tuple[WebsocketCommunicator, dict]:
    cookie = await database_sync_to_async(session_cookie)(user)
    ws = communicator(cookie, **kwargs)
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from()
    return ws, hello


async def frames(ws: WebsocketCommunicator, n: int) -> list[dict]:
    return [await ws.receive_json_from(timeout=3) for _ in range(n)]


adb = database_sync_to_async


def local_groups() -> set[str]:
    layer = get_channel_layer()
    groups = getattr(layer, "groups", None)
    if groups is None:  # Redis pub/sub layer: the per-loop layer holds the local subscriptions
        groups = {g for loop_layer in layer._layers.values() for g in loop_layer.groups}
    return {g for g in groups if groups[g]} if isinstance(groups, dict) else set(groups)
