"""The WebSocket handshake: sessions, origins, tickets, and the ticket endpoint."""

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.cached_db import SessionStore
from django.core.cache import caches
from django.test import Client
from django.utils import timezone

from notifications import realtime
from notifications.handshake import credentials_from_session, credentials_from_sessions, socket_user, socket_users
from notifications.models import WsTicket
from notifications.routing import websocket_application
from notifications.tickets import ws_ticket_create
from tests.factories import send
from tests.notifications.consumers.conftest import adb, communicator, connect, local_groups, session_cookie
from tests.notifications.realtime_helpers import async_test

pytestmark = pytest.mark.django_db(transaction=True)


# --- handshake ---------------------------------------------------------------------------------------------------


@async_test
async def test_hello_reports_unread_count_and_last_seq(alice):
    await adb(send)([alice])
    await adb(send)([alice])
    ws, hello = await connect(alice)
    assert hello["type"] == "hello"
    assert hello["unread_count"] == 2
    assert hello["last_seq"] == 2
    assert set(hello) == {"type", "unread_count", "last_seq", "server_time"}
    await ws.disconnect()


@async_test
async def test_handshake_without_session_is_rejected_and_subscribes_nothing(alice):
    ws = communicator(None)
    connected, _ = await ws.connect()
    assert connected is False
    assert realtime.user_group(alice.pk) not in local_groups()


@async_test
async def test_cross_site_origin_is_rejected_even_with_a_session(alice):
    cookie = await adb(session_cookie)(alice)
    for origin in (b"https://evil.example.com", b"null", b"http://testserver.evil.com", b"http://evil.com:80@x"):
        connected, _ = await communicator(cookie, origin=(b"origin", origin)).connect()
        assert connected is False, origin
    assert realtime.user_group(alice.pk) not in local_groups()
    # and the same session from an allowed origin is served
    allowed = communicator(cookie, origin=(b"origin", b"http://localhost:8000"), host=b"localhost:8000")
    assert (await allowed.connect())[0] is True
    await allowed.disconnect()


@pytest.mark.parametrize(
    "origin, host",
    [
        (b"http://testserver:8204", b"testserver"),  # another port of an allowed host
        (b"http://testserver", b"testserver:8201"),
        (b"https://testserver", b"testserver"),  # another scheme
        (b"chrome-extension://testserver", b"testserver"),
        (b"http://evil.com@testserver", b"testserver"),  # userinfo
        (b"http://testserver/path", b"testserver"),
        (b"http://evil.example.com", b"evil.example.com"),  # same origin, but the host is not allowed
    ],
)
@async_test
async def test_origin_must_be_this_servers_own_scheme_host_and_port(alice, origin, host):
    cookie = await adb(session_cookie)(alice)
    connected, _ = await communicator(cookie, origin=(b"origin", origin), host=host).connect()
    assert connected is False
    assert realtime.user_group(alice.pk) not in local_groups()


@async_test
async def test_subdomains_of_allowed_hosts_are_other_origins_unless_trusted(alice, settings):
    settings.ALLOWED_HOSTS = [".example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.apps.example.com", "https://portal.example.com"]
    cookie = await adb(session_cookie)(alice)
    refused = communicator(cookie, origin=(b"origin", b"https://evil.example.com"), host=b"app.example.com")
    assert (await refused.connect())[0] is False
    for origin in (b"https://portal.example.com", b"https://one.apps.example.com"):
        trusted = communicator(cookie, origin=(b"origin", origin), host=b"app.example.com")
        assert (await trusted.connect())[0] is True, origin
        await trusted.disconnect()
    wrong_scheme = communicator(cookie, origin=(b"origin", b"http://portal.example.com"), host=b"app.example.com")
    assert (await wrong_scheme.connect())[0] is False


