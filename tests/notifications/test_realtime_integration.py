"""The WebSocket protocol against real processes: daphne on a loopback port, PostgreSQL, Redis, and the `websockets`
client library. Skipped on a laptop without services; failing in CI (REQUIRE_SERVICES=1) when one is missing."""

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.harness.live import Daphne, RedisServer, WsClient, database_url
from notifications.models import Notification, WsTicket
from notifications.services import notification_send_bulk
from notifications.tickets import ws_ticket_create
from tests.conftest import service_missing
from tests.factories import make_user, make_users, send
from tests.notifications.realtime_helpers import async_test

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _services_required() -> None:
    if connection.vendor != "postgresql":
        service_missing("needs PostgreSQL (set DATABASE_URL)")
    if not settings.REDIS_URL:
        service_missing("needs Redis (set REDIS_URL)")


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    _services_required()
    web = Daphne(
        database=database_url(connection.settings_dict), redis=settings.REDIS_URL, prefix=settings.REDIS_PREFIX
    )
    yield web
    web.stop()


@pytest.fixture(autouse=True)
def _services(transactional_db):
    _services_required()


def session_headers(user, web: Daphne) -> tuple[dict[str, str], str]:
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}, web.base


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ORM work in a worker thread (as a request would), closing its connection afterwards."""

    def run() -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    return await asyncio.to_thread(run)


async def browser(user, web: Daphne, *, resume: int | None = None) -> WsClient:
    headers, origin = await in_thread(session_headers, user, web)
    client = WsClient(web.ws, headers=headers, origin=origin)
    await client.open(resume=resume)
    return client


def inbox(user) -> dict[str, int]:
    return {str(u): s for u, s in Notification.objects.filter(recipient=user).values_list("uuid", "seq")}


def sender_thread(users: list, rounds: int, pause: float, hooks: dict[int, Callable[[], None]] | None = None):
    """Commits notifications continuously from another thread, as producers would."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for i in range(rounds):
                if hooks and i in hooks:
                    hooks[i]()
                send(users, title=f"n{i}")
                time.sleep(pause)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


async def converged(clients: dict[Any, list[WsClient]], timeout: float = 15) -> dict[str, list[int]]:
    """Wait until every client's notifications (deduplicated by id) equal the database; report the differences."""
    expected = {user.pk: await in_thread(inbox, user) for user in clients}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(set(c.notifications) == set(expected[u.pk]) for u, cs in clients.items() for c in cs):
            return {}
        await asyncio.sleep(0.05)
    return {
        f"{u.username}#{i}": sorted(s for n, s in expected[u.pk].items() if n not in c.notifications)
        for u, cs in clients.items()
        for i, c in enumerate(cs)
        if set(c.notifications) != set(expected[u.pk])
    }


# --- delivery -----------------------------------------------------------------------------------------------------


@async_test
async def test_a_sent_notification_reaches_every_socket_of_the_recipient_only(server, record_property):
    alice, bob = await in_thread(make_user, "alice"), await in_thread(make_user, "bob")
    tab1, tab2 = await browser(alice, server), await browser(alice, server)
    other = await browser(bob, server)
    token = await in_thread(lambda: Token.objects.create(user=alice).key)
    response = await asyncio.to_thread(
        requests.post, f"{server.base}/api/v1/ws-tickets/", headers={"Authorization": f"Token {token}"}, timeout=5
    )
    assert response.status_code == 201
    cli = WsClient(f"{server.ws}?ticket={response.json()['ticket']}")
    assert (await cli.open())["type"] == "hello"

    started = time.monotonic()
    result = await in_thread(send, [alice], title="Live")
    nid = str(result.notification_ids[0])
    for client in (tab1, tab2, cli):
        assert await client.wait_for(lambda c=client: nid in c.notifications, timeout=5)
        assert client.notifications[nid]["title"] == "Live"
    record_property("send_to_frame_ms", round((tab1.received_at[nid] - started) * 1000, 2))
    await asyncio.sleep(0.3)
    assert other.notifications == {}

    # each new notification comes with the recipient's unread count
    for client in (tab1, tab2, cli):
        assert await client.frame("unread_count") == {"type": "unread_count", "count": 1}

    # when one tab marks it read, the other tab learns it, with the new unread count
    await tab1.send({"type": "mark_read", "ids": [nid]})
    assert await tab2.frame("notification_updated") == {"type": "notification_updated", "ids": [nid], "read": True}
    assert await tab2.frame("unread_count") == {"type": "unread_count", "count": 0, "groups": 0}
    assert other.frames == []
    for client in (tab1, tab2, cli, other):
        await client.close()


