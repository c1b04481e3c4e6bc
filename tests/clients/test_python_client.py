"""clients/python (notify_client) against a live daphne + PostgreSQL + Redis, through a proxy that breaks
connections; retry rules against a scripted loopback server. Nothing is mocked inside the client."""

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from notify_client import (
    AsyncClient,
    Client,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationFailed,
)
from notify_client._core import RetryPolicy
from rest_framework.authtoken.models import Token

from notifications.models import Content, Notification
from notifications.services import notification_snooze, notifications_wake_due
from tests.clients.fake_api import FakeApi
from tests.clients.proxy import Proxy
from tests.factories import make_user

live = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SENT: tuple[int, dict[str, str], dict[str, Any]] = (
    201,
    {},
    {"id": "0d6f1c5e-8d1e-4c1e-9c1e-1c1e1c1e1c1e", "recipient_count": 1, "notification_ids": []},
)


@pytest.fixture
def proxy(web):
    p = Proxy(web.port)
    yield p
    p.close()


@pytest.fixture
def producer_token():
    producer = make_user("client-producer", perms=["send_notification"])
    return Token.objects.create(user=producer).key


def _no_wait(delays):
    return lambda seconds: delays.append(seconds)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_send_whose_answer_was_lost_is_retried_and_created_once(proxy, producer_token):
    alice = make_user("client-alice")
    proxy.drop_answers = 1  # the server processes the first request; its answer never reaches the client
    delays: list[float] = []
    with Client(proxy.base, producer_token, sleep=_no_wait(delays)) as client:
        result = client.send(recipients=[alice.pk], category="comment", title="Once")
    assert proxy.connections == 2 and len(delays) == 1
    assert result.replayed is True  # the second attempt was answered from the first one's record
    assert Content.objects.filter(title="Once").count() == 1
    assert [str(u) for u in Notification.objects.filter(recipient=alice).values_list("uuid", flat=True)] == [
        result.notification_ids[0]
    ]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_bad_send_raises_with_the_field_errors_and_is_not_retried(proxy, producer_token):
    alice = make_user("client-bad")
    with Client(proxy.base, producer_token, sleep=_no_wait([])) as client, pytest.raises(ValidationFailed) as caught:
        client.send(recipients=[alice.pk], category="comment", title="x" * 300)
    assert caught.value.status == 400
    assert list(caught.value.errors) == ["title"] and caught.value.errors["title"]
    assert proxy.connections == 1
    assert Content.objects.count() == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_user_without_the_send_permission_gets_permission_denied_once(proxy):
    token = Token.objects.create(user=make_user("client-nobody")).key
    with Client(proxy.base, token, sleep=_no_wait([])) as client, pytest.raises(PermissionDenied):
        client.send(recipients=[1], category="comment", title="Hi")
    assert proxy.connections == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_send_bulk_splits_into_calls_of_the_api_limit_and_reports_every_item(proxy, producer_token):
    alice = make_user("client-bulk")
    items = [{"recipients": [alice.pk], "category": "comment", "title": f"n{i}"} for i in range(2500)]
    items[2100]["category"] = "nope"  # the third call is refused as a whole; the first two are sent
    with Client(proxy.base, producer_token, sleep=_no_wait([])) as client:
        results = client.send_bulk(items)
    assert [r.index for r in results] == list(range(2500))
    assert all(r.ok for r in results[:2000]) and not any(r.ok for r in results[2000:])
    assert results[2100].errors == {"category": results[2100].errors["category"]}
    assert results[2101].errors == {} and isinstance(results[2101].error, ValidationFailed)
    assert Notification.objects.filter(recipient=alice).count() == 2000
    assert len({r.id for r in results[:2000]}) == 2000


def test_429_waits_what_retry_after_says_then_succeeds():
    api = FakeApi([(429, {"Retry-After": "7"}, {"detail": "slow down"}), SENT])
    delays: list[float] = []
    try:
        with Client(api.base, "t", sleep=_no_wait(delays)) as client:
            result = client.send(recipients=[1], category="comment", title="Hi")
    finally:
        api.close()
    assert delays == [7.0]
    assert result.recipient_count == 1
    keys = {r["headers"]["Idempotency-Key"] for r in api.requests}
    assert len(api.requests) == 2 and len(keys) == 1  # the retry reused the send's key


