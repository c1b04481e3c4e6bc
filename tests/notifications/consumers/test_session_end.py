"""Sockets end with their session or credentials: logout, deactivation, password change, revoked tokens,
lifetime and per-user caps."""

import pytest
from django.conf import settings as django_settings
from django.test import Client

from notifications.tickets import ws_ticket_create
from tests.factories import send
from tests.notifications.consumers.conftest import adb, communicator, connect, session_cookie
from tests.notifications.realtime_helpers import async_test

pytestmark = pytest.mark.django_db(transaction=True)


# --- session end --------------------------------------------------------------------------------------------------


@async_test
async def test_logout_closes_that_sessions_sockets_with_4401(alice):
    def login() -> Client:
        client = Client()
        client.force_login(alice)
        return client

    browser = await adb(login)()
    phone_cookie = await adb(session_cookie)(alice)
    ws = communicator(f"sessionid={browser.cookies['sessionid'].value}".encode())
    assert (await ws.connect())[0]
    await ws.receive_json_from()
    phone, _ = await connect(alice)
    await adb(lambda: browser.post("/accounts/logout/"))()
    assert await ws.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    # the other session's socket is still served
    await adb(send)([alice])
    assert (await phone.receive_json_from(timeout=3))["type"] == "notification"
    assert phone_cookie  # a second, independent session
    await phone.disconnect()


@async_test
async def test_deactivation_closes_every_socket_of_the_user_with_4401(alice, bob):
    tab1, _ = await connect(alice)
    ticket = await adb(ws_ticket_create)(user_id=alice.pk)
    tab2 = communicator(origin=None, query=f"?ticket={ticket}")
    assert (await tab2.connect())[0]
    await tab2.receive_json_from()
    other, _ = await connect(bob)
    alice.is_active = False
    await adb(alice.save)()
    for tab in (tab1, tab2):
        assert await tab.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    assert await other.receive_nothing(timeout=0.3)
    await other.disconnect()


# --- sockets end with their credentials ---------------------------------------------------------------------------


def _session_rehash(session_key: str, user) -> None:
    """What update_session_auth_hash() does for the session that changed the password."""
    from importlib import import_module

    from django.contrib.auth import HASH_SESSION_KEY

    session = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key)
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()


@async_test
async def test_a_password_change_closes_other_sessions_sockets_and_keeps_the_changing_one(alice, settings):
    settings.WS_CREDENTIALS_RECHECK_DELAY = 0.3
    browser_cookie = await adb(session_cookie)(alice)
    browser = communicator(browser_cookie)
    assert (await browser.connect())[0]
    await browser.receive_json_from()
    phone, _ = await connect(alice)

    def change_password() -> None:
        alice.set_password("a-new-pass-789")
        alice.save()
        _session_rehash(browser_cookie.decode().split("=", 1)[1], alice)

    await adb(change_password)()
    assert await phone.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    await adb(send)([alice])
    assert (await browser.receive_json_from(timeout=3))["type"] == "notification"
    await browser.disconnect()


@async_test
async def test_revoking_the_api_token_closes_ticket_sockets_only(alice):
    from rest_framework.authtoken.models import Token

    token = await adb(Token.objects.create)(user=alice)
    ticket = await adb(ws_ticket_create)(user_id=alice.pk)
    app = communicator(origin=None, query=f"?ticket={ticket}")
    assert (await app.connect())[0]
    await app.receive_json_from()
    tab, _ = await connect(alice)
    await adb(token.delete)()
    assert await app.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    await adb(send)([alice])
    assert (await tab.receive_json_from(timeout=3))["type"] == "notification"
    await tab.disconnect()


@async_test
async def test_a_socket_whose_session_disappeared_closes_at_its_next_check(alice, settings):
    from django.contrib.sessions.models import Session
    from django.core.cache import caches

    settings.WS_REVALIDATE_SECONDS = 0.2
    ws, _ = await connect(alice)

    def sessions_gone() -> None:  # expired and purged, or deleted by another app: no logout signal
        Session.objects.all().delete()
        caches[settings.SESSION_CACHE_ALIAS].clear()

    await adb(sessions_gone)()
    assert await ws.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}


@async_test
async def test_a_socket_reconnects_after_its_lifetime_cap(alice, settings):
    settings.WS_MAX_LIFETIME_SECONDS = 0.3
    ws, _ = await connect(alice)
    assert await ws.receive_output(timeout=3) == {"type": "websocket.close", "code": 1000}


@async_test
async def test_sockets_per_user_are_capped_and_a_closed_one_frees_its_place(alice, bob, settings):
    settings.WS_MAX_SOCKETS_PER_USER = 2
    first, _ = await connect(alice)
    second, _ = await connect(alice)
    cookie = await adb(session_cookie)(alice)
    assert (await communicator(cookie).connect())[0] is False
    other, _ = await connect(bob)  # another user is not affected
    await first.disconnect()
    third, _ = await connect(alice)
    for ws in (second, third, other):
        await ws.disconnect()


@async_test
async def test_the_open_sockets_gauge_follows_accepted_sockets_only(alice):
    from notifications import metrics

    def gauge() -> float:
        return metrics.WEBSOCKET_CONNECTIONS._value.get()

    before = gauge()
    # an accepted socket counts while it is open
    ws, _hello = await connect(alice)
    assert gauge() == before + 1
    # a refused handshake never counts
    refused = communicator(None)
    connected, _ = await refused.connect()
    assert not connected and gauge() == before + 1
    await ws.disconnect()
    assert gauge() == before