@async_test
async def test_offline_client_resumes_and_gets_all_300_in_order(server):
    alice = await in_thread(make_user, "alice")
    first = await browser(alice, server)
    cursor = first.hello["last_seq"]
    await first.close()
    await in_thread(
        notification_send_bulk,
        sends=[{"recipients": [alice], "category": "comment", "title": f"missed {i}"} for i in range(300)],
    )
    client = WsClient(first.url, headers=first.headers, origin=first.origin)
    await client.open()
    assert client.hello["last_seq"] == cursor + 300

    await client.send({"type": "resume", "last_seq": cursor})
    done = await client.frame("replay_done", timeout=10)
    assert done == {"type": "replay_done", "last_seq": cursor + 300, "count": 300}
    expected = await in_thread(inbox, alice)
    assert set(client.notifications) == set(expected)
    order = [n["seq"] for n in client.notifications.values()]
    assert order == sorted(order) == list(range(cursor + 1, cursor + 301))
    assert all(client.notifications[i]["title"].startswith("missed") for i in expected)
    await client.close()


@async_test
async def test_notifications_committed_while_clients_connect_and_resume_all_arrive(server):
    users = await in_thread(make_users, 4, "race")
    thread, errors = sender_thread(users, rounds=80, pause=0.01)
    clients: dict[Any, list[WsClient]] = {u: [] for u in users}
    for round_ in range(3):  # connect in waves while sends commit
        for user in users:
            clients[user].append(await browser(user, server, resume=0 if round_ != 1 else None))
        await asyncio.sleep(0.2)
    await asyncio.to_thread(thread.join, 60)
    assert errors == []
    # a client that did not resume sees everything after its hello; give it its history like a page load would
    for user in users:
        for client in clients[user]:
            resumed = any(f["type"] == "replay_done" for f in client.frames)
            if client.hello["last_seq"] and not resumed:
                await client.send({"type": "resume", "last_seq": 0})
    assert await converged(clients) == {}
    for cs in clients.values():
        for client in cs:
            await client.close()


# --- faults -------------------------------------------------------------------------------------------------------


@async_test
async def test_redis_restart_while_sending_loses_nothing(settings):
    _services_required()
    redis = RedisServer()
    prefix = f"{settings.REDIS_PREFIX}-restart"
    settings.REDIS_URL = redis.url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "notifications.realtime.layer.RecoveringPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": redis.url, "max_connections": 100}], "prefix": prefix},
        }
    }
    web = Daphne(database=database_url(connection.settings_dict), redis=redis.url, prefix=prefix)
    try:
        users = await in_thread(make_users, 3, "restart")
        clients = {u: [await browser(u, web, resume=0)] for u in users}

        def restart() -> None:
            redis.kill()
            time.sleep(1.0)
            redis.start()

        thread, errors = sender_thread(users, rounds=90, pause=0.01, hooks={30: restart})
        await asyncio.to_thread(thread.join, 60)
        assert errors == []
        # the sockets stayed open; the layer told them it reconnected and they refilled from the database
        assert all(not c.closed.is_set() for cs in clients.values() for c in cs)
        assert await converged(clients) == {}
        # and a reconnect with resume from what each client has finds nothing missing
        for user, (client,) in clients.items():
            await client.close()
            again = await browser(user, web, resume=client.last_seq)
            assert await again.frame("replay_done") == {"type": "replay_done", "last_seq": client.last_seq, "count": 0}
            await again.close()
    finally:
        web.stop()
        redis.kill()


@async_test
async def test_killing_one_of_two_web_processes_loses_nothing():
    _services_required()
    database = database_url(connection.settings_dict)
    a = Daphne(database=database, redis=settings.REDIS_URL, prefix=settings.REDIS_PREFIX)
    b = Daphne(database=database, redis=settings.REDIS_URL, prefix=settings.REDIS_PREFIX)
    try:
        users = await in_thread(make_users, 4, "kill")
        clients = {u: [await browser(u, a, resume=0), await browser(u, b, resume=0)] for u in users}

        async def failover(client: WsClient) -> None:
            await client.closed.wait()
            await asyncio.sleep(0.1)  # backoff
            client.url = b.ws
            client.origin = b.base
            await client.open(resume=client.last_seq)

        watchers = [asyncio.ensure_future(failover(cs[0])) for cs in clients.values()]
        thread, errors = sender_thread(users, rounds=80, pause=0.01, hooks={25: a.kill})
        await asyncio.to_thread(thread.join, 60)
        assert errors == []
        await asyncio.wait_for(asyncio.gather(*watchers), timeout=15)
        assert all(cs[0].url == b.ws for cs in clients.values())
        assert await converged(clients) == {}
        for cs in clients.values():
            for client in cs:
                await client.close()
    finally:
        a.kill()
        b.stop()