def test_5xx_is_retried_with_backoff_then_given_up():
    api = FakeApi([(503, {}, {"detail": "down"})])
    delays: list[float] = []
    try:
        with Client(api.base, "t", retry=RetryPolicy(max_attempts=4, backoff=1.0), sleep=_no_wait(delays)) as client:
            with pytest.raises(ServerError) as caught:
                client.send(recipients=[1], category="comment", title="Hi")
    finally:
        api.close()
    assert len(api.requests) == 4 and caught.value.status == 503
    assert len(delays) == 3 and all(0 <= d <= 1.0 * 2**i for i, d in enumerate(delays))


def test_429_after_every_attempt_raises_rate_limited_with_the_last_retry_after():
    api = FakeApi([(429, {"Retry-After": "2"}, {"detail": "slow down"})])
    try:
        with Client(api.base, "t", retry=RetryPolicy(max_attempts=2), sleep=_no_wait([])) as client:
            with pytest.raises(RateLimited) as caught:
                client.send(recipients=[1], category="comment", title="Hi")
    finally:
        api.close()
    assert caught.value.retry_after == 2.0 and len(api.requests) == 2


def test_404_is_not_retried():
    api = FakeApi([(404, {}, {"detail": "Not found."})])
    try:
        with Client(api.base, "t", sleep=_no_wait([])) as client, pytest.raises(NotFound):
            client.send(recipients=[1], category="comment", title="Hi")
    finally:
        api.close()
    assert len(api.requests) == 1


def test_the_async_client_applies_the_same_rules():
    api = FakeApi([(409, {}, {"detail": "in flight"}), SENT])
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    async def main():
        async with AsyncClient(api.base, "t", sleep=sleep) as client:
            return await client.send(recipients=[1], category="comment", title="Hi", idempotency_key="k-1")

    try:
        result = asyncio.run(main())
    finally:
        api.close()
    assert result.id == SENT[2]["id"] and len(delays) == 1
    assert [r["headers"]["Idempotency-Key"] for r in api.requests] == ["k-1", "k-1"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_listener_yields_each_notification_once_across_a_forced_reconnect(proxy, producer_token):
    listener_user = make_user("client-listener")
    own_token = Token.objects.create(user=listener_user).key
    got: list[str] = []

    def snooze_and_wake(notification_id: str) -> None:
        """The notification is snoozed and its time comes (in this process, as a worker would do it)."""
        until = timezone.now() + timedelta(hours=1)
        try:
            notification_snooze(user=listener_user, ids=[notification_id], until=until)
            assert notifications_wake_due(now=until) == 1
        finally:
            connection.close()  # this thread's own connection

    async def main():
        async with (
            AsyncClient(proxy.base, own_token) as me,
            AsyncClient(proxy.base, producer_token) as producer,
        ):
            stream = me.listen(last_seq=0, backoff=0.05)
            await producer.send(recipients=[listener_user.pk], category="comment", title="before")
            first = await asyncio.wait_for(anext(stream), 30)
            got.append(first["title"])
            for title in ("live-1", "live-2"):
                await producer.send(recipients=[listener_user.pk], category="comment", title=title)
            for _ in range(2):
                got.append((await asyncio.wait_for(anext(stream), 30))["title"])
            proxy.cut_all()  # every connection breaks, the listener's socket too
            for title in ("missed-1", "missed-2"):
                await producer.send(recipients=[listener_user.pk], category="comment", title=title)
            for _ in range(2):
                got.append((await asyncio.wait_for(anext(stream), 30))["title"])
            # a notification that comes back from a snooze (same id, a higher seq) is yielded again, once
            await asyncio.to_thread(snooze_and_wake, first["id"])
            back = await asyncio.wait_for(anext(stream), 30)
            assert (back["id"], back["seq"] > first["seq"]) == (first["id"], True)
            got.append(back["title"])
            assert isinstance(stream, AsyncGenerator)  # listen() is an async generator: close it
            await stream.aclose()

    asyncio.run(main())
    assert got == ["before", "live-1", "live-2", "missed-1", "missed-2", "before"]
    assert proxy.connections >= 3  # the listener reconnected (and the producer's pool did too)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_readme_example_works_as_pasted(web, producer_token, monkeypatch, capsys):
    make_user("alice")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Sending from another app", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("NOTIFY_URL", web.base)
    monkeypatch.setenv("NOTIFY_TOKEN", producer_token)
    exec(compile(snippet, "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("sent ")
    assert Notification.objects.filter(recipient__username="alice", content__title="Bob replied").count() == 1