@async_test
async def test_tls_behind_a_proxy_is_read_from_the_proxy_header(alice, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    cookie = await adb(session_cookie)(alice)
    ws = WebsocketCommunicator(
        websocket_application,
        "/ws/notifications/",
        headers=[
            (b"host", b"testserver"),
            (b"origin", b"https://testserver"),
            (b"x-forwarded-proto", b"https"),
            (b"cookie", cookie),
        ],
    )
    assert (await ws.connect())[0] is True
    await ws.disconnect()


@async_test
async def test_a_session_from_before_a_password_change_is_refused(alice):
    cookie = await adb(session_cookie)(alice)

    def change_password() -> None:
        alice.set_password("another-pass-456")
        alice.save()

    await adb(change_password)()
    connected, _ = await communicator(cookie).connect()
    assert connected is False
    assert realtime.user_group(alice.pk) not in local_groups()


def test_the_handshake_reads_user_unread_count_and_last_seq_in_one_query(alice, django_assert_num_queries):
    send([alice])
    send([alice])
    cookie = session_cookie(alice).decode().split("=", 1)[1]
    credentials = credentials_from_session(cookie)  # from the cache
    assert credentials is not None and credentials.user_id == alice.pk
    with django_assert_num_queries(1):
        user = socket_user(credentials)
    assert (user.pk, user.socket_unread, user.socket_last_seq) == (alice.pk, 2, 2)


def test_many_sessions_are_read_together_and_only_logged_in_ones_give_a_claim(alice, bob):
    alice_key = session_cookie(alice).decode().split("=", 1)[1]
    bob_key = session_cookie(bob).decode().split("=", 1)[1]
    caches["default"].delete(SessionStore.cache_key_prefix + bob_key)  # evicted: read from the database instead
    anonymous = SessionStore()
    anonymous["something"] = 1
    anonymous.create()
    keys = [alice_key, bob_key, str(anonymous.session_key), "unknownbutvalidkey123", "bad key!", ""]
    claims = credentials_from_sessions(keys)
    assert set(claims) == {alice_key, bob_key}
    assert (claims[alice_key].user_id, claims[bob_key].user_id) == (alice.pk, bob.pk)
    assert claims[bob_key].session_hash == bob.get_session_auth_hash()


def test_many_handshakes_read_their_users_in_one_query_and_each_is_checked_alone(alice, bob, django_assert_num_queries):
    send([alice])
    claims = credentials_from_sessions([session_cookie(u).decode().split("=", 1)[1] for u in (alice, bob)])
    alice_claim, bob_claim = sorted(claims.values(), key=lambda c: c.user_id == bob.pk)
    forged = replace(bob_claim, session_key="anothersessionkey1", session_hash="wrong")
    unknown = replace(bob_claim, user_id=10**9, session_key="anothersessionkey2")
    with django_assert_num_queries(1):
        users = socket_users([alice_claim, bob_claim, forged, unknown])
    assert set(users) == {alice_claim, bob_claim}  # the forged hash and the unknown user fail alone
    hello = {u.pk: (u.socket_unread, u.socket_last_seq) for u in users.values()}
    assert hello == {alice.pk: (1, 1), bob.pk: (0, 0)}


@async_test
async def test_sockets_opened_together_all_get_their_own_hello(alice, bob):
    await adb(send)([alice])
    sockets = [communicator(await adb(session_cookie)(user)) for user in (alice, bob, alice)]
    assert [c for c, _ in await asyncio.gather(*(ws.connect() for ws in sockets))] == [True, True, True]
    hellos = [await ws.receive_json_from() for ws in sockets]
    assert [(h["type"], h["unread_count"], h["last_seq"]) for h in hellos] == [
        ("hello", 1, 1),
        ("hello", 0, 0),
        ("hello", 1, 1),
    ]
    for ws in sockets:
        await ws.disconnect()


@async_test
async def test_session_cookie_without_origin_is_rejected(alice):
    cookie = await adb(session_cookie)(alice)
    connected, _ = await communicator(cookie, origin=None).connect()
    assert connected is False


@async_test
async def test_ticket_connects_once_without_origin(alice):
    ticket = await adb(ws_ticket_create)(user_id=alice.pk)
    first = communicator(origin=None, query=f"?ticket={ticket}")
    connected, _ = await first.connect()
    assert connected
    assert (await first.receive_json_from())["type"] == "hello"
    # when the same ticket is presented again
    connected_again, _ = await communicator(origin=None, query=f"?ticket={ticket}").connect()
    # then it is refused: single use
    assert connected_again is False
    await first.disconnect()


@async_test
async def test_expired_unknown_or_cross_site_ticket_is_rejected(alice):
    expired = await adb(ws_ticket_create)(user_id=alice.pk)
    await adb(lambda: WsTicket.objects.update(expires_at=timezone.now() - timedelta(seconds=1)))()
    fresh = await adb(ws_ticket_create)(user_id=alice.pk)
    assert (await communicator(origin=None, query=f"?ticket={expired}").connect())[0] is False
    assert (await communicator(origin=None, query="?ticket=not-a-ticket").connect())[0] is False
    evil = (b"origin", b"https://evil.example.com")
    assert (await communicator(origin=evil, query=f"?ticket={fresh}").connect())[0] is False
    assert realtime.user_group(alice.pk) not in local_groups()


@async_test
async def test_ticket_of_a_deactivated_user_is_rejected(alice):
    ticket = await adb(ws_ticket_create)(user_id=alice.pk)
    alice.is_active = False
    await adb(alice.save)()
    assert (await communicator(origin=None, query=f"?ticket={ticket}").connect())[0] is False


# --- ticket endpoint ----------------------------------------------------------------------------------------------


def test_ticket_endpoint_issues_a_hashed_single_use_ticket(alice):
    client = Client()
    assert client.post("/api/v1/ws-tickets/").status_code in (401, 403)
    assert WsTicket.objects.count() == 0
    client.force_login(alice)
    response = client.post("/api/v1/ws-tickets/")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"ticket", "expires_in"} and body["expires_in"] == 60
    row = WsTicket.objects.get()
    assert row.user_id == alice.pk and body["ticket"] not in row.digest


def test_ticket_endpoint_accepts_a_drf_token(alice):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=alice)
    response = Client().post("/api/v1/ws-tickets/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 201