# --- handshake and abuse ------------------------------------------------------------------------------------------


async def _refused(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as exc:
        await connect(url, proxy=None, open_timeout=5, **kwargs)
    return exc.value.response.status_code


@async_test
async def test_bad_origin_no_session_and_bad_tickets_are_refused_with_403(server):
    alice = await in_thread(make_user, "alice")
    headers, origin = await in_thread(session_headers, alice, server)
    assert await _refused(server.ws, additional_headers=headers, origin="https://evil.example.com") == 403
    assert await _refused(server.ws, origin=origin) == 403
    assert await _refused(server.ws, additional_headers={"Cookie": "sessionid=forged"}, origin=origin) == 403
    ticket = await in_thread(ws_ticket_create, user_id=alice.pk)
    ok = WsClient(f"{server.ws}?ticket={ticket}")
    await ok.open()
    assert await _refused(f"{server.ws}?ticket={ticket}") == 403  # reused
    expired = await in_thread(ws_ticket_create, user_id=alice.pk)
    await in_thread(lambda: WsTicket.objects.update(expires_at=timezone.now()))
    assert await _refused(f"{server.ws}?ticket={expired}") == 403
    await ok.close()


@async_test
async def test_an_oversized_frame_to_a_daphne_without_size_limits_gets_an_error_then_4009():
    _services_required()
    bare = Daphne(
        database=database_url(connection.settings_dict),
        redis=settings.REDIS_URL,
        prefix=settings.REDIS_PREFIX,
        limits=False,
    )
    try:
        alice = await in_thread(make_user, "alice")
        client = await browser(alice, bare)
        await client.send("x" * (64 * 1024 + 1))
        await asyncio.wait_for(client.closed.wait(), 5)
        assert client.close_code == 4009
        assert [f["code"] for f in client.frames if f["type"] == "error"] == ["frame_too_big"]
    finally:
        bare.stop()


@async_test
async def test_oversized_garbage_and_flooding_frames(server):
    alice, bob = await in_thread(make_user, "alice"), await in_thread(make_user, "bob")
    client = await browser(alice, server)
    await client.send("{garbage")
    assert (await client.frame("error"))["code"] == "bad_json"
    await client.send({"type": "launch"})
    assert (await client.frame("error"))["code"] == "unknown_type"
    await client.send({"type": "ping"})
    assert await client.frame("pong") == {"type": "pong"}
    await client.send("x" * (64 * 1024 + 1))
    await asyncio.wait_for(client.closed.wait(), 5)
    assert client.close_code == 1009

    flooder, calm = await browser(alice, server), await browser(bob, server)
    assert flooder.conn is not None
    try:
        for _ in range(500):
            await flooder.conn.send('{"type":"ping"}')
    except ConnectionClosed:
        pass
    await asyncio.wait_for(flooder.closed.wait(), 5)
    assert flooder.close_code == 4429
    assert {"type": "error", "code": "rate_limited", "message": "Too many frames."} in flooder.frames
    await calm.send({"type": "ping"})
    assert await calm.frame("pong") == {"type": "pong"}
    await calm.close()


def _slow_headers_dropped(port: int) -> bool:
    """Send a request's headers a byte every 0.2 s (slowloris); True once the server drops the connection."""
    import socket

    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 200
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
                time.sleep(0.2)
                sock.setblocking(False)
                if sock.recv(1) == b"":
                    return True
            except BlockingIOError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                return True
            finally:
                sock.setblocking(True)
    return False


@async_test
async def test_headers_that_trickle_in_are_dropped_while_sockets_and_requests_live_on():
    _services_required()
    web = Daphne(
        database=database_url(connection.settings_dict),
        redis=settings.REDIS_URL,
        prefix=settings.REDIS_PREFIX,
        extra_env={"HTTP_HEADER_TIMEOUT": "1"},
    )
    try:
        alice = await in_thread(make_user, "alice")
        # given an open socket (past its handshake) and a client trickling its headers in
        client = await browser(alice, web)
        # then the trickling connection is dropped (its 40 s of headers never complete)
        assert await asyncio.to_thread(_slow_headers_dropped, web.port)
        # while the socket, older than the deadline, still answers, and a normal request is served
        await client.send({"type": "ping"})
        assert await client.frame("pong") == {"type": "pong"}
        assert (await asyncio.to_thread(requests.get, f"{web.base}/healthz", timeout=5)).status_code == 200
        await client.close()
    finally:
        web.stop()
