"""What a restart or a burst does to one live web process: a reconnect storm of sockets opened at the same instant,
and a burst of concurrent requests. Real daphne, PostgreSQL and Redis (skipped on a laptop, failing in CI without
them). No timings are asserted here (bench/ measures them): only that nothing is dropped and nothing piles up."""

import asyncio
import threading
from importlib import import_module

import orjson
import pytest
import requests
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db import connection
from rest_framework.authtoken.models import Token
from websockets.asyncio.client import connect

from tests.factories import make_user, make_users, send
from tests.notifications.realtime_helpers import async_test

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STORM = 300
BURST = 200


def _session_keys(users) -> list[str]:
    """Logged-in sessions, as browsers hold them after a deploy (written through the configured session engine)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = []
    for user in users:
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    return keys


def _open_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _prepare_storm() -> list[str]:
    users = make_users(STORM)
    send(users[:10], title="before the storm")
    try:
        return _session_keys(users)
    finally:
        connection.close()


@async_test
async def test_a_reconnect_storm_of_300_sockets_at_once_all_get_hello(web):
    keys = await asyncio.to_thread(_prepare_storm)

    async def reconnect(key: str):
        ws = await connect(
            web.ws,
            additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={key}"},
            origin=web.base,
            proxy=None,
            compression=None,
            open_timeout=30,
        )
        return ws, orjson.loads(await asyncio.wait_for(ws.recv(), 30))

    results = await asyncio.gather(*(reconnect(k) for k in keys), return_exceptions=True)
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    assert failures == []
    connected = [r for r in results if not isinstance(r, BaseException)]
    hellos = [hello for _ws, hello in connected]
    assert [h["type"] for h in hellos] == ["hello"] * STORM
    assert [h["unread_count"] for h in hellos] == [1] * 10 + [0] * (STORM - 10)
    await asyncio.gather(*(ws.close() for ws, _hello in connected))


def test_200_concurrent_requests_are_all_served_on_a_bounded_number_of_database_connections(web):
    user = make_user("burst")
    send([user])
    token = Token.objects.create(user=user).key
    connection.close()
    url = f"{web.base}/api/v1/notifications/?limit=5"
    statuses: list[int] = []
    peak = [0]
    start = threading.Barrier(BURST + 1)
    done = threading.Event()

    def request() -> None:
        with requests.Session() as session:
            start.wait()
            statuses.append(session.get(url, headers={"Authorization": f"Token {token}"}, timeout=60).status_code)

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _open_connections())
        connection.close()

    threads = [threading.Thread(target=request) for _ in range(BURST)]
    watcher = threading.Thread(target=watch)
    for thread in threads:
        thread.start()
    watcher.start()
    start.wait()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()
    assert statuses == [200] * BURST
    # One web process holds at most its pool (DATABASE_POOL_MAX, 16 by default), however many requests arrive.
    assert 1 <= peak[0] <= 16
